// Client-side rate limiting: one token bucket per AWS service and kind of call (read / write),
// shared by every client in the process -- plan, apply, watch and the alert check all draw from the
// same buckets -- so the tool stays inside the account's API rate limits instead of learning them
// from throttling errors. Every attempt takes a token, retries included (AWS counts them too).
//
// Two layers, by design:
// - these buckets are a fixed ceiling below AWS's published refill rates (a share of the account's
//   budget: other tools use it too), and on a throttling answer the service's bucket halves its rate
//   and climbs back over a minute, for every client of the process;
// - the SDK's own retryMode 'adaptive' (set in clients.ts) retries throttling with backoff and
//   adapts each client's sending rate (CUBIC) once throttled.
// RECONCILE_RATE_SCALE scales every rate (0.5 on an account other tools keep busy, 2 after a
// quota increase); RECONCILE_RATE_SCALE=off turns the buckets off.

export interface Rate {
  /** Tokens added per second. */
  perSecond: number;
  /** Bucket size: calls that may go at once after a quiet spell. */
  burst: number;
}

export interface ServiceLimits {
  read: Rate;
  write: Rate;
}

/**
 * Sustained rates at about half of what AWS documents per account and region, where it documents
 * it: EC2 refills 20 non-mutating calls per second (bucket 100) and 5 mutating (bucket 200);
 * CloudWatch allows 9 DescribeAlarms and 3 PutMetricAlarm per second; ELBv2 and Auto Scaling
 * describes are in the tens. Bursts are sized so that a plan and apply of the largest example (about
 * 100 EC2 reads and 50 writes) go at full speed; only a long run settles to the sustained rates.
 */
export const DEFAULT_LIMITS: Readonly<Record<string, ServiceLimits>> = {
  ec2: { read: { perSecond: 10, burst: 100 }, write: { perSecond: 2.5, burst: 100 } },
  autoscaling: { read: { perSecond: 5, burst: 20 }, write: { perSecond: 2, burst: 10 } },
  elbv2: { read: { perSecond: 5, burst: 20 }, write: { perSecond: 2, burst: 10 } },
  cloudwatch: { read: { perSecond: 4, burst: 20 }, write: { perSecond: 1.5, burst: 10 } },
  sns: { read: { perSecond: 10, burst: 30 }, write: { perSecond: 5, burst: 20 } },
  s3: { read: { perSecond: 50, burst: 100 }, write: { perSecond: 25, burst: 50 } },
  sts: { read: { perSecond: 5, burst: 10 }, write: { perSecond: 5, burst: 10 } },
  // GetResources: AWS does not publish a rate; the SDK documents throttling past a few calls a second.
  tagging: { read: { perSecond: 5, burst: 10 }, write: { perSecond: 2, burst: 5 } },
};

/** After a throttle the rate climbs back to its ceiling over this long. */
export const RECOVERY_MS = 60_000;
/** A throttle never pushes a bucket below this share of its ceiling. */
export const MIN_FACTOR = 0.1;

export type Clock = () => number;

/**
 * A token bucket that hands out waits instead of queueing callers: each take() reserves the next
 * token (the balance may go negative) and says how long to wait for it, so callers are served in
 * the order they asked, without a queue.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;
  /** Share of the ceiling right after the last throttle, and when that was. */
  private factorAtThrottle = 1;
  private throttledAt = -Infinity;
  readonly stats = { taken: 0, waitedMs: 0, throttles: 0 };

  constructor(
    readonly ceiling: Rate,
    private readonly clock: Clock = Date.now,
  ) {
    this.tokens = ceiling.burst;
    this.last = clock();
  }

  /** The share of the ceiling in force now (1 unless recently throttled). */
  factor(now = this.clock()): number {
    return Math.min(1, this.factorAtThrottle + ((now - this.throttledAt) / RECOVERY_MS) * (1 - MIN_FACTOR));
  }

  /** Tokens per second in force now. */
  rate(now = this.clock()): number {
    return this.ceiling.perSecond * this.factor(now);
  }

  private refill(now: number): void {
    const elapsed = Math.max(0, now - this.last);
    // The rate at the end of the interval: slightly generous while recovering, never above the ceiling.
    this.tokens = Math.min(this.ceiling.burst, this.tokens + (elapsed / 1000) * this.rate(now));
    this.last = now;
  }

  /** Reserves one token; returns how many milliseconds the caller must wait before using it. */
  reserve(): number {
    const now = this.clock();
    this.refill(now);
    this.tokens -= 1;
    this.stats.taken++;
    const wait = this.tokens >= 0 ? 0 : Math.ceil((-this.tokens / this.rate(now)) * 1000);
    this.stats.waitedMs += wait;
    return wait;
  }

  /** Waits for a token. */
  async take(): Promise<void> {
    const wait = this.reserve();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }

  /** AWS answered with throttling: halve the rate in force (not below MIN_FACTOR) and drop the burst. */
  throttled(): void {
    const now = this.clock();
    this.refill(now);
    this.factorAtThrottle = Math.max(MIN_FACTOR, this.factor(now) / 2);
    this.throttledAt = now;
    this.tokens = Math.min(this.tokens, 0);
    this.stats.throttles++;
  }
}

/** Error names AWS uses for throttling (the SDK's list, plus the S3 and SNS spellings). */
const THROTTLING = new Set([
  'Throttling',
  'ThrottlingException',
  'ThrottledException',
  'RequestThrottled',
  'RequestThrottledException',
  'RequestLimitExceeded',
  'TooManyRequestsException',
  'SlowDown',
  'EC2ThrottledException',
  'LimitExceededException',
  'PriorRequestNotComplete',
  'BandwidthLimitExceeded',
]);

export function isThrottlingError(e: unknown): boolean {
  const x = e as { name?: string; $metadata?: { httpStatusCode?: number }; $retryable?: { throttling?: boolean } };
  return !!x && (THROTTLING.has(x.name ?? '') || x.$metadata?.httpStatusCode === 429 || x.$retryable?.throttling === true);
}

/** RECONCILE_RATE_SCALE: a positive number scales every rate and burst; "off" or 0 disables limiting. */
export function parseRateScale(v: string | undefined): number {
  if (v === undefined || v.trim() === '') return 1;
  if (v.trim().toLowerCase() === 'off') return 0;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`RECONCILE_RATE_SCALE must be a positive number or "off", not "${v}"`);
  return n;
}

const buckets = new Map<string, TokenBucket | null>();

/** The process-wide bucket for a service's reads or writes (null: limiting is off). */
export function bucketFor(service: string, kind: 'read' | 'write'): TokenBucket | null {
  const key = `${service}:${kind}`;
  let b = buckets.get(key);
  if (b === undefined) {
    const scale = parseRateScale(process.env.RECONCILE_RATE_SCALE);
    const limits = DEFAULT_LIMITS[service] ?? DEFAULT_LIMITS.sts;
    const rate = limits[kind];
    b = scale === 0 ? null : new TokenBucket({ perSecond: rate.perSecond * scale, burst: Math.max(1, Math.round(rate.burst * scale)) });
    buckets.set(key, b);
  }
  return b;
}

/** Counters per bucket ("ec2:read" -> taken, waitedMs, throttles), e.g. for watch's metrics. */
export function limiterStats(): Record<string, TokenBucket['stats']> {
  const out: Record<string, TokenBucket['stats']> = {};
  for (const [k, b] of buckets) if (b) out[k] = { ...b.stats };
  return out;
}

/** Forgets every bucket (tests; RECONCILE_RATE_SCALE is read again). */
export function resetLimiters(): void {
  buckets.clear();
}

interface MiddlewareClient {
  middlewareStack: { add: (mw: any, opts: any) => void };
}

/**
 * Puts the process-wide buckets of `service` in front of every attempt of every call of `client`:
 * inside the SDK's retry loop (step finalizeRequest, after the retry middleware), so retries take
 * tokens too, and a throttling answer slows every client of the service in this process.
 */
export function attachRateLimiter(client: MiddlewareClient, service: string, isRead: (operation: string) => boolean): void {
  client.middlewareStack.add(
    (next: (a: unknown) => Promise<unknown>, context: { commandName?: string }) => async (args: unknown) => {
      const bucket = bucketFor(service, isRead(context.commandName ?? '') ? 'read' : 'write');
      if (bucket) await bucket.take();
      try {
        return await next(args);
      } catch (e) {
        if (bucket && isThrottlingError(e)) bucket.throttled();
        throw e;
      }
    },
    { step: 'finalizeRequest', priority: 'low', name: 'reconcileRateLimiter' },
  );
}
