// Reading instances for the instance reconciler (instance.ts): the describes, the live state in the
// spec's vocabulary, and the waits for a state.
//
// DescribeInstances does not return user data: its sha256 is written at create in the tag
// reconcile:user-data-sha256 (TAG_USER_DATA) and compared with the spec's; an instance without that
// tag (adopted) has its user data read once with DescribeInstanceAttribute.
import { DescribeInstanceAttributeCommand, DescribeInstancesCommand, type Filter, type Instance } from '../aws/sdk/ec2.js';
import { tagsFromList } from '../aws/tags.js';
import { sha256OfBase64 } from '../inputs/user-data.js';
import type { Ctx, Observed } from '../engine/types.js';
import { allPages, describeSettings, isNotFound, waitFor } from './ec2-shared.js';

/** sha256 of the user data the instance was launched with ("none": launched without). */
export const TAG_USER_DATA = 'reconcile:user-data-sha256';

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

export const ACTIVE_STATES = ['pending', 'running', 'stopping', 'stopped'];

const hashValue = (sha256: string | undefined) => (sha256 ? `sha256:${sha256}` : undefined);

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

export function observedOf(i: Instance, name: string, management: Observed['management'], userDataSha?: string): Observed<InstanceLive> {
  return { id: i.InstanceId!, name, management, live: liveOf(i, userDataSha), tags: tagsFromList(i.Tags), outputs: outputsOf(i) };
}

/** Tags the reconciler keeps for itself: not the user's, never diffed. */
export const withoutInternal = (tags: Record<string, string>) => {
  const { [TAG_USER_DATA]: _u, ...rest } = tags;
  return rest;
};

export async function describeInstances(ctx: Ctx, filters: Filter[]): Promise<Instance[]> {
  const ec2 = await ctx.aws.ec2();
  return allPages(async (NextToken) => {
    const r = await ec2.send(new DescribeInstancesCommand({ Filters: filters, NextToken, MaxResults: describeSettings.pageSize }));
    return { items: (r.Reservations ?? []).flatMap((x) => x.Instances ?? []), next: r.NextToken };
  });
}

export async function describeOne(ctx: Ctx, id: string): Promise<Instance | undefined> {
  const ec2 = await ctx.aws.ec2();
  try {
    const r = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
    return r.Reservations?.[0]?.Instances?.[0];
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw e;
  }
}

export async function liveUserDataSha(ctx: Ctx, id: string): Promise<string | undefined> {
  const ec2 = await ctx.aws.ec2();
  const r = await ec2.send(new DescribeInstanceAttributeCommand({ InstanceId: id, Attribute: 'userData' }));
  const b64 = r.UserData?.Value;
  return b64 ? sha256OfBase64(b64) : undefined;
}

export async function waitRunning(ctx: Ctx, address: string, id: string): Promise<Instance> {
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

export async function waitState(ctx: Ctx, address: string, id: string, target: 'stopped' | 'terminated', maxMs: number): Promise<void> {
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
