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
// Expiry compares the holder's clock (it writes `expires`) with the waiter's: machines must agree
// on the time within a few seconds (NTP), far below the lease (60 s by default).
import { randomBytes } from 'node:crypto';
import { hostname, userInfo } from 'node:os';
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand } from '../aws/sdk/s3.js';
import { Aws, isReadOperation } from '../aws/clients.js';
import { errorCode, isRetryable } from '../aws/errors.js';
import { UserError } from '../errors.js';

/** What the lock needs of a run (the engine's Ctx is one): its clients, region, stack, and where progress goes. */
export interface LockCtx {
  aws: Aws;
  region: string;
  stack: string;
  emit(e: { type: 'progress' | 'warning'; message: string }): void;
}

export const LOCK_PREFIX = 'reconcile-locks/';
export const lockKey = (stack: string): string => `${LOCK_PREFIX}${stack}.json`;

export const DEFAULT_LOCK_TIMEOUT_MS = 5 * 60_000;
export const DEFAULT_LEASE_MS = 60_000;
/** Transient S3 errors while taking the lock are retried for at least this long. */
export const TRANSIENT_MS = 30_000;

export interface LockHolder {
  /** host:pid:random -- unique per acquisition; what makes a retried put recognise its own write. */
  id: string;
  host: string;
  pid: number;
  user?: string;
  /** The CI run holding it, when known (GitHub Actions run URL). */
  ci?: string;
}

/** The JSON body of the lock object. */
export interface LockRecord {
  formatVersion: 1;
  stack: string;
  holder: LockHolder;
  /** What the holder is doing, e.g. "apply examples/app.yaml". */
  command: string;
  started: string;
  renewed: string;
  expires: string;
  leaseSeconds: number;
}

export interface LockState {
  record: LockRecord;
  etag: string;
  /** The object is not a lock record we can read (written by something else). */
  unreadable?: boolean;
}

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

/** A write was refused because this run no longer holds the stack lock. */
export class LockLostError extends UserError {
  constructor(message: string) {
    super(message, 'another run may be changing the stack: let it finish, then run this command again');
    this.name = 'LockLostError';
  }
}

export function newHolder(): LockHolder {
  const host = hostname();
  let user: string | undefined;
  try {
    user = userInfo().username;
  } catch {
    user = undefined;
  }
  const { GITHUB_SERVER_URL: server, GITHUB_REPOSITORY: repo, GITHUB_RUN_ID: run } = process.env;
  return {
    id: `${host}:${process.pid}:${randomBytes(6).toString('hex')}`,
    host,
    pid: process.pid,
    ...(user ? { user } : {}),
    ...(server && repo && run ? { ci: `${server}/${repo}/actions/runs/${run}` } : {}),
  };
}

/** "1h 2m", "4m 10s", "12s". */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60 ? ` ${s % 60}s` : ''}`;
  return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60) ? ` ${Math.floor((s % 3600) / 60)}m` : ''}`;
}

/** "ci-runner-3 (pid 4242, user runner, https://github.com/o/r/actions/runs/1)". */
export function describeHolder(h: LockHolder): string {
  const extra = [`pid ${h.pid}`, h.user ? `user ${h.user}` : undefined, h.ci].filter(Boolean).join(', ');
  return `${h.host} (${extra})`;
}

/** Who holds the lock, doing what, since when, and until when unless renewed. */
export function describeLock(r: LockRecord, now = Date.now()): string {
  const since = Date.parse(r.started);
  const expires = Date.parse(r.expires);
  const lease = expires > now ? `lease live for ${formatDuration(expires - now)} unless renewed` : `lease expired ${formatDuration(now - expires)} ago`;
  return `${describeHolder(r.holder)}, running "${r.command}" since ${r.started} (${formatDuration(now - since)} ago; ${lease})`;
}

export const isExpired = (r: LockRecord, now = Date.now()): boolean => !(Date.parse(r.expires) > now);

const status = (e: unknown): number | undefined => (e as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
/** The condition did not hold (412), or S3 saw a concurrent conditional write to the key (409). */
const isConflict = (e: unknown): boolean =>
  ['PreconditionFailed', 'ConditionalRequestConflict'].includes(errorCode(e)) || status(e) === 412 || status(e) === 409;
const isMissingKey = (e: unknown): boolean => errorCode(e) === 'NoSuchKey' || (status(e) === 404 && errorCode(e) !== 'NoSuchBucket');

function bucketError(e: unknown, bucket: string): unknown {
  if (errorCode(e) === 'NoSuchBucket')
    return new UserError(
      `the lock bucket ${bucket} does not exist`,
      `create it once (aws s3 mb s3://${bucket}), or name another bucket with --lock-bucket / lock: { bucket } in the spec`,
    );
  return e;
}

/** S3 client for the lock: its own Aws instance, so lock calls never count as calls on the stack. */
export function lockAws(ctx: Pick<LockCtx, 'aws' | 'region'>, region?: string): Aws {
  // Without the command's stop signal: the lock is released after a stop too.
  return new Aws({ ...ctx.aws.options, signal: undefined, region: region ?? ctx.region, maxAttempts: 3 });
}

/** Reads the lock object; undefined when the stack is not locked. */
export async function readLock(aws: Aws, bucket: string, stack: string): Promise<LockState | undefined> {
  const s3 = await aws.s3();
  let r;
  try {
    r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: lockKey(stack) }));
  } catch (e) {
    if (isMissingKey(e)) return undefined;
    throw bucketError(e, bucket);
  }
  const text = (await r.Body?.transformToString()) ?? '';
  const etag = r.ETag ?? '';
  try {
    const record = JSON.parse(text) as LockRecord;
    if (record?.formatVersion !== 1 || !record.holder?.id || !record.expires) throw new Error('not a lock record');
    return { record, etag };
  } catch {
    // Not ours to read: treat it as held since it was last written, for one default lease.
    const at = r.LastModified?.getTime() ?? Date.now();
    return {
      etag,
      unreadable: true,
      record: {
        formatVersion: 1,
        stack,
        holder: { id: 'unknown', host: 'unknown', pid: 0 },
        command: `an unreadable object at s3://${bucket}/${lockKey(stack)}`,
        started: new Date(at).toISOString(),
        renewed: new Date(at).toISOString(),
        expires: new Date(at + DEFAULT_LEASE_MS).toISOString(),
        leaseSeconds: DEFAULT_LEASE_MS / 1000,
      },
    };
  }
}

/** Writes the lock record; `cond` makes it conditional. Returns the new ETag. */
async function writeLock(aws: Aws, bucket: string, record: LockRecord, cond: { IfNoneMatch: '*' } | { IfMatch: string }): Promise<string> {
  const s3 = await aws.s3();
  try {
    const r = await s3.send(
      new PutObjectCommand({ Bucket: bucket, Key: lockKey(record.stack), Body: JSON.stringify(record, null, 2), ContentType: 'application/json', ...cond }),
    );
    return r.ETag ?? '';
  } catch (e) {
    throw bucketError(e, bucket);
  }
}

/**
 * Removes the lock object if it is still the one read (its ETag): `reconcile unlock`. Returns false
 * when it changed in between (renewed or taken by another run) and nothing was removed.
 */
export async function breakLock(aws: Aws, bucket: string, stack: string, etag: string): Promise<boolean> {
  const s3 = await aws.s3();
  try {
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: lockKey(stack), IfMatch: etag }));
    return true;
  } catch (e) {
    if (isMissingKey(e)) return true;
    if (isConflict(e)) return false;
    throw bucketError(e, bucket);
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

function lockEvent(stack: string, event: LockEvent): void {
  for (const l of lockListeners) l(stack, event);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const jitter = (ms: number) => Math.round(ms * (0.75 + Math.random() * 0.5));

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
          if (!isConflict(e)) throw e;
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
            if (!isConflict(e) && !isMissingKey(e)) throw e;
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
  return holdLease(ctx, aws, opts, holder, recordAt, etag!, expiresAt, leaseMs);
}

function holdLease(
  ctx: LockCtx,
  aws: Aws,
  opts: LockOptions,
  holder: LockHolder,
  recordAt: (now: number) => LockRecord,
  firstEtag: string,
  firstExpiresAt: number,
  leaseMs: number,
): Lease {
  const { bucket } = opts;
  const key = lockKey(ctx.stack);
  let etag = firstEtag;
  let expiresAt = firstExpiresAt;
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
      if (isConflict(e) || isMissingKey(e)) {
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
  const signals = opts.signals !== false;
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
            const s3 = await aws.s3();
            await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key, IfMatch: etag }));
            break;
          } catch (e) {
            // 412: someone else holds it now; 404: already gone (perhaps by our own attempt whose
            // answer was lost). A transient error: a few more tries. Else it expires by itself.
            if (isConflict(e) || isMissingKey(e)) break;
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
