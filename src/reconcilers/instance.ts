// instance: one EC2 instance.
//
// observe: one DescribeInstances by stack tag (pending/running/stopping/stopped), one by instance-id
// for `adopt:` ids it did not return; AMI lookups (one DescribeImages per distinct query, cached) and
// key pair ids written in place of a key-pair reference (one DescribeKeyPairs) are resolved here so
// diff stays pure. Instances launched by an Auto Scaling group or from a launch template carry the
// stack tag but no reconcile:id: they are not spec instances and are skipped. A spec without
// instances reads none unless the tag index lists one of the stack's (tag-index.ts).
//
// What changes how:
//   in place  instanceType (stop, modify, start: the instance keeps its id, volumes and private IP;
//             its public IP changes unless it is an Elastic IP), securityGroups, monitoring, tags
//   replace   ami, subnet, keyPair, userData, publicIp, iamInstanceProfile
// DescribeInstances does not return user data: its sha256 is written at create in the tag
// reconcile:user-data-sha256 and compared with the spec's; an instance without that tag (adopted)
// has its user data read once with DescribeInstanceAttribute.
import {
  DescribeInstanceAttributeCommand,
  DescribeInstancesCommand,
  DescribeSubnetsCommand,
  ModifyInstanceAttributeCommand,
  MonitorInstancesCommand,
  RunInstancesCommand,
  StartInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
  UnmonitorInstancesCommand,
  type Filter,
  type Instance,
  type RunInstancesCommandInput,
} from '../aws/sdk/ec2.js';
import { indexedOf } from './tag-index.js';
import { amiStillMatches, describeAmiQuery, lookupAmi, resolveAmi, resolvedAmi } from '../aws/ami.js';
import { cannotAskAws } from '../aws/errors.js';
import { syncEc2Tags } from '../aws/ec2-tags.js';
import { TAG_ID, TAG_STACK, diffTags, tagsFromList } from '../aws/tags.js';
import { resolveUserData, sha256OfBase64 } from '../inputs/user-data.js';
import { field, setField } from '../engine/diffutil.js';
import { UNKNOWN, type Ctx, type Desired, type FieldChange, type Observed, type Prepared, type Reconciler } from '../engine/types.js';
import {
  adoptIds,
  applyTagChanges,
  allPages,
  describeSettings,
  identify,
  isNotFound,
  missingAdoptIds,
  shortHash,
  stackFilter,
  tagSpec,
  waitFor,
} from './ec2-shared.js';
import { externalKeyPairIds, keyNameFromRef, resolveKeyPairIds } from './key-pair.js';

/** sha256 of the user data the instance was launched with ("none": launched without). */
export const TAG_USER_DATA = 'reconcile:user-data-sha256';
/** Set on instances launched from a stack's launch template: the template (or group) that owns them. */
export const TAG_OWNER = 'reconcile:owner';

/** Bounds of the waits: an instance is usually running in under a minute, terminated in two. */
export const instanceWaits = { runningMs: 10 * 60_000, stoppedMs: 10 * 60_000, terminatedMs: 10 * 60_000 };

export type InstanceLive = {
  state: string;
  ami: string;
  instanceType: string;
  subnet?: string;
  securityGroups: string[];
  keyPair?: string;
  /** "sha256:<hex>" of the user data, undefined when there is none. */
  userData?: string;
  monitoring: boolean;
  /** Whether it has a public IPv4 address; only known while running. */
  publicIp?: boolean;
  /** Instance profile ARN. */
  iamInstanceProfile?: string;
};

const ACTIVE_STATES = ['pending', 'running', 'stopping', 'stopped'];

const hashValue = (sha256: string | undefined) => (sha256 ? `sha256:${sha256}` : undefined);

/** The last path segment of an instance profile ARN: its name. */
const profileName = (arn: string | undefined) => arn?.split('/').pop();

/** The live profile in the spec's own form: an ARN when the spec gives an ARN, else the name. */
/**
 * iamInstanceProfile as AWS takes it: an instance-profile of the spec by its ARN (UNKNOWN until it
 * exists), else the name or ARN the spec writes (an existing profile).
 */
export function wantedProfile(d: Desired<'instance'> | Desired<'launch-template'>): string | undefined {
  const p = d.spec.iamInstanceProfile;
  if (!p || p.startsWith('arn:')) return p;
  try {
    return (d as Desired).ref(p).arn ?? p;
  } catch {
    return p; // not in the spec: an existing profile's name
  }
}

/** The IamInstanceProfile parameter of RunInstances / a launch template for a wanted profile. */
export const profileParam = (p: string | undefined) => (p ? (p.startsWith('arn:') ? { Arn: p } : { Name: p }) : undefined);

export function comparableProfile(liveArn: string | undefined, wanted: string | undefined): string | undefined {
  if (!liveArn) return undefined;
  return wanted?.startsWith('arn:') ? liveArn : profileName(liveArn);
}

/**
 * The instance's security groups. AWS lists them on the instance however it was launched; an
 * implementation that lists only the primary interface's groups (moto, for a launch with
 * NetworkInterfaces) is read there.
 */
function groupsOf(i: Instance): string[] {
  const direct = (i.SecurityGroups ?? []).map((g) => g.GroupId!);
  if (direct.length) return direct.sort();
  const primary = (i.NetworkInterfaces ?? []).find((n) => n.Attachment?.DeviceIndex === 0) ?? i.NetworkInterfaces?.[0];
  return (primary?.Groups ?? []).map((g) => g.GroupId!).sort();
}

function liveOf(i: Instance, userDataSha?: string): InstanceLive {
  const tags = tagsFromList(i.Tags);
  const tagged = tags[TAG_USER_DATA];
  const state = i.State?.Name ?? 'unknown';
  return {
    state,
    ami: i.ImageId!,
    instanceType: i.InstanceType!,
    subnet: i.SubnetId,
    securityGroups: groupsOf(i),
    keyPair: i.KeyName,
    userData: tagged !== undefined ? (tagged === 'none' ? undefined : `sha256:${tagged}`) : hashValue(userDataSha),
    monitoring: i.Monitoring?.State === 'enabled' || i.Monitoring?.State === 'pending',
    publicIp: state === 'running' ? !!i.PublicIpAddress : undefined,
    iamInstanceProfile: i.IamInstanceProfile?.Arn,
  };
}

const orUndefined = (s: string | undefined) => (s ? s : undefined);

function outputsOf(i: Instance) {
  return {
    id: i.InstanceId!,
    publicIp: orUndefined(i.PublicIpAddress),
    privateIp: orUndefined(i.PrivateIpAddress),
    publicDns: orUndefined(i.PublicDnsName),
    privateDns: orUndefined(i.PrivateDnsName),
  };
}

function observedOf(i: Instance, name: string, management: Observed['management'], userDataSha?: string): Observed<InstanceLive> {
  return { id: i.InstanceId!, name, management, live: liveOf(i, userDataSha), tags: tagsFromList(i.Tags), outputs: outputsOf(i) };
}

/** Tags the reconciler keeps for itself: not the user's, never diffed. */
const withoutInternal = (tags: Record<string, string>) => {
  const { [TAG_USER_DATA]: _u, ...rest } = tags;
  return rest;
};

async function describeInstances(ctx: Ctx, filters: Filter[]): Promise<Instance[]> {
  const ec2 = await ctx.aws.ec2();
  return allPages(async (NextToken) => {
    const r = await ec2.send(new DescribeInstancesCommand({ Filters: filters, NextToken, MaxResults: describeSettings.pageSize }));
    return { items: (r.Reservations ?? []).flatMap((x) => x.Instances ?? []), next: r.NextToken };
  });
}

async function describeOne(ctx: Ctx, id: string): Promise<Instance | undefined> {
  const ec2 = await ctx.aws.ec2();
  try {
    const r = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
    return r.Reservations?.[0]?.Instances?.[0];
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw e;
  }
}

async function liveUserDataSha(ctx: Ctx, id: string): Promise<string | undefined> {
  const ec2 = await ctx.aws.ec2();
  const r = await ec2.send(new DescribeInstanceAttributeCommand({ InstanceId: id, Attribute: 'userData' }));
  const b64 = r.UserData?.Value;
  return b64 ? sha256OfBase64(b64) : undefined;
}

/**
 * An API the endpoint does not implement: moto answers such calls with an HTML 500 page (the SDK
 * cannot parse it) or a NotImplemented error. AWS answers a real 5xx with an XML error, so a real
 * outage is never taken for this.
 */
export function isNotImplemented(e: unknown): boolean {
  const err = e as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  if (err?.name === 'NotImplemented' || /not (been |yet )?implemented/i.test(err?.message ?? '')) return true;
  return err?.$metadata?.httpStatusCode === 500 && /Deserialization error|XML parse error/i.test(err?.message ?? '');
}

/** Instances an Auto Scaling group or a launch template launched: never spec instances. */
const launchedByOthers = (tags: Record<string, string>) => tags[TAG_OWNER] !== undefined || tags['aws:autoscaling:groupName'] !== undefined;

/**
 * Resolves what diff needs and cannot fetch itself: AMI lookups, key pair ids, user data files. A
 * failure is a warning here, not an error: observe also serves `destroy`, which must never be
 * blocked by an AMI that no longer matches or a deleted user data file. The diff (or create) of a
 * resource that needs the missing value fails with the same message.
 */
export async function prepareLaunch(ctx: Ctx, desired: Desired<'instance' | 'launch-template'>[]): Promise<void> {
  // No credentials or no network: the command fails with that error, said once, not once per instance.
  const warn = (address: string | undefined, e: unknown) => cannotAskAws(e) || ctx.emit({ type: 'warning', address, message: (e as Error).message ?? String(e) });
  await Promise.all([
    ...desired.map((d) => resolveAmi(ctx.aws, d).catch((e) => warn(d.address, e))),
    resolveKeyPairIds(ctx, externalKeyPairIds(desired)).catch((e) => warn(undefined, e)),
  ]);
  for (const d of desired) {
    try {
      resolveUserData(d.spec.userData, d.specDir, d.address);
    } catch (e) {
      warn(d.address, e);
    }
  }
}

/**
 * The prepare of instances and launch templates: each AMI query looked up (the id and the image's
 * name shown in the plan), key pairs named by id found, user data read. What cannot be resolved is a
 * problem of that resource (the plan fails before any write); an AWS that cannot be asked at all (no
 * credentials, no network) fails the command once. diff reads the answers back (resolvedAmi ...).
 */
export async function prepareLaunchInputs(ctx: Ctx, desired: Desired<'instance' | 'launch-template'>[]): Promise<Prepared[]> {
  const rethrowUnreachable = (e: unknown): string => {
    if (cannotAskAws(e)) throw e;
    return (e as Error).message ?? String(e);
  };
  let keyPairProblem: string | undefined;
  await resolveKeyPairIds(ctx, externalKeyPairIds(desired)).catch((e) => (keyPairProblem = rethrowUnreachable(e)));
  return Promise.all(
    desired.map(async (d): Promise<Prepared> => {
      const out: Prepared = { name: d.name, resolved: [], problems: [] };
      const ami = d.spec.ami;
      if (typeof ami !== 'string') {
        try {
          const image = await lookupAmi(ctx.aws, ami);
          await resolveAmi(ctx.aws, d);
          out.resolved.push({ field: 'ami', value: image.id, detail: `${image.name}, the newest of ${describeAmiQuery(ami)}` });
        } catch (e) {
          out.problems.push(rethrowUnreachable(e));
          await resolveAmi(ctx.aws, d).catch(() => {}); // diff then fails with the same words
        }
      }
      const key = (d.spec as { keyPair?: string }).keyPair;
      if (keyPairProblem && key && externalKeyPairIds([d]).length) out.problems.push(keyPairProblem);
      try {
        const u = resolveUserData(d.spec.userData, d.specDir, d.address);
        if (u && u.source !== 'inline') out.resolved.push({ field: 'userData', value: `sha256:${u.sha256.slice(0, 12)}`, detail: u.source });
      } catch (e) {
        out.problems.push((e as Error).message);
      }
      return out;
    }),
  );
}

/** Everything diff and create need from the spec, references resolved. */
export interface WantedInstance {
  ami: string;
  instanceType: string;
  subnet?: string;
  securityGroups: string[];
  keyPair?: string;
  userData?: string;
  userDataSensitive: boolean;
  monitoring: boolean;
  publicIp?: boolean;
  iamInstanceProfile?: string;
}

export function wanted(desired: Desired<'instance'>): WantedInstance {
  const s = desired.spec;
  const ud = resolveUserData(s.userData, desired.specDir, desired.address);
  return {
    ami: resolvedAmi(desired),
    instanceType: s.instanceType,
    subnet: s.subnet !== undefined ? desired.ref(s.subnet).id : undefined,
    securityGroups: s.securityGroups.map((g) => desired.ref(g).id),
    keyPair: s.keyPair !== undefined ? keyNameFromRef(desired, s.keyPair) : undefined,
    userData: hashValue(ud?.sha256),
    userDataSensitive: !!ud?.sensitive,
    monitoring: s.monitoring,
    publicIp: s.publicIp,
    iamInstanceProfile: wantedProfile(desired),
  };
}

/**
 * RunInstances' idempotency token: stack, name and a hash of everything the call sends. A retried
 * create of the same spec sends the same token (AWS then returns the instance the first call made,
 * instead of a second one); a replacement, or any other change, sends another. At most 64 characters.
 */
export function clientToken(desired: Desired<'instance'>, input: RunInstancesCommandInput, salt = ''): string {
  const { ClientToken: _ignored, ...rest } = input;
  const hash = shortHash(JSON.stringify([desired.stack, desired.name, rest, salt]), 16);
  const prefix = `${desired.stack}-${desired.name}`.replace(/[^A-Za-z0-9_-]/g, '').slice(0, 64 - hash.length - 1);
  return `${prefix}-${hash}`;
}

/**
 * The RunInstances call for the spec (without ClientToken). A public IP choice lives on the network
 * interface, so subnet and groups go there too; `defaultSubnet` is used then when the spec has none.
 */
export function runInstancesInput(desired: Desired<'instance'>, w: WantedInstance, defaultSubnet?: string): RunInstancesCommandInput {
  const s = desired.spec;
  const ud = resolveUserData(s.userData, desired.specDir, desired.address);
  const input: RunInstancesCommandInput = {
    ImageId: w.ami,
    InstanceType: w.instanceType as RunInstancesCommandInput['InstanceType'],
    MinCount: 1,
    MaxCount: 1,
    KeyName: w.keyPair,
    UserData: ud?.base64,
    Monitoring: { Enabled: w.monitoring },
    IamInstanceProfile: profileParam(w.iamInstanceProfile),
    TagSpecifications: [...tagSpec('instance', { ...desired.tags, [TAG_USER_DATA]: ud?.sha256 ?? 'none' }), ...tagSpec('volume', desired.tags)],
  };
  if (w.publicIp !== undefined) {
    input.NetworkInterfaces = [
      {
        DeviceIndex: 0,
        AssociatePublicIpAddress: w.publicIp,
        SubnetId: w.subnet ?? defaultSubnet,
        Groups: w.securityGroups.length ? w.securityGroups : undefined,
        DeleteOnTermination: true,
      },
    ];
  } else {
    input.SubnetId = w.subnet;
    input.SecurityGroupIds = w.securityGroups.length ? w.securityGroups : undefined;
  }
  return input;
}

async function defaultSubnet(ctx: Ctx): Promise<string> {
  const ec2 = await ctx.aws.ec2();
  const r = await ec2.send(new DescribeSubnetsCommand({ Filters: [{ Name: 'default-for-az', Values: ['true'] }] }));
  const s = (r.Subnets ?? []).sort((a, b) => (a.AvailabilityZone ?? '').localeCompare(b.AvailabilityZone ?? ''))[0];
  if (!s?.SubnetId) throw new Error(`there is no default subnet in ${ctx.region}: give the instance a subnet`);
  return s.SubnetId;
}

function assertKnown(address: string, w: WantedInstance): void {
  const refs = [w.subnet, w.keyPair, ...w.securityGroups];
  if (refs.includes(UNKNOWN)) throw new Error(`${address}: a referenced resource has no id yet (create it first)`);
}

async function waitRunning(ctx: Ctx, address: string, id: string): Promise<Instance> {
  return waitFor(
    ctx,
    address,
    `instance ${id} to be running`,
    async () => {
      const i = await describeOne(ctx, id);
      if (!i) return { done: false, status: 'not visible yet' };
      const state = i.State?.Name;
      if (state === 'running') return { done: true, value: i };
      if (state === 'pending') return { done: false, status: 'pending' };
      return { failed: `it is ${state}${i.StateReason?.Message ? `: ${i.StateReason.Message}` : ''}` };
    },
    instanceWaits.runningMs,
  );
}

async function waitState(ctx: Ctx, address: string, id: string, target: 'stopped' | 'terminated', maxMs: number): Promise<void> {
  await waitFor(
    ctx,
    address,
    `instance ${id} to be ${target}`,
    async () => {
      const i = await describeOne(ctx, id);
      const state = i?.State?.Name;
      if (!i || state === target || (target === 'stopped' && state === 'terminated')) return { done: true, value: undefined };
      return { done: false, status: state ?? 'unknown' };
    },
    maxMs,
  );
}

const reconciler: Reconciler<'instance', InstanceLive> = {
  kind: 'instance',

  prepare: prepareLaunchInputs,

  async observe(ctx, desired) {
    // No instance in the spec: in a plan, this kind is read only to find instances of the stack that
    // left the spec. Those carry reconcile:id, and the tag index (one GetResources shared by the
    // plan's kinds) lists them; instances a group or template launched do not count. None listed:
    // no DescribeInstances, however many instances the stack's groups run.
    if (!desired.length && ctx.shared && ![...(await indexedOf(ctx, 'ec2')).keys()].some((arn) => arn.includes(':instance/'))) return [];
    await prepareLaunch(ctx, desired);

    const adopted = adoptIds(desired);
    const states = { Name: 'instance-state-name', Values: ACTIVE_STATES };
    const owned = await describeInstances(ctx, [...stackFilter(ctx.stack), states]);
    const missing = missingAdoptIds(adopted, owned.map((i) => i.InstanceId!));
    const extra = missing.length ? await describeInstances(ctx, [{ Name: 'instance-id', Values: missing }, states]) : [];

    const found: { i: Instance; name: string; management: Observed['management'] }[] = [];
    const seen = new Set<string>();
    for (const i of [...owned, ...extra]) {
      if (seen.has(i.InstanceId!)) continue;
      seen.add(i.InstanceId!);
      const tags = tagsFromList(i.Tags);
      if (!adopted.has(i.InstanceId!) && launchedByOthers(tags)) continue;
      const who = identify(tags, ctx.stack, adopted, [i.InstanceId!]);
      if (who) found.push({ i, ...who });
    }
    // Only instances launched outside this tool lack the user data tag (normally none).
    const shas = await Promise.all(
      found.map(({ i }) => (tagsFromList(i.Tags)[TAG_USER_DATA] === undefined ? liveUserDataSha(ctx, i.InstanceId!) : Promise.resolve(undefined))),
    );
    return found.map(({ i, name, management }, n) => observedOf(i, name, management, shas[n]));
  },

  diff(desired, observed) {
    const live = observed.live;
    const w = wanted(desired);
    const s = desired.spec;
    const out: FieldChange[] = [
      // An instance whose image still matches the lookup is kept when a newer build appears.
      ...(amiStillMatches(desired, live.ami) ? [] : field('ami', live.ami, w.ami, true)),
      ...field('instanceType', live.instanceType, w.instanceType),
    ];
    // Omitted subnet: the default subnet AWS chose. Empty securityGroups: the VPC's default group.
    if (w.subnet !== undefined) out.push(...field('subnet', live.subnet, w.subnet, true));
    if (w.securityGroups.length) out.push(...setField('securityGroups', live.securityGroups, w.securityGroups));
    out.push(...field('keyPair', live.keyPair, w.keyPair, true));
    out.push(...field('userData', live.userData, w.userData, true, w.userDataSensitive));
    out.push(...field('monitoring', live.monitoring, w.monitoring));
    // Omitted publicIp: the subnet's setting. A stopped instance has no public IP to compare.
    if (w.publicIp !== undefined && live.publicIp !== undefined) out.push(...field('publicIp', live.publicIp, w.publicIp, true));
    out.push(...field('iamInstanceProfile', comparableProfile(live.iamInstanceProfile, w.iamInstanceProfile), w.iamInstanceProfile, true));
    out.push(...diffTags(desired.tags, withoutInternal(observed.tags)));
    return out;
  },

  async create(ctx, desired) {
    const s = desired.spec;
    await resolveAmi(ctx.aws, desired);
    await resolveKeyPairIds(ctx, externalKeyPairIds([desired]));
    const w = wanted(desired);
    assertKnown(desired.address, w);
    const input = runInstancesInput(desired, w, w.publicIp !== undefined && w.subnet === undefined ? await defaultSubnet(ctx) : undefined);
    // One attempt: AWS returns the first instance for a retried ClientToken, moto launches a second;
    // the engine looks for the instance by its tags before it tries again.
    const ec2 = await ctx.aws.ec2({ retries: false });
    // AWS keeps a token for at least 24 hours after its instance is terminated and answers with that
    // instance: after a destroy (or a replacement back to an earlier spec) salt the token with the
    // terminated instance's id, which is again deterministic for a retry, and ask once more.
    let instance: Instance | undefined;
    let salt = '';
    for (let attempt = 0; attempt < 10; attempt++) {
      const r = await ec2.send(new RunInstancesCommand({ ...input, ClientToken: clientToken(desired, input, salt) }));
      instance = r.Instances?.[0];
      const state = instance?.State?.Name;
      if (instance && state !== 'shutting-down' && state !== 'terminated') break;
      salt += instance?.InstanceId ?? String(attempt);
      instance = undefined;
    }
    if (!instance) throw new Error(`${desired.address}: RunInstances kept returning terminated instances for its idempotency token`);
    const id = instance.InstanceId!;
    ctx.emit({ type: 'progress', address: desired.address, message: `launched ${id}` });
    const running = await waitRunning(ctx, desired.address, id);
    return observedOf(running, desired.name, 'owned');
  },

  async update(ctx, desired, observed, changes) {
    const id = observed.id;
    const ec2 = await ctx.aws.ec2();
    const has = (p: string) => changes.some((c) => c.path === p);
    const w = wanted(desired);

    await syncEc2Tags(ctx, id, changes);
    // An adopted instance gets the user data tag too, so later plans need no extra call.
    const live = observed.live;
    if (observed.tags[TAG_USER_DATA] === undefined && changes.some((c) => c.path === `tags.${TAG_STACK}` || c.path === `tags.${TAG_ID}`))
      await syncEc2Tags(ctx, id, [{ path: `tags.${TAG_USER_DATA}`, before: undefined, after: live.userData?.replace(/^sha256:/, '') ?? 'none', forcesReplace: false }]);

    if (has('securityGroups')) await ec2.send(new ModifyInstanceAttributeCommand({ InstanceId: id, Groups: w.securityGroups }));
    if (has('monitoring')) {
      const op = w.monitoring ? 'MonitorInstances' : 'UnmonitorInstances';
      try {
        await ec2.send(w.monitoring ? new MonitorInstancesCommand({ InstanceIds: [id] }) : new UnmonitorInstancesCommand({ InstanceIds: [id] }));
      } catch (e) {
        if (!isNotImplemented(e)) throw e;
        throw new Error(`${desired.address}: the endpoint does not implement ${op} (moto does not); detailed monitoring can only be set at launch there`);
      }
    }
    if (has('instanceType')) {
      const wasRunning = live.state === 'running' || live.state === 'pending';
      if (live.state !== 'stopped') {
        ctx.emit({ type: 'progress', address: desired.address, message: `stopping ${id} to change its type to ${w.instanceType}` });
        await ec2.send(new StopInstancesCommand({ InstanceIds: [id] }));
        await waitState(ctx, desired.address, id, 'stopped', instanceWaits.stoppedMs);
      }
      await ec2.send(new ModifyInstanceAttributeCommand({ InstanceId: id, InstanceType: { Value: w.instanceType } }));
      if (wasRunning) {
        await ec2.send(new StartInstancesCommand({ InstanceIds: [id] }));
        await waitRunning(ctx, desired.address, id);
      }
    }
    const now = await describeOne(ctx, id);
    if (!now) throw new Error(`${desired.address}: instance ${id} disappeared during the update`);
    const tags = tagsFromList(now.Tags);
    const o = observedOf(now, desired.name, tags[TAG_STACK] === ctx.stack ? 'owned' : observed.management);
    // DescribeInstances can lag behind CreateTags for a moment: keep what was just written.
    return { ...o, live: { ...o.live, userData: live.userData }, tags: { ...applyTagChanges(observed.tags, changes), ...tags } };
  },

  async delete(ctx, observed) {
    const ec2 = await ctx.aws.ec2();
    try {
      await ec2.send(new TerminateInstancesCommand({ InstanceIds: [observed.id] }));
    } catch (e) {
      if (isNotFound(e)) return;
      throw e;
    }
    // Security groups, subnets and key pairs are deleted after: they are in use until it is gone.
    await waitState(ctx, `instance.${observed.name}`, observed.id, 'terminated', instanceWaits.terminatedMs);
  },

  permissions: {
    observe: ['tag:GetResources', 'ec2:DescribeInstances', 'ec2:DescribeInstanceAttribute', 'ec2:DescribeImages', 'ec2:DescribeKeyPairs'],
    create: ['ec2:RunInstances', 'ec2:CreateTags', 'ec2:DescribeInstances', 'ec2:DescribeImages', 'ec2:DescribeKeyPairs', 'ec2:DescribeSubnets', 'iam:PassRole'],
    update: [
      'ec2:CreateTags',
      'ec2:DeleteTags',
      'ec2:ModifyInstanceAttribute',
      'ec2:MonitorInstances',
      'ec2:UnmonitorInstances',
      'ec2:StopInstances',
      'ec2:StartInstances',
      'ec2:DescribeInstances',
    ],
    delete: ['ec2:TerminateInstances', 'ec2:DescribeInstances'],
  },
};

export default reconciler;
