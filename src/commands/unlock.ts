// `reconcile unlock SPEC`: show who holds the stack lock and remove it (after confirmation).
//
// This is the "force" of the lock: it removes whatever lock is there, expired or not. A holder that
// is still running notices at its next renewal (within a third of its lease), stops making changes
// and says so. Use it for a run that was killed and whose lease you do not want to wait out.
import { UserError } from '../engine/errors.js';
import { resolveLock } from '../lock/config.js';
import { breakLock, describeLock, isExpired, lockAws, lockKey, readLock } from '../lock/object.js';
import { loadOrThrow, makeCtx, type GlobalOptions, type Io } from './common.js';

export interface UnlockOptions {
  lockBucket?: string;
  yes?: boolean;
}

export async function unlockCommand(file: string, opts: UnlockOptions, g: GlobalOptions, io: Io): Promise<number> {
  const loaded = loadOrThrow(file, g);
  const { stack } = loaded.spec;
  const d = resolveLock(loaded.spec, { lockBucket: opts.lockBucket });
  if (!d.lock)
    throw new UserError(`${file} names no lock bucket, so stack "${stack}" has no lock to remove`, 'pass --lock-bucket NAME, or set lock: { bucket: NAME } in the spec');
  const ctx = makeCtx(loaded, g, () => {});
  const aws = lockAws(ctx, d.lock.region);
  try {
    const where = `s3://${d.lock.bucket}/${lockKey(stack)}`;
    const state = await readLock(aws, d.lock.bucket, stack);
    if (!state) {
      io.out(`Stack "${stack}" is not locked (${where} does not exist).`);
      return 0;
    }
    const now = Date.now();
    const live = !isExpired(state.record, now);
    io.out(`Stack "${stack}" is locked (${where}) by ${describeLock(state.record, now)}.`);
    if (live)
      io.out(
        'Its lease is live: if that run is still working, it stops making changes at its next renewal, possibly part-way through; run it again afterwards and it picks up where it stopped.',
      );
    if (!opts.yes) {
      if (!io.confirm) throw new UserError('refusing to remove the lock without confirmation: there is no terminal to ask on', 'pass --yes to remove it without asking');
      if (!(await io.confirm(`Remove the lock of stack "${stack}"? Only 'yes' will be accepted`))) throw new UserError('cancelled: the lock was left in place');
    }
    if (!(await breakLock(aws, d.lock.bucket, stack, state.etag)))
      throw new UserError('the lock changed while you were deciding (renewed or taken by another run): nothing was removed', 'run `reconcile unlock` again to see who holds it now');
    io.out(`Removed the lock of stack "${stack}".`);
    return 0;
  } finally {
    aws.destroy();
    ctx.aws.destroy();
  }
}
