// load-balancer, target-group, listener, s3-bucket, sns-topic and cloudwatch-alarm against a real
// moto server: create, observe, no diff, a change in the spec, update, drift made with the SDK and
// healed, delete. The network (default VPC and subnets, security groups) and an instance are made
// here directly with the EC2 SDK.
import { createServer, type Server } from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CreateSecurityGroupCommand,
  DescribeImagesCommand,
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
  RunInstancesCommand,
} from '@aws-sdk/client-ec2';
import {
  CreateLoadBalancerCommand,
  DescribeListenersCommand,
  ModifyListenerCommand,
  ModifyTargetGroupCommand,
  SetSecurityGroupsCommand,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectAclCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  PutBucketTaggingCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { CreateTopicCommand, DeleteTopicCommand, ListSubscriptionsByTopicCommand, SubscribeCommand, UnsubscribeCommand } from '@aws-sdk/client-sns';
import { DescribeAlarmsCommand, GetDashboardCommand, PutDashboardCommand, PutMetricAlarmCommand, UntagResourceCommand } from '@aws-sdk/client-cloudwatch';
import { startMoto, type Moto } from '../helpers/moto.js';
import { desired, testCtx } from '../helpers/aws.js';
import { prepared } from '../helpers/engine.js';
import type { Ctx, Desired, EngineEvent, FieldChange, Observed, Outputs, Reconciler } from '../../src/engine/types.js';
import type { KindName } from '../../src/spec/schema.js';
import { waitFor } from '../../src/reconcilers/services-shared.js';
import { elbTags } from '../../src/reconcilers/elbv2-shared.js';
import lbR from '../../src/reconcilers/load-balancer.js';
import tgR from '../../src/reconcilers/target-group.js';
import listenerR from '../../src/reconcilers/listener.js';
import bucketR from '../../src/reconcilers/s3-bucket.js';
import topicR from '../../src/reconcilers/sns-topic.js';
import alarmR from '../../src/reconcilers/cloudwatch-alarm.js';
import roleR from '../../src/reconcilers/iam-role.js';
import dashR from '../../src/reconcilers/cloudwatch-dashboard.js';
import profileR from '../../src/reconcilers/instance-profile.js';
import { CreatePolicyCommand, DetachRolePolicyCommand, PutRolePolicyCommand, RemoveRoleFromInstanceProfileCommand } from '@aws-sdk/client-iam';
import { diffFields } from '../../src/engine/plan.js';

let moto: Moto;
let ctx: Ctx & { events: EngineEvent[] };

beforeAll(async () => {
  moto = await startMoto();
  ctx = testCtx(moto.endpoint, 'test', { minDelayMs: 20, maxDelayMs: 100, maxWaitMs: 10_000, loadBalancerWaitMs: 10_000, maxRetryMs: 5_000 });
});
afterAll(async () => {
  ctx?.aws.destroy();
  await moto?.stop();
});

/** What observe returns for one desired resource (undefined: not found as this stack's). */
async function observeOne<K extends KindName>(r: Reconciler<K>, d: Desired<K>, c: Ctx = ctx): Promise<Observed | undefined> {
  return (await r.observe(c, [d])).find((o) => o.name === d.name);
}

/** Plan-and-apply in miniature: observe, diff, update in place. Returns the fields it changed. */
async function converge<K extends KindName>(r: Reconciler<K>, d: Desired<K>): Promise<FieldChange[]> {
  const live = await observeOne(r, d);
  if (!live) throw new Error(`${d.address} not observed`);
  const inputs = await prepared(r, ctx, d);
  const fields = diffFields(r, d, live, inputs);
  if (fields.some((f) => f.forcesReplace)) throw new Error(`${d.address}: a replacement: ${JSON.stringify(fields)}`);
  if (fields.length) await r.update(ctx, d, live, fields, inputs);
  return fields;
}

async function diffNow<K extends KindName>(r: Reconciler<K>, d: Desired<K>): Promise<FieldChange[]> {
  const live = await observeOne(r, d);
  if (!live) throw new Error(`${d.address} not observed`);
  return diffFields(r, d, live, await prepared(r, ctx, d));
}

const paths = (fields: FieldChange[]) => fields.map((f) => `${f.path}${f.forcesReplace ? ' (replace)' : ''}`);

/** Operations called since a mark, e.g. ['s3:PutObject', ...]. */
const callsSince = (mark: number) => ctx.aws.calls.slice(mark).map((c) => `${c.service}:${c.operation}`);
const count = (mark: number, op: string) => callsSince(mark).filter((c) => c === op).length;

// ---------------------------------------------------------------------------------------------
describe('load balancing', () => {
  let vpcId: string;
  let subnets: string[];
  let sgA: string;
  let sgB: string;
  let refs: Record<string, Outputs>;

  beforeAll(async () => {
    const ec2 = await ctx.aws.ec2();
    vpcId = (await ec2.send(new DescribeVpcsCommand({ Filters: [{ Name: 'is-default', Values: ['true'] }] }))).Vpcs![0].VpcId!;
    const all = (await ec2.send(new DescribeSubnetsCommand({ Filters: [{ Name: 'vpc-id', Values: [vpcId] }] }))).Subnets!;
    const byAz = new Map(all.map((s) => [s.AvailabilityZone!, s.SubnetId!]));
    subnets = [...byAz.values()].slice(0, 3);
    sgA = (await ec2.send(new CreateSecurityGroupCommand({ GroupName: 'alb-a', Description: 'a', VpcId: vpcId }))).GroupId!;
    sgB = (await ec2.send(new CreateSecurityGroupCommand({ GroupName: 'alb-b', Description: 'b', VpcId: vpcId }))).GroupId!;
    refs = { main: { id: vpcId }, a: { id: subnets[0] }, b: { id: subnets[1] }, c: { id: subnets[2] }, albA: { id: sgA }, albB: { id: sgB } };
  });

  it('target group: create, observe, change the health check, heal drift, replace on port, delete', async () => {
    const d = desired('target-group', 'app', { vpc: 'main', port: 80, healthCheck: { path: '/health' } }, refs);
    const created = await tgR.create(ctx, d);
    expect(created.outputs.arn).toMatch(/^arn:aws:elasticloadbalancing:.*:targetgroup\/test-app\//);
    expect(created.outputs.name).toBe('test-app');
    expect(await diffNow(tgR, d)).toEqual([]);

    const changed = desired('target-group', 'app', { vpc: 'main', port: 80, healthCheck: { path: '/ready', matcher: '200-299' } }, refs);
    expect(paths(await converge(tgR, changed))).toEqual(['healthCheck.path', 'healthCheck.matcher']);
    expect(await diffNow(tgR, changed)).toEqual([]);

    const elb = await ctx.aws.elbv2();
    await elb.send(new ModifyTargetGroupCommand({ TargetGroupArn: created.id, HealthCheckIntervalSeconds: 10, HealthCheckProtocol: 'HTTPS' }));
    expect(paths(await converge(tgR, changed))).toEqual(['healthCheck.protocol', 'healthCheck.interval']);
    expect(await diffNow(tgR, changed)).toEqual([]);
    // The health check's protocol set apart from the group's.
    const https = desired('target-group', 'app', { vpc: 'main', port: 80, healthCheck: { protocol: 'HTTPS', path: '/ready', matcher: '200-299' } }, refs);
    expect(paths(await converge(tgR, https))).toEqual(['healthCheck.protocol']);
    expect(await diffNow(tgR, https)).toEqual([]);

    expect(paths(await diffNow(tgR, desired('target-group', 'app', { vpc: 'main', port: 8080, healthCheck: { protocol: 'HTTPS', path: '/ready', matcher: '200-299' } }, refs)))).toEqual([
      'port (replace)',
    ]);

    // A second create of the same resource (an interrupted apply) finds it instead of failing.
    expect((await tgR.create(ctx, changed)).id).toBe(created.id);
    // One of another resource with that name is refused.
    await expect(tgR.create(ctx, desired('target-group', 'other', { vpc: 'main', port: 80, targetGroupName: 'test-app' }, refs))).rejects.toThrow(
      /already exists and is not target-group\.other/,
    );

    await tgR.delete(ctx, created);
    expect(await observeOne(tgR, d)).toBeUndefined();
    await tgR.delete(ctx, created); // already gone: success
  });

  it('load balancer and listener: create, observe, in-place changes, drift, replacements, delete', async () => {
    const tg = await tgR.create(ctx, desired('target-group', 'web', { vpc: 'main', port: 80 }, refs));
    const tg2 = await tgR.create(ctx, desired('target-group', 'web2', { vpc: 'main', port: 8080 }, refs));
    refs.tg = tg.outputs;
    refs.tg2 = tg2.outputs;

    const lbD = desired('load-balancer', 'web', { subnets: ['a', 'b'], securityGroups: ['albA'] }, refs);
    const lb = await lbR.create(ctx, lbD);
    expect(lb.outputs).toMatchObject({ id: lb.id, arn: lb.id, name: 'test-web' });
    expect(lb.outputs.dnsName).toBeTruthy();
    expect(lb.outputs.dimension).toMatch(/^app\/test-web\/[0-9a-f]+$/);
    expect(await diffNow(lbR, lbD)).toEqual([]);
    refs.web = lb.outputs;

    const lbMore = desired('load-balancer', 'web', { subnets: ['a', 'b', 'c'], securityGroups: ['albA'] }, refs);
    expect(paths(await converge(lbR, lbMore))).toEqual(['subnets']);
    expect(await diffNow(lbR, lbMore)).toEqual([]);

    const elb = await ctx.aws.elbv2();
    await elb.send(new SetSecurityGroupsCommand({ LoadBalancerArn: lb.id, SecurityGroups: [sgB] }));
    expect(paths(await converge(lbR, lbMore))).toEqual(['securityGroups']);
    expect(await diffNow(lbR, lbMore)).toEqual([]);

    expect(paths(await diffNow(lbR, desired('load-balancer', 'web', { subnets: ['a', 'b', 'c'], securityGroups: ['albA'], scheme: 'internal' }, refs)))).toEqual([
      'scheme (replace)',
    ]);

    // Listener.
    const lsD = desired('listener', 'http', { loadBalancer: 'web', port: 80, forward: 'tg' }, refs);
    const ls = await listenerR.create(ctx, lsD);
    expect(ls.outputs).toEqual({ id: ls.id, arn: ls.id });
    expect(await diffNow(listenerR, lsD)).toEqual([]);

    const ls8080 = desired('listener', 'http', { loadBalancer: 'web', port: 8080, forward: 'tg2' }, refs);
    expect(paths(await converge(listenerR, ls8080))).toEqual(['port', 'forward']);
    expect(await diffNow(listenerR, ls8080)).toEqual([]);

    await elb.send(
      new ModifyListenerCommand({ ListenerArn: ls.id, DefaultActions: [{ Type: 'redirect', RedirectConfig: { Protocol: 'HTTPS', Port: '443', StatusCode: 'HTTP_302' } }] }),
    );
    expect(paths(await converge(listenerR, ls8080))).toEqual(['forward', 'redirect']);
    expect(await diffNow(listenerR, ls8080)).toEqual([]);
    const [now] = (await elb.send(new DescribeListenersCommand({ ListenerArns: [ls.id] }))).Listeners!;
    expect(now.DefaultActions?.[0]).toMatchObject({ Type: 'forward', TargetGroupArn: tg2.id });

    const redirect = desired('listener', 'http', { loadBalancer: 'web', port: 8080, redirect: { statusCode: 'HTTP_302' } }, refs);
    expect(paths(await converge(listenerR, redirect))).toEqual(['forward', 'redirect']);
    expect(await diffNow(listenerR, redirect)).toEqual([]);

    const onOther = desired('listener', 'http', { loadBalancer: 'web', port: 8080, redirect: { statusCode: 'HTTP_302' } }, { ...refs, web: { id: `${lb.id}x`, arn: `${lb.id}x` } });
    expect(paths(diffFields(listenerR, onOther, (await observeOne(listenerR, redirect))!))).toEqual(['loadBalancer (replace)']);

    // Observing load balancers and listeners at once reads the load balancers once.
    const mark = ctx.aws.calls.length;
    await Promise.all([lbR.observe(ctx, [lbMore]), listenerR.observe(ctx, [redirect])]);
    expect(count(mark, 'elbv2:DescribeLoadBalancers')).toBe(1);
    expect(count(mark, 'elbv2:DescribeListeners')).toBe(1);

    // A target group in use by a listener: the delete retries, bounded, and says why it gave up.
    const listenerNow = (await observeOne(listenerR, redirect))!;
    await listenerR.update(ctx, ls8080, listenerNow, diffFields(listenerR, ls8080, listenerNow));
    const saved = ctx.timing;
    ctx.timing = { ...saved, maxRetryMs: 300 };
    ctx.events.length = 0;
    try {
      await expect(tgR.delete(ctx, tg2)).rejects.toThrow(/target-group\.web2: deleting the target group still failing after \d+s: ResourceInUse/);
    } finally {
      ctx.timing = saved;
    }
    expect(ctx.events.some((e) => e.type === 'progress' && e.address === 'target-group.web2' && /retrying/.test(e.message))).toBe(true);

    await listenerR.delete(ctx, ls);
    expect(await observeOne(listenerR, redirect)).toBeUndefined();
    await listenerR.delete(ctx, ls);

    await lbR.delete(ctx, lb);
    expect(await observeOne(lbR, lbMore)).toBeUndefined();
    await lbR.delete(ctx, lb);
    await tgR.delete(ctx, tg);
    await tgR.delete(ctx, tg2);
  });

  it('sees only load balancers tagged for this stack, their tags from the tag index', async () => {
    const elb = await ctx.aws.elbv2();
    const make = (name: string, tags: Record<string, string>) =>
      elb.send(new CreateLoadBalancerCommand({ Name: name, Subnets: subnets.slice(0, 2), Type: 'application', Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) }));
    await make('hand-made', {});
    await make('other-stack', { 'reconcile:stack': 'other', 'reconcile:id': 'web' });
    for (let i = 0; i < 21; i++) await make(`mine-${i}`, { 'reconcile:stack': 'test', 'reconcile:id': `lb${i}` });
    const mark = ctx.aws.calls.length;
    const seen = await lbR.observe(ctx, []);
    expect(seen.map((o) => o.name).sort()).toEqual(Array.from({ length: 21 }, (_, i) => `lb${i}`).sort());
    expect(seen.every((o) => o.management === 'owned')).toBe(true);
    // 23 load balancers: one page, and the stack's tags in one GetResources: no DescribeTags.
    expect(callsSince(mark).sort()).toEqual(['elbv2:DescribeLoadBalancers', 'tagging:GetResources']);
    // The elbv2-shared helper reads the tags of any list of ARNs in chunks of 20, keyed by ARN.
    const arns = seen.map((o) => o.id);
    const before = ctx.aws.calls.length;
    const tags = await elbTags(ctx.aws, arns);
    expect([...tags.keys()].sort()).toEqual([...arns].sort());
    expect([...tags.values()].every((t) => t['reconcile:stack'] === 'test')).toBe(true);
    expect(ctx.aws.calls.length - before).toBe(2);

    // `adopt:` takes over one that is not the stack's.
    const hand = (await elb.send(new CreateLoadBalancerCommand({ Name: 'adopt-me', Subnets: subnets.slice(0, 2), Type: 'application' }))).LoadBalancers![0];
    const d = desired('load-balancer', 'legacy', { subnets: ['a', 'b'], adopt: hand.LoadBalancerArn }, refs);
    const adopted = await observeOne(lbR, d);
    expect(adopted?.management).toBe('adopted');
    expect(paths(diffFields(lbR, d, adopted!))).toEqual(['tags.Name', 'tags.reconcile:id', 'tags.reconcile:stack']);
    await lbR.update(ctx, d, adopted!, diffFields(lbR, d, adopted!));
    expect((await observeOne(lbR, desired('load-balancer', 'legacy', { subnets: ['a', 'b'] }, refs)))?.management).toBe('owned');
    for (const o of await lbR.observe(ctx, [])) await lbR.delete(ctx, o);
    expect(await lbR.observe(ctx, [])).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
describe('s3-bucket', () => {
  let server: Server;
  let url: string;
  let remote = 'remote v1';
  let dir: string;

  beforeAll(async () => {
    server = createServer((_, res) => res.end(remote));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}/banner.txt`;
    dir = mkdtempSync(join(tmpdir(), 'reconcile-s3-'));
    writeFileSync(join(dir, 'image.jpg'), 'jpeg bytes v1');
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const body = (over: Record<string, unknown> = {}) => ({
    bucketName: 'test-webserver-image',
    versioning: true,
    publicAccessBlock: false,
    lifecycle: [{ id: 'old-versions', noncurrentExpireDays: 30 }],
    policy: {
      Version: '2012-10-17',
      // (moto enforces bucket policies: a Deny on aws:SecureTransport would refuse its own plain-HTTP calls)
      Statement: [{ Sid: 'read-image', Effect: 'Allow', Principal: '*', Action: 's3:GetObject', Resource: 'arn:aws:s3:::test-webserver-image/image.jpg' }],
    },
    objects: [
      { key: 'image.jpg', file: 'image.jpg', public: true },
      { key: 'banner.txt', url },
      { key: 'config/app.ini', content: 'debug = false\n' },
    ],
    ...over,
  });
  const bucketD = (over: Record<string, unknown> = {}) => ({ ...desired('s3-bucket', 'images', body(over)), specDir: dir });

  it('create, observe, re-upload only on content change, heal drift, prune objects, refuse to delete a non-empty bucket', async () => {
    const s3 = await ctx.aws.s3();
    let d = bucketD();
    await bucketR.observe(ctx, [d]);
    let mark = ctx.aws.calls.length;
    const created = await bucketR.create(ctx, d);
    expect(created.outputs).toMatchObject({ id: 'test-webserver-image', name: 'test-webserver-image', arn: 'arn:aws:s3:::test-webserver-image' });
    expect(count(mark, 's3:PutObject')).toBe(3);
    expect(ctx.events.some((e) => e.type === 'warning' && /objects\[image\.jpg\] is now readable by anyone/.test(e.message))).toBe(true);
    const acl = await s3.send(new GetObjectAclCommand({ Bucket: 'test-webserver-image', Key: 'image.jpg' }));
    expect(acl.Grants?.some((g) => g.Grantee?.URI?.endsWith('/AllUsers') && g.Permission === 'READ')).toBe(true);
    const head = await s3.send(new HeadObjectCommand({ Bucket: 'test-webserver-image', Key: 'image.jpg' }));
    expect(head.ContentType).toBe('image/jpeg');
    expect(head.Metadata?.sha256).toMatch(/^[0-9a-f]{64}$/);

    mark = ctx.aws.calls.length;
    expect(await diffNow(bucketR, d)).toEqual([]);
    expect(callsSince(mark).every((c) => /:(List|Get|Head)/.test(c))).toBe(true);

    // Same content: nothing to upload. A file that changes: that object only.
    writeFileSync(join(dir, 'image.jpg'), 'jpeg bytes v2');
    mark = ctx.aws.calls.length;
    expect(paths(await converge(bucketR, d))).toEqual(['objects[image.jpg]']);
    expect(count(mark, 's3:PutObject')).toBe(1);
    expect(await diffNow(bucketR, d)).toEqual([]);
    // Re-uploaded and still public.
    const acl2 = await s3.send(new GetObjectAclCommand({ Bucket: 'test-webserver-image', Key: 'image.jpg' }));
    expect(acl2.Grants?.some((g) => g.Grantee?.URI?.endsWith('/AllUsers'))).toBe(true);

    // A URL whose content changed since: fetched again by prepare, uploaded again.
    remote = 'remote v2';
    mark = ctx.aws.calls.length;
    expect(paths(await converge(bucketR, d))).toEqual(['objects[banner.txt]']);
    expect(count(mark, 's3:PutObject')).toBe(1);
    const got = await s3.send(new GetObjectCommand({ Bucket: 'test-webserver-image', Key: 'banner.txt' }));
    expect(await got.Body!.transformToString()).toBe('remote v2');
    mark = ctx.aws.calls.length;
    expect(await converge(bucketR, d)).toEqual([]);
    expect(count(mark, 's3:PutObject')).toBe(0);

    // Drift: versioning suspended, an object deleted, by hand.
    await s3.send(new PutBucketVersioningCommand({ Bucket: 'test-webserver-image', VersioningConfiguration: { Status: 'Suspended' } }));
    await s3.send(new DeleteObjectCommand({ Bucket: 'test-webserver-image', Key: 'config/app.ini' }));
    expect(paths(await converge(bucketR, d))).toEqual(['versioning', 'objects[config/app.ini]']);
    expect(await diffNow(bucketR, d)).toEqual([]);

    // Settings changed in the spec.
    d = bucketD({ versioning: false, lifecycle: [], policy: undefined, encryption: 'aws:kms' });
    expect(paths(await converge(bucketR, d))).toEqual(['versioning', 'encryption', 'lifecycle', 'policy']);
    expect(await diffNow(bucketR, d)).toEqual([]);

    // An object that leaves the spec is deleted; a file the stack did not upload is left alone.
    await s3.send(new PutObjectCommand({ Bucket: 'test-webserver-image', Key: 'logs/access.log', Body: 'GET /' }));
    d = bucketD({ versioning: false, lifecycle: [], policy: undefined, encryption: 'aws:kms', objects: body().objects.filter((o) => o.key !== 'banner.txt') });
    expect(paths(await converge(bucketR, d))).toEqual(['objects[banner.txt]']);
    await expect(s3.send(new HeadObjectCommand({ Bucket: 'test-webserver-image', Key: 'banner.txt' }))).rejects.toMatchObject({ name: 'NotFound' });
    await s3.send(new HeadObjectCommand({ Bucket: 'test-webserver-image', Key: 'logs/access.log' }));
    expect(await diffNow(bucketR, d)).toEqual([]);

    expect(paths(await diffNow(bucketR, { ...d, spec: { ...d.spec, bucketName: 'test-webserver-image-2' } }))).toEqual(['bucketName (replace)']);

    // Not empty (the log file): refused, with what to do.
    const live = (await observeOne(bucketR, d))!;
    await expect(bucketR.delete(ctx, live)).rejects.toThrow(/not empty.*logs\/access\.log.*forceDestroy: true/);
    await s3.send(new HeadBucketCommand({ Bucket: 'test-webserver-image' }));

    // forceDestroy, applied, empties it (every version) and deletes it.
    d = bucketD({ versioning: false, lifecycle: [], policy: undefined, encryption: 'aws:kms', objects: d.spec.objects, forceDestroy: true });
    expect(paths(await converge(bucketR, d))).toEqual(['forceDestroy']);
    await bucketR.delete(ctx, (await observeOne(bucketR, d))!);
    expect(await observeOne(bucketR, d)).toBeUndefined();
    await expect(s3.send(new HeadBucketCommand({ Bucket: 'test-webserver-image' }))).rejects.toMatchObject({ name: 'NotFound' });
    await bucketR.delete(ctx, live); // already gone: success
  });

  it('deletes a bucket holding only its own objects without forceDestroy', async () => {
    const d = { ...desired('s3-bucket', 'small', { bucketName: 'test-small-bucket', versioning: true, objects: [{ key: 'a.txt', content: 'a' }] }), specDir: dir };
    await bucketR.create(ctx, d);
    const s3 = await ctx.aws.s3();
    await s3.send(new PutObjectCommand({ Bucket: 'test-small-bucket', Key: 'a.txt', Body: 'overwritten by hand' })); // a second version
    await bucketR.delete(ctx, (await observeOne(bucketR, d))!);
    expect(await observeOne(bucketR, d)).toBeUndefined();
  });

  it('warns that an object cannot be public while the bucket blocks public access', async () => {
    const d = { ...desired('s3-bucket', 'blocked', { bucketName: 'test-blocked-bucket', objects: [{ key: 'x.txt', content: 'x', public: true }] }), specDir: dir };
    ctx.events.length = 0;
    await bucketR.observe(ctx, [d]);
    expect(ctx.events).toContainEqual(expect.objectContaining({ type: 'warning', address: 's3-bucket.blocked', message: expect.stringMatching(/stays private/) }));
    const created = await bucketR.create(ctx, d);
    expect(await diffNow(bucketR, d)).toEqual([]);
    const acl = await (await ctx.aws.s3()).send(new GetObjectAclCommand({ Bucket: 'test-blocked-bucket', Key: 'x.txt' }));
    expect(acl.Grants?.some((g) => g.Grantee?.URI?.endsWith('/AllUsers'))).toBe(false);
    await bucketR.delete(ctx, created);
  });

  it('owns only buckets tagged for this stack; create refuses another stack\'s bucket, and is idempotent for its own', async () => {
    const s3 = await ctx.aws.s3();
    await s3.send(new CreateBucketCommand({ Bucket: 'test-hand-made' }));
    await s3.send(new CreateBucketCommand({ Bucket: 'test-other-stack' }));
    await s3.send(new PutBucketTaggingCommand({ Bucket: 'test-other-stack', Tagging: { TagSet: [{ Key: 'reconcile:stack', Value: 'other' }, { Key: 'reconcile:id', Value: 'b' }] } }));
    const hand = { ...desired('s3-bucket', 'hand', { bucketName: 'test-hand-made' }), specDir: dir };
    const other = { ...desired('s3-bucket', 'b', { bucketName: 'test-other-stack' }), specDir: dir };
    expect(await bucketR.observe(ctx, [hand, other])).toEqual([]);
    await expect(bucketR.create(ctx, other)).rejects.toThrow(/belongs to other\/b/);

    // An interrupted create left the bucket without tags: create again carries on.
    const created = await bucketR.create(ctx, hand);
    expect(created.tags['reconcile:stack']).toBe('test');
    expect((await bucketR.create(ctx, hand)).id).toBe('test-hand-made');
    expect(await diffNow(bucketR, hand)).toEqual([]);
    await bucketR.delete(ctx, created);
  });
});

// ---------------------------------------------------------------------------------------------
describe('sns-topic', () => {
  it('create, observe, change, heal an unsubscribe, replace on name, delete', async () => {
    const sns = await ctx.aws.sns();
    const d = desired('sns-topic', 'alerts', { subscriptions: [{ protocol: 'email', endpoint: 'ops@example.com' }] });
    const created = await topicR.create(ctx, d);
    expect(created.outputs).toEqual({ id: created.id, arn: created.id, name: 'test-alerts' });
    expect(await diffNow(topicR, d)).toEqual([]);

    const changed = desired('sns-topic', 'alerts', {
      displayName: 'Alerts',
      subscriptions: [
        { protocol: 'email', endpoint: 'ops@example.com' },
        { protocol: 'email-json', endpoint: 'robot@example.com' },
      ],
    });
    expect(paths(await converge(topicR, changed))).toEqual(['displayName', 'subscriptions[email-json robot@example.com]']);
    expect(await diffNow(topicR, changed)).toEqual([]);

    const subs = (await sns.send(new ListSubscriptionsByTopicCommand({ TopicArn: created.id }))).Subscriptions!;
    await sns.send(new UnsubscribeCommand({ SubscriptionArn: subs.find((s) => s.Endpoint === 'ops@example.com')!.SubscriptionArn }));
    expect(paths(await converge(topicR, changed))).toEqual(['subscriptions[email ops@example.com]']);
    expect(await diffNow(topicR, changed)).toEqual([]);

    const fewer = desired('sns-topic', 'alerts', { displayName: 'Alerts', subscriptions: [{ protocol: 'email', endpoint: 'ops@example.com' }] });
    expect(paths(await converge(topicR, fewer))).toEqual(['subscriptions[email-json robot@example.com]']);
    expect((await sns.send(new ListSubscriptionsByTopicCommand({ TopicArn: created.id }))).Subscriptions!.map((s) => s.Endpoint)).toEqual(['ops@example.com']);

    expect(paths(await diffNow(topicR, desired('sns-topic', 'alerts', { topicName: 'renamed', displayName: 'Alerts', subscriptions: fewer.spec.subscriptions })))).toEqual([
      'topicName (replace)',
    ]);

    await topicR.delete(ctx, created);
    expect(await observeOne(topicR, d)).toBeUndefined();
    await topicR.delete(ctx, created);
  });

  it('owns only tagged topics; reads tags one by one only for a named topic the tag index lacks', async () => {
    const sns = await ctx.aws.sns();
    await sns.send(new CreateTopicCommand({ Name: 'test-untagged' }));
    await sns.send(new CreateTopicCommand({ Name: 'unrelated-topic' }));
    await sns.send(new CreateTopicCommand({ Name: 'named-not-ours', Tags: [{ Key: 'reconcile:stack', Value: 'other' }] }));
    const mine = await topicR.create(ctx, desired('sns-topic', 'custom', { topicName: 'custom-name' }));
    let mark = ctx.aws.calls.length;
    const seen = await topicR.observe(ctx, [desired('sns-topic', 'custom', { topicName: 'custom-name' })]);
    expect(seen.map((o) => o.name)).toEqual(['custom']);
    // The tag index lists ours with its tags: no ListTopics, no tag read; then 2 reads for ours.
    expect(callsSince(mark).sort()).toEqual(['sns:GetTopicAttributes', 'sns:ListSubscriptionsByTopic', 'tagging:GetResources']);
    // A topic the spec names that the index does not list: found by ListTopics, its tags read, not ours.
    mark = ctx.aws.calls.length;
    const both = await topicR.observe(ctx, [desired('sns-topic', 'custom', { topicName: 'custom-name' }), desired('sns-topic', 'other', { topicName: 'named-not-ours' })]);
    expect(both.map((o) => o.name)).toEqual(['custom']);
    expect(callsSince(mark).sort()).toEqual(['sns:GetTopicAttributes', 'sns:ListSubscriptionsByTopic', 'sns:ListTagsForResource', 'sns:ListTopics', 'tagging:GetResources']);
    await topicR.delete(ctx, mine);
  });

  it('reads the subscriptions of 2 or more topics from one account-wide listing, and still sees one removed or added by hand', async () => {
    const sns = await ctx.aws.sns();
    const mail = (endpoint: string) => ({ protocol: 'email', endpoint });
    const ds = [
      desired('sns-topic', 'bulk-a', { subscriptions: [mail('a@example.com'), mail('a2@example.com')] }),
      desired('sns-topic', 'bulk-b', { subscriptions: [mail('b@example.com')] }),
      desired('sns-topic', 'bulk-c', { subscriptions: [] }),
    ];
    const made = [];
    for (const d of ds) made.push(await topicR.create(ctx, d));
    const diffAll = async () => {
      const seen = await topicR.observe(ctx, ds);
      return ds.flatMap((d) => paths(diffFields(topicR, d, seen.find((o) => o.name === d.name)!)).map((p) => `${d.name}: ${p}`));
    };
    let mark = ctx.aws.calls.length;
    expect(await diffAll()).toEqual([]);
    // 3 topics: their attributes, and one ListSubscriptions for all of them (no read by topic).
    expect(callsSince(mark).sort()).toEqual(['sns:GetTopicAttributes', 'sns:GetTopicAttributes', 'sns:GetTopicAttributes', 'sns:ListSubscriptions', 'tagging:GetResources']);

    // Drift by hand: a subscription removed from one topic, one added to a topic that should have none.
    const subs = (await sns.send(new ListSubscriptionsByTopicCommand({ TopicArn: made[0].id }))).Subscriptions!;
    await sns.send(new UnsubscribeCommand({ SubscriptionArn: subs.find((s) => s.Endpoint === 'a2@example.com')!.SubscriptionArn }));
    await sns.send(new SubscribeCommand({ TopicArn: made[2].id, Protocol: 'email', Endpoint: 'intruder@example.com' }));
    mark = ctx.aws.calls.length;
    expect(await diffAll()).toEqual(['bulk-a: subscriptions[email a2@example.com]', 'bulk-c: subscriptions[email intruder@example.com]']);
    expect(count(mark, 'sns:ListSubscriptions')).toBe(1);
    expect(count(mark, 'sns:ListSubscriptionsByTopic')).toBe(0);

    // An account with more subscriptions than ceil(3 / 10) = 1 page holds: the listing stops after
    // that page and every topic is read by topic -- the same drift is found.
    const other = (await sns.send(new CreateTopicCommand({ Name: 'busy-unrelated' }))).TopicArn!;
    for (let i = 0; i < 100; i++) await sns.send(new SubscribeCommand({ TopicArn: other, Protocol: 'email', Endpoint: `u${i}@example.com` }));
    mark = ctx.aws.calls.length;
    expect(await diffAll()).toEqual(['bulk-a: subscriptions[email a2@example.com]', 'bulk-c: subscriptions[email intruder@example.com]']);
    expect(count(mark, 'sns:ListSubscriptions')).toBe(1);
    expect(count(mark, 'sns:ListSubscriptionsByTopic')).toBe(3);

    await sns.send(new DeleteTopicCommand({ TopicArn: other }));
    for (const o of made) await topicR.delete(ctx, o);
  });
});

// ---------------------------------------------------------------------------------------------
describe('cloudwatch-alarm', () => {
  it('create, observe, change, heal a threshold and a tag changed by hand, replace on name, delete', async () => {
    const ec2 = await ctx.aws.ec2();
    const images = (await ec2.send(new DescribeImagesCommand({ Owners: ['amazon'] }))).Images!;
    const instanceId = (await ec2.send(new RunInstancesCommand({ ImageId: images[0].ImageId, InstanceType: 't2.micro', MinCount: 1, MaxCount: 1 }))).Instances![0].InstanceId!;
    const topic = await topicR.create(ctx, desired('sns-topic', 'ops', {}));
    const refs = { web: { id: instanceId }, ops: topic.outputs };

    const body = { instance: 'web', threshold: 1, comparison: '<', period: 3600, actions: [{ ec2: 'terminate' }, { topic: 'ops' }], description: 'idle for an hour' };
    const d = desired('cloudwatch-alarm', 'idle', body, refs);
    const created = await alarmR.create(ctx, d);
    expect(created.outputs).toMatchObject({ id: 'test-idle', name: 'test-idle' });
    expect(created.outputs.arn).toMatch(/^arn:aws:cloudwatch:us-east-1:\d+:alarm:test-idle$/);
    const cw = await ctx.aws.cloudwatch();
    const [a] = (await cw.send(new DescribeAlarmsCommand({ AlarmNames: ['test-idle'] }))).MetricAlarms!;
    expect(a).toMatchObject({
      ComparisonOperator: 'LessThanThreshold',
      Dimensions: [{ Name: 'InstanceId', Value: instanceId }],
      AlarmActions: expect.arrayContaining(['arn:aws:automate:us-east-1:ec2:terminate', topic.id]),
    });
    expect(await diffNow(alarmR, d)).toEqual([]);

    const changed = desired('cloudwatch-alarm', 'idle', { ...body, threshold: 2, evaluationPeriods: 2, missingData: 'notBreaching' }, refs);
    expect(paths(await converge(alarmR, changed))).toEqual(['evaluationPeriods', 'datapointsToAlarm', 'threshold', 'missingData']);
    expect(await diffNow(alarmR, changed)).toEqual([]);

    await cw.send(
      new PutMetricAlarmCommand({
        AlarmName: 'test-idle',
        Namespace: 'AWS/EC2',
        MetricName: 'CPUUtilization',
        Dimensions: [{ Name: 'InstanceId', Value: instanceId }],
        Statistic: 'Average',
        Period: 3600,
        EvaluationPeriods: 2,
        Threshold: 90,
        ComparisonOperator: 'LessThanThreshold',
        TreatMissingData: 'notBreaching',
        AlarmDescription: 'idle for an hour',
        AlarmActions: [topic.id],
      }),
    );
    await cw.send(new UntagResourceCommand({ ResourceARN: created.outputs.arn!, TagKeys: ['Name'] }));
    // (DatapointsToAlarm left out by the hand-made put: the same as evaluationPeriods, so no diff.)
    expect(paths(await converge(alarmR, changed))).toEqual(['threshold', 'actions', 'tags.Name']);
    expect(await diffNow(alarmR, changed)).toEqual([]);

    expect(paths(await diffNow(alarmR, desired('cloudwatch-alarm', 'idle', { ...body, alarmName: 'idle-web' }, refs)))).toContain('alarmName (replace)');

    await alarmR.delete(ctx, created);
    expect(await observeOne(alarmR, d)).toBeUndefined();
    await alarmR.delete(ctx, created);
    await topicR.delete(ctx, topic);
  });

  it('deletes alarms asked for at once in one DeleteAlarms call, each delete settling on its own', async () => {
    const made = await Promise.all(['b1', 'b2', 'b3'].map((n) => alarmR.create(ctx, desired('cloudwatch-alarm', n, { threshold: 50, comparison: '>' }))));
    let mark = ctx.aws.calls.length;
    await Promise.all(made.map((o) => alarmR.delete(ctx, o)));
    expect(count(mark, 'cloudwatch:DeleteAlarms')).toBe(1);
    for (const n of ['b1', 'b2', 'b3']) expect(await observeOne(alarmR, desired('cloudwatch-alarm', n, { threshold: 50, comparison: '>' }))).toBeUndefined();
    // Already gone, all of them: success, as for one alarm.
    mark = ctx.aws.calls.length;
    await expect(Promise.all(made.map((o) => alarmR.delete(ctx, o)))).resolves.toBeDefined();
    expect(count(mark, 'cloudwatch:DeleteAlarms')).toBeGreaterThanOrEqual(1);
  });

  it('never takes over an alarm it does not own', async () => {
    const cw = await ctx.aws.cloudwatch();
    const put = (name: string) =>
      cw.send(
        new PutMetricAlarmCommand({
          AlarmName: name,
          Namespace: 'AWS/EC2',
          MetricName: 'CPUUtilization',
          Statistic: 'Average',
          Period: 300,
          EvaluationPeriods: 1,
          Threshold: 50,
          ComparisonOperator: 'GreaterThanThreshold',
        }),
      );
    await put('test-hand-made');
    await put('custom-owned-elsewhere');
    const hand = desired('cloudwatch-alarm', 'hand-made', { threshold: 50, comparison: '>' });
    const custom = desired('cloudwatch-alarm', 'custom', { alarmName: 'custom-owned-elsewhere', threshold: 50, comparison: '>' });
    expect(await alarmR.observe(ctx, [hand, custom])).toEqual([]);
    await expect(alarmR.create(ctx, hand)).rejects.toThrow(/already exists and is not cloudwatch-alarm\.hand-made/);
    const [still] = (await cw.send(new DescribeAlarmsCommand({ AlarmNames: ['test-hand-made'] }))).MetricAlarms!;
    expect(still.Threshold).toBe(50);

    // With adopt: it is observed as adopted and gets the stack's tags.
    const adopt = desired('cloudwatch-alarm', 'custom', { adopt: 'custom-owned-elsewhere', threshold: 60, comparison: '>' });
    const live = (await observeOne(alarmR, adopt))!;
    expect(live.management).toBe('adopted');
    expect(paths(diffFields(alarmR, adopt, live))).toEqual(['threshold', 'tags.Name', 'tags.reconcile:id', 'tags.reconcile:stack']);
    const after = await alarmR.update(ctx, adopt, live, diffFields(alarmR, adopt, live));
    expect(after.management).toBe('owned');
    expect(await diffNow(alarmR, adopt)).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// moto makes load balancers active at once, so the wait itself is exercised with a probe.
describe('bounded waits', () => {
  it('report progress while waiting and return the value', async () => {
    ctx.events.length = 0;
    let n = 0;
    const v = await waitFor(ctx, 'load-balancer.web', 'the load balancer to become active', async () =>
      ++n < 3 ? { done: false, status: 'provisioning' } : { done: true, value: 'ok' },
    );
    expect(v).toBe('ok');
    expect(ctx.events.filter((e) => e.type === 'progress' && /waiting for the load balancer to become active \(provisioning/.test(e.message))).toHaveLength(2);
  });

  it('give up at the bound, naming what they waited for', async () => {
    await expect(waitFor(ctx, 'load-balancer.web', 'the load balancer to be deleted', async () => ({ done: false, status: 'still there' }), 200)).rejects.toThrow(
      /load-balancer\.web: gave up after \d+s waiting for the load balancer to be deleted \(last seen: still there\)/,
    );
  });

  it('stop at once when AWS reports a failure', async () => {
    let n = 0;
    await expect(waitFor(ctx, 'load-balancer.web', 'the load balancer to become active', async () => (n++, { failed: 'capacity' }))).rejects.toThrow(/capacity/);
    expect(n).toBe(1);
  });
});

describe('iam-role and instance-profile', () => {
  it('create, observe, heal drift of policies and of the profile\'s role, delete', async () => {
    const trust = { Statement: [{ Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }] };
    const read = { Statement: [{ Effect: 'Allow', Action: 's3:GetObject', Resource: 'arn:aws:s3:::b/*' }] };
    const iam = await ctx.aws.iam();
    const managed = (await iam.send(new CreatePolicyCommand({ PolicyName: 'test-managed', PolicyDocument: JSON.stringify({ Version: '2012-10-17', ...read }) }))).Policy!.Arn!;
    const role = desired('iam-role', 'app', { assumeRolePolicy: trust, inlinePolicies: { read }, managedPolicies: [managed] });
    const r = await roleR.create(ctx, role);
    expect(r.outputs).toEqual({ id: 'test-app', name: 'test-app', arn: 'arn:aws:iam::123456789012:role/test-app' });
    expect(await diffNow(roleR, role)).toEqual([]);
    const profile = desired('instance-profile', 'app', { role: 'app' }, { app: r.outputs });
    const p = await profileR.create(ctx, profile);
    expect(p.outputs.arn).toBe('arn:aws:iam::123456789012:instance-profile/test-app');
    expect(await diffNow(profileR, profile)).toEqual([]);

    // Drift by hand: an inline policy widened, the managed policy detached, the profile's role taken out.
    await iam.send(new PutRolePolicyCommand({ RoleName: 'test-app', PolicyName: 'read', PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ ...read.Statement[0], Action: 's3:*' }] }) }));
    await iam.send(new DetachRolePolicyCommand({ RoleName: 'test-app', PolicyArn: managed }));
    await iam.send(new RemoveRoleFromInstanceProfileCommand({ RoleName: 'test-app', InstanceProfileName: 'test-app' }));
    expect(paths(await converge(roleR, role))).toEqual(['managedPolicies', 'inlinePolicies.read']);
    expect(await diffNow(roleR, role)).toEqual([]);
    expect(paths(await converge(profileR, profile))).toEqual(['role']);
    expect(await diffNow(profileR, profile)).toEqual([]);

    // The trust policy changes in place; a new path replaces.
    const trust2 = { Statement: [{ ...trust.Statement[0], Principal: { Service: ['ec2.amazonaws.com', 'ecs-tasks.amazonaws.com'] } }] };
    const role2 = desired('iam-role', 'app', { assumeRolePolicy: trust2, inlinePolicies: { read }, managedPolicies: [managed] });
    expect(paths(await converge(roleR, role2))).toEqual(['assumeRolePolicy']);
    expect(paths(await diffNow(roleR, desired('iam-role', 'app', { assumeRolePolicy: trust2, path: '/apps/', inlinePolicies: { read }, managedPolicies: [managed] })))).toEqual(['path (replace)']);

    await profileR.delete(ctx, (await observeOne(profileR, profile))!);
    await roleR.delete(ctx, (await observeOne(roleR, role2))!);
    expect(await observeOne(profileR, profile)).toBeUndefined();
    expect(await observeOne(roleR, role2)).toBeUndefined();
    await roleR.delete(ctx, r); // already gone: success
  });
});

describe('cloudwatch-dashboard', () => {
  it('create, body as JSON, an edit by hand shown and put back, a changed target, delete; another stack\'s dashboard is not ours', async () => {
    const refs = { web: { id: 'i-0123456789abcdef0' }, web2: { id: 'i-0fedcba9876543210' } };
    const want = desired('cloudwatch-dashboard', 'ops', { widgets: [{ title: 'CPU', metrics: ['CPUUtilization'], instances: ['web'] }] }, refs);
    const created = await dashR.create(ctx, want);
    expect(created.outputs).toEqual({ id: 'test-ops', name: 'test-ops' });
    expect(await diffNow(dashR, want)).toEqual([]);
    const cw = await ctx.aws.cloudwatch();
    const body = JSON.parse((await cw.send(new GetDashboardCommand({ DashboardName: 'test-ops' }))).DashboardBody!);
    expect(body.widgets[0].properties.metrics).toEqual([['AWS/EC2', 'CPUUtilization', 'InstanceId', 'i-0123456789abcdef0']]);

    // Drift: a widget retitled by hand in the console.
    body.widgets[0].properties.title = 'renamed by hand';
    await cw.send(new PutDashboardCommand({ DashboardName: 'test-ops', DashboardBody: JSON.stringify(body) }));
    expect(paths(await converge(dashR, want))).toEqual(['body']);
    expect(await diffNow(dashR, want)).toEqual([]);
    const moved = desired('cloudwatch-dashboard', 'ops', { widgets: [{ title: 'CPU', metrics: ['CPUUtilization'], instances: ['web', 'web2'] }] }, refs);
    expect(paths(await converge(dashR, moved))).toEqual(['body']);
    expect(await diffNow(dashR, moved)).toEqual([]);

    // Same name, another stack's marker: not observed as this stack's.
    const other = { ...ctx, stack: 'other' };
    expect(await observeOne(dashR, desired('cloudwatch-dashboard', 'ops', want.spec as unknown as Record<string, unknown>, refs, 'other'), other)).toBeUndefined();

    await dashR.delete(ctx, created);
    expect(await observeOne(dashR, want)).toBeUndefined();
    await dashR.delete(ctx, created); // already gone: success
  });
});
