// Pure diff logic of the compute kinds on hand-written Observed values: no network.
import { mkdtempSync, statSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Image } from '@aws-sdk/client-ec2';
import { newestImage } from '../../src/aws/ami.js';
import { USER_DATA_MAX_BYTES, resolveUserData, sha256Hex, type UserDataSpec } from '../../src/inputs/user-data.js';
import { diffFields, withoutIgnored } from '../../src/engine/plan.js';
import { UNKNOWN, type Ctx, type FieldChange, type Observed, type Outputs } from '../../src/engine/types.js';
import asg, { type AutoScalingGroupLive } from '../../src/reconcilers/auto-scaling-group.js';
import { notificationsOf } from '../../src/reconcilers/auto-scaling-group-notifications.js';
import instance, { TAG_USER_DATA, isNotImplemented, type InstanceLive } from '../../src/reconcilers/instance.js';
import { clientToken, runInstancesInput, wanted } from '../../src/reconcilers/instance-launch.js';
import keyPair, { normalizePublicKey, writePrivateKey, type KeyPairLive } from '../../src/reconcilers/key-pair.js';
import launchTemplate, { type LaunchTemplateLive } from '../../src/reconcilers/launch-template.js';
import { versionsToPrune } from '../../src/reconcilers/launch-template-data.js';
import { liveOfData } from '../../src/reconcilers/launch-template-read.js';
import { prepareLaunchInputs, type LaunchInputs } from '../../src/reconcilers/launch-inputs.js';
import { desired } from '../helpers/aws.js';
import { observed as observedOf, ownTags } from '../helpers/observed.js';

const observed = <L>(name: string, live: L, extraTags: Record<string, string> = {}, management: Observed['management'] = 'owned'): Observed =>
  observedOf(name, live, { tags: ownTags(name, extraTags), management });
const paths = (c: FieldChange[]) => c.map((x) => `${x.path}${x.forcesReplace ? '!' : ''}`);
/** What prepare hands diff for a body with an AMI id (or `ami` for a query) and inline user data. */
const inputsFor = (body: Record<string, unknown>, ami?: string): LaunchInputs => ({
  ami: ami ?? (body.ami as string),
  amiMatching: [],
  userData: resolveUserData(body.userData as UserDataSpec | undefined, '/'),
});

// ---------------------------------------------------------------------------------------------
describe('key-pair diff', () => {
  const pub = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTests me@host';
  const live = (over: Partial<KeyPairLive> = {}): KeyPairLive => ({ keyName: 'test-k', keyPairId: 'key-0abc', publicKey: normalizePublicKey(pub), ...over });
  it.each<[string, Record<string, unknown>, KeyPairLive, Observed['management'], string[]]>([
    ['up to date', {}, live(), 'owned', []],
    ['keyName changes: replace', { keyName: 'other' }, live(), 'owned', ['keyName!']],
    ['imported key changes: replace', { publicKey: 'ssh-ed25519 AAAAOTHER x' }, live(), 'owned', ['publicKey!']],
    ['imported key, other comment: same key', { publicKey: pub.replace('me@host', 'laptop') }, live(), 'owned', []],
    ['a reused key pair is never diffed', { existing: true, keyName: 'test-k' }, live(), 'lookup', []],
    ['an owned key pair the spec now reuses: replace', { existing: true, keyName: 'test-k' }, live(), 'owned', ['existing!']],
  ])('%s', (_, body, l, management, expected) => {
    expect(paths(diffFields(keyPair, desired('key-pair', 'k', body), observed('k', l, {}, management)))).toEqual(expected);
  });

  it('reports tags per key, in place', () => {
    const o = observed('k', live(), { Env: 'dev' });
    expect(diffFields(keyPair, desired('key-pair', 'k', { tags: { Env: 'prod' } }), o)).toEqual([{ path: 'tags.Env', before: 'dev', after: 'prod', forcesReplace: false }]);
  });

  it('writes a private key with mode 0600, replacing an older file whole', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'reconcile-key-'));
    const path = join(dir, 'a', 'b', 'k.pem');
    await writePrivateKey(path, 'FIRST');
    writeFileSync(path, 'OLD', { mode: 0o644 });
    await writePrivateKey(path, '-----BEGIN RSA PRIVATE KEY-----\nxyz\n-----END RSA PRIVATE KEY-----');
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readFileSync(path, 'utf8')).toBe('-----BEGIN RSA PRIVATE KEY-----\nxyz\n-----END RSA PRIVATE KEY-----\n');
  });
});

// ---------------------------------------------------------------------------------------------
describe('instance diff', () => {
  const AMI = 'ami-0123456789abcdef0';
  const refs: Record<string, Outputs> = {
    a: { id: 'subnet-0aaaaaaaaaaaaaaaa' },
    b: { id: 'subnet-0bbbbbbbbbbbbbbbb' },
    web: { id: 'sg-0111111111111111a' },
    ssh: { id: 'sg-0222222222222222b' },
    key: { id: 'test-key', keyName: 'test-key', keyPairId: 'key-0abc' },
    later: { id: UNKNOWN, keyName: UNKNOWN },
  };
  const base = { ami: AMI, instanceType: 't3.micro', subnet: 'a', securityGroups: ['web', 'ssh'], keyPair: 'key', userData: 'echo hi', publicIp: true };
  const live = (over: Partial<InstanceLive> = {}): InstanceLive => ({
    state: 'running',
    ami: AMI,
    instanceType: 't3.micro',
    subnet: 'subnet-0aaaaaaaaaaaaaaaa',
    securityGroups: ['sg-0111111111111111a', 'sg-0222222222222222b'],
    keyPair: 'test-key',
    userData: `sha256:${sha256Hex('echo hi')}`,
    monitoring: false,
    publicIp: true,
    ...over,
  });
  const diff = (body: Record<string, unknown>, l: InstanceLive, extraTags: Record<string, string> = {}) =>
    diffFields(instance, desired('instance', 'web', body, refs), observed('web', l, { [TAG_USER_DATA]: 'ignored', ...extraTags }), inputsFor(body));

  it.each<[string, Record<string, unknown>, InstanceLive, string[]]>([
    ['up to date (group order does not matter, user data tag is internal)', { ...base, securityGroups: ['ssh', 'web'] }, live(), []],
    ['AMI: replace', { ...base, ami: 'ami-0fedcba9876543210' }, live(), ['ami!']],
    ['instance type: in place', { ...base, instanceType: 't3.small' }, live(), ['instanceType']],
    ['subnet: replace', { ...base, subnet: 'b' }, live(), ['subnet!']],
    ['subnet omitted: the default AWS chose is not a change', { ...base, subnet: undefined }, live(), []],
    ['security groups: in place', { ...base, securityGroups: ['web'] }, live(), ['securityGroups']],
    ['no security groups in the spec: the VPC default is not a change', { ...base, securityGroups: [] }, live(), []],
    ['key pair added: replace', base, live({ keyPair: undefined }), ['keyPair!']],
    ['key pair removed: replace', { ...base, keyPair: undefined }, live(), ['keyPair!']],
    ['user data changed: replace', { ...base, userData: 'echo bye' }, live(), ['userData!']],
    ['user data added: replace', base, live({ userData: undefined }), ['userData!']],
    ['monitoring: in place', { ...base, monitoring: true }, live(), ['monitoring']],
    ['public IP: replace', { ...base, publicIp: false }, live(), ['publicIp!']],
    ['public IP of a stopped instance is not known: no change', { ...base, publicIp: false }, live({ state: 'stopped', publicIp: undefined }), []],
    ['public IP omitted: the subnet decides', { ...base, publicIp: undefined }, live(), []],
    ['instance profile by name matches its ARN', { ...base, iamInstanceProfile: 'app-role' }, live({ iamInstanceProfile: 'arn:aws:iam::123456789012:instance-profile/app-role' }), []],
    ['instance profile by ARN', { ...base, iamInstanceProfile: 'arn:aws:iam::123456789012:instance-profile/x' }, live({ iamInstanceProfile: 'arn:aws:iam::123456789012:instance-profile/app-role' }), ['iamInstanceProfile!']],
    ['instance profile removed: replace', base, live({ iamInstanceProfile: 'arn:aws:iam::123456789012:instance-profile/app-role' }), ['iamInstanceProfile!']],
    ['key pair to be created: replace, known after apply', { ...base, keyPair: 'later' }, live(), ['keyPair!']],
  ])('%s', (_, body, l, expected) => {
    expect(paths(diff(body, l))).toEqual(expected);
  });

  it('compares user data by hash and marks it sensitive when the spec says so', () => {
    const [c] = diff({ ...base, userData: { inline: 'export TOKEN=s3cret', sensitive: true } }, live());
    expect(c).toEqual({ path: 'userData', before: `sha256:${sha256Hex('echo hi')}`, after: `sha256:${sha256Hex('export TOKEN=s3cret')}`, forcesReplace: true, sensitive: true });
    expect(JSON.stringify(c)).not.toContain('s3cret');
  });

  it('reads user data from a file relative to the spec (prepare reads it; an AMI id and no key pair id need no AWS)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'reconcile-ud-'));
    writeFileSync(join(dir, 'boot.sh'), 'echo hi');
    const d = { ...desired('instance', 'web', { ...base, userData: { file: 'boot.sh' } }, refs), specDir: dir };
    const [p] = await prepareLaunchInputs({ region: 'eu-west-1' } as Ctx, [d]);
    expect(p.resolved).toEqual([{ field: 'userData', value: `sha256:${sha256Hex('echo hi').slice(0, 12)}`, detail: join(dir, 'boot.sh') }]);
    expect(diffFields(instance, d, observed('web', live()), p.inputs)).toEqual([]);
  });

  it('compares with the AMI prepare resolved, and refuses to diff without it', () => {
    const d = desired('instance', 'web', { ...base, ami: { owner: 'amazon', name: 'al2023-ami-2023.*-x86_64' } }, refs);
    expect(() => diffFields(instance, d, observed('web', live()))).toThrow(/instance\.web: its AMI, key pair and user data have not been resolved/);
    expect(diffFields(instance, d, observed('web', live()), inputsFor(base, AMI))).toEqual([]);
    expect(diffFields(instance, d, observed('web', live()), inputsFor(base, 'ami-0newer0000000000'))).toEqual([{ path: 'ami', before: AMI, after: 'ami-0newer0000000000', forcesReplace: true }]);
    // A newer build of the same image family does not replace a running instance whose image still matches.
    const newer = { ...inputsFor(base, 'ami-0newer0000000000'), amiMatching: ['ami-0newer0000000000', AMI] };
    expect(diffFields(instance, d, observed('web', live()), newer)).toEqual([]);
  });

  it('shows a tag change in place, never the internal user data tag', () => {
    expect(diff({ ...base, tags: { Env: 'prod' } }, live(), { Env: 'dev' })).toEqual([{ path: 'tags.Env', before: 'dev', after: 'prod', forcesReplace: false }]);
  });

  it('derives a deterministic ClientToken of at most 64 characters from everything RunInstances sends', () => {
    const token = (body: Record<string, unknown>, salt?: string, name = 'web', stack = 'test') => {
      const d = desired('instance', name, body, refs, stack);
      return clientToken(d, runInstancesInput(d, wanted(d, inputsFor(body)), inputsFor(body)), salt);
    };
    const t = token(base);
    expect(token(base)).toBe(t);
    expect(t).toMatch(/^test-web-[0-9a-f]{16}$/);
    expect(token({ ...base, subnet: 'b' })).not.toBe(t);
    expect(token({ ...base, tags: { Env: 'x' } })).not.toBe(t);
    expect(token(base, 'i-0terminated')).not.toBe(t);
    expect(token(base, undefined, 'other')).not.toBe(t);
    const long = token(base, undefined, `n${'x'.repeat(62)}`, `s${'y'.repeat(62)}`);
    expect(long.length).toBeLessThanOrEqual(64);
    expect(long).toMatch(/^[A-Za-z0-9_-]+$/);
  });

  it('puts subnet and groups on the network interface when the spec chooses the public IP', () => {
    const d = desired('instance', 'web', base, refs);
    const input = runInstancesInput(d, wanted(d, inputsFor(base)), inputsFor(base));
    expect(input).toMatchObject({
      ImageId: AMI,
      KeyName: 'test-key',
      UserData: Buffer.from('echo hi').toString('base64'),
      NetworkInterfaces: [{ DeviceIndex: 0, AssociatePublicIpAddress: true, SubnetId: 'subnet-0aaaaaaaaaaaaaaaa', Groups: ['sg-0111111111111111a', 'sg-0222222222222222b'] }],
    });
    expect(input.SubnetId).toBeUndefined();
    const plainBody = { ...base, publicIp: undefined, userData: undefined };
    const plain = desired('instance', 'web', plainBody, refs);
    const p = runInstancesInput(plain, wanted(plain, inputsFor(plainBody)), inputsFor(plainBody));
    expect(p).toMatchObject({ SubnetId: 'subnet-0aaaaaaaaaaaaaaaa', SecurityGroupIds: ['sg-0111111111111111a', 'sg-0222222222222222b'] });
    expect(p.NetworkInterfaces).toBeUndefined();
    const tags = Object.fromEntries(p.TagSpecifications![0].Tags!.map((t) => [t.Key, t.Value]));
    expect(tags).toMatchObject({ 'reconcile:id': 'web', [TAG_USER_DATA]: 'none' });
    expect(p.TagSpecifications!.map((t) => t.ResourceType)).toEqual(['instance', 'volume']);
  });
});

// ---------------------------------------------------------------------------------------------
describe('launch-template keepVersions', () => {
  it.each<[string, number[], number, number, number[]]>([
    ['keeps the newest N', [1, 2, 3, 4, 5], 2, 5, [1, 2, 3]],
    ['never the default, even when old', [1, 2, 3, 4], 1, 2, [1, 3]],
    ['nothing when there are N or fewer', [3, 7], 2, 7, []],
    ['order of the answer does not matter', [5, 1, 3], 1, 5, [1, 3]],
  ])('%s', (_, versions, keep, dflt, expected) => expect(versionsToPrune(versions, keep, dflt)).toEqual(expected));
});

describe('launch-template diff', () => {
  const AMI = 'ami-0123456789abcdef0';
  const refs: Record<string, Outputs> = { web: { id: 'sg-0111111111111111a' }, key: { id: 'test-key', keyName: 'test-key' } };
  const base = { ami: AMI, instanceType: 't3.micro', securityGroups: ['web'], userData: 'echo hi' };
  const launched = { Name: 'test-lt', 'reconcile:stack': 'test', 'reconcile:owner': 'launch-template.lt' };
  const live = (over: Partial<LaunchTemplateLive> = {}): LaunchTemplateLive => ({
    templateName: 'test-lt',
    ami: AMI,
    instanceType: 't3.micro',
    securityGroups: ['sg-0111111111111111a'],
    userData: `sha256:${sha256Hex('echo hi')}`,
    monitoring: false,
    instanceTags: launched,
    volumeTags: launched,
    latestVersion: 3,
    defaultVersion: 3,
    ...over,
  });
  it.each<[string, Record<string, unknown>, LaunchTemplateLive, string[]]>([
    ['up to date', base, live(), []],
    ['name: replace', { ...base, templateName: 'other' }, live(), ['templateName!']],
    ['AMI: a new version', { ...base, ami: 'ami-0fedcba9876543210' }, live(), ['ami']],
    ['type and user data: a new version', { ...base, instanceType: 't3.small', userData: 'echo bye' }, live(), ['instanceType', 'userData']],
    ['key pair, monitoring, public IP: a new version', { ...base, keyPair: 'key', monitoring: true, publicIp: true }, live(), ['keyPair', 'monitoring', 'publicIp']],
    ['an older default version (drift): the latest again', base, live({ defaultVersion: 2 }), ['defaultVersion']],
    ['launched instances lost the owner tag (drift)', base, live({ instanceTags: { Name: 'test-lt', 'reconcile:stack': 'test' } }), ['instanceTags']],
    ['instance profile by name', { ...base, iamInstanceProfile: 'app' }, live({ iamInstanceProfile: { name: 'app' } }), []],
  ])('%s', (_, body, l, expected) => {
    expect(paths(diffFields(launchTemplate, desired('launch-template', 'lt', body, refs), observed('lt', l), inputsFor(body)))).toEqual(expected);
  });

  it('marks sensitive user data', () => {
    const body = { ...base, userData: { inline: 'x', sensitive: true } };
    const c = diffFields(launchTemplate, desired('launch-template', 'lt', body, refs), observed('lt', live()), inputsFor(body));
    expect(c).toEqual([expect.objectContaining({ path: 'userData', forcesReplace: false, sensitive: true })]);
  });

  it("reads version data, ignoring the template's own tags that moto returns as a launch-template entry", () => {
    const l = liveOfData({
      ImageId: AMI,
      InstanceType: 't3.micro',
      UserData: Buffer.from('echo hi').toString('base64'),
      NetworkInterfaces: [{ DeviceIndex: 0, AssociatePublicIpAddress: true, Groups: ['sg-b', 'sg-a'] }],
      TagSpecifications: [
        { ResourceType: 'launch-template', Tags: [{ Key: 'reconcile:id', Value: 'lt' }] },
        { ResourceType: 'instance', Tags: [{ Key: 'Name', Value: 'x' }] },
      ],
    });
    expect(l).toEqual({
      ami: AMI,
      instanceType: 't3.micro',
      securityGroups: ['sg-a', 'sg-b'],
      keyPair: undefined,
      userData: `sha256:${sha256Hex('echo hi')}`,
      monitoring: false,
      publicIp: true,
      iamInstanceProfile: undefined,
      instanceTags: { Name: 'x' },
      volumeTags: {},
    });
  });
});

// ---------------------------------------------------------------------------------------------
describe('auto-scaling-group diff', () => {
  const TOPIC = 'arn:aws:sns:us-east-1:123456789012:events';
  const TG = 'arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef';
  const refs = (ltOut: Outputs = { id: 'lt-0123456789abcdef0', latestVersion: '4' }): Record<string, Outputs> => ({
    lt: ltOut,
    a: { id: 'subnet-0aaaaaaaaaaaaaaaa' },
    b: { id: 'subnet-0bbbbbbbbbbbbbbbb' },
    tg: { id: TG, arn: TG },
    events: { id: TOPIC, arn: TOPIC },
  });
  const base = {
    launchTemplate: 'lt',
    minSize: 1,
    maxSize: 4,
    desiredCapacity: 2,
    subnets: ['a', 'b'],
    targetGroups: ['tg'],
    notifications: { topic: 'events', events: ['terminate', 'launch'] },
    targetCpu: 50,
  };
  const live = (over: Partial<AutoScalingGroupLive> = {}): AutoScalingGroupLive => ({
    groupName: 'test-g',
    launchTemplate: 'lt-0123456789abcdef0',
    launchTemplateVersion: '4',
    minSize: 1,
    maxSize: 4,
    desiredCapacity: 2,
    subnets: ['subnet-0aaaaaaaaaaaaaaaa', 'subnet-0bbbbbbbbbbbbbbbb'],
    healthCheckType: 'EC2',
    healthCheckGracePeriod: 300,
    targetGroups: [TG],
    notifications: [{ topic: TOPIC, events: ['launch', 'terminate'] }],
    targetCpu: 50,
    ...over,
  });
  const diff = (body: Record<string, unknown>, l: AutoScalingGroupLive, r = refs()) => {
    const d = desired('auto-scaling-group', 'g', body, r);
    return paths(withoutIgnored(diffFields(asg, d, observed('g', l)), d.spec.ignoreChanges));
  };

  it.each<[string, Record<string, unknown>, AutoScalingGroupLive, string[]]>([
    ['up to date (event and subnet order do not matter)', { ...base, subnets: ['b', 'a'] }, live(), []],
    ['name: replace', { ...base, groupName: 'other' }, live(), ['groupName!']],
    ['sizes: in place', { ...base, minSize: 2, maxSize: 6, desiredCapacity: 3 }, live(), ['minSize', 'maxSize', 'desiredCapacity']],
    ['desired capacity moved by scaling, spec silent: no change', { ...base, desiredCapacity: undefined }, live({ desiredCapacity: 3 }), []],
    ['desired capacity moved by scaling, ignoreChanges: no change', { ...base, ignoreChanges: ['desiredCapacity'] }, live({ desiredCapacity: 3 }), []],
    ['desired capacity drift', base, live({ desiredCapacity: 3 }), ['desiredCapacity']],
    ['a new template version: in place', base, live({ launchTemplateVersion: '3' }), ['launchTemplateVersion']],
    ['another template: in place', base, live({ launchTemplate: 'lt-0fffffffffffffff0' }), ['launchTemplate']],
    ['subnets: in place', { ...base, subnets: ['a'] }, live(), ['subnets']],
    ['health check: in place', { ...base, healthCheckType: 'ELB', healthCheckGracePeriod: 60 }, live(), ['healthCheckType', 'healthCheckGracePeriod']],
    ['target groups: in place', { ...base, targetGroups: [] }, live(), ['targetGroups']],
    ['notification events: in place', { ...base, notifications: { topic: 'events', events: ['launch'] } }, live(), ['notifications']],
    ['notifications removed: in place', { ...base, notifications: undefined }, live(), ['notifications']],
    ['notifications unreadable on this endpoint: not compared', { ...base, notifications: undefined }, live({ notifications: undefined }), []],
    ['CPU target: in place', { ...base, targetCpu: 70 }, live(), ['targetCpu']],
    ['CPU policy deleted by hand', base, live({ targetCpu: undefined }), ['targetCpu']],
  ])('%s', (_, body, l, expected) => {
    expect(diff(body, l)).toEqual(expected);
  });

  it('follows $Latest for a template outside the stack, and shows a template being created as known after apply', () => {
    expect(diff(base, live({ launchTemplate: 'lt-0aaaaaaaaaaaaaaaa', launchTemplateVersion: '$Latest' }), refs({ id: 'lt-0aaaaaaaaaaaaaaaa' }))).toEqual([]);
    const d = desired('auto-scaling-group', 'g', base, refs({ id: UNKNOWN, latestVersion: UNKNOWN }));
    expect(diffFields(asg, d, observed('g', live()))).toEqual([
      { path: 'launchTemplate', before: 'lt-0123456789abcdef0', after: UNKNOWN, forcesReplace: false },
      { path: 'launchTemplateVersion', before: '4', after: UNKNOWN, forcesReplace: false },
    ]);
  });

  it('maps notification types to the short event names, by topic', () => {
    expect(
      notificationsOf([
        { AutoScalingGroupName: 'g', TopicARN: 'arn:b', NotificationType: 'autoscaling:EC2_INSTANCE_TERMINATE' },
        { AutoScalingGroupName: 'g', TopicARN: 'arn:a', NotificationType: 'autoscaling:EC2_INSTANCE_LAUNCH_ERROR' },
        { AutoScalingGroupName: 'g', TopicARN: 'arn:b', NotificationType: 'autoscaling:EC2_INSTANCE_LAUNCH' },
        { AutoScalingGroupName: 'g', TopicARN: 'arn:a', NotificationType: 'autoscaling:TEST_NOTIFICATION' },
      ]),
    ).toEqual([
      { topic: 'arn:a', events: ['autoscaling:TEST_NOTIFICATION', 'launch-error'] },
      { topic: 'arn:b', events: ['launch', 'terminate'] },
    ]);
  });
});

// ---------------------------------------------------------------------------------------------
describe('AMI choice', () => {
  const img = (id: string, name: string, date: string, state = 'available'): Image => ({ ImageId: id, Name: name, CreationDate: date, State: state as Image['State'] });
  it.each<[string, Image[], string | undefined]>([
    ['the newest by creation date', [img('ami-1', 'a-1', '2024-01-01T00:00:00Z'), img('ami-3', 'a-3', '2024-06-01T00:00:00Z'), img('ami-2', 'a-2', '2024-03-01T00:00:00Z')], 'ami-3'],
    [
      'same date: the highest name in natural order (6.18 after 6.12 after 6.1)',
      [img('ami-a', 'al2023-kernel-6.1-x86_64', '2025-01-01T00:00:00Z'), img('ami-c', 'al2023-kernel-6.18-x86_64', '2025-01-01T00:00:00Z'), img('ami-b', 'al2023-kernel-6.12-x86_64', '2025-01-01T00:00:00Z')],
      'ami-c',
    ],
    ['a newer image still pending is skipped', [img('ami-1', 'a', '2024-01-01T00:00:00Z'), img('ami-2', 'b', '2025-01-01T00:00:00Z', 'pending')], 'ami-1'],
    ['nothing', [], undefined],
  ])('%s', (_, images, expected) => {
    expect(newestImage(images)?.ImageId).toBe(expected);
  });
});

describe('user data', () => {
  it.each<[string, Parameters<typeof resolveUserData>[0], string, boolean]>([
    ['inline string', 'echo a', 'echo a', false],
    ['inline object, sensitive', { inline: 'echo b', sensitive: true }, 'echo b', true],
  ])('%s', (_, spec, text, sensitive) => {
    const r = resolveUserData(spec, '/nowhere')!;
    expect(r).toMatchObject({ text, sensitive, base64: Buffer.from(text).toString('base64'), sha256: sha256Hex(text) });
  });

  it('reads a file relative to the spec folder, and names it when missing', () => {
    const dir = mkdtempSync(join(tmpdir(), 'reconcile-ud-'));
    writeFileSync(join(dir, 'u.sh'), '#!/bin/sh\n');
    expect(resolveUserData({ file: 'u.sh', sensitive: true }, dir)).toMatchObject({ text: '#!/bin/sh\n', sensitive: true, source: join(dir, 'u.sh') });
    expect(() => resolveUserData({ file: 'missing.sh' }, dir, 'instance.web')).toThrow(/instance\.web: userData\.file "missing\.sh" cannot be read \(no such file; resolved to .*missing\.sh/);
  });

  it('refuses more than 16 KB', () => {
    expect(() => resolveUserData('x'.repeat(USER_DATA_MAX_BYTES + 1), '/', 'instance.big')).toThrow(/instance\.big: user data is 16385 bytes; AWS accepts at most 16384/);
    expect(resolveUserData('x'.repeat(USER_DATA_MAX_BYTES), '/')).toBeDefined();
    expect(resolveUserData(undefined, '/')).toBeUndefined();
  });
});

describe('not implemented by the endpoint', () => {
  it.each<[string, unknown, boolean]>([
    ['moto HTML 500 page', Object.assign(new Error('@aws-sdk XML parse error: mismatched tags.\n  Deserialization error: to see the raw response...'), { $metadata: { httpStatusCode: 500 } }), true],
    ['NotImplemented error', Object.assign(new Error('The start_instance_refresh action has not been implemented'), { name: 'NotImplemented' }), true],
    ['a real AWS 500 (XML error)', Object.assign(new Error('We encountered an internal error'), { name: 'InternalFailure', $metadata: { httpStatusCode: 500 } }), false],
    ['a validation error', Object.assign(new Error('bad'), { name: 'ValidationError', $metadata: { httpStatusCode: 400 } }), false],
  ])('%s', (_, e, expected) => {
    expect(isNotImplemented(e)).toBe(expected);
  });
});
