// Holding the S3 stack lock once taken (lock.ts takes it): the lease is renewed every lease/3 with a
// put conditional on the ETag written last; a renewal whose answer was lost is recognised by the
// holder id. A holder that loses the lease (taken over after it failed to renew in time, or removed
// with `reconcile unlock`) aborts its signal, and its stack client refuses every further write (see
// Aws.addGuard). Released on exit, on failure and on SIGINT / SIGTERM (a delete conditional on our
// ETag). Every lock event of this process is announced here, for watch's metrics.
import { Aws, isReadOperation } from '../aws/clients.js';
import { isConditionFailed, isMissingKey, isRetryable } from '../aws/errors.js';
import { UserError } from '../errors.js';
import { jitter, sleep, type LockCtx, type LockHolder } from './holder.js';
import { breakLock, describeLock, lockKey, readLock, writeLock, type LockRecord, type LockState } from './object.js';

export interface Lease {
  readonly bucket: string;
  readonly key: string;
  readonly holder: LockHolder;
  /** True once the lease was taken over or removed: writes are refused from then on. */
  readonly lost: boolean;
  /** Aborted when the lease is lost (long-running holders such as `watch` stop on it). */
  readonly signal: AbortSignal;
  /** Deletes the lock (if still ours). Never throws: a failure is reported as a warning. */
  release(): Promise<void>;
}

/** A write was refused because this run no longer holds the stack lock. */
export class LockLostError extends UserError {
  constructor(message: string) {
    super(message, 'another run may be changing the stack: let it finish, then run this command again');
    this.name = 'LockLostError';
  }
}

/** What happened to a stack lock of this process: `watch` counts these per stack (reconcile_lock_events_total). */
export type LockEvent = 'acquired' | 'taken_over' | 'timed_out' | 'lost' | 'write_refused';
const lockListeners = new Set<(stack: string, event: LockEvent) => void>();

/** Subscribe to the lock events of this process; returns a function that unsubscribes. */
export function onLockEvent(fn: (stack: string, event: LockEvent) => void): () => void {
  lockListeners.add(fn);
  return () => void lockListeners.delete(fn);
}

export function lockEvent(stack: string, event: LockEvent): void {
  for (const l of lockListeners) l(stack, event);
}

/** The lock as just taken: the ETag of our write and when its lease runs out. */
export interface Taken {
  /** The lock's own S3 client (lockAws); destroyed on release. */
  aws: Aws;
  bucket: string;
  holder: LockHolder;
  /** The record to write at a renewal at `now`. */
  recordAt: (now: number) => LockRecord;
  etag: string;
  expiresAt: number;
  leaseMs: number;
  /** Release on SIGINT / SIGTERM, then let the signal end the process. */
  signals: boolean;
}

/** Holds a lock just taken: renews it in the background, guards ctx.aws's writes, until release(). */
export function holdLease(ctx: LockCtx, taken: Taken): Lease {
  const { aws, bucket, holder, recordAt, leaseMs, signals } = taken;
  const key = lockKey(ctx.stack);
  let { etag, expiresAt } = taken;
  let lostReason: string | undefined;
  let released = false;
  let renewing: Promise<void> | undefined;
  const abort = new AbortController();

  const lose = (reason: string) => {
    if (lostReason) return;
    lostReason = reason;
    lockEvent(ctx.stack, 'lost');
    ctx.emit({ type: 'warning', message: `lost the stack lock: ${reason}; no more changes will be made by this run` });
    abort.abort(new LockLostError(`this run lost the stack lock: ${reason}`));
  };

  const renewOnce = async () => {
    if (released || lostReason) return;
    const now = Date.now();
    try {
      etag = await writeLock(aws, bucket, recordAt(now), { IfMatch: etag });
      expiresAt = now + leaseMs;
    } catch (e) {
      if (isConditionFailed(e) || isMissingKey(e)) {
        // Our own renewal may have landed on an attempt whose answer was lost: look before giving up.
        let current: LockState | undefined;
        try {
          current = await readLock(aws, bucket, ctx.stack);
        } catch (re) {
          if (Date.now() >= expiresAt) lose(`it could not be renewed before it expired (${(re as Error).message})`);
          else ctx.emit({ type: 'warning', message: `could not renew the stack lock (${(re as Error).message}); trying again` });
          return;
        }
        if (current && current.record.holder.id === holder.id) {
          etag = current.etag;
          expiresAt = Date.parse(current.record.expires);
          return;
        }
        lose(current ? `it was taken over by ${describeLock(current.record)}` : 'the lock object was removed (reconcile unlock)');
      } else if (Date.now() >= expiresAt) {
        lose(`it could not be renewed before it expired (${(e as Error).message})`);
      } else {
        ctx.emit({ type: 'warning', message: `could not renew the stack lock (${(e as Error).message}); trying again` });
      }
    }
  };
  const timer = setInterval(() => {
    if (!renewing) renewing = renewOnce().finally(() => (renewing = undefined));
  }, Math.max(50, Math.floor(leaseMs / 3)));
  timer.unref();

  // No write leaves this process's stack client once the lease is lost or has run out unrenewed.
  const removeGuard = ctx.aws.addGuard((service, operation) => {
    if (isReadOperation(operation)) return;
    if (lostReason || Date.now() >= expiresAt) lockEvent(ctx.stack, 'write_refused');
    if (lostReason) throw new LockLostError(`refusing ${service}:${operation}: this run lost the stack lock (${lostReason})`);
    if (Date.now() >= expiresAt) throw new LockLostError(`refusing ${service}:${operation}: the stack lock's lease ran out before it could be renewed`);
  });

  const onSignal = (sig: NodeJS.Signals) => {
    ctx.emit({ type: 'warning', message: `${sig}: releasing the stack lock` });
    const bounded = Promise.race([lease.release(), sleep(5_000)]);
    void bounded.finally(() => process.kill(process.pid, sig));
  };
  if (signals) {
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  }

  const lease: Lease = {
    bucket,
    key,
    holder,
    get lost() {
      return !!lostReason;
    },
    signal: abort.signal,
    async release() {
      if (released) return;
      released = true;
      clearInterval(timer);
      removeGuard();
      if (signals) {
        process.removeListener('SIGINT', onSignal);
        process.removeListener('SIGTERM', onSignal);
      }
      await renewing?.catch(() => {});
      try {
        for (let attempt = 1; !lostReason; attempt++) {
          try {
            // false (412): someone else holds it now; true: deleted, or already gone (perhaps by our
            // own attempt whose answer was lost). A transient error: a few more tries. Else it
            // expires by itself.
            await breakLock(aws, bucket, ctx.stack, etag);
            break;
          } catch (e) {
            if (isRetryable(e) && attempt < 4) {
              await sleep(jitter(250 * attempt));
              continue;
            }
            ctx.emit({
              type: 'warning',
              message: `could not release the stack lock s3://${bucket}/${key} (${(e as Error).message}); it expires by itself at ${new Date(expiresAt).toISOString()}, or remove it with \`reconcile unlock\``,
            });
            break;
          }
        }
      } finally {
        aws.destroy();
      }
    },
  };
  return lease;
}
