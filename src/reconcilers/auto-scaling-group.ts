// auto-scaling-group: an EC2 Auto Scaling group launching from a launch template, with its target
// groups, SNS notifications and a target-tracking CPU policy.
//
// observe: one DescribeAutoScalingGroups filtered by the stack tag (paginated), one by name for
// `adopt:` names it did not return, then for all the groups found at once: one (paginated)
// DescribeNotificationConfigurations and one (paginated) DescribePolicies.
//
// Everything updates in place except groupName. By default the group runs the launch template's
// latestVersion (the version number, not $Latest, so a new template version is a visible change of
// the group); `launchTemplateVersion` may say $Latest, $Default or a number instead. A group that
// follows $Latest / $Default of a spec template records the version its instances were refreshed to
// in the tag reconcile:template-version (not propagated, not shown among its tags): when the
// template's latest / default version moves, that is a change (`templateVersion`) and apply
// refreshes the instances. When the template or its version changes, an instance refresh replaces
// the running instances.
// desiredCapacity is compared only when the spec sets it (path "desiredCapacity": put it in
// ignoreChanges when a scaling policy moves it).
//
// Tags propagate to the instances (PropagateAtLaunch), except reconcile:id and reconcile:protect:
// the group's instances are not spec instances.
//
// This file is the kind's entry point (what a group should be, the reconciler); its parts beside it:
// reading groups (auto-scaling-group-read.ts), notification configurations (-notifications.ts), the
// CPU policy (-policy.ts) and instance refresh (-refresh.ts).
import {
  AttachLoadBalancerTargetGroupsCommand,
  CreateAutoScalingGroupCommand,
  CreateOrUpdateTagsCommand,
  DeleteAutoScalingGroupCommand,
  DeleteTagsCommand,
  DetachLoadBalancerTargetGroupsCommand,
  UpdateAutoScalingGroupCommand,
  type UpdateAutoScalingGroupCommandInput,
} from '../aws/sdk/autoscaling.js';
import { isAsgBusy, isAsgNotFound } from '../aws/errors.js';
import { TAG_ID, TAG_PROTECT, TAG_STACK, tagUpdates, tagsFromList } from '../aws/tags.js';
import { holdersByName } from '../engine/ownership.js';
import { field, setField } from '../engine/diffutil.js';
import { UNKNOWN, type Desired, type FieldChange, type Reconciler } from '../engine/types.js';
import { sortEvents, syncNotifications, type Notification } from './auto-scaling-group-notifications.js';
import { syncCpuPolicy } from './auto-scaling-group-policy.js';
import { TAG_TEMPLATE_VERSION, describeGroups, observeFound, readOne, type AutoScalingGroupLive, type Found } from './auto-scaling-group-read.js';
import { startRefresh } from './auto-scaling-group-refresh.js';
import { applyTagChanges, errorCode, retryWhile, waitFor } from './ec2-shared.js';

export type { AutoScalingGroupLive } from './auto-scaling-group-read.js';

/** Bounds: deleting a group waits for its instances to terminate. */
export const groupWaits = { deletedMs: 15 * 60_000 };

/** The AWS name: groupName, or <stack>-<name>. */
export const groupNameOf = (d: Desired<'auto-scaling-group'>): string => d.spec.groupName ?? `${d.stack}-${d.name}`;

const arnOf = (d: Desired, ref: string): string => {
  const o = d.ref(ref);
  return o.arn ?? o.id;
};

export interface WantedGroup {
  groupName: string;
  launchTemplate: string;
  launchTemplateVersion: string;
  /** For a group following $Latest / $Default of a spec template: the version that resolves to now. */
  templateVersion?: string;
  minSize: number;
  maxSize: number;
  desiredCapacity?: number;
  subnets: string[];
  healthCheckType: string;
  healthCheckGracePeriod: number;
  targetGroups: string[];
  notifications: Notification[];
  targetCpu?: number;
}

export function wantedGroup(d: Desired<'auto-scaling-group'>): WantedGroup {
  const s = d.spec;
  const lt = d.ref(s.launchTemplate);
  const follow = s.launchTemplateVersion;
  return {
    groupName: groupNameOf(d),
    launchTemplate: lt.id,
    // Omitted: a template of the spec's latest version number; an outside template's (lt-...) $Latest.
    launchTemplateVersion: typeof follow === 'number' ? String(follow) : (follow ?? lt.latestVersion ?? '$Latest'),
    templateVersion: follow === '$Latest' ? lt.latestVersion : follow === '$Default' ? lt.defaultVersion : undefined,
    minSize: s.minSize,
    maxSize: s.maxSize,
    desiredCapacity: s.desiredCapacity,
    subnets: s.subnets.map((n) => d.ref(n).id),
    healthCheckType: s.healthCheckType,
    healthCheckGracePeriod: s.healthCheckGracePeriod,
    targetGroups: s.targetGroups.map((n) => arnOf(d, n)),
    notifications: s.notifications ? [{ topic: arnOf(d, s.notifications.topic), events: sortEvents(s.notifications.events) }] : [],
    targetCpu: s.targetCpu,
  };
}

function assertKnown(address: string, w: WantedGroup): void {
  const values = [w.launchTemplate, w.launchTemplateVersion, w.templateVersion, ...w.subnets, ...w.targetGroups, ...w.notifications.map((n) => n.topic)];
  if (values.includes(UNKNOWN)) throw new Error(`${address}: a referenced resource has no id yet (create it first)`);
}

const groupTags = (groupName: string, tags: Record<string, string>) =>
  Object.entries(tags).map(([Key, Value]) => ({
    ResourceId: groupName,
    ResourceType: 'auto-scaling-group',
    Key,
    Value,
    PropagateAtLaunch: Key !== TAG_ID && Key !== TAG_PROTECT && Key !== TAG_TEMPLATE_VERSION,
  }));

/** The template-version tag of a group following $Latest / $Default of a spec template. */
const versionTag = (w: WantedGroup): Record<string, string> => (w.templateVersion === undefined ? {} : { [TAG_TEMPLATE_VERSION]: w.templateVersion });

const reconciler: Reconciler<'auto-scaling-group', AutoScalingGroupLive> = {
  kind: 'auto-scaling-group',

  async observe(ctx, desired) {
    const owned = await describeGroups(ctx, { Filters: [{ Name: `tag:${TAG_STACK}`, Values: [ctx.stack] }] });
    const adopt = new Map(desired.filter((d) => d.spec.adopt).map((d) => [d.spec.adopt!, d.name]));
    const missing = [...adopt.keys()].filter((n) => !owned.some((g) => g.AutoScalingGroupName === n));
    const extra = missing.length ? await describeGroups(ctx, { AutoScalingGroupNames: missing }) : [];
    const found: Found[] = [];
    const seen = new Set<string>();
    for (const g of [...owned, ...extra]) {
      const id = g.AutoScalingGroupName!;
      if (seen.has(id)) continue;
      seen.add(id);
      const tags = tagsFromList(g.Tags);
      if (tags[TAG_STACK] === ctx.stack && tags[TAG_ID]) found.push({ g, name: tags[TAG_ID], management: 'owned' });
      else if (adopt.has(id)) found.push({ g, name: adopt.get(id)!, management: 'adopted' });
    }
    return observeFound(
      ctx,
      found,
      desired.filter((d) => d.spec.notifications),
    );
  },

  // One DescribeAutoScalingGroups by name (names that do not exist are left out of the answer).
  async nameHolders(ctx, desired) {
    const found = await describeGroups(ctx, { AutoScalingGroupNames: [...new Set(desired.map(groupNameOf))] });
    const held = found.map((g) => ({ awsName: g.AutoScalingGroupName!, adoptId: g.AutoScalingGroupName!, tags: tagsFromList(g.Tags) }));
    return holdersByName(desired, groupNameOf, 'groupName', held);
  },

  diff(desired, observed) {
    const live = observed.live;
    const w = wantedGroup(desired);
    const out: FieldChange[] = [
      ...field('groupName', live.groupName, w.groupName, true),
      ...field('launchTemplate', live.launchTemplate, w.launchTemplate),
      ...field('launchTemplateVersion', live.launchTemplateVersion, w.launchTemplateVersion),
      ...(w.templateVersion === undefined ? [] : field('templateVersion', live.templateVersion, w.templateVersion)),
      ...field('minSize', live.minSize, w.minSize),
      ...field('maxSize', live.maxSize, w.maxSize),
    ];
    if (w.desiredCapacity !== undefined) out.push(...field('desiredCapacity', live.desiredCapacity, w.desiredCapacity));
    out.push(
      ...setField('subnets', live.subnets, w.subnets),
      ...field('healthCheckType', live.healthCheckType, w.healthCheckType),
      ...field('healthCheckGracePeriod', live.healthCheckGracePeriod, w.healthCheckGracePeriod),
      ...setField('targetGroups', live.targetGroups, w.targetGroups),
    );
    if (live.notifications !== undefined) out.push(...field('notifications', live.notifications, w.notifications));
    out.push(...field('targetCpu', live.targetCpu, w.targetCpu));
    return out;
  },

  async create(ctx, desired) {
    const s = desired.spec;
    const w = wantedGroup(desired);
    assertKnown(desired.address, w);
    // One attempt: AWS answers a repeated create AlreadyExists, but moto replaces the group (its first
    // instances are left running outside any group); the engine looks for the group before a retry.
    const as = await ctx.aws.autoscaling({ retries: false });
    try {
      await as.send(
        new CreateAutoScalingGroupCommand({
          AutoScalingGroupName: w.groupName,
          LaunchTemplate: { LaunchTemplateId: w.launchTemplate, Version: w.launchTemplateVersion },
          MinSize: w.minSize,
          MaxSize: w.maxSize,
          DesiredCapacity: w.desiredCapacity,
          VPCZoneIdentifier: w.subnets.join(','),
          HealthCheckType: w.healthCheckType,
          HealthCheckGracePeriod: w.healthCheckGracePeriod,
          TargetGroupARNs: w.targetGroups.length ? w.targetGroups : undefined,
          Tags: groupTags(w.groupName, { ...desired.tags, ...versionTag(w) }),
        }),
      );
    } catch (e) {
      if (!/AlreadyExists/.test(errorCode(e))) throw e;
      // The name is taken: ours (an earlier create whose answer was lost) is reused, anything else refused.
      const g = (await describeGroups(ctx, { AutoScalingGroupNames: [w.groupName] }))[0];
      const tags = tagsFromList(g?.Tags);
      if (!(g && tags[TAG_STACK] === ctx.stack && tags[TAG_ID] === desired.name))
        throw new Error(`${desired.address}: an Auto Scaling group named "${w.groupName}" already exists and does not belong to this stack; adopt it (adopt: ${w.groupName}) or choose another groupName`);
    }
    if (w.notifications.length) await syncNotifications(ctx, desired.address, w.groupName, [], w.notifications);
    if (w.targetCpu !== undefined) await syncCpuPolicy(ctx, w.groupName, w.targetCpu);
    return readOne(ctx, w.groupName, desired.name, 'owned');
  },

  async update(ctx, desired, observed, changes) {
    const live = observed.live;
    const w = wantedGroup(desired);
    const name = observed.id;
    const as = await ctx.aws.autoscaling();
    const has = (p: string) => changes.some((c) => c.path === p);

    const input: UpdateAutoScalingGroupCommandInput = { AutoScalingGroupName: name };
    if (has('minSize')) input.MinSize = w.minSize;
    if (has('maxSize')) input.MaxSize = w.maxSize;
    if (has('desiredCapacity')) input.DesiredCapacity = w.desiredCapacity;
    if (has('subnets')) input.VPCZoneIdentifier = w.subnets.join(',');
    if (has('healthCheckType')) input.HealthCheckType = w.healthCheckType;
    if (has('healthCheckGracePeriod')) input.HealthCheckGracePeriod = w.healthCheckGracePeriod;
    const templateChanged = has('launchTemplate') || has('launchTemplateVersion') || has('templateVersion');
    if (templateChanged) input.LaunchTemplate = { LaunchTemplateId: w.launchTemplate, Version: w.launchTemplateVersion };
    if (Object.keys(input).length > 1) await as.send(new UpdateAutoScalingGroupCommand(input));

    if (has('targetGroups')) {
      const attach = w.targetGroups.filter((t) => !live.targetGroups.includes(t));
      const detach = live.targetGroups.filter((t) => !w.targetGroups.includes(t));
      if (attach.length) await as.send(new AttachLoadBalancerTargetGroupsCommand({ AutoScalingGroupName: name, TargetGroupARNs: attach }));
      if (detach.length) await as.send(new DetachLoadBalancerTargetGroupsCommand({ AutoScalingGroupName: name, TargetGroupARNs: detach }));
    }
    if (has('notifications')) await syncNotifications(ctx, desired.address, name, live.notifications, w.notifications);
    if (has('targetCpu')) await syncCpuPolicy(ctx, name, w.targetCpu);

    const { set, remove } = tagUpdates(changes);
    if (has('templateVersion')) Object.assign(set, versionTag(w));
    if (Object.keys(set).length) await as.send(new CreateOrUpdateTagsCommand({ Tags: groupTags(name, set) }));
    if (remove.length)
      await as.send(new DeleteTagsCommand({ Tags: remove.map((Key) => ({ ResourceId: name, ResourceType: 'auto-scaling-group', Key })) }));

    if (templateChanged && live.desiredCapacity > 0) await startRefresh(ctx, desired.address, w);

    const tags = applyTagChanges(observed.tags, changes);
    return readOne(ctx, name, desired.name, tags[TAG_STACK] === ctx.stack ? 'owned' : observed.management);
  },

  async delete(ctx, observed) {
    const as = await ctx.aws.autoscaling();
    const address = `auto-scaling-group.${observed.name}`;
    try {
      // ForceDelete: terminates the instances too, without first scaling to zero.
      await retryWhile(ctx, address, `deleting ${observed.id}`, () => as.send(new DeleteAutoScalingGroupCommand({ AutoScalingGroupName: observed.id, ForceDelete: true })), isAsgBusy);
    } catch (e) {
      if (isAsgNotFound(e)) return;
      throw e;
    }
    await waitFor(
      ctx,
      address,
      `Auto Scaling group ${observed.id} to be deleted`,
      async () => {
        const g = (await describeGroups(ctx, { AutoScalingGroupNames: [observed.id] }))[0];
        return g ? { done: false, status: g.Status ?? 'still there' } : { done: true, value: undefined };
      },
      groupWaits.deletedMs,
    );
  },

  permissions: {
    observe: ['autoscaling:DescribeAutoScalingGroups', 'autoscaling:DescribeNotificationConfigurations', 'autoscaling:DescribePolicies'],
    create: [
      'autoscaling:CreateAutoScalingGroup',
      'autoscaling:CreateOrUpdateTags',
      'autoscaling:PutNotificationConfiguration',
      'autoscaling:PutScalingPolicy',
      'autoscaling:DescribeAutoScalingGroups',
      'autoscaling:DescribeNotificationConfigurations',
      'autoscaling:DescribePolicies',
      // Launching from a launch template acts with the caller's rights.
      'ec2:RunInstances',
      'ec2:CreateTags',
      'iam:PassRole',
      'iam:CreateServiceLinkedRole',
    ],
    update: [
      'autoscaling:UpdateAutoScalingGroup',
      'autoscaling:AttachLoadBalancerTargetGroups',
      'autoscaling:DetachLoadBalancerTargetGroups',
      'autoscaling:PutNotificationConfiguration',
      'autoscaling:DeleteNotificationConfiguration',
      'autoscaling:PutScalingPolicy',
      'autoscaling:DeletePolicy',
      'autoscaling:CreateOrUpdateTags',
      'autoscaling:DeleteTags',
      'autoscaling:StartInstanceRefresh',
      'autoscaling:DescribeAutoScalingGroups',
      'autoscaling:DescribeNotificationConfigurations',
      'autoscaling:DescribePolicies',
      'ec2:RunInstances',
      'ec2:CreateTags',
      'iam:PassRole',
    ],
    delete: ['autoscaling:DeleteAutoScalingGroup', 'autoscaling:DescribeAutoScalingGroups'],
  },
};

export default reconciler;
