// Client-side rate limiting at the rates AWS publishes, shared by every client of a budget.
//
// AWS throttles each account in each region with token buckets; where it publishes them, these are
// the same buckets, at the same size and refill rate (RECONCILE_RATE_SCALE = 1), so the tool goes as
// fast as AWS allows and no faster:
//
// - EC2, https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html ("Request token
//   bucket sizes and refill rates"): every API action has a bucket of its own ("each API is evaluated
//   individually"), sized by its category -- non-mutating 100 tokens refilled at 20/s; the
//   unfiltered-and-unpaginated describes (DescribeInstances, DescribeSecurityGroups, ...) 50 at 10/s;
//   mutating 50 at 5/s; resource-intensive (AuthorizeSecurityGroupIngress, CreateKeyPair, the VPC
//   peering actions, ...) 50 at 5/s -- and the "uncategorized" actions their own (CreateNatGateway 10
//   at 1/s, CreateTags 100 at 10/s, RunInstances 5 at 2/s, ...). The describes listed as
//   unfiltered-and-unpaginated get the smaller bucket even when filtered (we cannot tell cheaply).
//   RunInstances' second, per-instance resource bucket (1000 at 2/s) is not modelled: one instance a call.
// - ELBv2, https://docs.aws.amazon.com/elasticloadbalancing/latest/userguide/elb-api-throttling.html:
//   one bucket per category -- resource-intensive (CreateLoadBalancer, SetSubnets) 10 at 0.2/s,
//   registration (RegisterTargets, DeregisterTargets) 20 at 4/s, non-mutating (Describe*) 40 at 10/s,
//   mutating 20 at 3/s -- and on top an account-level bucket of 40 at 10/s that every ELB call draws from.
// - CloudWatch, https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch_limits.html:
//   a rate per API action (DescribeAlarms 9/s, PutMetricAlarm 3/s, DeleteAlarms 3/s,
//   ListTagsForResource 10/s, GetMetricData 500/s, ...); no bucket size is published, so one
//   second's worth.
// - S3, https://docs.aws.amazon.com/AmazonS3/latest/userguide/optimizing-performance.html: at least
//   3,500 PUT/COPY/POST/DELETE and 5,500 GET/HEAD requests a second per partitioned prefix; here for
//   all buckets together (stricter than AWS).
// - Auto Scaling (https://docs.aws.amazon.com/autoscaling/ec2/APIReference/Welcome.html, "API request
//   rate": one bucket shared by all its actions), SNS, STS and the tagging API publish no sizes: one
//   bucket per service (SNS: per action) of 40 tokens at 10/s, the size ELB publishes for its account
//   bucket, and the adaptive backoff below finds the real limit if it is lower.
//
// Adaptive: the first throttling answer halves the rate of every bucket the throttled call drew from
// and empties them; the rate climbs back to the published one over a minute (RECOVERY_MS), for every
// client of the budget. The SDK's own retryMode 'adaptive' (clients.ts) retries the throttled call
// with backoff. Every attempt takes a token, retries included (AWS counts them too).
//
// A budget is one account (or credentials identity) in one region: AWS's buckets are per account and
// region, so every client of the process working for the same account and region -- plan, apply,
// watch, the alert check, and every stack of a multi-stack controller -- draws from the same buckets
// (budgetKey, rateBudget; Aws options.budget names the account). RECONCILE_RATE_SCALE scales every
// rate and bucket (0.5 on an account other tools keep busy, 2 after a quota increase); "off" turns the
// limiter off.

import { AsyncLocalStorage } from 'node:async_hooks';
import { isThrottlingError } from './errors.js';
import { UserError } from '../errors.js';

/** Throttling is classified with every other AWS error (errors.ts). */
export { isThrottlingError };

export interface Rate {
  /** Tokens added per second. */
  perSecond: number;
  /** Bucket size: calls that may go at once after a quiet spell. */
  burst: number;
}

const rate = (burst: number, perSecond: number): Rate => ({ burst, perSecond });

/** EC2's request buckets by category (per API action). */
export const EC2_RATES = {
  nonMutating: rate(100, 20),
  unfilteredNonMutating: rate(50, 10),
  mutating: rate(50, 5),
  resourceIntensive: rate(50, 5),
} as const;
const EC2_UNFILTERED = new Set([
  'DescribeInstances',
  'DescribeInstanceStatus',
  'DescribeNetworkInterfaces',
  'DescribeSecurityGroups',
  'DescribeSnapshots',
  'DescribeSpotInstanceRequests',
  'DescribeVolumes',
]);
const EC2_RESOURCE_INTENSIVE = new Set([
  'AcceptVpcPeeringConnection',
  'AuthorizeSecurityGroupIngress',
  'CancelSpotInstanceRequests',
  'CreateKeyPair',
  'CreateVpcPeeringConnection',
  'DeleteVpcPeeringConnection',
  'RejectVpcPeeringConnection',
  'RevokeSecurityGroupIngress',
  'RequestSpotInstances',
]);
/** EC2's "uncategorized" actions this tool can call, with their own bucket. */
const EC2_UNCATEGORIZED: Record<string, Rate> = {
  AssociateIamInstanceProfile: rate(100, 5),
  CreateLaunchTemplateVersion: rate(100, 5),
  CreateNatGateway: rate(10, 1),
  CreateNetworkInterface: rate(100, 5),
  CreateTags: rate(100, 10),
  DeleteNatGateway: rate(10, 1),
  DeleteNetworkInterface: rate(100, 5),
  DeleteTags: rate(100, 10),
  DisassociateIamInstanceProfile: rate(100, 5),
  ModifyInstanceMetadataOptions: rate(100, 5),
  ModifyLaunchTemplate: rate(100, 5),
  ModifyNetworkInterfaceAttribute: rate(100, 5),
  RunInstances: rate(5, 2),
  StartInstances: rate(5, 2),
  TerminateInstances: rate(100, 5),
};

/** ELBv2's buckets by category, and the account-level bucket every ELB call also draws from. */
export const ELB_RATES = {
  resourceIntensive: rate(10, 0.2),
  registration: rate(20, 4),
  nonMutating: rate(40, 10),
  mutating: rate(20, 3),
  account: rate(40, 10),
} as const;

/** CloudWatch's published rate per action (per second; the bucket holds one second's worth). */
export const CLOUDWATCH_TPS: Record<string, number> = {
  DeleteAlarms: 3,
  DescribeAlarmHistory: 20,
  DescribeAlarms: 9,
  DescribeAlarmsForMetric: 9,
  DisableAlarmActions: 3,
  EnableAlarmActions: 3,
  GetMetricData: 500,
  GetMetricStatistics: 400,
  ListMetrics: 25,
  ListTagsForResource: 10,
  PutMetricAlarm: 3,
  PutMetricData: 500,
  SetAlarmState: 3,
  TagResource: 20,
  UntagResource: 20,
};

/** S3 per partitioned prefix (here: per service). */
export const S3_RATES = { read: rate(5500, 5500), write: rate(3500, 3500) } as const;

/** Where AWS publishes no size: ELB's account-level bucket; the adaptive backoff finds a lower one. */
export const UNPUBLISHED = rate(40, 10);

const isRead = (operation: string) => /^(Describe|Get|List|Head|Search)/.test(operation);

/** The buckets one call draws from: [bucket id, its published rate]. */
export type Draw = [id: string, rate: Rate][];

/** Which of AWS's buckets a call of `operation` on `service` takes a token from. */
export function bucketsOf(service: string, operation: string): Draw {
  switch (service) {
    case 'ec2': {
      const r =
        EC2_UNCATEGORIZED[operation] ??
        (EC2_UNFILTERED.has(operation)
          ? EC2_RATES.unfilteredNonMutating
          : EC2_RESOURCE_INTENSIVE.has(operation)
            ? EC2_RATES.resourceIntensive
            : isRead(operation)
              ? EC2_RATES.nonMutating
              : EC2_RATES.mutating);
      return [[`ec2:${operation}`, r]];
    }
    case 'elbv2': {
      const category =
        operation === 'CreateLoadBalancer' || operation === 'SetSubnets'
          ? 'resourceIntensive'
          : operation === 'RegisterTargets' || operation === 'DeregisterTargets'
            ? 'registration'
            : isRead(operation)
              ? 'nonMutating'
              : 'mutating';
      return [
        [`elbv2:${category}`, ELB_RATES[category]],
        ['elbv2:account', ELB_RATES.account],
      ];
    }
    case 'cloudwatch': {
      const tps = CLOUDWATCH_TPS[operation] ?? 3; // an action not listed: the lowest published rate
      return [[`cloudwatch:${operation}`, rate(Math.max(1, tps), tps)]];
    }
    case 's3':
      return isRead(operation) ? [['s3:read', S3_RATES.read]] : [['s3:write', S3_RATES.write]];
    case 'sns':
      return [[`sns:${operation}`, UNPUBLISHED]];
    default:
      return [[`${service}:all`, UNPUBLISHED]];
  }
}

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

/** RECONCILE_RATE_SCALE: a positive number scales every rate and burst; "off" or 0 disables limiting. */
export function parseRateScale(v: string | undefined): number {
  if (v === undefined || v.trim() === '') return 1;
  if (v.trim().toLowerCase() === 'off') return 0;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new UserError(`RECONCILE_RATE_SCALE must be a positive number or "off", not "${v}"`, 'e.g. 0.5 on an account other tools keep busy, 2 after a quota increase, off to turn pacing off; or unset it');
  return n;
}

/**
 * The buckets of one account (or credentials identity) in one region, created as calls need them,
 * scaled by RECONCILE_RATE_SCALE as it was when the budget was made.
 */
export class RateBudget {
  private readonly buckets = new Map<string, TokenBucket>();

  constructor(
    readonly key: string,
    readonly scale: number,
    private readonly clock: Clock = Date.now,
  ) {}

  /** The buckets a call draws from, made on first use. */
  bucketsFor(service: string, operation: string): TokenBucket[] {
    return bucketsOf(service, operation).map(([id, r]) => {
      let b = this.buckets.get(id);
      if (!b) {
        b = new TokenBucket({ perSecond: r.perSecond * this.scale, burst: Math.max(1, Math.round(r.burst * this.scale)) }, this.clock);
        this.buckets.set(id, b);
      }
      return b;
    });
  }

  /**
   * Takes a token from every bucket the call draws from (waiting for the last to come); returns them.
   * While it waits, the work the call belongs to steps aside (whileWaitingForRate).
   */
  async take(service: string, operation: string): Promise<TokenBucket[]> {
    const bs = this.bucketsFor(service, operation);
    const wait = Math.max(0, ...bs.map((b) => b.reserve()));
    if (wait > 0) {
      const room = rooms.getStore();
      room?.stepAside();
      try {
        await new Promise((r) => setTimeout(r, wait));
      } finally {
        await room?.resume();
      }
    }
    return bs;
  }

  /** Counters per bucket ("ec2:DescribeVpcs" -> taken, waitedMs, throttles). */
  stats(): Record<string, TokenBucket['stats']> {
    return Object.fromEntries([...this.buckets].map(([id, b]) => [id, { ...b.stats }]));
  }
}

/**
 * What a unit of work (apply's resource slot, src/engine/slots.ts) does while one of its calls waits
 * for a token: it steps aside, so that waiting for AWS's rate budget does not count as working, and
 * resumes (taking its turn again) before the call goes on.
 */
export interface WaitingRoom {
  stepAside(): void;
  resume(): Promise<void>;
}

const rooms = new AsyncLocalStorage<WaitingRoom>();

/** Runs fn with `room` told of every rate wait of the AWS calls fn makes. */
export const whileWaitingForRate = <T>(room: WaitingRoom, fn: () => Promise<T>): Promise<T> => rooms.run(room, fn);

/**
 * The key of a budget: an account id (or any stable name of the credentials, e.g. a profile) and a
 * region. Clients with the same key share one set of buckets in this process.
 */
export const budgetKey = (identity: string, region: string): string => `${identity}/${region}`;

const budgets = new Map<string, RateBudget | null>();

/** The process-wide budget of `key` (null: limiting is off). */
export function rateBudget(key: string): RateBudget | null {
  let b = budgets.get(key);
  if (b === undefined) {
    const scale = parseRateScale(process.env.RECONCILE_RATE_SCALE);
    b = scale === 0 ? null : new RateBudget(key, scale);
    budgets.set(key, b);
  }
  return b;
}

/** Counters per bucket of one budget, or summed over every budget of the process. */
export function limiterStats(key?: string): Record<string, TokenBucket['stats']> {
  const out: Record<string, TokenBucket['stats']> = {};
  for (const [k, b] of budgets) {
    if (!b || (key !== undefined && k !== key)) continue;
    for (const [id, s] of Object.entries(b.stats())) {
      const o = (out[id] ??= { taken: 0, waitedMs: 0, throttles: 0 });
      o.taken += s.taken;
      o.waitedMs += s.waitedMs;
      o.throttles += s.throttles;
    }
  }
  return out;
}

/** Forgets every budget (tests; RECONCILE_RATE_SCALE is read again). */
export function resetLimiters(): void {
  budgets.clear();
}

interface MiddlewareClient {
  middlewareStack: { add: (mw: any, opts: any) => void };
}

/**
 * Puts the buckets of budget `key` in front of every attempt of every call of `client`: inside the
 * SDK's retry loop (step finalizeRequest, after the retry middleware), so retries take tokens too,
 * and a throttling answer slows every client of the budget.
 */
export function attachRateLimiter(client: MiddlewareClient, service: string, key: string): void {
  client.middlewareStack.add(
    (next: (a: unknown) => Promise<unknown>, context: { commandName?: string }) => async (args: unknown) => {
      const budget = rateBudget(key);
      const drawn = budget ? await budget.take(service, (context.commandName ?? '').replace(/Command$/, '')) : [];
      try {
        return await next(args);
      } catch (e) {
        if (isThrottlingError(e)) for (const b of drawn) b.throttled();
        throw e;
      }
    },
    { step: 'finalizeRequest', priority: 'low', name: 'reconcileRateLimiter' },
  );
}
