// Small pure helpers every reconciler's diff uses, so all kinds compare values the same way.
import { UNKNOWN, type FieldChange } from './types.js';

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((x, i) => deepEqual(x, bb[i]));
  }
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  const keys = new Set([...Object.keys(ao), ...Object.keys(bo)]);
  for (const k of keys) if (!deepEqual(ao[k], bo[k])) return false;
  return true;
}

/** [] when equal, else one FieldChange. `after` may be UNKNOWN (a reference not yet created). */
export function field(path: string, before: unknown, after: unknown, forcesReplace = false, sensitive = false): FieldChange[] {
  if (deepEqual(before, after)) return [];
  return [{ path, before, after, forcesReplace, ...(sensitive ? { sensitive } : {}) }];
}

/** Like field, for lists whose order does not matter (security group ids, subnets). */
export function setField(path: string, before: readonly string[] | undefined, after: readonly string[] | undefined, forcesReplace = false): FieldChange[] {
  const b = [...(before ?? [])].sort();
  const a = [...(after ?? [])].sort();
  return field(path, b, a, forcesReplace);
}

export const isUnknown = (v: unknown): boolean => v === UNKNOWN || (Array.isArray(v) && v.includes(UNKNOWN));

/** Tags managed by AWS itself (aws:*) are never ours to diff. */
const managedKey = (k: string) => !k.startsWith('aws:');

/** Field changes for tags, one per key ("tags.Env"), in key order. Always in place. */
export function diffTags(desired: Record<string, string>, live: Record<string, string>): FieldChange[] {
  const out: FieldChange[] = [];
  const keys = new Set([...Object.keys(desired), ...Object.keys(live)].filter(managedKey));
  for (const k of [...keys].sort()) {
    if (desired[k] !== live[k]) out.push({ path: `tags.${k}`, before: live[k], after: desired[k], forcesReplace: false });
  }
  return out;
}
