// instance: one EC2 instance. This file is the kind's entry; instance-read.ts reads instances and
// waits for their states, instance-launch.ts builds what a launch sends, launch-inputs.ts resolves
// what the spec takes from outside (AMI lookups, key pair ids, user data files) in prepare: diff is
// handed those as a value and reads nothing else.
//
// observe: one DescribeInstances by stack tag (pending/running/stopping/stopped), one by instance-id
// for `adopt:` ids it did not return. Instances launched by an Auto Scaling group or from a launch
// template carry the stack tag but no reconcile:id: they are not spec instances and are skipped. A
// spec without instances reads none unless the tag index lists one of the stack's (tag-index.ts).
//
// What changes how:
//   in place  instanceType (stop, modify, start: the instance keeps its id, volumes and private IP;
//             its public IP changes unless it is an Elastic IP), securityGroups, monitoring, tags
//   replace   ami, subnet, keyPair, userData, publicIp, iamInstanceProfile
// An AMI query is not a change while the instance's image still matches it: a newer build of the
// same image family does not replace a running instance.
import {
  ModifyInstanceAttributeCommand,
  MonitorInstancesCommand,
  RunInstancesCommand,
  StartInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
  UnmonitorInstancesCommand,
  type Instance,
} from '../aws/sdk/ec2.js';
import { indexedOf } from './tag-index.js';
import { syncEc2Tags } from '../aws/ec2-tags.js';
import { isNotImplemented } from '../aws/errors.js';
import { TAG_ID, TAG_STACK, tagsFromList } from '../aws/tags.js';
import { field, setField } from '../engine/diffutil.js';
import type { FieldChange, Observed, Reconciler } from '../engine/types.js';
import { adoptIds, applyTagChanges, identify, isNotFound, missingAdoptIds, stackFilter } from './ec2-shared.js';
import { assertKnown, clientToken, defaultSubnet, runInstancesInput, wanted } from './instance-launch.js';
import {
  ACTIVE_STATES,
  TAG_USER_DATA,
  describeInstances,
  describeOne,
  instanceWaits,
  liveUserDataSha,
  observedOf,
  waitRunning,
  waitState,
  withoutInternal,
  type InstanceLive,
} from './instance-read.js';
import { TAG_OWNER, comparableProfile, inputsOf, launchInputs, prepareLaunchInputs, type LaunchInputs } from './launch-inputs.js';

export { TAG_OWNER, TAG_USER_DATA, instanceWaits, type InstanceLive };
/** Classified in src/aws/errors.ts; re-exported for the kinds that import it from here. */
export { isNotImplemented };

/** Instances an Auto Scaling group or a launch template launched: never spec instances. */
const launchedByOthers = (tags: Record<string, string>) => tags[TAG_OWNER] !== undefined || tags['aws:autoscaling:groupName'] !== undefined;

const reconciler: Reconciler<'instance', InstanceLive, LaunchInputs> = {
  kind: 'instance',

  prepare: prepareLaunchInputs,

  async observe(ctx, desired) {
    // No instance in the spec: in a plan, this kind is read only to find instances of the stack that
    // left the spec. Those carry reconcile:id, and the tag index (one GetResources shared by the
    // plan's kinds) lists them; instances a group or template launched do not count. None listed:
    // no DescribeInstances, however many instances the stack's groups run.
    if (!desired.length && ctx.shared && ![...(await indexedOf(ctx, 'ec2')).keys()].some((arn) => arn.includes(':instance/'))) return [];
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

  diff(desired, observed, prepared) {
    const live = observed.live;
    const inputs = inputsOf(desired, prepared);
    const w = wanted(desired, inputs);
    const out: FieldChange[] = [
      // An instance whose image still matches the lookup is kept when a newer build appears.
      ...(inputs.amiMatching.includes(live.ami) ? [] : field('ami', live.ami, w.ami, true)),
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
    return out;
  },

  // The marker tags the tool keeps on an instance (its user data's hash) are not the spec's.
  tagsForDiff: (desired, observed) => ({ desired: desired.tags, observed: withoutInternal(observed.tags) }),

  async create(ctx, desired, prepared) {
    const inputs = await launchInputs(ctx, desired, prepared);
    const w = wanted(desired, inputs);
    assertKnown(desired.address, w);
    const input = runInstancesInput(desired, w, inputs, w.publicIp !== undefined && w.subnet === undefined ? await defaultSubnet(ctx) : undefined);
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

  async update(ctx, desired, observed, changes, prepared) {
    const id = observed.id;
    const ec2 = await ctx.aws.ec2();
    const has = (p: string) => changes.some((c) => c.path === p);
    const w = wanted(desired, await launchInputs(ctx, desired, prepared));

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
