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
import {
  AttachLoadBalancerTargetGroupsCommand,
  CreateAutoScalingGroupCommand,
  CreateOrUpdateTagsCommand,
  DeleteAutoScalingGroupCommand,
  DeleteNotificationConfigurationCommand,
  DeletePolicyCommand,
  DeleteTagsCommand,
  DescribeAutoScalingGroupsCommand,
  DescribeNotificationConfigurationsCommand,
  DescribePoliciesCommand,
  DetachLoadBalancerTargetGroupsCommand,
  PutNotificationConfigurationCommand,
  PutScalingPolicyCommand,
  StartInstanceRefreshCommand,
  UpdateAutoScalingGroupCommand,
  type AutoScalingGroup,
  type Filter,
  type NotificationConfiguration,
  type ScalingPolicy,
  type UpdateAutoScalingGroupCommandInput,
} from '../aws/sdk/autoscaling.js';
import type { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import type { Aws } from '../aws/clients.js';
import { isRetryable } from '../aws/errors.js';
import { TAG_ID, TAG_PROTECT, TAG_STACK, tagUpdates, tagsFromList } from '../aws/tags.js';
import { holdersByName } from '../engine/ownership.js';
import { field, setField } from '../engine/diffutil.js';
import { UNKNOWN, type Ctx, type Desired, type FieldChange, type Observed, type Reconciler } from '../engine/types.js';
import { ASG_EVENTS } from '../spec/kinds/compute.js';
import { applyTagChanges, allPages, errorCode, retryWhile, waitFor } from './ec2-shared.js';
import { isNotImplemented } from './instance.js';

type AsgEvent = (typeof ASG_EVENTS)[number];

/** The spec's short event names and the notification types AWS knows them by. */
export const NOTIFICATION_TYPES: Record<AsgEvent, string> = {
  launch: 'autoscaling:EC2_INSTANCE_LAUNCH',
  terminate: 'autoscaling:EC2_INSTANCE_TERMINATE',
  'launch-error': 'autoscaling:EC2_INSTANCE_LAUNCH_ERROR',
  'terminate-error': 'autoscaling:EC2_INSTANCE_TERMINATE_ERROR',
};
const SHORT_EVENT = new Map(Object.entries(NOTIFICATION_TYPES).map(([k, v]) => [v, k]));

/** Bounds: deleting a group waits for its instances to terminate. */
export const groupWaits = { deletedMs: 15 * 60_000 };

export interface Notification {
  topic: string;
  /** Short names (launch, terminate, ...), sorted; a type the spec has no name for is kept whole. */
  events: string[];
}

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

/** The AWS name: groupName, or <stack>-<name>. */
export const groupNameOf = (d: Desired<'auto-scaling-group'>): string => d.spec.groupName ?? `${d.stack}-${d.name}`;

/** The target-tracking policy's name: per group (moto keys policies by name across groups). */
export const policyNameOf = (groupName: string): string => `${groupName}-target-cpu`;

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

const sortEvents = (events: string[]) => [...new Set(events)].sort();

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

/** Notification configurations of one group in the spec's vocabulary. */
export function notificationsOf(configs: NotificationConfiguration[]): Notification[] {
  const byTopic = new Map<string, string[]>();
  for (const c of configs) {
    const list = byTopic.get(c.TopicARN!) ?? [];
    list.push(SHORT_EVENT.get(c.NotificationType!) ?? c.NotificationType!);
    byTopic.set(c.TopicARN!, list);
  }
  return [...byTopic.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([topic, events]) => ({ topic, events: sortEvents(events) }));
}

/** The policy's CPU target, when it is ours and tracks average CPU. */
const cpuTargetOf = (p: ScalingPolicy | undefined): number | undefined =>
  p?.TargetTrackingConfiguration?.PredefinedMetricSpecification?.PredefinedMetricType === 'ASGAverageCPUUtilization'
    ? p.TargetTrackingConfiguration.TargetValue
    : undefined;

/** The tag that records the template version a group following $Latest / $Default was refreshed to. */
export const TAG_TEMPLATE_VERSION = 'reconcile:template-version';

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

async function describeGroups(ctx: Ctx, input: { Filters?: Filter[]; AutoScalingGroupNames?: string[] }): Promise<AutoScalingGroup[]> {
  const as = await ctx.aws.autoscaling();
  return allPages(async (NextToken) => {
    const r = await as.send(new DescribeAutoScalingGroupsCommand({ ...input, NextToken, MaxRecords: 100 }));
    return { items: r.AutoScalingGroups, next: r.NextToken };
  });
}

// Operations an endpoint answered "not implemented" (moto: notifications, instance refresh): asked
// once per Aws instance, so a plan does not pay the SDK's retries of that answer at every read.
const unsupported = new WeakMap<Aws, Set<string>>();
const isUnsupported = (ctx: Ctx, op: string) => !!unsupported.get(ctx.aws)?.has(op);
function markUnsupported(ctx: Ctx, op: string): void {
  const set = unsupported.get(ctx.aws) ?? new Set<string>();
  set.add(op);
  unsupported.set(ctx.aws, set);
}

/** Notification configurations by group; undefined when the endpoint does not implement the call. */
async function describeNotifications(ctx: Ctx, names: string[]): Promise<Map<string, Notification[]> | undefined> {
  if (isUnsupported(ctx, 'DescribeNotificationConfigurations')) return undefined;
  const read = (as: AutoScalingClient) =>
    allPages(async (NextToken) => {
      const r = await as.send(new DescribeNotificationConfigurationsCommand({ AutoScalingGroupNames: names, NextToken, MaxRecords: 100 }));
      return { items: r.NotificationConfigurations, next: r.NextToken };
    });
  let all: NotificationConfiguration[];
  try {
    // Asked first without SDK retries: an endpoint that does not implement the call (moto) answers a
    // bare 500, which the SDK would retry four times with backoff (~0.6 s of every plan) before we
    // could tell. Any other failure a retry can get past is asked again with retries.
    try {
      all = await read(await ctx.aws.autoscaling({ retries: false }));
    } catch (e) {
      if (isNotImplemented(e) || !isRetryable(e)) throw e;
      all = await read(await ctx.aws.autoscaling());
    }
  } catch (e) {
    if (!isNotImplemented(e)) throw e;
    markUnsupported(ctx, 'DescribeNotificationConfigurations');
    return undefined;
  }
  const out = new Map<string, Notification[]>();
  for (const n of names) out.set(n, notificationsOf(all.filter((c) => c.AutoScalingGroupName === n)));
  return out;
}

/** Our target-tracking policies, by group name (one paginated call for every group). */
async function describeCpuPolicies(ctx: Ctx, names: string[]): Promise<Map<string, ScalingPolicy>> {
  const as = await ctx.aws.autoscaling();
  const all = await allPages(async (NextToken) => {
    const r = await as.send(new DescribePoliciesCommand({ PolicyTypes: ['TargetTrackingScaling'], NextToken, MaxRecords: 100 }));
    return { items: r.ScalingPolicies, next: r.NextToken };
  });
  const wanted = new Set(names);
  const out = new Map<string, ScalingPolicy>();
  for (const p of all) if (wanted.has(p.AutoScalingGroupName!) && p.PolicyName === policyNameOf(p.AutoScalingGroupName!)) out.set(p.AutoScalingGroupName!, p);
  return out;
}

interface Found {
  g: AutoScalingGroup;
  name: string;
  management: Observed['management'];
}

async function observeFound(ctx: Ctx, found: Found[], wantNotifications: Desired<'auto-scaling-group'>[]): Promise<Observed<AutoScalingGroupLive>[]> {
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

async function readOne(ctx: Ctx, groupName: string, name: string, management: Observed['management']): Promise<Observed<AutoScalingGroupLive>> {
  const g = (await describeGroups(ctx, { AutoScalingGroupNames: [groupName] }))[0];
  if (!g) throw new Error(`auto scaling group ${groupName} is gone`);
  return (await observeFound(ctx, [{ g, name, management }], []))[0];
}

const asgNotFound = (e: unknown) => errorCode(e) === 'ValidationError' && /not found/i.test((e as Error).message ?? '');
const asgBusy = (e: unknown) => ['ScalingActivityInProgress', 'ScalingActivityInProgressFault', 'ResourceInUse', 'ResourceInUseFault'].includes(errorCode(e));

function assertKnown(address: string, w: WantedGroup): void {
  const values = [w.launchTemplate, w.launchTemplateVersion, w.templateVersion, ...w.subnets, ...w.targetGroups, ...w.notifications.map((n) => n.topic)];
  if (values.includes(UNKNOWN)) throw new Error(`${address}: a referenced resource has no id yet (create it first)`);
}

/** Writes notification configurations; warns instead when the endpoint does not implement them. */
async function syncNotifications(ctx: Ctx, address: string, groupName: string, live: Notification[] | undefined, want: Notification[]): Promise<void> {
  const warn = () =>
    ctx.emit({ type: 'warning', address, message: 'this endpoint does not implement notification configurations: the group sends no notifications' });
  if (isUnsupported(ctx, 'PutNotificationConfiguration')) return warn();
  const as = await ctx.aws.autoscaling();
  try {
    for (const n of live ?? [])
      if (!want.some((w) => w.topic === n.topic)) await as.send(new DeleteNotificationConfigurationCommand({ AutoScalingGroupName: groupName, TopicARN: n.topic }));
    for (const n of want)
      await as.send(
        new PutNotificationConfigurationCommand({
          AutoScalingGroupName: groupName,
          TopicARN: n.topic,
          NotificationTypes: n.events.map((e) => NOTIFICATION_TYPES[e as AsgEvent] ?? e),
        }),
      );
  } catch (e) {
    if (!isNotImplemented(e)) throw e;
    markUnsupported(ctx, 'PutNotificationConfiguration');
    warn();
  }
}

async function syncCpuPolicy(ctx: Ctx, groupName: string, target: number | undefined): Promise<void> {
  const as = await ctx.aws.autoscaling();
  if (target === undefined) {
    try {
      await as.send(new DeletePolicyCommand({ AutoScalingGroupName: groupName, PolicyName: policyNameOf(groupName) }));
    } catch (e) {
      if (!asgNotFound(e)) throw e;
    }
    return;
  }
  await as.send(
    new PutScalingPolicyCommand({
      AutoScalingGroupName: groupName,
      PolicyName: policyNameOf(groupName),
      PolicyType: 'TargetTrackingScaling',
      TargetTrackingConfiguration: { PredefinedMetricSpecification: { PredefinedMetricType: 'ASGAverageCPUUtilization' }, TargetValue: target },
    }),
  );
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

const withoutKey = (tags: Record<string, string>, key: string): Record<string, string> => {
  const { [key]: _drop, ...rest } = tags;
  return rest;
};

/** Replaces running instances with ones from the new template version; a warning where impossible. */
async function startRefresh(ctx: Ctx, address: string, w: WantedGroup): Promise<void> {
  const notImplemented = () =>
    ctx.emit({
      type: 'warning',
      address,
      message: `this endpoint does not implement StartInstanceRefresh: running instances keep their launch template version until they are replaced (new ones use ${w.launchTemplateVersion})`,
    });
  if (isUnsupported(ctx, 'StartInstanceRefresh')) return notImplemented();
  const as = await ctx.aws.autoscaling();
  try {
    const r = await as.send(
      new StartInstanceRefreshCommand({
        AutoScalingGroupName: w.groupName,
        Strategy: 'Rolling',
        Preferences: { MinHealthyPercentage: 90, InstanceWarmup: w.healthCheckGracePeriod, SkipMatching: true },
      }),
    );
    ctx.emit({ type: 'info', address, message: `instance refresh ${r.InstanceRefreshId} started: running instances move to launch template version ${w.launchTemplateVersion}` });
  } catch (e) {
    if (isNotImplemented(e)) {
      markUnsupported(ctx, 'StartInstanceRefresh');
      notImplemented();
    } else if (/InstanceRefreshInProgress/.test(errorCode(e)))
      ctx.emit({ type: 'warning', address, message: 'an instance refresh is already running; start another once it ends to move every instance to the new version' });
    else throw e;
  }
}

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
      await retryWhile(ctx, address, `deleting ${observed.id}`, () => as.send(new DeleteAutoScalingGroupCommand({ AutoScalingGroupName: observed.id, ForceDelete: true })), asgBusy);
    } catch (e) {
      if (asgNotFound(e)) return;
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
