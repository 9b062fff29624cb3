// The client-side rate limiter: the token bucket with a fake clock, the process-wide registry, and
// the middleware on real SDK clients (src/aws/clients.ts) against a narrow fake EC2 endpoint --
// moto never throttles, so throttling answers come from a local HTTP server written here.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DescribeVpcsCommand } from '@aws-sdk/client-ec2';
import { Aws } from '../../src/aws/clients.js';
import { UserError } from '../../src/errors.js';
import {
  CLOUDWATCH_TPS,
  EC2_RATES,
  ELB_RATES,
  MIN_FACTOR,
  RECOVERY_MS,
  RateBudget,
  TokenBucket,
  UNPUBLISHED,
  bucketsOf,
  budgetKey,
  isThrottlingError,
  limiterStats,
  parseRateScale,
  rateBudget,
  resetLimiters,
} from '../../src/aws/limiter.js';

function fakeClock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

describe('TokenBucket', () => {
  it('lets a burst through, then spaces calls at the rate, in the order they asked', () => {
    const c = fakeClock();
    const b = new TokenBucket({ perSecond: 2, burst: 3 }, c.now);
    expect([b.reserve(), b.reserve(), b.reserve()]).toEqual([0, 0, 0]);
    expect(b.reserve()).toBe(500);
    expect(b.reserve()).toBe(1000);
    c.advance(1000); // two tokens back: the queue of two is served, the next waits half a second
    expect(b.reserve()).toBe(500);
    c.advance(10_000); // a quiet spell refills to the burst, no further
    expect([b.reserve(), b.reserve(), b.reserve(), b.reserve()]).toEqual([0, 0, 0, 500]);
    expect(b.stats.taken).toBe(10);
  });

  it('halves its rate on throttling, drops the burst, and climbs back to the ceiling', () => {
    const c = fakeClock();
    const b = new TokenBucket({ perSecond: 10, burst: 5 }, c.now);
    expect(b.rate()).toBe(10);
    b.throttled();
    expect(b.rate()).toBe(5);
    expect(b.reserve()).toBe(200); // no burst left: one token at 5/s
    b.throttled();
    expect(b.rate()).toBe(2.5);
    c.advance(RECOVERY_MS / 2);
    expect(b.rate()).toBeGreaterThan(2.5);
    expect(b.rate()).toBeLessThan(10);
    c.advance(RECOVERY_MS);
    expect(b.rate()).toBe(10);
    expect(b.stats.throttles).toBe(2);
  });

  it('never falls below its floor however often it is throttled', () => {
    const c = fakeClock();
    const b = new TokenBucket({ perSecond: 10, burst: 5 }, c.now);
    for (let i = 0; i < 20; i++) b.throttled();
    expect(b.rate()).toBeCloseTo(10 * MIN_FACTOR);
  });
});

describe('limits', () => {
  afterEach(() => {
    delete process.env.RECONCILE_RATE_SCALE;
    resetLimiters();
  });

  it.each([
    [undefined, 1],
    ['', 1],
    ['2', 2],
    ['0.5', 0.5],
    ['off', 0],
    ['OFF', 0],
    ['0', 0],
  ])('RECONCILE_RATE_SCALE=%s scales by %s', (v, n) => expect(parseRateScale(v)).toBe(n));

  it.each(['fast', '-1'])('RECONCILE_RATE_SCALE=%s is refused with a message', (v) => expect(() => parseRateScale(v)).toThrow(/positive number or "off"/));

  // A user error (one line and a hint, exit 1), not an internal one the CLI prints as "error: Error: ...".
  it('refuses a bad RECONCILE_RATE_SCALE as a user error with a hint', () => {
    let err: unknown;
    try {
      parseRateScale('fast');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UserError);
    expect((err as UserError).hint).toMatch(/0\.5.*2.*off/);
  });

  it('has one process-wide budget per key, its buckets scaled by RECONCILE_RATE_SCALE', () => {
    const key = budgetKey('123456789012', 'eu-west-1');
    expect(rateBudget(key)).toBe(rateBudget(key));
    expect(rateBudget(key)).not.toBe(rateBudget(budgetKey('123456789012', 'us-east-1')));
    const [vpcs] = rateBudget(key)!.bucketsFor('ec2', 'DescribeVpcs');
    expect(vpcs.ceiling).toEqual(EC2_RATES.nonMutating);
    expect(rateBudget(key)!.bucketsFor('ec2', 'DescribeVpcs')[0]).toBe(vpcs);
    resetLimiters();
    process.env.RECONCILE_RATE_SCALE = '2';
    expect(rateBudget(key)!.bucketsFor('ec2', 'DescribeVpcs')[0].ceiling).toEqual({ perSecond: 40, burst: 200 });
    resetLimiters();
    process.env.RECONCILE_RATE_SCALE = 'off';
    expect(rateBudget(key)).toBeNull();
  });

  // The published numbers (see the header of src/aws/limiter.ts for where each comes from).
  it.each([
    ['ec2', 'DescribeVpcs', [['ec2:DescribeVpcs', 100, 20]]],
    ['ec2', 'DescribeSecurityGroups', [['ec2:DescribeSecurityGroups', 50, 10]]],
    ['ec2', 'CreateVpc', [['ec2:CreateVpc', 50, 5]]],
    ['ec2', 'AuthorizeSecurityGroupIngress', [['ec2:AuthorizeSecurityGroupIngress', 50, 5]]],
    ['ec2', 'CreateNatGateway', [['ec2:CreateNatGateway', 10, 1]]],
    ['ec2', 'RunInstances', [['ec2:RunInstances', 5, 2]]],
    ['ec2', 'CreateTags', [['ec2:CreateTags', 100, 10]]],
    ['elbv2', 'CreateLoadBalancer', [['elbv2:resourceIntensive', 10, 0.2], ['elbv2:account', 40, 10]]],
    ['elbv2', 'RegisterTargets', [['elbv2:registration', 20, 4], ['elbv2:account', 40, 10]]],
    ['elbv2', 'DescribeListeners', [['elbv2:nonMutating', 40, 10], ['elbv2:account', 40, 10]]],
    ['elbv2', 'DeleteTargetGroup', [['elbv2:mutating', 20, 3], ['elbv2:account', 40, 10]]],
    ['cloudwatch', 'DescribeAlarms', [['cloudwatch:DescribeAlarms', 9, 9]]],
    ['cloudwatch', 'PutMetricAlarm', [['cloudwatch:PutMetricAlarm', 3, 3]]],
    ['cloudwatch', 'DeleteAlarms', [['cloudwatch:DeleteAlarms', 3, 3]]],
    ['s3', 'HeadObject', [['s3:read', 5500, 5500]]],
    ['s3', 'PutObject', [['s3:write', 3500, 3500]]],
    ['autoscaling', 'CreateAutoScalingGroup', [['autoscaling:all', 40, 10]]],
    ['autoscaling', 'DescribeAutoScalingGroups', [['autoscaling:all', 40, 10]]],
    ['sns', 'GetTopicAttributes', [['sns:GetTopicAttributes', 40, 10]]],
  ])('%s:%s draws from %j (bucket, size, refill per second)', (service, op, want) =>
    expect(bucketsOf(service, op).map(([id, r]) => [id, r.burst, r.perSecond])).toEqual(want),
  );

  it('paces at the published rates, not a share of them', () => {
    expect(EC2_RATES).toMatchObject({ nonMutating: { burst: 100, perSecond: 20 }, mutating: { burst: 50, perSecond: 5 } });
    expect(ELB_RATES.account).toEqual({ burst: 40, perSecond: 10 });
    expect(CLOUDWATCH_TPS.PutMetricAlarm).toBe(3);
    expect(UNPUBLISHED).toEqual({ burst: 40, perSecond: 10 });
  });

  it('makes a call wait for the slowest of the buckets it draws from (ELB: its category and the account)', () => {
    let t = 0;
    const b = new RateBudget('k', 1, () => t);
    // Ten CreateLoadBalancer go at once (the resource-intensive bucket holds 10); the 11th waits 5 s (0.2/s).
    for (let i = 0; i < 10; i++) expect(b.bucketsFor('elbv2', 'CreateLoadBalancer').map((x) => x.reserve())).toEqual([0, 0]);
    const [category, account] = b.bucketsFor('elbv2', 'CreateLoadBalancer');
    expect(category.reserve()).toBe(5000);
    expect(account.reserve()).toBe(0);
    // The account bucket is shared with describes: 40 - 11 tokens are left for them.
    const waits = Array.from({ length: 30 }, () => Math.max(...b.bucketsFor('elbv2', 'DescribeLoadBalancers').map((x) => x.reserve())));
    expect(waits.filter((w) => w > 0)).toHaveLength(1);
    expect(b.stats()['elbv2:account'].taken).toBe(41);
  });

  it.each([
    [{ name: 'Throttling' }, true],
    [{ name: 'RequestLimitExceeded' }, true],
    [{ name: 'SlowDown' }, true],
    [{ name: 'Whatever', $metadata: { httpStatusCode: 429 } }, true],
    [{ name: 'AccessDenied', $metadata: { httpStatusCode: 403 } }, false],
    [{ name: 'InvalidParameterValue', $metadata: { httpStatusCode: 400 } }, false],
    [undefined, false],
  ])('isThrottlingError(%j) is %s', (e, want) => expect(isThrottlingError(e)).toBe(want));
});

// A fake EC2 query endpoint: answers each DescribeVpcs with the next scripted reply.
const EC2_NS = 'http://ec2.amazonaws.com/doc/2016-11-15/';
const ok = () => ({ status: 200, body: `<DescribeVpcsResponse xmlns="${EC2_NS}"><requestId>r</requestId><vpcSet/></DescribeVpcsResponse>` });
const fail = (status: number, code: string) => ({
  status,
  body: `<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>${code}</Code><Message>${code} from the fake</Message></Error></Errors><RequestID>r</RequestID></Response>`,
});

describe('the limiter and retries on real SDK clients (fake EC2 endpoint: moto never throttles)', () => {
  let server: Server;
  let endpoint: string;
  let script: { status: number; body: string }[] = [];
  let requests = 0;

  beforeAll(async () => {
    server = createServer((req: IncomingMessage, res) => {
      req.resume();
      req.on('end', () => {
        requests++;
        const r = script.shift() ?? ok();
        res.writeHead(r.status, { 'content-type': 'text/xml' }).end(r.body);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    endpoint = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));
  afterEach(() => {
    script = [];
    requests = 0;
    delete process.env.RECONCILE_RATE_SCALE;
    resetLimiters();
  });

  const client = async () => (await new Aws({ region: 'us-east-1', endpoint, maxAttempts: 3 }).ec2());

  it("uses the SDK's adaptive retry strategy", async () => {
    const ec2 = await client();
    expect((await ec2.config.retryStrategy()).mode).toBe('adaptive');
  });

  it('retries throttling; every attempt takes a token and the throttle slows the shared bucket', async () => {
    script = [fail(503, 'RequestLimitExceeded')];
    const out = await (await client()).send(new DescribeVpcsCommand({}));
    expect(out.$metadata.attempts).toBe(2);
    expect(requests).toBe(2);
    const s = limiterStats()['ec2:DescribeVpcs'];
    expect(s.taken).toBe(2);
    expect(s.throttles).toBe(1);
    const [bucket] = rateBudget(budgetKey('testing', 'us-east-1'))!.bucketsFor('ec2', 'DescribeVpcs');
    expect(bucket.rate()).toBeLessThan(EC2_RATES.nonMutating.perSecond);
  });

  it.each([
    [400, 'InvalidParameterValue'],
    [400, 'MissingParameter'],
    [403, 'UnauthorizedOperation'],
    [403, 'AccessDenied'],
  ])('never retries HTTP %s %s (it cannot succeed on retry)', async (status, code) => {
    script = [fail(status, code), ok(), ok()];
    const err = await (await client()).send(new DescribeVpcsCommand({})).catch((e) => e);
    expect(err.name).toBe(code);
    expect(err.$metadata.attempts).toBe(1);
    expect(requests).toBe(1);
  });

  it('shares one budget between clients of the same account and region, not across accounts', async () => {
    const a = new Aws({ region: 'us-east-1', endpoint, budget: '111111111111' });
    const b = new Aws({ region: 'us-east-1', endpoint, budget: '111111111111' });
    const other = new Aws({ region: 'us-east-1', endpoint, budget: '222222222222' });
    expect(a.budgetKey).toBe(budgetKey('111111111111', 'us-east-1'));
    expect(new Aws({ region: 'eu-west-1', endpoint }).budgetKey).toBe(budgetKey('testing', 'eu-west-1')); // the access key id
    for (const aws of [a, b, other]) await (await aws.ec2()).send(new DescribeVpcsCommand({}));
    expect(limiterStats(a.budgetKey)['ec2:DescribeVpcs'].taken).toBe(2);
    expect(limiterStats(other.budgetKey)['ec2:DescribeVpcs'].taken).toBe(1);
    expect(limiterStats()['ec2:DescribeVpcs'].taken).toBe(3);
    for (const aws of [a, b, other]) aws.destroy();
  });

  it('makes a caller past the burst wait for its token', async () => {
    process.env.RECONCILE_RATE_SCALE = '0.05'; // DescribeVpcs: 1 per second, a bucket of 5
    const burst = Math.round(EC2_RATES.nonMutating.burst * 0.05);
    const ec2 = await client();
    for (let i = 0; i < burst; i++) await ec2.send(new DescribeVpcsCommand({}));
    expect(limiterStats()['ec2:DescribeVpcs'].waitedMs).toBe(0);
    await ec2.send(new DescribeVpcsCommand({}));
    expect(limiterStats()['ec2:DescribeVpcs'].waitedMs).toBeGreaterThan(0);
    expect(requests).toBe(burst + 1);
  });
});
