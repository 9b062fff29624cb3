// Pure diff tables for the load-balancing, storage, notification and alarm kinds: hand-written
// Observed values, no network.
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UNKNOWN, type Ctx, type Desired, type FieldChange, type Observed, type Outputs } from '../../src/engine/types.js';
import type { KindName } from '../../src/spec/schema.js';
import { desired } from '../helpers/aws.js';
import { observed, ownTags } from '../helpers/observed.js';
import lb from '../../src/reconcilers/load-balancer.js';
import tg from '../../src/reconcilers/target-group.js';
import listener from '../../src/reconcilers/listener.js';
import bucket from '../../src/reconcilers/s3-bucket.js';
import { inventoryFrom, inventoryTags } from '../../src/reconcilers/s3-objects.js';
import { lifecycleLive, normalizePolicy } from '../../src/reconcilers/s3-settings.js';
import topic, { listedSubscriptions, listingBudget } from '../../src/reconcilers/sns-topic.js';
import alarm from '../../src/reconcilers/cloudwatch-alarm.js';
import { defaultAwsName, lbDimension } from '../../src/reconcilers/services-shared.js';
import { contentTypeOf, hashBytes } from '../../src/inputs/content.js';
import { prepareObjects } from '../../src/reconcilers/s3-objects.js';
import { diffFields } from '../../src/engine/plan.js';

const obs = (name: string, live: Record<string, unknown>, opts: { tags?: Record<string, string>; outputs?: Partial<Outputs>; id?: string } = {}): Observed => observed(name, live, opts);

/** Only the paths and forcesReplace flags: values are checked where they matter. */
const shape = (fields: FieldChange[]) => fields.map((f) => [f.path, f.forcesReplace]);

type Row = [string, () => FieldChange[], (string | boolean)[][]];

// ---------------------------------------------------------------------------------------------
const LB_ARN = 'arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/test-web/50dc6c495c0c9188';
const subnetRefs = { a: { id: 'subnet-aaaa1111' }, b: { id: 'subnet-bbbb2222' }, c: { id: 'subnet-cccc3333' }, alb: { id: 'sg-1111aaaa' }, alb2: { id: 'sg-2222bbbb' } };
const lbBody = { subnets: ['a', 'b'], securityGroups: ['alb'] };
const lbLive = (over: Record<string, unknown> = {}) =>
  obs('web', { loadBalancerName: 'test-web', scheme: 'internet-facing', type: 'application', subnets: ['subnet-bbbb2222', 'subnet-aaaa1111'], securityGroups: ['sg-1111aaaa'], ...over }, { id: LB_ARN });

describe('load-balancer diff', () => {
  it.each<Row>([
    ['up to date (subnet order does not matter)', () => diffFields(lb, desired('load-balancer', 'web', lbBody, subnetRefs), lbLive()), []],
    ['a subnet added: in place', () => diffFields(lb, desired('load-balancer', 'web', { ...lbBody, subnets: ['a', 'b', 'c'] }, subnetRefs), lbLive()), [['subnets', false]]],
    ['security groups changed: in place', () => diffFields(lb, desired('load-balancer', 'web', { ...lbBody, securityGroups: ['alb2'] }, subnetRefs), lbLive()), [['securityGroups', false]]],
    [
      'no security groups in the spec: AWS picks the default, not compared',
      () => diffFields(lb, desired('load-balancer', 'web', { subnets: ['a', 'b'] }, subnetRefs), lbLive({ securityGroups: ['sg-default1'] })),
      [],
    ],
    ['scheme: replace', () => diffFields(lb, desired('load-balancer', 'web', { ...lbBody, scheme: 'internal' }, subnetRefs), lbLive()), [['scheme', true]]],
    ['name: replace', () => diffFields(lb, desired('load-balancer', 'web', { ...lbBody, loadBalancerName: 'other' }, subnetRefs), lbLive()), [['loadBalancerName', true]]],
    ['a network load balancer: replace', () => diffFields(lb, desired('load-balancer', 'web', lbBody, subnetRefs), lbLive({ type: 'network' })), [['type', true]]],
    [
      'adopted without a name: keeps its own name',
      () => diffFields(lb, desired('load-balancer', 'web', { ...lbBody, adopt: LB_ARN }, subnetRefs), lbLive({ loadBalancerName: 'legacy-alb' })),
      [],
    ],
    [
      'a subnet still to be created',
      () => diffFields(lb, desired('load-balancer', 'web', { ...lbBody, subnets: ['a', 'new'] }, { ...subnetRefs, new: { id: UNKNOWN } }), lbLive()),
      [['subnets', false]],
    ],
    [
      'a tag changed by hand',
      () => diffFields(lb, desired('load-balancer', 'web', lbBody, subnetRefs), { ...lbLive(), tags: ownTags('web', { Env: 'prod' }) }),
      [['tags.Env', false]],
    ],
  ])('%s', (_, run, expected) => expect(shape(run())).toEqual(expected));

  it('shows the unknown subnet as known after apply', () => {
    const [f] = diffFields(lb, desired('load-balancer', 'web', { ...lbBody, subnets: ['a', 'new'] }, { ...subnetRefs, new: { id: UNKNOWN } }), lbLive());
    expect(f.after).toEqual([UNKNOWN, 'subnet-aaaa1111'].sort());
  });

  it('names default to <stack>-<name>, 32 characters at most, distinct when cut', () => {
    expect(defaultAwsName('shop', 'web')).toBe('shop-web');
    expect(defaultAwsName('shop', 'web_lb', 32)).toBe('shop-web-lb');
    const a = defaultAwsName('a-very-long-stack-name-for-tests', 'frontend', 32);
    const b = defaultAwsName('a-very-long-stack-name-for-tests', 'backend', 32);
    expect(a.length).toBeLessThanOrEqual(32);
    expect(a).not.toBe(b);
    expect(a).toMatch(/^[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9]$/);
  });

  it('the CloudWatch dimension is the end of the ARN', () => {
    expect(lbDimension(LB_ARN)).toBe('app/test-web/50dc6c495c0c9188');
  });
});

// ---------------------------------------------------------------------------------------------
const TG_ARN = 'arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/test-app/6d0ecf831eec9f09';
const hc = { protocol: 'HTTP', path: '/', port: 'traffic-port', interval: 30, timeout: 5, healthyThreshold: 5, unhealthyThreshold: 2, matcher: '200' };
const tgLive = (over: Record<string, unknown> = {}) =>
  obs('app', { targetGroupName: 'test-app', vpc: 'vpc-0123abcd', protocol: 'HTTP', port: 80, targetType: 'instance', healthCheck: hc, ...over }, { id: TG_ARN });
const vpcRef = { main: { id: 'vpc-0123abcd' } };

describe('target-group diff', () => {
  it.each<Row>([
    ['up to date', () => diffFields(tg, desired('target-group', 'app', { vpc: 'main', port: 80 }, vpcRef), tgLive()), []],
    ['port: replace', () => diffFields(tg, desired('target-group', 'app', { vpc: 'main', port: 8080 }, vpcRef), tgLive()), [['port', true]]],
    ['protocol: replace', () => diffFields(tg, desired('target-group', 'app', { vpc: 'main', port: 80, protocol: 'HTTPS' }, vpcRef), tgLive()), [['protocol', true], ['healthCheck.protocol', false]]],
    ['health check protocol apart from the group\'s: in place', () => diffFields(tg, desired('target-group', 'app', { vpc: 'main', port: 80, healthCheck: { protocol: 'HTTPS' } }, vpcRef), tgLive()), [['healthCheck.protocol', false]]],
    ['target type: replace', () => diffFields(tg, desired('target-group', 'app', { vpc: 'main', port: 80, targetType: 'ip' }, vpcRef), tgLive()), [['targetType', true]]],
    ['name: replace', () => diffFields(tg, desired('target-group', 'app', { vpc: 'main', port: 80, targetGroupName: 'x' }, vpcRef), tgLive()), [['targetGroupName', true]]],
    ['a vpc being replaced: replace', () => diffFields(tg, desired('target-group', 'app', { vpc: 'main', port: 80 }, { main: { id: UNKNOWN } }), tgLive()), [['vpc', true]]],
    [
      'health check path and matcher: in place',
      () => diffFields(tg, desired('target-group', 'app', { vpc: 'main', port: 80, healthCheck: { path: '/health', matcher: '200-299' } }, vpcRef), tgLive()),
      [
        ['healthCheck.path', false],
        ['healthCheck.matcher', false],
      ],
    ],
    [
      'health check port as a number',
      () => diffFields(tg, desired('target-group', 'app', { vpc: 'main', port: 80, healthCheck: { port: 8081 } }, vpcRef), tgLive()),
      [['healthCheck.port', false]],
    ],
    [
      'health check thresholds drifted',
      () => diffFields(tg, desired('target-group', 'app', { vpc: 'main', port: 80 }, vpcRef), tgLive({ healthCheck: { ...hc, interval: 10, unhealthyThreshold: 5 } })),
      [
        ['healthCheck.interval', false],
        ['healthCheck.unhealthyThreshold', false],
      ],
    ],
  ])('%s', (_, run, expected) => expect(shape(run())).toEqual(expected));
});

// ---------------------------------------------------------------------------------------------
const LISTENER_REFS = { web: { id: LB_ARN, arn: LB_ARN }, app: { id: TG_ARN, arn: TG_ARN }, app2: { id: 'tg2', arn: `${TG_ARN}2` } };
const lsLive = (over: Record<string, unknown> = {}) => obs('http', { loadBalancer: LB_ARN, protocol: 'HTTP', port: 80, forward: TG_ARN, ...over });
const CERT = 'arn:aws:acm:us-east-1:123456789012:certificate/abc';

describe('listener diff', () => {
  it.each<Row>([
    ['up to date', () => diffFields(listener, desired('listener', 'http', { loadBalancer: 'web', port: 80, forward: 'app' }, LISTENER_REFS), lsLive()), []],
    ['port: in place', () => diffFields(listener, desired('listener', 'http', { loadBalancer: 'web', port: 8080, forward: 'app' }, LISTENER_REFS), lsLive()), [['port', false]]],
    [
      'another target group: in place',
      () => diffFields(listener, desired('listener', 'http', { loadBalancer: 'web', port: 80, forward: 'app2' }, LISTENER_REFS), lsLive()),
      [['forward', false]],
    ],
    [
      'a load balancer being replaced: replace',
      () => diffFields(listener, desired('listener', 'http', { loadBalancer: 'web', port: 80, forward: 'app' }, { ...LISTENER_REFS, web: { id: UNKNOWN } }), lsLive()),
      [['loadBalancer', true]],
    ],
    [
      'forward becomes a redirect: in place',
      () => diffFields(listener, desired('listener', 'http', { loadBalancer: 'web', port: 80, redirect: {} }, LISTENER_REFS), lsLive()),
      [
        ['forward', false],
        ['redirect', false],
      ],
    ],
    [
      'redirect up to date (defaults HTTPS 443 301)',
      () =>
        diffFields(
          listener,
          desired('listener', 'http', { loadBalancer: 'web', port: 80, redirect: {} }, LISTENER_REFS),
          lsLive({ forward: undefined, redirect: { protocol: 'HTTPS', port: 443, statusCode: 'HTTP_301' } }),
        ),
      [],
    ],
    [
      'HTTP becomes HTTPS with a certificate',
      () => diffFields(listener, desired('listener', 'http', { loadBalancer: 'web', port: 80, protocol: 'HTTPS', certificateArn: CERT, forward: 'app' }, LISTENER_REFS), lsLive()),
      [
        ['protocol', false],
        ['certificateArn', false],
      ],
    ],
  ])('%s', (_, run, expected) => expect(shape(run())).toEqual(expected));
});

// ---------------------------------------------------------------------------------------------
const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const md5 = (s: string) => createHash('md5').update(s).digest('hex');
const bucketLive = (over: Record<string, unknown> = {}) =>
  obs(
    'assets',
    {
      bucketName: 'test-assets-bucket',
      versioning: false,
      encryption: 'AES256',
      publicAccessBlock: true,
      lifecycle: [],
      objects: { 'app.py': { sha256: sha('print(1)\n'), md5: md5('print(1)\n'), contentType: 'text/x-python', public: false } },
      forceDestroy: false,
      ...over,
    },
    { id: 'test-assets-bucket' },
  );
const appPy = { key: 'app.py', content: 'print(1)\n' };
const bucketBody = (over: Record<string, unknown> = {}) => ({ bucketName: 'test-assets-bucket', objects: [appPy], ...over });
const policy = {
  Version: '2012-10-17',
  Statement: [{ Sid: 'read', Effect: 'Allow', Principal: '*', Action: ['s3:GetObject'], Resource: ['arn:aws:s3:::test-assets-bucket/*'] }],
};

describe('s3-bucket diff', () => {
  /** The diff, handed the content of inline objects as prepare loads it. */
  const bdiff = (d: Desired<'s3-bucket'>, o: Observed) =>
    diffFields(bucket, d, o, { objects: Object.fromEntries(d.spec.objects.map((x) => [x.key, hashBytes(Buffer.from(x.content ?? '', 'utf8'))])) });
  it.each<Row>([
    ['up to date', () => bdiff(desired('s3-bucket', 'assets', bucketBody()), bucketLive()), []],
    ['bucket name: replace', () => bdiff(desired('s3-bucket', 'assets', bucketBody({ bucketName: 'other-bucket' })), bucketLive()), [['bucketName', true]]],
    ['versioning suspended by hand', () => bdiff(desired('s3-bucket', 'assets', bucketBody({ versioning: true })), bucketLive()), [['versioning', false]]],
    ['encryption none: S3 default AES256 is fine', () => bdiff(desired('s3-bucket', 'assets', bucketBody({ encryption: 'none' })), bucketLive()), []],
    ['encryption none: nothing configured is fine', () => bdiff(desired('s3-bucket', 'assets', bucketBody({ encryption: 'none' })), bucketLive({ encryption: 'none' })), []],
    ['encryption KMS wanted', () => bdiff(desired('s3-bucket', 'assets', bucketBody({ encryption: 'aws:kms' })), bucketLive()), [['encryption', false]]],
    ['encryption removed by hand', () => bdiff(desired('s3-bucket', 'assets', bucketBody()), bucketLive({ encryption: 'none' })), [['encryption', false]]],
    [
      'public access block partly off by hand',
      () =>
        bdiff(
          desired('s3-bucket', 'assets', bucketBody()),
          bucketLive({ publicAccessBlock: { blockPublicAcls: true, ignorePublicAcls: true, blockPublicPolicy: false, restrictPublicBuckets: false } }),
        ),
      [['publicAccessBlock', false]],
    ],
    [
      'lifecycle rules in another order',
      () =>
        bdiff(
          desired('s3-bucket', 'assets', bucketBody({ lifecycle: [{ id: 'b', expireDays: 3 }, { id: 'a', prefix: 'logs/', expireDays: 30 }] })),
          bucketLive({ lifecycle: [{ id: 'a', prefix: 'logs/', expireDays: 30 }, { id: 'b', prefix: '', expireDays: 3 }] }),
        ),
      [],
    ],
    [
      'a lifecycle rule disabled by hand',
      () =>
        bdiff(
          desired('s3-bucket', 'assets', bucketBody({ lifecycle: [{ id: 'a', prefix: 'logs/', expireDays: 30 }] })),
          bucketLive({ lifecycle: [{ id: 'a', prefix: 'logs/', expireDays: 30, enabled: false }] }),
        ),
      [['lifecycle', false]],
    ],
    [
      'policy with one-element lists written as strings',
      () =>
        bdiff(
          desired('s3-bucket', 'assets', bucketBody({ policy })),
          bucketLive({
            policy: { Version: '2012-10-17', Statement: { Sid: 'read', Effect: 'Allow', Principal: '*', Action: 's3:GetObject', Resource: 'arn:aws:s3:::test-assets-bucket/*' } },
          }),
        ),
      [],
    ],
    ['policy removed by hand', () => bdiff(desired('s3-bucket', 'assets', bucketBody({ policy })), bucketLive()), [['policy', false]]],
    ['policy to remove', () => bdiff(desired('s3-bucket', 'assets', bucketBody()), bucketLive({ policy })), [['policy', false]]],
    ['forceDestroy turned on', () => bdiff(desired('s3-bucket', 'assets', bucketBody({ forceDestroy: true })), bucketLive()), [['forceDestroy', false]]],
    [
      'object content changed',
      () => bdiff(desired('s3-bucket', 'assets', bucketBody({ objects: [{ key: 'app.py', content: 'print(2)\n' }] })), bucketLive()),
      [['objects[app.py]', false]],
    ],
    [
      'object deleted by hand',
      () => bdiff(desired('s3-bucket', 'assets', bucketBody()), bucketLive({ objects: {} })),
      [['objects[app.py]', false]],
    ],
    [
      'object no longer in the spec',
      () => bdiff(desired('s3-bucket', 'assets', bucketBody({ objects: [] })), bucketLive()),
      [['objects[app.py]', false]],
    ],
    [
      'an object uploaded by hand (no sha256) with the same content: ETag matches',
      () =>
        bdiff(
          desired('s3-bucket', 'assets', bucketBody()),
          bucketLive({ objects: { 'app.py': { md5: md5('print(1)\n'), contentType: 'text/x-python', public: false } } }),
        ),
      [],
    ],
    [
      'same sha256 metadata but other bytes (ETag differs)',
      () =>
        bdiff(
          desired('s3-bucket', 'assets', bucketBody()),
          bucketLive({ objects: { 'app.py': { sha256: sha('print(1)\n'), md5: md5('evil'), contentType: 'text/x-python', public: false } } }),
        ),
      [['objects[app.py]', false]],
    ],
    [
      'content type from the spec',
      () => bdiff(desired('s3-bucket', 'assets', bucketBody({ objects: [{ ...appPy, contentType: 'text/plain' }] })), bucketLive()),
      [['objects[app.py].contentType', false]],
    ],
    [
      'public while the bucket blocks public access: stays private, no diff',
      () => bdiff(desired('s3-bucket', 'assets', bucketBody({ objects: [{ ...appPy, public: true }] })), bucketLive()),
      [],
    ],
    [
      'public with the block off',
      () => bdiff(desired('s3-bucket', 'assets', bucketBody({ publicAccessBlock: false, objects: [{ ...appPy, public: true }] })), bucketLive({ publicAccessBlock: false })),
      [['objects[app.py].public', false]],
    ],
    [
      'made public by hand',
      () =>
        bdiff(
          desired('s3-bucket', 'assets', bucketBody({ publicAccessBlock: false })),
          bucketLive({ publicAccessBlock: false, objects: { 'app.py': { sha256: sha('print(1)\n'), contentType: 'text/x-python', public: true } } }),
        ),
      [['objects[app.py].public', false]],
    ],
  ])('%s', (_, run, expected) => expect(shape(run())).toEqual(expected));

  it('shows hashes of object content, never the content', () => {
    const [f] = bdiff(desired('s3-bucket', 'assets', bucketBody({ objects: [{ key: 'app.py', content: 'secret-token-123' }] })), bucketLive());
    expect(f.after).toBe(`sha256:${sha('secret-token-123').slice(0, 12)}`);
    expect(f.before).toBe(`sha256:${sha('print(1)\n').slice(0, 12)}`);
    expect(JSON.stringify(f)).not.toContain('secret-token-123');
  });

  it('hashes a file relative to the spec folder (prepare reads it), and sees it change', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'reconcile-diff-'));
    writeFileSync(join(dir, 'image.jpg'), 'jpeg-1');
    const d = { ...desired('s3-bucket', 'assets', bucketBody({ objects: [{ key: 'image.jpg', file: 'image.jpg' }] })), specDir: dir };
    const live = bucketLive({ objects: { 'image.jpg': { sha256: sha('jpeg-1'), md5: md5('jpeg-1'), contentType: 'image/jpeg', public: false } } });
    const prepare = async () => (await prepareObjects({} as Ctx, [d]))[0].inputs;
    expect(diffFields(bucket, d, live, await prepare())).toEqual([]);
    writeFileSync(join(dir, 'image.jpg'), 'jpeg-two');
    expect(shape(diffFields(bucket, d, live, await prepare()))).toEqual([['objects[image.jpg]', false]]);
  });

  it('a URL that cannot be fetched is a problem of prepare (the plan fails before any write); diff never runs without the content', async () => {
    const d = desired('s3-bucket', 'assets', bucketBody({ objects: [{ key: 'image.jpg', url: 'http://127.0.0.1:9/never-fetched.jpg' }] }));
    const [p] = await prepareObjects({} as Ctx, [d]);
    expect(p.inputs).toBeUndefined();
    expect(p.problems).toEqual([expect.stringMatching(/^object image\.jpg: cannot fetch http:\/\/127\.0\.0\.1:9\/never-fetched\.jpg/)]);
    expect(() => diffFields(bucket, d, bucketLive({ objects: {} }))).toThrow(/s3-bucket\.assets: the content of objects\[image\.jpg\] has not been loaded/);
  });

  it.each([
    [[]],
    [['app.py']],
    [['image.jpg', 'logs/ünïcode key.txt', 'a b&c=d']],
    [Array.from({ length: 40 }, (_, i) => `assets/static/file-number-${i}.js`)],
  ])('the object inventory round-trips through tags: %j', (keys) => {
    const tags = inventoryTags(keys);
    for (const [k, v] of Object.entries(tags)) {
      expect(v.length).toBeLessThanOrEqual(256);
      expect(v).toMatch(/^[A-Za-z0-9_-]+$/); // characters S3 allows in tag values
      expect(k).toMatch(/^reconcile:objects(:\d+)?$/);
    }
    expect(inventoryFrom({ ...tags, Name: 'x' })).toEqual([...keys].sort());
  });

  it('reads lifecycle rules in the spec vocabulary', () => {
    expect(
      lifecycleLive([
        { ID: 'z', Status: 'Enabled', Filter: { Prefix: 'tmp/' }, Expiration: { Days: 1 } },
        { ID: 'a', Status: 'Disabled', Prefix: 'old/', NoncurrentVersionExpiration: { NoncurrentDays: 7 } },
      ]),
    ).toEqual([
      { id: 'a', prefix: 'old/', noncurrentExpireDays: 7, enabled: false },
      { id: 'z', prefix: 'tmp/', expireDays: 1 },
    ]);
  });

  it('normalizes one-element lists in policies only', () => {
    expect(normalizePolicy({ a: ['x'], b: ['x', 'y'], c: [{ d: ['z'] }] })).toEqual({ a: 'x', b: ['x', 'y'], c: { d: 'z' } });
  });

  it.each([
    [{ key: 'image.jpg' }, 'image/jpeg'],
    [{ key: 'app.py' }, 'text/x-python'],
    [{ key: 'index', file: 'site/index.html' }, 'text/html'],
    [{ key: 'blob' }, 'application/octet-stream'],
    [{ key: 'image.jpg', contentType: 'image/png' }, 'image/png'],
  ])('content type of %j is %s', (o, t) => expect(contentTypeOf(o)).toBe(t));
});

// ---------------------------------------------------------------------------------------------
const TOPIC_ARN = 'arn:aws:sns:us-east-1:123456789012:test-alerts';
const topicLive = (over: Record<string, unknown> = {}) =>
  obs(
    'alerts',
    {
      topicName: 'test-alerts',
      displayName: '',
      subscriptions: [{ protocol: 'email', endpoint: 'ops@example.com', arn: `${TOPIC_ARN}:1` }],
      ...over,
    },
    { id: TOPIC_ARN },
  );
const email = { protocol: 'email', endpoint: 'ops@example.com' };

describe('sns-topic diff', () => {
  it.each<Row>([
    ['up to date', () => diffFields(topic, desired('sns-topic', 'alerts', { subscriptions: [email] }), topicLive()), []],
    ['topic name: replace', () => diffFields(topic, desired('sns-topic', 'alerts', { topicName: 'other', subscriptions: [email] }), topicLive()), [['topicName', true]]],
    ['display name', () => diffFields(topic, desired('sns-topic', 'alerts', { displayName: 'Alerts', subscriptions: [email] }), topicLive()), [['displayName', false]]],
    [
      'a subscription to add',
      () => diffFields(topic, desired('sns-topic', 'alerts', { subscriptions: [email, { protocol: 'https', endpoint: 'https://hooks.example.com/x' }] }), topicLive()),
      [['subscriptions[https https://hooks.example.com/x]', false]],
    ],
    ['a subscription unsubscribed by hand', () => diffFields(topic, desired('sns-topic', 'alerts', { subscriptions: [email] }), topicLive({ subscriptions: [] })), [['subscriptions[email ops@example.com]', false]]],
    ['a subscription to remove', () => diffFields(topic, desired('sns-topic', 'alerts', {}), topicLive()), [['subscriptions[email ops@example.com]', false]]],
    [
      'a pending subscription is neither added again nor removed',
      () => diffFields(topic, desired('sns-topic', 'alerts', { subscriptions: [email] }), topicLive({ subscriptions: [{ ...email, pending: true }] })),
      [],
    ],
    [
      'a pending subscription no longer wanted cannot be removed: not listed',
      () => diffFields(topic, desired('sns-topic', 'alerts', {}), topicLive({ subscriptions: [{ ...email, pending: true }] })),
      [],
    ],
  ])('%s', (_, run, expected) => expect(shape(run())).toEqual(expected));
});

// ---------------------------------------------------------------------------------------------
const ALARM_ARN = 'arn:aws:cloudwatch:us-east-1:123456789012:alarm:test-idle';
const alarmRefs: Record<string, Outputs> = {
  web: { id: 'i-0123456789abcdef0' },
  alerts: { id: TOPIC_ARN, arn: TOPIC_ARN },
  other: { id: `${TOPIC_ARN}-2`, arn: `${TOPIC_ARN}-2` },
  group: { id: 'test-group', name: 'test-group', scalingPolicyArn: 'arn:aws:autoscaling:us-east-1:123456789012:scalingPolicy:x' },
  bare: { id: 'test-bare', name: 'test-bare' },
  alb: { id: LB_ARN, arn: LB_ARN, dimension: 'app/test-web/50dc6c495c0c9188' },
};
const alarmBody = { instance: 'web', threshold: 1, comparison: '<', period: 3600, actions: [{ ec2: 'terminate' }, { topic: 'alerts' }] };
const alarmLive = (over: Record<string, unknown> = {}) =>
  obs(
    'idle',
    {
      alarmName: 'test-idle',
      description: '',
      namespace: 'AWS/EC2',
      metric: 'CPUUtilization',
      dimensions: { InstanceId: 'i-0123456789abcdef0' },
      statistic: 'Average',
      period: 3600,
      evaluationPeriods: 1,
      datapointsToAlarm: 1,
      threshold: 1,
      comparison: '<',
      missingData: 'missing',
      actionsEnabled: true,
      actions: [TOPIC_ARN, 'arn:aws:automate:us-east-1:ec2:terminate'],
      okActions: [],
      ...over,
    },
    { id: 'test-idle', outputs: { arn: ALARM_ARN, name: 'test-idle' } },
  );

describe('sns-topic: subscriptions from the account-wide listing', () => {
  const ARN = 'arn:aws:sns:us-east-1:123456789012:test-alerts';
  const sub = (endpoint: string, arn = `${ARN}:${endpoint}`) => ({ TopicArn: ARN, Protocol: 'email', Endpoint: endpoint, SubscriptionArn: arn });
  const listing = new Map([[ARN, [sub('a@example.com'), sub('b@example.com', 'PendingConfirmation'), sub('gone@example.com', 'Deleted')]]]);
  const counts = (confirmed: number, pending: number) => ({ SubscriptionsConfirmed: String(confirmed), SubscriptionsPending: String(pending) });
  it.each([
    ['the topic counts what the listing holds', counts(1, 1), 2],
    ['the counts lag behind (or the endpoint keeps none, as moto)', counts(0, 0), 2],
    ['the counts lag behind a removal: read by topic', counts(3, 0), undefined],
    ["another account's subscription, which ListSubscriptions leaves out: read by topic", counts(2, 1), undefined],
  ])('%s', (_, attrs, expected) => {
    expect(listedSubscriptions(listing, ARN, attrs)?.length).toBe(expected);
  });
  it('a topic the listing does not name has none; no listing: read by topic', () => {
    expect(listedSubscriptions(listing, `${ARN}-other`, counts(0, 0))).toEqual([]);
    expect(listedSubscriptions(undefined, ARN, counts(0, 0))).toBeUndefined();
  });
  it.each([
    [1, 0],
    [2, 1],
    [10, 1],
    [11, 2],
    [20, 2],
    [250, 25],
  ])('%i topics: at most %i pages of the listing', (topics, pages) => expect(listingBudget(topics)).toBe(pages));
});

describe('cloudwatch-alarm diff', () => {
  it.each<Row>([
    ['up to date (action order does not matter)', () => diffFields(alarm, desired('cloudwatch-alarm', 'idle', alarmBody, alarmRefs), alarmLive()), []],
    ['threshold changed by hand', () => diffFields(alarm, desired('cloudwatch-alarm', 'idle', alarmBody, alarmRefs), alarmLive({ threshold: 5 })), [['threshold', false]]],
    ['comparison', () => diffFields(alarm, desired('cloudwatch-alarm', 'idle', { ...alarmBody, comparison: '<=' }, alarmRefs), alarmLive()), [['comparison', false]]],
    ['alarm name: replace', () => diffFields(alarm, desired('cloudwatch-alarm', 'idle', { ...alarmBody, alarmName: 'idle-web' }, alarmRefs), alarmLive()), [['alarmName', true]]],
    [
      'a replaced instance: the dimension follows, in place',
      () => diffFields(alarm, desired('cloudwatch-alarm', 'idle', alarmBody, { ...alarmRefs, web: { id: UNKNOWN } }), alarmLive()),
      [['dimensions.InstanceId', false]],
    ],
    [
      'datapointsToAlarm left out equals evaluationPeriods',
      () => diffFields(alarm, desired('cloudwatch-alarm', 'idle', { ...alarmBody, evaluationPeriods: 3 }, alarmRefs), alarmLive({ evaluationPeriods: 3, datapointsToAlarm: 3 })),
      [],
    ],
    [
      'datapointsToAlarm set',
      () => diffFields(alarm, desired('cloudwatch-alarm', 'idle', { ...alarmBody, evaluationPeriods: 3, datapointsToAlarm: 2 }, alarmRefs), alarmLive({ evaluationPeriods: 3, datapointsToAlarm: 3 })),
      [['datapointsToAlarm', false]],
    ],
    [
      'an action removed by hand and actions turned off',
      () => diffFields(alarm, desired('cloudwatch-alarm', 'idle', alarmBody, alarmRefs), alarmLive({ actions: [TOPIC_ARN], actionsEnabled: false })),
      [
        ['actionsEnabled', false],
        ['actions', false],
      ],
    ],
    [
      'OK actions and a missing-data treatment',
      () => diffFields(alarm, desired('cloudwatch-alarm', 'idle', { ...alarmBody, okActions: [{ topic: 'other' }], missingData: 'breaching' }, alarmRefs), alarmLive()),
      [
        ['missingData', false],
        ['okActions', false],
      ],
    ],
    [
      'group and load balancer dimensions, a scale-out action',
      () =>
        diffFields(
          alarm,
          desired('cloudwatch-alarm', 'idle', { autoScalingGroup: 'group', loadBalancer: 'alb', threshold: 70, comparison: '>', actions: [{ scaleOut: 'group' }] }, alarmRefs),
          alarmLive({
            dimensions: { AutoScalingGroupName: 'test-group', LoadBalancer: 'app/test-web/50dc6c495c0c9188' },
            period: 300,
            threshold: 70,
            comparison: '>',
            actions: ['arn:aws:autoscaling:us-east-1:123456789012:scalingPolicy:x'],
          }),
        ),
      [],
    ],
    [
      'a dimension added by hand',
      () => diffFields(alarm, desired('cloudwatch-alarm', 'idle', alarmBody, alarmRefs), alarmLive({ dimensions: { InstanceId: 'i-0123456789abcdef0', ImageId: 'ami-1' } })),
      [['dimensions.ImageId', false]],
    ],
    [
      'an operator the spec has no word for',
      () => diffFields(alarm, desired('cloudwatch-alarm', 'idle', alarmBody, alarmRefs), alarmLive({ comparison: 'LessThanLowerThreshold' })),
      [['comparison', false]],
    ],
  ])('%s', (_, run, expected) => expect(shape(run())).toEqual(expected));

  it('the EC2 action ARN uses the alarm region', () => {
    const live = alarmLive({ actions: [TOPIC_ARN, 'arn:aws:automate:eu-west-1:ec2:terminate'] });
    live.outputs.arn = ALARM_ARN.replace('us-east-1', 'eu-west-1');
    expect(diffFields(alarm, desired('cloudwatch-alarm', 'idle', alarmBody, alarmRefs), live)).toEqual([]);
  });

  it('a scale-out on a group without a scaling policy is an error that says so', () => {
    expect(() => diffFields(alarm, desired('cloudwatch-alarm', 'idle', { ...alarmBody, actions: [{ scaleOut: 'bare' }] }, alarmRefs), alarmLive())).toThrow(
      /bare has no scaling policy/,
    );
  });
});

// Kinds covered here, so a new kind of this family gets a table too.
const covered: KindName[] = ['load-balancer', 'target-group', 'listener', 's3-bucket', 'sns-topic', 'cloudwatch-alarm'];
it('every reconciler of this file names its kind', () => {
  expect([lb, tg, listener, bucket, topic, alarm].map((r) => r.kind)).toEqual(covered);
});
