// Who holds a stack lock, in words: the holder details both locks write (the S3 lock, lock.ts, and
// the local file lock, local.ts), and how a holder and a wait are named in messages.
import { randomBytes } from 'node:crypto';
import { hostname, userInfo } from 'node:os';
import type { Aws } from '../aws/clients.js';

/** What a lock needs of a run (the engine's Ctx is one): its clients, region, stack, and where progress goes. */
export interface LockCtx {
  aws: Aws;
  region: string;
  stack: string;
  emit(e: { type: 'progress' | 'warning'; message: string }): void;
}

export interface LockHolder {
  /** host:pid:random -- unique per acquisition; what makes a retried put recognise its own write. */
  id: string;
  host: string;
  pid: number;
  user?: string;
  /** The CI run holding it, when known (GitHub Actions run URL). */
  ci?: string;
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

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** ms, give or take a quarter, so that waiters do not look all at once. */
export const jitter = (ms: number) => Math.round(ms * (0.75 + Math.random() * 0.5));
