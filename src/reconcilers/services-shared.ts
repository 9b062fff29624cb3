// Helpers shared by the load-balancing, storage, notification and alarm reconcilers
// (load-balancer, target-group, listener, s3-bucket, sns-topic, cloudwatch-alarm): bounded
// concurrency, reads shared within a plan, AWS names, references. What every family shares (paging,
// waits, error classification) lives in shared.ts, waits.ts and src/aws/errors.ts, and is
// re-exported here.
import { adoptIds } from '../engine/desired.js';
import { allPages, changesUnder, identify, shortHash } from './shared.js';
import { TAG_ID, TAG_STACK } from '../aws/tags.js';
import { UNKNOWN, type Ctx, type Desired, type FieldChange, type Management } from '../engine/types.js';
import type { KindName } from '../spec/schema.js';

// ---------------------------------------------------------------------------------------------
// Errors (classified in src/aws/errors.ts)

export { errorCode, ignoreNotFound, isError, isNotFound, readOrAbsent } from '../aws/errors.js';

// ---------------------------------------------------------------------------------------------
// Bulk helpers

export function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Concurrent reads (at most this many in flight per observe), so a large account is not throttled. */
export const concurrency = { reads: 10 };

/** Promise.all over `items` with at most `limit` calls of `fn` in flight; results in input order. */
export async function mapLimit<T, R>(items: readonly T[], fn: (item: T, index: number) => Promise<R>, limit = concurrency.reads): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= items.length) return;
      out[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/**
 * Shares one in-flight read between concurrent callers with the same key object (the plan observes
 * load balancers and listeners in parallel; both need the stack's load balancers). Nothing is kept
 * once the read settles, so a later observe always reads AWS again.
 */
export function sharedInFlight<K extends object, T>(fn: (key: K) => Promise<T>): (key: K) => Promise<T> {
  const running = new WeakMap<K, Promise<T>>();
  return (key: K) => {
    let p = running.get(key);
    if (!p) {
      p = fn(key).finally(() => running.delete(key));
      running.set(key, p);
    }
    return p;
  };
}

/**
 * A read several kinds need, made once per plan: within the observes of one plan (ctx.shared, set
 * by the engine) every caller with the same key gets the same read; anywhere else `read` runs.
 * Unlike sharedInFlight, the count of calls does not depend on when each observe starts.
 */
export function onePerPlan<T>(ctx: Ctx, key: string, read: () => Promise<T>): Promise<T> {
  if (!ctx.shared) return read();
  let p = ctx.shared.get(key) as Promise<T> | undefined;
  if (!p) {
    p = read();
    ctx.shared.set(key, p);
  }
  return p;
}

// ---------------------------------------------------------------------------------------------
// Names and ownership

/**
 * The AWS name of a resource whose spec leaves it out: `<stack>-<name>`. Where AWS limits names
 * (load balancers and target groups: 32 characters, letters, digits and "-" only, no "-" at either
 * end), other characters become "-", and a longer name keeps its first characters plus a short hash
 * of the full name, so two long names with the same beginning stay distinct.
 */
export function defaultAwsName(stack: string, name: string, max?: number): string {
  const full = `${stack}-${name}`;
  if (max === undefined) return full;
  const clean = full.replace(/[^A-Za-z0-9-]/g, '-').replace(/^-+|-+$/g, '');
  if (clean.length <= max) return clean;
  const hash = shortHash(full, 4);
  return `${clean.slice(0, max - 5).replace(/-+$/, '')}-${hash}`;
}

/** The LoadBalancer dimension CloudWatch uses: `app/<name>/<id>`, the end of the load balancer's ARN. */
export const lbDimension = (arn: string): string => arn.split(':loadbalancer/')[1] ?? arn;

/** `adopt:` values among desired, mapped to the spec name that adopts them. */
export const adoptions = (desired: Desired[]): Map<string, string> => adoptIds(desired);

/** Outputs of a reference, or undefined when the engine cannot resolve it yet (observe time). */
export function tryRef<K extends KindName>(d: Desired<K>, name: string): Record<string, string | undefined> | undefined {
  try {
    return d.ref(name);
  } catch {
    return undefined;
  }
}

export const known = (v: string | undefined): v is string => v !== undefined && v !== UNKNOWN && v !== '';

/** The engine's check of in-place changes (also for a create that applies its own diff). */
export { assertApplicable } from '../engine/decide.js';

/** A value about to be sent to AWS must hold no UNKNOWN (a reference to a resource not created yet). */
export function assertKnown(address: string, what: string, value: unknown): void {
  if (JSON.stringify(value ?? null).includes(UNKNOWN)) throw new Error(`${address}: ${what} refers to a resource not created yet`);
}

// ---------------------------------------------------------------------------------------------
// Bounded waits

export { retryWhile, timingOf, waitFor, waitSettings, type Probe } from './waits.js';
export { allPages, changesUnder, identify };
