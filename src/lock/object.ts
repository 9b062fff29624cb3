// The stack lock's S3 object, `reconcile-locks/<stack>.json`: its JSON record, and the conditional
// reads and writes every step of the lock protocol is made of (lock.ts takes and waits, lease.ts
// renews and releases, `reconcile unlock` breaks). A bucket that does not exist is said here as
// the user's to fix; the other answers are classified by aws/errors.ts.
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand } from '../aws/sdk/s3.js';
import { Aws } from '../aws/clients.js';
import { errorCode, isConditionFailed, isMissingKey } from '../aws/errors.js';
import { UserError } from '../errors.js';
import { describeHolder, formatDuration, type LockCtx, type LockHolder } from './holder.js';

export const LOCK_PREFIX = 'reconcile-locks/';
export const lockKey = (stack: string): string => `${LOCK_PREFIX}${stack}.json`;

export const DEFAULT_LEASE_MS = 60_000;

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

/** Who holds the lock, doing what, since when, and until when unless renewed. */
export function describeLock(r: LockRecord, now = Date.now()): string {
  const since = Date.parse(r.started);
  const expires = Date.parse(r.expires);
  const lease = expires > now ? `lease live for ${formatDuration(expires - now)} unless renewed` : `lease expired ${formatDuration(now - expires)} ago`;
  return `${describeHolder(r.holder)}, running "${r.command}" since ${r.started} (${formatDuration(now - since)} ago; ${lease})`;
}

export const isExpired = (r: LockRecord, now = Date.now()): boolean => !(Date.parse(r.expires) > now);

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
export async function writeLock(aws: Aws, bucket: string, record: LockRecord, cond: { IfNoneMatch: '*' } | { IfMatch: string }): Promise<string> {
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
 * Removes the lock object if it is still the one read (its ETag): `reconcile unlock`, and a holder's
 * release. Returns false when it changed in between (renewed or taken by another run) and nothing
 * was removed; true when it was removed or was already gone.
 */
export async function breakLock(aws: Aws, bucket: string, stack: string, etag: string): Promise<boolean> {
  const s3 = await aws.s3();
  try {
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: lockKey(stack), IfMatch: etag }));
    return true;
  } catch (e) {
    if (isMissingKey(e)) return true;
    if (isConditionFailed(e)) return false;
    throw bucketError(e, bucket);
  }
}
