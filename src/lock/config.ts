// Where a command's stack lock lives, from its flags and the spec's `lock:` block, and taking it.
//
// The decision when neither names a bucket: apply and destroy take a local lock (a file in the
// user's state directory, local.ts), so two runs on one machine never overlap, and say on every run
// that other machines are not stopped. Refusing would break every existing spec and the local demo;
// creating a bucket on the user's behalf would be a surprise (and a global name to invent). CI that
// may run two applies at once on different machines sets `lock: { bucket }` or --lock-bucket.
import { UserError } from '../errors.js';
import { parseDuration } from '../spec/common.js';
import { lockSchema, type Spec } from '../spec/schema.js';
import { acquireLocalLock } from './local.js';
import type { LockCtx } from './holder.js';
import type { Lease } from './lease.js';
import { DEFAULT_LOCK_TIMEOUT_MS, acquireStackLock } from './lock.js';

/** The lock flags of apply / destroy (and watch): --lock-bucket, --lock-timeout, --no-lock. */
export interface LockFlags {
  lockBucket?: string;
  lockTimeout?: string;
  /** false with --no-lock. */
  lock?: boolean;
}

export interface ResolvedLock {
  bucket: string;
  region?: string;
  timeoutMs: number;
}

export type LockDecision = { lock: ResolvedLock; warning?: undefined } | { lock?: undefined; warning: string };

const BUCKET = lockSchema.shape.bucket;

/** Parses a duration flag ("30s", "5m"); a UserError naming the flag otherwise. */
export function parseDurationFlag(flag: string, v: string): number {
  try {
    return parseDuration(v.trim());
  } catch {
    throw new UserError(`${flag} ${v} is not a duration`, 'write a number and a unit: 30s, 5m, 1h');
  }
}

/** The lock to take, or the warning to give when running unlocked. Flags win over the spec. */
export function resolveLock(spec: Pick<Spec, 'stack' | 'lock'>, flags: LockFlags, command = 'run'): LockDecision {
  if (flags.lock === false)
    return { warning: `running without the stack lock (--no-lock): nothing stops another run from changing stack "${spec.stack}" at the same time` };
  const bucket = flags.lockBucket ?? spec.lock?.bucket;
  if (!bucket)
    return {
      warning: `no stack lock: nothing stops another run from changing stack "${spec.stack}" while this ${command} does. Name an existing S3 bucket with lock: { bucket: NAME } in the spec or --lock-bucket NAME`,
    };
  if (flags.lockBucket !== undefined && !BUCKET.safeParse(flags.lockBucket).success)
    throw new UserError(`--lock-bucket ${flags.lockBucket} is not a valid S3 bucket name`, 'a bucket name has 3 to 63 lowercase letters, digits, dots and hyphens');
  const timeout = flags.lockTimeout ?? spec.lock?.timeout;
  const timeoutMs = timeout === undefined ? DEFAULT_LOCK_TIMEOUT_MS : parseDurationFlag(flags.lockTimeout !== undefined ? '--lock-timeout' : 'lock.timeout', timeout);
  return { lock: { bucket, timeoutMs, ...(spec.lock?.region && !flags.lockBucket ? { region: spec.lock.region } : {}) } };
}

/** A lock a command holds: the S3 lease, or the local lock file. */
export type HeldLock = Pick<Lease, 'release'>;

/**
 * Takes the stack lock for a command that writes (apply, destroy): the S3 lock when a bucket is
 * named; without one, the local lock (local.ts: no two runs on this machine overlap) and a warning
 * that other machines are not stopped; with --no-lock, none and a warning. The caller releases the
 * lock in a finally.
 */
export async function lockForCommand(ctx: LockCtx, spec: Pick<Spec, 'stack' | 'lock'>, flags: LockFlags, command: string): Promise<HeldLock | undefined> {
  const verb = command.split(' ')[0];
  const d = resolveLock(spec, flags, verb);
  if (!d.lock && flags.lock === false) {
    ctx.emit({ type: 'warning', message: d.warning });
    return undefined;
  }
  if (!d.lock) {
    const timeout = flags.lockTimeout ?? spec.lock?.timeout;
    const timeoutMs = timeout === undefined ? DEFAULT_LOCK_TIMEOUT_MS : parseDurationFlag(flags.lockTimeout !== undefined ? '--lock-timeout' : 'lock.timeout', timeout);
    const local = await acquireLocalLock(ctx, { command, timeoutMs });
    ctx.emit({
      type: 'warning',
      message: `no lock bucket: stack "${spec.stack}" is locked on this machine only (${local.file}); nothing stops a run on another machine from changing it while this ${verb} does. For shared use name an existing S3 bucket with lock: { bucket: NAME } in the spec or --lock-bucket NAME`,
    });
    return local;
  }
  // The command handles SIGINT / SIGTERM itself (it reports, then releases the lock in its finally).
  return acquireStackLock(ctx, { bucket: d.lock.bucket, region: d.lock.region, timeoutMs: d.lock.timeoutMs, command, signals: false });
}
