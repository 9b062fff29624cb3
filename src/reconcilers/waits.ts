// Bounded waits and retries for reconcilers, with progress: one implementation and one timing,
// used by every kind (through ec2-shared and services-shared).
import pRetry, { AbortError } from 'p-retry';
import { errorCode } from '../aws/errors.js';
import type { Ctx, Timing } from '../engine/types.js';

/**
 * Timing of waits and retries. Real AWS: a NAT gateway takes 1-3 minutes, an ENI release after a
 * NAT delete up to a few minutes, an ALB 2-4 minutes to become active and its network interfaces a
 * few minutes after its delete. Every wait is bounded. The defaults: a run's ctx.timing overrides
 * them (tests against moto), nothing changes them.
 */
export const waitSettings: Readonly<Omit<Timing, 'createAttempts' | 'createMinDelayMs' | 'createMaxDelayMs'>> = Object.freeze({
  /** Delay before the second attempt (the first is immediate); each further delay doubles. */
  minDelayMs: 250,
  maxDelayMs: 15_000,
  /** Total time a wait for a state may take before it fails with a message naming what it waited for. */
  maxWaitMs: 120_000,
  /** A load balancer becoming active or going away, and its network interfaces released. */
  loadBalancerWaitMs: 600_000,
  /** A write that fails while something else is still going away (a dependency, a target group still in use). */
  maxRetryMs: 120_000,
  /** Grace period for "not found" right after a create (eventual consistency). */
  notFoundGraceMs: 30_000,
});

/** The wait timing of a run: the defaults, with what its ctx.timing overrides. */
export const timingOf = (ctx: Pick<Ctx, 'timing'>): Readonly<typeof waitSettings> => ({ ...waitSettings, ...ctx.timing });

/**
 * Each delay between polls doubles, from minDelayMs (small: moto, and AWS for many changes, answer
 * "done" at once or within a second) up to maxDelayMs (a NAT gateway or a load balancer takes minutes).
 */
const FACTOR = 2;

export type Probe<T> = { done: true; value: T } | { done: false; status: string } | { failed: string };

class NotYet extends Error {
  constructor(readonly status: string) {
    super(status);
  }
}

const secs = (ms: number) => `${Math.round(ms / 1000)}s`;

/** The retry schedule both waits share: doubling delays within the run's timing, at most `maxWaitMs`, ended by the command's signal. */
const backoff = (ctx: Ctx, maxWaitMs: number) => {
  const timing = timingOf(ctx);
  return { retries: 10_000, minTimeout: timing.minDelayMs, maxTimeout: timing.maxDelayMs, factor: FACTOR, maxRetryTime: maxWaitMs, signal: endNow(ctx) };
};

/** The command's "end now" signal (the Aws clients' own: --timeout, a second Ctrl-C, SIGTERM's grace): a wait ends at once, not at its next poll. */
const endNow = (ctx: Ctx): AbortSignal | undefined => ctx.aws?.options?.signal;

/**
 * Polls `probe` until it says done, at most `maxWaitMs`. "failed" stops at once. Each unsuccessful
 * attempt is reported as progress; giving up names what was awaited and the last state seen.
 * At most timingOf(ctx).maxWaitMs unless `maxWaitMs` says otherwise.
 */
export async function waitFor<T>(ctx: Ctx, address: string, what: string, probe: () => Promise<Probe<T>>, maxWaitMs?: number): Promise<T> {
  maxWaitMs ??= timingOf(ctx).maxWaitMs;
  const start = Date.now();
  let last = 'not checked yet';
  try {
    return await pRetry(
      async () => {
        const r = await probe();
        if ('failed' in r) throw new AbortError(`${address}: ${what}: ${r.failed}`);
        if (!r.done) throw new NotYet(r.status);
        return r.value;
      },
      {
        ...backoff(ctx, maxWaitMs),
        shouldRetry: ({ error }) => error instanceof NotYet,
        onFailedAttempt: ({ error }) => {
          if (!(error instanceof NotYet)) return;
          last = error.status;
          const elapsedMs = Date.now() - start;
          ctx.emit({ type: 'progress', code: 'wait', address, message: `waiting for ${what} (${error.status}, ${secs(elapsedMs)})`, data: { what, status: error.status, elapsedMs } });
        },
      },
    );
  } catch (e) {
    if (e instanceof NotYet) throw new Error(`${address}: gave up after ${secs(Date.now() - start)} waiting for ${what} (last seen: ${last})`);
    throw e;
  }
}

/**
 * Runs a write, retrying while AWS answers with an error `transient` accepts (a dependency still
 * going away, a resource not visible yet after its create), at most `maxWaitMs`. The error it finally
 * throws keeps the AWS error name, so the engine's plain-words explanation still applies.
 */
export async function retryWhile<T>(
  ctx: Ctx,
  address: string,
  what: string,
  fn: () => Promise<T>,
  transient: (e: unknown) => boolean,
  maxWaitMs?: number,
): Promise<T> {
  maxWaitMs ??= timingOf(ctx).maxRetryMs;
  const start = Date.now();
  try {
    return await pRetry(fn, {
      ...backoff(ctx, maxWaitMs),
      shouldRetry: ({ error }) => transient(error),
      onFailedAttempt: ({ error }) => {
        if (!transient(error)) return;
        const elapsedMs = Date.now() - start;
        const why = errorCode(error) || error.message;
        ctx.emit({ type: 'progress', code: 'retry', address, message: `${what}: ${why}, retrying (${secs(elapsedMs)})`, data: { what, error: why, elapsedMs } });
      },
    });
  } catch (e) {
    if (transient(e)) {
      const code = errorCode(e);
      const msg = (e as Error).message ?? '';
      const err = new Error(`${address}: ${what} still failing after ${secs(Date.now() - start)}: ${code && !msg.startsWith(code) ? `${code}: ` : ''}${msg}`, { cause: e });
      err.name = code || 'Error';
      throw err;
    }
    throw e;
  }
}
