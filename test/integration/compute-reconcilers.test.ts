// The compute reconcilers (key-pair, instance, launch-template, auto-scaling-group) against a real
// moto server: create -> observe -> no diff -> spec change -> update -> drift healed -> delete.
// Networks, security groups, target groups and topics are made directly with the SDK.
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AutoScalingClient,
  DescribeAutoScalingGroupsCommand,
  DescribePoliciesCommand,
  UpdateAutoScalingGroupCommand,
  DeletePolicyCommand,
} from '@aws-sdk/client-auto-scaling';
import {
  CreateImageCommand,
  CreateLaunchTemplateVersionCommand,
  CreateSecurityGroupCommand,
  CreateSubnetCommand,
  CreateTagsCommand,
  CreateVpcCommand,
  DeleteTagsCommand,
  DescribeInstancesCommand,
  DescribeLaunchTemplatesCommand,
  DescribeLaunchTemplateVersionsCommand,
  DescribeSubnetsCommand,
  EC2Client,
  ModifyInstanceAttributeCommand,
  RunInstancesCommand,
  UnmonitorInstancesCommand,
  type Instance,
} from '@aws-sdk/client-ec2';
import { CreateTargetGroupCommand, ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { CreateTopicCommand, SNSClient } from '@aws-sdk/client-sns';
import { lookupAmi, AmiNotFoundError } from '../../src/aws/ami.js';
import { sha256Hex } from '../../src/inputs/user-data.js';
import { diffFields, withoutIgnored } from '../../src/engine/plan.js';
import type { Ctx, Desired, EngineEvent, FieldChange, Observed, Outputs, Reconciler } from '../../src/engine/types.js';
import asgReconciler from '../../src/reconcilers/auto-scaling-group.js';
import instanceReconciler, { TAG_OWNER, TAG_USER_DATA } from '../../src/reconcilers/instance.js';
import keyPairReconciler from '../../src/reconcilers/key-pair.js';
import ltReconciler from '../../src/reconcilers/launch-template.js';
import type { KindName } from '../../src/spec/schema.js';
import { desired, testCtx } from '../helpers/aws.js';
import { prepared } from '../helpers/engine.js';
import { startMoto, type Moto } from '../helpers/moto.js';

// moto's AMIs replaced by ours: several Amazon Linux 2023 builds with distinct dates (the newest
// x86_64 one neither first nor last), a newer arm64 build, a newer one still pending, and Ubuntu.
const AMIS = [
  ['ami-0a1b2c3d4e5f60001', 'al2023-ami-2023.4.20240301.0-kernel-6.1-x86_64', 'x86_64', '2024-03-01T00:00:00.000Z', 'available', '137112412989'],
  ['ami-0a1b2c3d4e5f60002', 'al2023-ami-2023.6.20241010.0-kernel-6.1-x86_64', 'x86_64', '2024-10-10T00:00:00.000Z', 'available', '137112412989'],
  ['ami-0a1b2c3d4e5f60003', 'al2023-ami-2023.5.20240701.0-kernel-6.1-x86_64', 'x86_64', '2024-07-01T00:00:00.000Z', 'available', '137112412989'],
  ['ami-0a1b2c3d4e5f60004', 'al2023-ami-2023.7.20250101.0-kernel-6.1-arm64', 'arm64', '2025-01-01T00:00:00.000Z', 'available', '137112412989'],
  ['ami-0a1b2c3d4e5f60005', 'al2023-ami-2023.8.20250301.0-kernel-6.1-x86_64', 'x86_64', '2025-03-01T00:00:00.000Z', 'pending', '137112412989'],
  ['ami-0a1b2c3d4e5f60006', 'ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20250115', 'x86_64', '2025-01-15T00:00:00.000Z', 'available', '099720109477'],
  ['ami-0a1b2c3d4e5f60007', 'ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20240801', 'x86_64', '2024-08-01T00:00:00.000Z', 'available', '099720109477'],
].map(([ami_id, name, architecture, creation_date, state, owner_id]) => ({
  ami_id,
  name,
  architecture,
  creation_date,
  state,
  owner_id,
  public: true,
  image_type: 'machine',
  root_device_type: 'ebs',
  root_device_name: '/dev/xvda',
  virtualization_type: 'hvm',
  hypervisor: 'xen',
  description: name,
}));
const NEWEST_AL2023_X86 = 'ami-0a1b2c3d4e5f60002';
const AL2023 = { owner: 'amazon', name: 'al2023-ami-2023.*-x86_64' };

let moto: Moto;
let ctx: Ctx & { events: EngineEvent[] };
let ec2: EC2Client;
let tmp: string;

/** moto changes states at once: poll again quickly instead of after AWS-sized delays. */
const TIMING = { minDelayMs: 50, maxDelayMs: 200 };

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'reconcile-compute-'));
  const amis = join(tmp, 'amis.json');
  writeFileSync(amis, JSON.stringify(AMIS));
  moto = await startMoto({ MOTO_AMIS_PATH: amis });
  ctx = testCtx(moto.endpoint, 'test', TIMING);
  ec2 = new EC2Client({ region: 'us-east-1', endpoint: moto.endpoint, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
});

afterAll(async () => {
  ec2?.destroy();
  ctx?.aws.destroy();
  await moto?.stop();
});

/** observe, then the observation of `d` (undefined when absent). */
async function observeOne<K extends KindName>(r: Reconciler<K>, d: Desired<K>, others: Desired<K>[] = []): Promise<Observed | undefined> {
  const all = await r.observe(ctx, [d, ...others]);
  return all.find((o) => o.name === d.name);
}

/** What the plan would show for `d`: observe, then diff (ignoreChanges applied as the engine does). */
async function planOf<K extends KindName>(r: Reconciler<K>, d: Desired<K>): Promise<FieldChange[]> {
  const o = await observeOne(r, d);
  if (!o) throw new Error(`${d.address} not observed`);
  return withoutIgnored(diffFields(r, d, o, await prepared(r, ctx, d)), (d.spec as { ignoreChanges?: string[] }).ignoreChanges);
}

const paths = (changes: FieldChange[]) => changes.map((c) => `${c.path}${c.forcesReplace ? '!' : ''}`).sort();

/** Applies the in-place changes of `d` as the engine does, then returns the plan after it. */
async function updateInPlace<K extends KindName>(r: Reconciler<K>, d: Desired<K>): Promise<FieldChange[]> {
  const o = (await observeOne(r, d))!;
  const inputs = await prepared(r, ctx, d);
  const changes = withoutIgnored(diffFields(r, d, o, inputs), (d.spec as { ignoreChanges?: string[] }).ignoreChanges);
  expect(changes.filter((c) => c.forcesReplace)).toEqual([]);
  await r.update(ctx, d, o, changes, inputs);
  return planOf(r, d);
}

/** A fresh VPC with two subnets in two AZs and two security groups. */
async function network(cidrPrefix: string) {
  const vpc = (await ec2.send(new CreateVpcCommand({ CidrBlock: `${cidrPrefix}.0.0/16` }))).Vpc!.VpcId!;
  const subnetA = (await ec2.send(new CreateSubnetCommand({ VpcId: vpc, CidrBlock: `${cidrPrefix}.1.0/24`, AvailabilityZone: 'us-east-1a' }))).Subnet!.SubnetId!;
  const subnetB = (await ec2.send(new CreateSubnetCommand({ VpcId: vpc, CidrBlock: `${cidrPrefix}.2.0/24`, AvailabilityZone: 'us-east-1b' }))).Subnet!.SubnetId!;
  const sg1 = (await ec2.send(new CreateSecurityGroupCommand({ GroupName: `${cidrPrefix}-one`, Description: 'one', VpcId: vpc }))).GroupId!;
  const sg2 = (await ec2.send(new CreateSecurityGroupCommand({ GroupName: `${cidrPrefix}-two`, Description: 'two', VpcId: vpc }))).GroupId!;
  return { vpc, subnetA, subnetB, sg1, sg2 };
}

async function describeInstance(id: string): Promise<Instance> {
  return (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }))).Reservations![0].Instances![0];
}

/** An OpenSSH ed25519 public key (type, base64 of the wire format, comment). */
function sshPublicKey(comment: string): string {
  const { publicKey } = generateKeyPairSync('ed25519');
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
  const str = (b: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, b.length]), b]);
  return `ssh-ed25519 ${Buffer.concat([str(Buffer.from('ssh-ed25519')), str(raw)]).toString('base64')} ${comment}`;
}

describe('AMI lookup', () => {
  it('returns the newest available image matching the name from the owner, and asks AWS once per query', async () => {
    const before = ctx.aws.counts().byOperation['ec2:DescribeImages'] ?? 0;
    const [a, b] = await Promise.all([lookupAmi(ctx.aws, AL2023), lookupAmi(ctx.aws, { ...AL2023 })]);
    expect(a.id).toBe(NEWEST_AL2023_X86);
    expect(b.id).toBe(NEWEST_AL2023_X86);
    expect(a.name).toBe('al2023-ami-2023.6.20241010.0-kernel-6.1-x86_64');
    expect((ctx.aws.counts().byOperation['ec2:DescribeImages'] ?? 0) - before).toBe(1);
  });

  it('filters by architecture and finds Ubuntu by Canonical owner id', async () => {
    expect((await lookupAmi(ctx.aws, { owner: 'amazon', name: 'al2023-ami-2023.*', architecture: 'arm64' })).id).toBe('ami-0a1b2c3d4e5f60004');
    expect((await lookupAmi(ctx.aws, { owner: '099720109477', name: 'ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*' })).id).toBe(
      'ami-0a1b2c3d4e5f60006',
    );
  });

  it('ignores a newer image of another owner', async () => {
    // An image of our own account with a matching name, newer than all: not Amazon's.
    const r = await ec2.send(new RunInstancesCommand({ ImageId: NEWEST_AL2023_X86, MinCount: 1, MaxCount: 1, InstanceType: 't3.micro' }));
    await ec2.send(new CreateImageCommand({ InstanceId: r.Instances![0].InstanceId!, Name: 'al2023-ami-2023.9.20990101.0-kernel-6.1-x86_64' }));
    const fresh = testCtx(moto.endpoint, 'test', TIMING);
    expect((await lookupAmi(fresh.aws, AL2023)).id).toBe(NEWEST_AL2023_X86);
    expect((await lookupAmi(fresh.aws, { owner: 'self', name: AL2023.name })).id).not.toBe(NEWEST_AL2023_X86);
    fresh.aws.destroy();
  });

  it('names the pattern and the owner when nothing matches', async () => {
    const q = { owner: 'amazon', name: 'no-such-image-*' };
    await expect(lookupAmi(ctx.aws, q)).rejects.toThrow(AmiNotFoundError);
    await expect(lookupAmi(ctx.aws, q)).rejects.toThrow(/no available AMI named "no-such-image-\*" from owner "amazon".*us-east-1/);
  });
});

describe('key-pair', () => {
  it('creates a key pair, writes the private key 0600 without showing it, heals tag drift, deletes', async () => {
    const file = join(tmp, 'keys', 'deep', 'web.pem');
    const d = desired('key-pair', 'web', { privateKeyFile: file, tags: { Env: 'dev' } });
    expect(await observeOne(keyPairReconciler, d)).toBeUndefined();
    const eventsBefore = ctx.events.length;
    const created = await keyPairReconciler.create(ctx, d);
    expect(created.outputs).toEqual({ id: 'test-web', keyName: 'test-web', keyPairId: expect.stringMatching(/^key-/) });
    const pem = readFileSync(file, 'utf8');
    expect(pem).toMatch(/^-----BEGIN (RSA )?PRIVATE KEY-----/);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const body = pem.split('\n').find((l) => l.length > 40)!;
    const shown = JSON.stringify(ctx.events.slice(eventsBefore)) + JSON.stringify(created);
    expect(shown).not.toContain(body);
    expect(shown).toContain(file);

    const o = await observeOne(keyPairReconciler, d);
    expect(o).toMatchObject({ id: 'test-web', management: 'owned', outputs: created.outputs });
    expect(JSON.stringify(o)).not.toContain(body);
    expect(await planOf(keyPairReconciler, d)).toEqual([]);

    // Spec change: a new tag in place; a new keyName forces a replacement.
    const d2 = desired('key-pair', 'web', { privateKeyFile: file, tags: { Env: 'prod' } });
    expect(await planOf(keyPairReconciler, d2)).toEqual([{ path: 'tags.Env', before: 'dev', after: 'prod', forcesReplace: false }]);
    expect(await updateInPlace(keyPairReconciler, d2)).toEqual([]);
    expect(paths(await planOf(keyPairReconciler, desired('key-pair', 'web', { privateKeyFile: file, keyName: 'other', tags: { Env: 'prod' } })))).toEqual([
      'keyName!',
    ]);

    // Drift: a tag removed by hand.
    await ec2.send(new DeleteTagsCommand({ Resources: [created.outputs.keyPairId!], Tags: [{ Key: 'Env' }] }));
    expect(await planOf(keyPairReconciler, d2)).toEqual([{ path: 'tags.Env', before: undefined, after: 'prod', forcesReplace: false }]);
    expect(await updateInPlace(keyPairReconciler, d2)).toEqual([]);

    // Idempotent create: the name is ours, so a second create returns it.
    expect((await keyPairReconciler.create(ctx, d2)).live).toMatchObject({ keyPairId: created.outputs.keyPairId });

    await keyPairReconciler.delete(ctx, (await observeOne(keyPairReconciler, d2))!);
    expect(await observeOne(keyPairReconciler, d2)).toBeUndefined();
    await keyPairReconciler.delete(ctx, o!); // already gone: success
  });

  it('imports a public key, replaces it when the key changes, ignores the comment', async () => {
    const pub = sshPublicKey('me@laptop');
    const d = desired('key-pair', 'imported', { publicKey: pub });
    await keyPairReconciler.create(ctx, d);
    expect(await planOf(keyPairReconciler, d)).toEqual([]);
    expect(await planOf(keyPairReconciler, desired('key-pair', 'imported', { publicKey: pub.replace('me@laptop', 'other comment') }))).toEqual([]);
    const changed = await planOf(keyPairReconciler, desired('key-pair', 'imported', { publicKey: sshPublicKey('me@laptop') }));
    expect(paths(changed)).toEqual(['publicKey!']);
    await keyPairReconciler.delete(ctx, (await observeOne(keyPairReconciler, d))!);
  });

  it('reuses an existing key pair by name (lookup): never creates or deletes it', async () => {
    const owner = desired('key-pair', 'shared', { publicKey: sshPublicKey('x') }, {}, 'other-stack');
    const made = await keyPairReconciler.create({ ...ctx, stack: 'other-stack' }, owner);
    const d = desired('key-pair', 'reuse', { existing: true, keyName: 'other-stack-shared' });
    const o = await observeOne(keyPairReconciler, d);
    expect(o).toMatchObject({ management: 'lookup', outputs: { id: 'other-stack-shared', keyName: 'other-stack-shared', keyPairId: made.live.keyPairId } });
    expect(diffFields(keyPairReconciler, d, o!)).toEqual([]);
    await keyPairReconciler.delete(ctx, o!);
    expect(await observeOne(keyPairReconciler, d)).toMatchObject({ management: 'lookup' });
    const missing = desired('key-pair', 'nope', { existing: true, keyName: 'does-not-exist' });
    const seen = ctx.events.length;
    expect(await observeOne(keyPairReconciler, missing)).toBeUndefined();
    expect(ctx.events.slice(seen)).toContainEqual({ type: 'warning', address: 'key-pair.nope', message: expect.stringContaining('"does-not-exist" (existing: true) does not exist') });
    await expect(keyPairReconciler.create(ctx, missing)).rejects.toThrow(/"does-not-exist" does not exist.*existing: true/);
  });
});

describe('instance', () => {
  it('launches with a looked-up AMI, heals drift in place, shows replacements, terminates', async () => {
    const net = await network('10.20');
    const refs: Record<string, Outputs> = { a: { id: net.subnetA }, b: { id: net.subnetB }, one: { id: net.sg1 }, two: { id: net.sg2 } };
    const userData = '#!/bin/bash\necho hello > /tmp/hello\n';
    const body = { ami: AL2023, instanceType: 't3.micro', subnet: 'a', securityGroups: ['one'], userData, publicIp: true, tags: { Name: 'web-1' } };
    const d = desired('instance', 'web', body, refs);
    expect(await observeOne(instanceReconciler, d)).toBeUndefined();

    const created = await instanceReconciler.create(ctx, d);
    const id = created.id;
    expect(created.outputs).toMatchObject({ id, publicIp: expect.any(String), privateIp: expect.stringMatching(/^10\.20\.1\./) });
    for (const k of Object.keys(created.outputs)) expect(['id', 'publicIp', 'privateIp', 'publicDns', 'privateDns']).toContain(k);
    const raw = await describeInstance(id);
    expect(raw.ImageId).toBe(NEWEST_AL2023_X86);
    expect(raw.State?.Name).toBe('running');
    const tags = Object.fromEntries(raw.Tags!.map((t) => [t.Key, t.Value]));
    expect(tags).toMatchObject({ Name: 'web-1', 'reconcile:stack': 'test', 'reconcile:id': 'web', [TAG_USER_DATA]: sha256Hex(userData) });

    const o = await observeOne(instanceReconciler, d);
    expect(o).toMatchObject({ id, management: 'owned', live: { ami: NEWEST_AL2023_X86, subnet: net.subnetA, securityGroups: [net.sg1], publicIp: true, monitoring: false } });
    expect(o!.outputs).toEqual(created.outputs);
    expect(await planOf(instanceReconciler, d)).toEqual([]);

    // In place: type (stop, modify, start), groups, a tag.
    const body2 = { ...body, instanceType: 't3.small', securityGroups: ['one', 'two'], tags: { Name: 'web-1', Env: 'dev' } };
    const d2 = desired('instance', 'web', body2, refs);
    expect(await planOf(instanceReconciler, d2)).toEqual([
      { path: 'instanceType', before: 't3.micro', after: 't3.small', forcesReplace: false },
      { path: 'securityGroups', before: [net.sg1], after: [net.sg1, net.sg2].sort(), forcesReplace: false },
      { path: 'tags.Env', before: undefined, after: 'dev', forcesReplace: false },
    ]);
    expect(await updateInPlace(instanceReconciler, d2)).toEqual([]);
    const after = await describeInstance(id);
    expect(after).toMatchObject({ InstanceId: id, InstanceType: 't3.small', State: { Name: 'running' } });
    expect(after.SecurityGroups!.map((g) => g.GroupId).sort()).toEqual([net.sg1, net.sg2].sort());
    expect(ctx.events.some((e) => e.address === 'instance.web' && /stopping .* to change its type to t3.small/.test(e.message))).toBe(true);
    expect(paths(await planOf(instanceReconciler, desired('instance', 'web', { ...body2, monitoring: true }, refs)))).toEqual(['monitoring']);

    // Replacements: subnet, user data (sensitive when marked), public IP, AMI id.
    const replaces = async (change: Record<string, unknown>) => planOf(instanceReconciler, desired('instance', 'web', { ...body2, ...change }, refs));
    expect(await replaces({ subnet: 'b' })).toEqual([{ path: 'subnet', before: net.subnetA, after: net.subnetB, forcesReplace: true }]);
    expect(await replaces({ userData: { inline: 'echo secret', sensitive: true } })).toEqual([
      { path: 'userData', before: `sha256:${sha256Hex(userData)}`, after: `sha256:${sha256Hex('echo secret')}`, forcesReplace: true, sensitive: true },
    ]);
    const file = join(tmp, 'user-data.sh');
    writeFileSync(file, userData);
    expect(await replaces({ userData: { file } })).toEqual([]);
    expect(paths(await replaces({ publicIp: false }))).toEqual(['publicIp!']);
    expect(paths(await replaces({ ami: 'ami-0a1b2c3d4e5f60001' }))).toEqual(['ami!']);
    await expect(replaces({ keyPair: 'key-0123456789abcdef0' })).rejects.toThrow('instance.web: key pair key-0123456789abcdef0 does not exist');

    // Drift made by hand: a group removed, a tag changed.
    await ec2.send(new ModifyInstanceAttributeCommand({ InstanceId: id, Groups: [net.sg2] }));
    await ec2.send(new CreateTagsCommand({ Resources: [id], Tags: [{ Key: 'Env', Value: 'hand-made' }] }));
    expect(await planOf(instanceReconciler, d2)).toEqual([
      { path: 'securityGroups', before: [net.sg2], after: [net.sg1, net.sg2].sort(), forcesReplace: false },
      { path: 'tags.Env', before: 'hand-made', after: 'dev', forcesReplace: false },
    ]);
    expect(await updateInPlace(instanceReconciler, d2)).toEqual([]);

    await instanceReconciler.delete(ctx, (await observeOne(instanceReconciler, d2))!);
    expect((await describeInstance(id)).State?.Name).toBe('terminated');
    expect(await observeOne(instanceReconciler, d2)).toBeUndefined();
    await instanceReconciler.delete(ctx, o!); // already terminated: success
  });

  it('launches without subnet or public IP choice into the default VPC, with a key pair, and adopts an instance', async () => {
    const kp = desired('key-pair', 'ssh', { publicKey: sshPublicKey('ci') });
    const key = await keyPairReconciler.create(ctx, kp);
    const d = desired('instance', 'plain', { ami: 'ami-0a1b2c3d4e5f60003', instanceType: 't3.micro', keyPair: 'ssh', monitoring: true }, { ssh: key.outputs });
    const created = await instanceReconciler.create(ctx, d);
    expect(created.live).toMatchObject({ keyPair: 'test-ssh', monitoring: true, ami: 'ami-0a1b2c3d4e5f60003' });
    const defaults = (await ec2.send(new DescribeSubnetsCommand({ Filters: [{ Name: 'default-for-az', Values: ['true'] }] }))).Subnets!.map((s) => s.SubnetId);
    expect(defaults).toContain((created.live as { subnet: string }).subnet);
    expect(await planOf(instanceReconciler, d)).toEqual([]);
    // A key pair id written in place of a reference is resolved to its name.
    const byId = desired('instance', 'plain', { ami: 'ami-0a1b2c3d4e5f60003', instanceType: 't3.micro', keyPair: key.outputs.keyPairId, monitoring: true });
    expect(await planOf(instanceReconciler, byId)).toEqual([]);
    expect(paths(await planOf(instanceReconciler, desired('instance', 'plain', { ami: 'ami-0a1b2c3d4e5f60003', instanceType: 't3.micro', monitoring: true })))).toEqual(['keyPair!']);

    // Adopt an instance made by hand (no user data tag: read with DescribeInstanceAttribute).
    const hand = (await ec2.send(new RunInstancesCommand({ ImageId: 'ami-0a1b2c3d4e5f60003', InstanceType: 't3.micro', MinCount: 1, MaxCount: 1, UserData: Buffer.from('echo hi').toString('base64') })))
      .Instances![0].InstanceId!;
    const adopt = desired('instance', 'adopted', { ami: 'ami-0a1b2c3d4e5f60003', instanceType: 't3.micro', userData: 'echo hi', adopt: hand });
    const seen = await observeOne(instanceReconciler, adopt);
    expect(seen).toMatchObject({ id: hand, management: 'adopted', live: { userData: `sha256:${sha256Hex('echo hi')}` } });
    const inputs = await prepared(instanceReconciler, ctx, adopt);
    const changes = diffFields(instanceReconciler, adopt, seen!, inputs);
    expect(changes.every((c) => c.path.startsWith('tags.'))).toBe(true);
    await instanceReconciler.update(ctx, adopt, seen!, changes, inputs);
    const owned = await observeOne(instanceReconciler, adopt);
    expect(owned).toMatchObject({ id: hand, management: 'owned', tags: { [TAG_USER_DATA]: sha256Hex('echo hi') } });
    expect(diffFields(instanceReconciler, adopt, owned!, inputs)).toEqual([]);

    for (const x of [d, adopt]) await instanceReconciler.delete(ctx, (await observeOne(instanceReconciler, x))!);
    await keyPairReconciler.delete(ctx, key);
  });

  it('a failed AMI lookup or a missing user data file is a problem of prepare (observe is never blocked: destroy reads through it) and fails create', async () => {
    const d = desired('instance', 'nothing', { ami: { owner: 'amazon', name: 'nope-*' }, instanceType: 't3.micro' });
    expect(await instanceReconciler.observe(ctx, [d])).toEqual([]);
    await expect(instanceReconciler.create(ctx, d)).rejects.toThrow(/no available AMI named "nope-\*" from owner "amazon"/);

    // An existing instance whose spec now names a missing AMI or user data file: observed as ever, and prepare says why it cannot be compared.
    const ok = desired('instance', 'kept', { ami: 'ami-0a1b2c3d4e5f60003', instanceType: 't3.micro' });
    const made = await instanceReconciler.create(ctx, ok);
    const badAmi = desired('instance', 'kept', { ami: { owner: 'amazon', name: 'nope-*' }, instanceType: 't3.micro' });
    const o = (await instanceReconciler.observe(ctx, [badAmi])).find((x) => x.name === 'kept')!;
    expect(o.id).toBe(made.id);
    await expect(prepared(instanceReconciler, ctx, badAmi)).rejects.toThrow(/instance\.kept: no available AMI named "nope-\*" from owner "amazon"/);
    const badFile = desired('instance', 'kept', { ami: 'ami-0a1b2c3d4e5f60003', instanceType: 't3.micro', userData: { file: join(tmp, 'gone.sh') } });
    const o2 = (await instanceReconciler.observe(ctx, [badFile])).find((x) => x.name === 'kept')!;
    expect(o2.id).toBe(made.id);
    await expect(prepared(instanceReconciler, ctx, badFile)).rejects.toThrow(/userData\.file ".*gone\.sh" cannot be read/);
    await instanceReconciler.delete(ctx, o2);
  });
});

describe('launch-template', () => {
  it('creates, makes a new default version per change, heals drift, deletes', async () => {
    const net = await network('10.30');
    const refs: Record<string, Outputs> = { one: { id: net.sg1 }, two: { id: net.sg2 } };
    const body = { ami: AL2023, instanceType: 't3.micro', securityGroups: ['one'], userData: 'echo one', tags: { Tier: 'app' } };
    const d = desired('launch-template', 'app', body, refs);
    const created = await ltReconciler.create(ctx, d);
    expect(created.outputs).toEqual({ id: expect.stringMatching(/^lt-/), name: 'test-app', latestVersion: '1', defaultVersion: '1' });
    const id = created.id;

    // What it launches carries the stack tags and its owner, never reconcile:id.
    const v1 = (await ec2.send(new DescribeLaunchTemplateVersionsCommand({ LaunchTemplateId: id, Versions: ['$Latest'] }))).LaunchTemplateVersions![0];
    expect(v1.LaunchTemplateData!.ImageId).toBe(NEWEST_AL2023_X86);
    const instanceTags = Object.fromEntries(v1.LaunchTemplateData!.TagSpecifications!.find((t) => t.ResourceType === 'instance')!.Tags!.map((t) => [t.Key, t.Value]));
    expect(instanceTags).toEqual({ Name: 'test-app', Tier: 'app', 'reconcile:stack': 'test', [TAG_OWNER]: 'launch-template.app' });

    const o = await observeOne(ltReconciler, d);
    expect(o).toMatchObject({ id, management: 'owned', outputs: created.outputs });
    expect(await planOf(ltReconciler, d)).toEqual([]);

    // A change is a new version, in place; the name forces a replacement.
    const d2 = desired('launch-template', 'app', { ...body, instanceType: 't3.small', userData: { inline: 'echo two', sensitive: true }, securityGroups: ['one', 'two'] }, refs);
    const changes = await planOf(ltReconciler, d2);
    expect(paths(changes)).toEqual(['instanceType', 'securityGroups', 'userData']);
    expect(changes.find((c) => c.path === 'userData')!.sensitive).toBe(true);
    expect(await updateInPlace(ltReconciler, d2)).toEqual([]);
    expect((await observeOne(ltReconciler, d2))!.outputs).toMatchObject({ id, latestVersion: '2', defaultVersion: '2' });
    expect(paths(await planOf(ltReconciler, desired('launch-template', 'app', { ...body, templateName: 'renamed' }, refs)))).toContain('templateName!');
    expect(paths(await planOf(ltReconciler, desired('launch-template', 'app', { ...body, instanceType: 't3.small', userData: 'echo two', securityGroups: ['one', 'two'], publicIp: true }, refs)))).toEqual(['publicIp']);

    // instanceTags / volumeTags: what it launches is named apart from the template itself.
    const named = desired('launch-template', 'app', { ...d2.spec, instanceTags: { Name: 'app' }, volumeTags: { Backup: 'daily' } }, refs);
    expect(paths(await planOf(ltReconciler, named))).toEqual(['instanceTags', 'volumeTags']);
    expect(await updateInPlace(ltReconciler, named)).toEqual([]);
    const v3 = (await ec2.send(new DescribeLaunchTemplateVersionsCommand({ LaunchTemplateId: id, Versions: ['$Latest'] }))).LaunchTemplateVersions![0];
    const specTags = (type: string) => Object.fromEntries(v3.LaunchTemplateData!.TagSpecifications!.find((t) => t.ResourceType === type)!.Tags!.map((t) => [t.Key, t.Value]));
    expect(specTags('instance')).toEqual({ Name: 'app', 'reconcile:stack': 'test', [TAG_OWNER]: 'launch-template.app' });
    expect(specTags('volume')).toEqual({ Name: 'test-app', Backup: 'daily', 'reconcile:stack': 'test', [TAG_OWNER]: 'launch-template.app' });
    expect((await observeOne(ltReconciler, named))!.tags).toMatchObject({ Name: 'test-app', Tier: 'app' }); // the template's own
    expect(paths(await planOf(ltReconciler, d2))).toEqual(['instanceTags', 'volumeTags']); // back to the template's tags
    expect(await updateInPlace(ltReconciler, d2)).toEqual([]);

    // Drift: a version made by hand (not the default), and a tag removed.
    await ec2.send(new CreateLaunchTemplateVersionCommand({ LaunchTemplateId: id, SourceVersion: '4', LaunchTemplateData: { InstanceType: 't3.large' } }));
    await ec2.send(new DeleteTagsCommand({ Resources: [id], Tags: [{ Key: 'Tier' }] }));
    const drift = await planOf(ltReconciler, d2);
    expect(drift).toContainEqual({ path: 'instanceType', before: 't3.large', after: 't3.small', forcesReplace: false });
    expect(drift).toContainEqual({ path: 'defaultVersion', before: 4, after: 5, forcesReplace: false });
    expect(drift).toContainEqual({ path: 'tags.Tier', before: undefined, after: 'app', forcesReplace: false });
    expect(await updateInPlace(ltReconciler, d2)).toEqual([]);
    expect((await observeOne(ltReconciler, d2))!.outputs).toMatchObject({ latestVersion: '6', defaultVersion: '6' });

    await ltReconciler.delete(ctx, (await observeOne(ltReconciler, d2))!);
    expect(await observeOne(ltReconciler, d2)).toBeUndefined();
    await ltReconciler.delete(ctx, o!); // already gone: success
  });

  it('finds more than 15 templates of the stack (moto stops at 15 without MaxResults)', async () => {
    const many = Array.from({ length: 17 }, (_, i) => desired('launch-template', `many-${i}`, { ami: 'ami-0a1b2c3d4e5f60001', instanceType: 't3.nano' }));
    for (const d of many) await ltReconciler.create(ctx, d);
    const seen = await ltReconciler.observe(ctx, many);
    expect(seen.map((o) => o.name).sort()).toEqual(many.map((d) => d.name).sort());
    for (const d of many) expect(diffFields(ltReconciler, d, seen.find((o) => o.name === d.name)!, await prepared(ltReconciler, ctx, d))).toEqual([]);
    for (const o of seen) await ltReconciler.delete(ctx, o);
    expect(await ltReconciler.observe(ctx, many)).toEqual([]);
  });
});

describe('auto-scaling-group', () => {
  it('creates a group from a launch template, follows new template versions, heals drift, deletes', async () => {
    const net = await network('10.40');
    const elb = new ElasticLoadBalancingV2Client({ region: 'us-east-1', endpoint: moto.endpoint, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
    const sns = new SNSClient({ region: 'us-east-1', endpoint: moto.endpoint, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
    const as = new AutoScalingClient({ region: 'us-east-1', endpoint: moto.endpoint, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
    const tg = async (n: string) =>
      (await elb.send(new CreateTargetGroupCommand({ Name: n, Protocol: 'HTTP', Port: 80, VpcId: net.vpc, TargetType: 'instance' }))).TargetGroups![0].TargetGroupArn!;
    const [tg1, tg2] = [await tg('asg-tg-one'), await tg('asg-tg-two')];
    const topic = (await sns.send(new CreateTopicCommand({ Name: 'asg-events' }))).TopicArn!;

    const ltBody = { ami: 'ami-0a1b2c3d4e5f60003', instanceType: 't3.micro', securityGroups: ['one'] };
    const lt = await ltReconciler.create(ctx, desired('launch-template', 'web-lt', ltBody, { one: { id: net.sg1 } }));
    const refs = (ltOutputs: Outputs): Record<string, Outputs> => ({
      'web-lt': ltOutputs,
      a: { id: net.subnetA },
      b: { id: net.subnetB },
      tg1: { id: tg1, arn: tg1 },
      tg2: { id: tg2, arn: tg2 },
      events: { id: topic, arn: topic },
    });
    const body = {
      launchTemplate: 'web-lt',
      minSize: 1,
      maxSize: 3,
      desiredCapacity: 2,
      subnets: ['a'],
      targetGroups: ['tg1'],
      notifications: { topic: 'events', events: ['launch', 'terminate'] },
      targetCpu: 50,
      tags: { Team: 'web' },
    };
    const d = desired('auto-scaling-group', 'web', body, refs(lt.outputs));
    expect(await observeOne(asgReconciler, d)).toBeUndefined();
    const created = await asgReconciler.create(ctx, d);
    expect(created.outputs).toEqual({
      id: 'test-web',
      name: 'test-web',
      arn: expect.stringContaining(':autoScalingGroup:'),
      scalingPolicyArn: expect.stringContaining('test-web-target-cpu'),
    });
    expect(created.live).toMatchObject({ launchTemplate: lt.id, launchTemplateVersion: '1', minSize: 1, maxSize: 3, desiredCapacity: 2, subnets: [net.subnetA], targetGroups: [tg1], targetCpu: 50 });
    // moto has no notification configurations: said as a warning, never a failure.
    expect(ctx.events.some((e) => e.type === 'warning' && e.address === 'auto-scaling-group.web' && /notification/.test(e.message))).toBe(true);
    const policies = (await as.send(new DescribePoliciesCommand({ AutoScalingGroupName: 'test-web' }))).ScalingPolicies!;
    expect(policies).toMatchObject([{ PolicyType: 'TargetTrackingScaling', TargetTrackingConfiguration: { TargetValue: 50 } }]);

    // The group's instances carry the stack tag, not reconcile:id: they are not spec instances.
    const launched = (await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'tag:aws:autoscaling:groupName', Values: ['test-web'] }] }))).Reservations!.flatMap(
      (r) => r.Instances!,
    );
    expect(launched).toHaveLength(2);
    for (const i of launched) {
      const tags = Object.fromEntries(i.Tags!.map((t) => [t.Key, t.Value]));
      expect(tags).toMatchObject({ 'reconcile:stack': 'test', Team: 'web' });
      expect(tags['reconcile:id']).toBeUndefined();
    }
    const specInstances = await instanceReconciler.observe(ctx, []);
    expect(specInstances.filter((o) => launched.some((i) => i.InstanceId === o.id))).toEqual([]);

    expect(await planOf(asgReconciler, d)).toEqual([]);

    // In place: sizes, subnets, health check, target groups, CPU target, a tag; the name forces replacement.
    const body2 = { ...body, maxSize: 4, subnets: ['a', 'b'], healthCheckType: 'ELB', healthCheckGracePeriod: 60, targetGroups: ['tg2'], targetCpu: 60, tags: { Team: 'platform' } };
    const d2 = desired('auto-scaling-group', 'web', body2, refs(lt.outputs));
    expect(paths(await planOf(asgReconciler, d2))).toEqual(['healthCheckGracePeriod', 'healthCheckType', 'maxSize', 'subnets', 'tags.Team', 'targetCpu', 'targetGroups']);
    expect(await updateInPlace(asgReconciler, d2)).toEqual([]);
    const g = (await as.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: ['test-web'] }))).AutoScalingGroups![0];
    expect(g).toMatchObject({ MaxSize: 4, HealthCheckType: 'ELB', HealthCheckGracePeriod: 60, TargetGroupARNs: [tg2] });
    expect(g.Tags!.find((t) => t.Key === 'Team')).toMatchObject({ Value: 'platform', PropagateAtLaunch: true });
    expect(g.Tags!.find((t) => t.Key === 'reconcile:id')).toMatchObject({ Value: 'web', PropagateAtLaunch: false });
    expect(paths(await planOf(asgReconciler, desired('auto-scaling-group', 'web', { ...body2, groupName: 'renamed' }, refs(lt.outputs))))).toEqual(['groupName!']);

    // A new launch template version: the group follows it, with an instance refresh (a warning on moto).
    const ltD2 = desired('launch-template', 'web-lt', { ...ltBody, instanceType: 't3.small' }, { one: { id: net.sg1 } });
    const lt2 = await ltReconciler.update(ctx, ltD2, (await observeOne(ltReconciler, ltD2))!, await planOf(ltReconciler, ltD2));
    expect(lt2.outputs.latestVersion).toBe('2');
    const d3 = desired('auto-scaling-group', 'web', body2, refs(lt2.outputs));
    expect(await planOf(asgReconciler, d3)).toEqual([{ path: 'launchTemplateVersion', before: '1', after: '2', forcesReplace: false }]);
    expect(await updateInPlace(asgReconciler, d3)).toEqual([]);
    expect(ctx.events.some((e) => e.address === 'auto-scaling-group.web' && /StartInstanceRefresh/.test(e.message))).toBe(true);

    // Drift: max size changed by hand, the policy deleted, desired capacity moved (ignored when asked).
    await as.send(new UpdateAutoScalingGroupCommand({ AutoScalingGroupName: 'test-web', MaxSize: 10, DesiredCapacity: 3 }));
    await as.send(new DeletePolicyCommand({ AutoScalingGroupName: 'test-web', PolicyName: 'test-web-target-cpu' }));
    expect(await planOf(asgReconciler, d3)).toEqual([
      { path: 'maxSize', before: 10, after: 4, forcesReplace: false },
      { path: 'desiredCapacity', before: 3, after: 2, forcesReplace: false },
      { path: 'targetCpu', before: undefined, after: 60, forcesReplace: false },
    ]);
    const ignoring = desired('auto-scaling-group', 'web', { ...body2, ignoreChanges: ['desiredCapacity'] }, refs(lt2.outputs));
    expect(paths(await updateInPlace(asgReconciler, ignoring))).toEqual([]);
    expect((await observeOne(asgReconciler, ignoring))!.live).toMatchObject({ maxSize: 4, desiredCapacity: 3, targetCpu: 60 });

    // Without targetCpu the policy goes.
    const noCpu = desired('auto-scaling-group', 'web', { ...body2, targetCpu: undefined, ignoreChanges: ['desiredCapacity'] }, refs(lt2.outputs));
    expect(paths(await planOf(asgReconciler, noCpu))).toEqual(['targetCpu']);
    expect(await updateInPlace(asgReconciler, noCpu)).toEqual([]);
    expect((await observeOne(asgReconciler, noCpu))!.outputs.scalingPolicyArn).toBeUndefined();

    await asgReconciler.delete(ctx, (await observeOne(asgReconciler, noCpu))!);
    expect(await observeOne(asgReconciler, noCpu)).toBeUndefined();
    expect((await as.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: ['test-web'] }))).AutoScalingGroups).toEqual([]);
    await asgReconciler.delete(ctx, created); // already gone: success
    await ltReconciler.delete(ctx, lt2);
    for (const c of [elb, sns, as]) c.destroy();
  });

  it('a group following $Latest refreshes when the template moves; keepVersions prunes old versions (a warning on moto)', async () => {
    const net = await network('10.50');
    const ltBody = { ami: 'ami-0a1b2c3d4e5f60003', instanceType: 't3.micro', keepVersions: 1 };
    const lt = await ltReconciler.create(ctx, desired('launch-template', 'follow-lt', ltBody));
    const body = { launchTemplate: 'follow-lt', launchTemplateVersion: '$Latest', minSize: 1, maxSize: 1, subnets: ['a'] };
    const refs = (o: Outputs): Record<string, Outputs> => ({ 'follow-lt': o, a: { id: net.subnetA } });
    const d = desired('auto-scaling-group', 'follow', body, refs(lt.outputs));
    const created = await asgReconciler.create(ctx, d);
    expect(created.live).toMatchObject({ launchTemplateVersion: '$Latest', templateVersion: '1' });
    expect(created.tags['reconcile:template-version']).toBeUndefined(); // not among its tags
    expect(await planOf(asgReconciler, d)).toEqual([]);

    const ltD2 = desired('launch-template', 'follow-lt', { ...ltBody, instanceType: 't3.small' });
    const events = ctx.events.length;
    const lt2 = await ltReconciler.update(ctx, ltD2, (await observeOne(ltReconciler, ltD2))!, await planOf(ltReconciler, ltD2));
    expect(ctx.events.slice(events).some((e) => e.type === 'warning' && /DeleteLaunchTemplateVersions: versions 1 stay/.test(e.message))).toBe(true);
    const d2 = desired('auto-scaling-group', 'follow', body, refs(lt2.outputs));
    expect(await planOf(asgReconciler, d2)).toEqual([{ path: 'templateVersion', before: '1', after: '2', forcesReplace: false }]);
    expect(await updateInPlace(asgReconciler, d2)).toEqual([]);
    expect(ctx.events.some((e) => e.address === 'auto-scaling-group.follow' && /StartInstanceRefresh/.test(e.message))).toBe(true);
    const g = (await observeOne(asgReconciler, d2))!;
    expect(g.live).toMatchObject({ launchTemplateVersion: '$Latest', templateVersion: '2' });

    // Pinned to a number, then $Default: the group's version string follows the spec.
    const pinned = desired('auto-scaling-group', 'follow', { ...body, launchTemplateVersion: 1 }, refs(lt2.outputs));
    expect(paths(await planOf(asgReconciler, pinned))).toEqual(['launchTemplateVersion']);
    const dflt = desired('auto-scaling-group', 'follow', { ...body, launchTemplateVersion: '$Default' }, refs(lt2.outputs));
    expect(paths(await planOf(asgReconciler, dflt))).toEqual(['launchTemplateVersion']);
    expect(await updateInPlace(asgReconciler, dflt)).toEqual([]);

    await asgReconciler.delete(ctx, g);
    await ltReconciler.delete(ctx, lt2);
  });
});
