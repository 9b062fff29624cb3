// What this process created a moment ago. AWS lists are eventually consistent: a describe right after
// a create may not show the new resource yet. Within a bounded grace period, a plan that does not see
// a resource this process just created waits for it instead of creating a second one.
import type { Observed } from './types.js';

/** Seconds AWS may take to list a new resource; RECONCILE_CREATE_GRACE_MS overrides (0 turns it off). */
export const createGraceMs = (): number => {
  const v = Number(process.env.RECONCILE_CREATE_GRACE_MS);
  return Number.isFinite(v) && process.env.RECONCILE_CREATE_GRACE_MS !== '' && process.env.RECONCILE_CREATE_GRACE_MS !== undefined ? v : 30_000;
};

interface Recent {
  observed: Observed;
  at: number;
}

const recent = new Map<string, Recent>(); // by `${stack}\0${address}`
let now = () => Date.now();

export function rememberCreated(stack: string, address: string, observed: Observed): void {
  recent.set(`${stack}\u0000${address}`, { observed, at: now() });
}

/** The resource created within the grace period that a plan does not see yet, if any. */
export function recentlyCreated(stack: string, address: string, graceMs = createGraceMs()): (Recent & { ageMs: number }) | undefined {
  const key = `${stack}\u0000${address}`;
  const r = recent.get(key);
  if (!r) return undefined;
  const ageMs = now() - r.at;
  // A grace of 0 is none at all, also within the millisecond of the create (a fast apply and plan).
  if (graceMs <= 0 || ageMs > graceMs) {
    recent.delete(key);
    return undefined;
  }
  return { ...r, ageMs };
}

/** Once AWS lists it (or it was deleted), the grace period is over. */
export function forgetCreated(stack: string, address: string): void {
  recent.delete(`${stack}\u0000${address}`);
}

/** For tests: a fake clock. */
export function setClock(fn: () => number): void {
  now = fn;
}
