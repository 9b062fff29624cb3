// The local stack lock: without a lock bucket, `apply` and `destroy` lock the stack on this machine
// with a file, $XDG_STATE_HOME/reconcile/locks/<stack>.<region>.lock (else under ~/.local/state), so
// that two runs on one machine never change one stack at once. Runs on other machines are not stopped: that
// is what the S3 lock is for (lock.ts).
//
// - Taken by hard-linking a complete record file to the lock's name: the kernel lets exactly one
//   run create the name.
// - It holds the same holder details as the S3 lock (host, pid, user, CI run, a random id), the
//   command and when it started.
// - A holder that died (kill -9) leaves its file: a holder on this host whose pid no longer runs is
//   stale, and the lock is taken over at once. Breaking a stale lock happens under a second lock
//   (<stack>.lock.break, taken the same way) and re-reads the file first, so two waiters never both
//   break it (one could otherwise delete the lock the other just took).
// - A holder on another host (a home directory shared over NFS) cannot be checked: it is waited for.
// - Released on success, failure and Ctrl-C (the command's finally), only if the file is still ours.
import { createHash, randomBytes } from 'node:crypto';
import { linkSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir, hostname } from 'node:os';
import { join } from 'node:path';
import { describeHolder, formatDuration, newHolder, sleep, type LockCtx, type LockHolder } from './holder.js';
import { UserError } from '../errors.js';
import { makeDir } from '../make-dir.js';

export interface LocalLockRecord {
  formatVersion: 1;
  stack: string;
  holder: LockHolder;
  command: string;
  started: string;
}

export interface LocalLockOptions {
  command: string;
  /** How long to wait for another holder (0: fail at once). */
  timeoutMs: number;
  pollMs?: number;
  progressMs?: number;
  env?: NodeJS.ProcessEnv;
}

export interface LocalLease {
  readonly file: string;
  readonly holder: LockHolder;
  release(): Promise<void>;
}

/** A break lock older than this was left by a run that died while breaking: removed. */
const BREAK_STALE_MS = 10_000;

/**
 * The lock file of a stack in a region: <stack>.<region>.lock, plus a short hash of the endpoint
 * when calls go to one (a local moto is another AWS: its stack is not the real one's).
 */
export function localLockFile(stack: string, region: string, endpoint?: string, env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_STATE_HOME || join(homedir(), '.local', 'state');
  const at = endpoint ? `.${createHash('sha256').update(endpoint).digest('hex').slice(0, 8)}` : '';
  return join(base, 'reconcile', 'locks', `${stack}.${region}${at}.lock`.replace(/[^\w.-]/g, '_'));
}

/** True when the process exists (a pid we may not signal exists too). */
function pidRuns(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The holder is on this host and its process is gone. */
export function isStale(r: LocalLockRecord, host = hostname()): boolean {
  return r.holder.host === host && !pidRuns(r.holder.pid);
}

function read(file: string): LocalLockRecord | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as LocalLockRecord;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    // Not a record (never half-written: see createExclusive): something else wrote it; taken over.
    return { formatVersion: 1, stack: '', holder: { id: 'unreadable', host: hostname(), pid: -1 }, command: '(unknown)', started: new Date(0).toISOString() };
  }
}

/**
 * Creates `file` with `text` if it does not exist; false if it does. Written to a file of our own
 * first and then hard-linked into place (link fails if the name exists), so that a reader never
 * sees a lock file half written.
 */
function createExclusive(file: string, text: string): boolean {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
  writeFileSync(tmp, text, { mode: 0o600 });
  try {
    linkSync(tmp, file);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  } finally {
    rmSync(tmp, { force: true });
  }
}

/** Removes a stale lock, under the break lock; true if it was removed (or already gone). */
function breakStale(file: string, stale: LocalLockRecord): boolean {
  const guard = `${file}.break`;
  try {
    if (Date.now() - statSync(guard).mtimeMs > BREAK_STALE_MS) rmSync(guard, { force: true });
  } catch {
    /* no break lock */
  }
  if (!createExclusive(guard, String(process.pid))) return false;
  try {
    const now = read(file);
    if (now && now.holder.id !== stale.holder.id) return false; // someone took it in between
    rmSync(file, { force: true });
    return true;
  } finally {
    rmSync(guard, { force: true });
  }
}

/** "ci-runner-3 (pid 4242, user runner), running "apply x.yaml" since ... (12s ago)". */
export function describeLocalLock(r: LocalLockRecord, now = Date.now()): string {
  return `${describeHolder(r.holder)}, running "${r.command}" since ${r.started} (${formatDuration(now - Date.parse(r.started))} ago)`;
}

/** Takes the local lock of ctx.stack, waiting up to timeoutMs for another holder. */
export async function acquireLocalLock(ctx: LockCtx, opts: LocalLockOptions): Promise<LocalLease> {
  const env = opts.env ?? process.env;
  const file = localLockFile(ctx.stack, ctx.region, ctx.aws.options.endpoint ?? env.AWS_ENDPOINT_URL, env);
  makeDir(join(file, '..'), 0o700);
  const holder = newHolder();
  const started = Date.now();
  const record: LocalLockRecord = { formatVersion: 1, stack: ctx.stack, holder, command: opts.command, started: new Date(started).toISOString() };
  const text = JSON.stringify(record, null, 2) + '\n';
  const pollMs = opts.pollMs ?? 250;
  const progressMs = opts.progressMs ?? 15_000;
  const stop = ctx.aws.options.signal;
  let lastProgress = -Infinity;
  for (;;) {
    stop?.throwIfAborted();
    if (createExclusive(file, text)) break;
    const current = read(file);
    if (!current) continue; // released in between
    if (isStale(current)) {
      if (breakStale(file, current)) ctx.emit({ type: 'warning', message: `took over the local stack lock of ${describeLocalLock(current)}: that process is gone` });
      continue;
    }
    const t = Date.now();
    if (t - started >= opts.timeoutMs)
      throw new UserError(
        `stack "${ctx.stack}" is locked on this machine by ${describeLocalLock(current, t)}; gave up after waiting ${formatDuration(t - started)}`,
        `let that run finish, or wait longer with --lock-timeout; if it is stuck, end it (a lock whose process is gone is taken over), or remove ${file}`,
      );
    if (t - lastProgress >= progressMs) {
      lastProgress = t;
      ctx.emit({ type: 'progress', message: `waiting for the local stack lock (${file}), held by ${describeLocalLock(current, t)}; ${formatDuration(t - started)} of ${formatDuration(opts.timeoutMs)}` });
    }
    await sleep(Math.min(pollMs, Math.max(0, started + opts.timeoutMs - t)));
  }
  let released = false;
  return {
    file,
    holder,
    async release() {
      if (released) return;
      released = true;
      if (read(file)?.holder.id === holder.id) rmSync(file, { force: true });
    },
  };
}
