// The stack lock: one S3 object per stack, `reconcile-locks/<stack>.json`, so that two runs that
// write (two `apply`s, an apply and a `watch`) never change the same stack at once.
//
// - Taken with a conditional put (If-None-Match: *): S3 lets exactly one writer create the key.
// - Held as a lease: the holder rewrites the object every lease/3 with If-Match on the ETag it
//   wrote last, moving `expires` forward. A holder that dies stops renewing; once `expires` has
//   passed, a waiter takes the lock over with a put conditional on the dead holder's ETag, so two
//   waiters cannot both take it over.
// - Safe to retry: every write names the holder (host, pid, random id). A put whose answer was lost
//   and which the SDK retried collides with its own first write (412); the next read shows our own
//   holder id, and we go on holding the lock instead of waiting for ourselves.
// - A holder that loses the lease (taken over after it failed to renew in time, or removed with
//   `reconcile unlock`) refuses every further write call of its Aws client (see addGuard).
// - Released on exit, on failure and on SIGINT / SIGTERM (delete conditional on our ETag).
//
// This file takes the lock (and waits for it); holding it (renewal, the write guard, release) is
// lease.ts; the S3 object and its conditional reads and writes are object.ts; the holder's details,
// shared with the local file lock (local.ts), are holder.ts.
//
// Expiry compares the holder's clock (it writes `expires`) with the waiter's: machines must agree
// on the time within a few seconds (NTP), far below the lease (60 s by default).
import { errorCode, isConditionFailed, isMissingKey, isRetryable } from '../aws/errors.js';
import { describeLock, isExpired, lockAws, lockKey, readLock, writeLock, DEFAULT_LEASE_MS, type LockRecord, type LockState } from './object.js';
import { formatDuration, jitter, newHolder, sleep, type LockCtx, type LockHolder } from './holder.js';
import { UserError } from '../errors.js';
import { holdLease, lockEvent, type Lease } from './lease.js';

export const DEFAULT_LOCK_TIMEOUT_MS = 5 * 60_000;
/** Transient S3 errors while taking the lock are retried for at least this long. */
export const TRANSIENT_MS = 30_000;

export interface LockOptions {
  bucket: string;
  /** Region of the bucket (default: the stack's). */
  region?: string;
  /** Shown to whoever waits for the lock, e.g. "apply spec.yaml". */
  command: string;
  /** How long to wait for another holder (default 5 min; 0: fail at once). */
  timeoutMs?: number;
  /** Lease length (default 60 s); renewed every leaseMs / 3. */
  leaseMs?: number;
  /** How often a waiter looks again (default 2 s, jittered). */
  pollMs?: number;
  /** How often a waiter reports that it is still waiting (default 15 s). */
  progressMs?: number;
  /** Acquire as this holder (a retry of an acquisition whose answer was lost); default: a new one. */
  holder?: LockHolder;
  /** Release the lock on SIGINT / SIGTERM, then let the signal end the process (default true). */
  signals?: boolean;
}

/** Waited --lock-timeout for another holder: exit 1, naming the holder. */
export class LockTimeoutError extends UserError {
  constructor(
    message: string,
    hint: string,
    readonly state: LockState,
  ) {
    super(message, hint);
    this.name = 'LockTimeoutError';
  }
}

/**
 * Takes the stack lock, waiting up to `timeoutMs` for another holder (reporting progress through
 * ctx.emit), taking over a lease that expired. The lease is renewed in the background until
 * release(); while it is held, ctx.aws refuses writes once the lease is lost.
 */
export async function acquireStackLock(ctx: LockCtx, opts: LockOptions): Promise<Lease> {
  const aws = lockAws(ctx, opts.region);
  const leaseMs = opts.leaseMs ?? DEFAULT_LEASE_MS;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS;
  const pollMs = opts.pollMs ?? 2_000;
  const progressMs = opts.progressMs ?? 15_000;
  const holder = opts.holder ?? newHolder();
  const { bucket } = opts;
  const key = lockKey(ctx.stack);
  const started = Date.now();
  const recordAt = (now: number): LockRecord => ({
    formatVersion: 1,
    stack: ctx.stack,
    holder,
    command: opts.command,
    started: new Date(started).toISOString(),
    renewed: new Date(now).toISOString(),
    expires: new Date(now + leaseMs).toISOString(),
    leaseSeconds: leaseMs / 1000,
  });

  let etag: string | undefined;
  let expiresAt = 0;
  let lastProgress = -Infinity;
  // A transient failure (5xx, throttling, a broken connection) that outlasted the SDK's own retries
  // is retried for as long as the wait may last, and at least TRANSIENT_MS: every step is safe to
  // repeat (a put that landed is recognised by its holder id).
  const transientUntil = started + Math.max(timeoutMs, TRANSIENT_MS);
  const stop = ctx.aws.options.signal;
  try {
    for (;;) {
      stop?.throwIfAborted(); // the command's --timeout or Ctrl-C, while waiting
      try {
        const now = Date.now();
        try {
          etag = await writeLock(aws, bucket, recordAt(now), { IfNoneMatch: '*' });
          expiresAt = now + leaseMs;
          break;
        } catch (e) {
          if (!isConditionFailed(e)) throw e;
        }
        const current = await readLock(aws, bucket, ctx.stack);
        if (!current) {
          await sleep(jitter(100)); // released in between: try again
          continue;
        }
        if (current.record.holder.id === holder.id) {
          // Our own write, from an attempt whose answer was lost: we hold the lock.
          etag = current.etag;
          expiresAt = Date.parse(current.record.expires);
          break;
        }
        const t = Date.now();
        if (isExpired(current.record, t)) {
          try {
            etag = await writeLock(aws, bucket, recordAt(t), { IfMatch: current.etag });
            expiresAt = t + leaseMs;
            ctx.emit({ type: 'warning', message: `took over the stack lock of ${describeLock(current.record, t)}` });
            lockEvent(ctx.stack, 'taken_over');
            break;
          } catch (e) {
            if (!isConditionFailed(e) && !isMissingKey(e)) throw e;
            continue; // someone else renewed, released or took it over first: look again
          }
        }
        const waited = t - started;
        if (waited >= timeoutMs) {
          lockEvent(ctx.stack, 'timed_out');
          throw new LockTimeoutError(
            `stack "${ctx.stack}" is locked by ${describeLock(current.record, t)}; gave up after waiting ${formatDuration(waited)}`,
            `let that run finish, or wait longer with --lock-timeout; if it died, its lease expires at ${current.record.expires} and the lock is taken over then (or remove it now with \`reconcile unlock\`)`,
            current,
          );
        }
        if (t - lastProgress >= progressMs) {
          lastProgress = t;
          ctx.emit({
            type: 'progress',
            message: `waiting for the stack lock (s3://${bucket}/${key}), held by ${describeLock(current.record, t)}; ${formatDuration(waited)} of ${formatDuration(timeoutMs)}`,
          });
        }
        await sleep(Math.max(0, Math.min(jitter(pollMs), started + timeoutMs - Date.now())));
      } catch (e) {
        if (!isRetryable(e) || Date.now() >= transientUntil) throw e;
        ctx.emit({ type: 'progress', message: `the stack lock: S3 answered ${errorCode(e) || 'an error'}; trying again` });
        await sleep(jitter(pollMs));
      }
    }
  } catch (e) {
    aws.destroy();
    throw e;
  }
  lockEvent(ctx.stack, 'acquired');
  return holdLease(ctx, { aws, bucket, holder, recordAt, etag: etag!, expiresAt, leaseMs, signals: opts.signals !== false });
}
