// Reading Auto Scaling groups for the auto-scaling-group reconciler (auto-scaling-group.ts): the
// describes and the live state in the spec's vocabulary. For all the groups found at once: one
// (paginated) DescribeNotificationConfigurations and one (paginated) DescribePolicies.
import { DescribeAutoScalingGroupsCommand, type AutoScalingGroup, type Filter, type ScalingPolicy } from '../aws/sdk/autoscaling.js';
import { tagsFromList } from '../aws/tags.js';
import type { Ctx, Desired, Observed } from '../engine/types.js';
import { describeNotifications, type Notification } from './auto-scaling-group-notifications.js';
import { cpuTargetOf, describeCpuPolicies } from './auto-scaling-group-policy.js';
import { allPages } from './ec2-shared.js';

/** The tag that records the template version a group following $Latest / $Default was refreshed to. */
export const TAG_TEMPLATE_VERSION = 'reconcile:template-version';

export type AutoScalingGroupLive = {
  groupName: string;
  launchTemplate?: string;
  launchTemplateVersion?: string;
  /** The version a group following $Latest / $Default was last refreshed to (its tag). */
  templateVersion?: string;
  minSize: number;
  maxSize: number;
  desiredCapacity: number;
  subnets: string[];
  healthCheckType: string;
  healthCheckGracePeriod: number;
  targetGroups: string[];
  /** By topic, sorted. undefined: the endpoint cannot tell (not compared then). */
  notifications?: Notification[];
  targetCpu?: number;
};

function liveOf(g: AutoScalingGroup, notifications: Notification[] | undefined, policy: ScalingPolicy | undefined): AutoScalingGroupLive {
  const lt = g.LaunchTemplate ?? g.MixedInstancesPolicy?.LaunchTemplate?.LaunchTemplateSpecification;
  return {
    groupName: g.AutoScalingGroupName!,
    launchTemplate: lt?.LaunchTemplateId,
    launchTemplateVersion: lt?.Version,
    templateVersion: tagsFromList(g.Tags)[TAG_TEMPLATE_VERSION],
    minSize: g.MinSize!,
    maxSize: g.MaxSize!,
    desiredCapacity: g.DesiredCapacity!,
    subnets: (g.VPCZoneIdentifier ?? '')
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean)
      .sort(),
    healthCheckType: g.HealthCheckType ?? 'EC2',
    healthCheckGracePeriod: g.HealthCheckGracePeriod ?? 0,
    targetGroups: [...(g.TargetGroupARNs ?? [])].sort(),
    notifications,
    targetCpu: cpuTargetOf(policy),
  };
}

const withoutKey = (tags: Record<string, string>, key: string): Record<string, string> => {
  const { [key]: _drop, ...rest } = tags;
  return rest;
};

function observedOf(
  g: AutoScalingGroup,
  name: string,
  management: Observed['management'],
  notifications: Notification[] | undefined,
  policy: ScalingPolicy | undefined,
): Observed<AutoScalingGroupLive> {
  return {
    id: g.AutoScalingGroupName!,
    name,
    management,
    live: liveOf(g, notifications, policy),
    tags: withoutKey(tagsFromList(g.Tags), TAG_TEMPLATE_VERSION),
    outputs: {
      id: g.AutoScalingGroupName!,
      name: g.AutoScalingGroupName!,
      arn: g.AutoScalingGroupARN,
      scalingPolicyArn: cpuTargetOf(policy) !== undefined ? policy!.PolicyARN : undefined,
    },
  };
}

export async function describeGroups(ctx: Ctx, input: { Filters?: Filter[]; AutoScalingGroupNames?: string[] }): Promise<AutoScalingGroup[]> {
  const as = await ctx.aws.autoscaling();
  return allPages(async (NextToken) => {
    const r = await as.send(new DescribeAutoScalingGroupsCommand({ ...input, NextToken, MaxRecords: 100 }));
    return { items: r.AutoScalingGroups, next: r.NextToken };
  });
}

/** A group observe found, with the spec name it answers to. */
export interface Found {
  g: AutoScalingGroup;
  name: string;
  management: Observed['management'];
}

/**
 * The observations of these groups, with their notifications and CPU policies. `wantNotifications`:
 * the desired groups that set notifications, warned about when the endpoint cannot tell.
 */
export async function observeFound(ctx: Ctx, found: Found[], wantNotifications: Desired<'auto-scaling-group'>[]): Promise<Observed<AutoScalingGroupLive>[]> {
  if (!found.length) return [];
  const names = found.map((f) => f.g.AutoScalingGroupName!);
  const [notifications, policies] = await Promise.all([describeNotifications(ctx, names), describeCpuPolicies(ctx, names)]);
  if (!notifications)
    for (const d of wantNotifications)
      ctx.emit({
        type: 'warning',
        address: d.address,
        message: 'this endpoint does not implement DescribeNotificationConfigurations: notifications are set on create and update but cannot be compared',
      });
  return found.map(({ g, name, management }) =>
    observedOf(g, name, management, notifications ? notifications.get(g.AutoScalingGroupName!) : undefined, policies.get(g.AutoScalingGroupName!)),
  );
}

/** One group, read again after a write. */
export async function readOne(ctx: Ctx, groupName: string, name: string, management: Observed['management']): Promise<Observed<AutoScalingGroupLive>> {
  const g = (await describeGroups(ctx, { AutoScalingGroupNames: [groupName] }))[0];
  if (!g) throw new Error(`auto scaling group ${groupName} is gone`);
  return (await observeFound(ctx, [{ g, name, management }], []))[0];
}
