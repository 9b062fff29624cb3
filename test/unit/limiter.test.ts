// The client-side rate limiter: the token bucket with a fake clock, the process-wide registry, and
// the middleware on real SDK clients (src/aws/clients.ts) against a narrow fake EC2 endpoint --
// moto never throttles, so throttling answers come from a local HTTP server written here.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DescribeVpcsCommand } from '@aws-sdk/client-ec2';
import { Aws } from '../../src/aws/clients.js';
import {
  DEFAULT_LIMITS,
  MIN_FACTOR,
  RECOVERY_MS,
  TokenBucket,
  bucketFor,
  isThrottlingError,
  limiterStats,
  parseRateScale,
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

  it('has one process-wide bucket per service and kind, scaled by RECONCILE_RATE_SCALE', () => {
    expect(bucketFor('ec2', 'read')).toBe(bucketFor('ec2', 'read'));
    expect(bucketFor('ec2', 'read')).not.toBe(bucketFor('ec2', 'write'));
    expect(bucketFor('ec2', 'write')!.ceiling).toEqual(DEFAULT_LIMITS.ec2.write);
    resetLimiters();
    process.env.RECONCILE_RATE_SCALE = '2';
    expect(bucketFor('ec2', 'read')!.ceiling).toEqual({ perSecond: DEFAULT_LIMITS.ec2.read.perSecond * 2, burst: DEFAULT_LIMITS.ec2.read.burst * 2 });
    resetLimiters();
    process.env.RECONCILE_RATE_SCALE = 'off';
    expect(bucketFor('ec2', 'read')).toBeNull();
  });

  it('stays below the AWS rates it is a share of (EC2: 20 reads/s, 5 writes/s refill)', () => {
    expect(DEFAULT_LIMITS.ec2.read.perSecond).toBeLessThan(20);
    expect(DEFAULT_LIMITS.ec2.write.perSecond).toBeLessThan(5);
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
    const s = limiterStats()['ec2:read'];
    expect(s.taken).toBe(2);
    expect(s.throttles).toBe(1);
    expect(bucketFor('ec2', 'read')!.rate()).toBeLessThan(DEFAULT_LIMITS.ec2.read.perSecond);
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

  it('makes a caller past the burst wait for its token', async () => {
    process.env.RECONCILE_RATE_SCALE = '0.1'; // EC2 reads: 1 per second, a tenth of the burst
    const { burst } = bucketFor('ec2', 'read')!.ceiling;
    expect(burst).toBe(Math.round(DEFAULT_LIMITS.ec2.read.burst / 10));
    const ec2 = await client();
    for (let i = 0; i < burst; i++) await ec2.send(new DescribeVpcsCommand({}));
    expect(limiterStats()['ec2:read'].waitedMs).toBe(0);
    await ec2.send(new DescribeVpcsCommand({}));
    expect(limiterStats()['ec2:read'].waitedMs).toBeGreaterThan(0);
    expect(requests).toBe(burst + 1);
  });
});
