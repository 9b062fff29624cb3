// Helpers of every reconciler family (ec2-shared.ts and services-shared.ts re-export them): paging,
// the changes under a field, short hashes, who a live resource belongs to, and prepared inputs.
import { createHash } from 'node:crypto';
import { TAG_ID, TAG_STACK } from '../aws/tags.js';
import type { Ctx, Desired, FieldChange, Management, Prepared } from '../engine/types.js';
import type { KindName } from '../spec/schema.js';

/** Runs a paged read to its last page (a NextToken / Marker / PaginationToken loop). */
export async function allPages<T>(page: (token: string | undefined) => Promise<{ items: T[] | undefined; next: string | undefined }>): Promise<T[]> {
  const out: T[] = [];
  const seen = new Set<string>();
  let token: string | undefined;
  for (;;) {
    const { items, next } = await page(token);
    out.push(...(items ?? []));
    if (!next) return out;
    if (seen.has(next)) throw new Error(`pagination loop: AWS returned the NextToken ${next} twice`);
    seen.add(next);
    token = next;
  }
}

/** Changes at or under a top-level field: "routes", "routes[0]", "healthCheck.path", "objects[a.txt]". */
export const changesUnder = (changes: FieldChange[], top: string): FieldChange[] =>
  changes.filter((c) => c.path === top || c.path.startsWith(`${top}.`) || c.path.startsWith(`${top}[`));

/** The first `n` hex digits of the SHA-256 of `s`. */
export const shortHash = (s: string, n = 8): string => createHash('sha256').update(s).digest('hex').slice(0, n);

/**
 * Name and management of a live resource. Tagged for this stack: owned, named by its reconcile:id
 * tag. Otherwise adopted when an `adopt:` value names one of its ids (id, ARN or name). Else not ours.
 */
export function identify(
  tags: Record<string, string>,
  stack: string,
  adopted: Map<string, string>,
  ids: (string | undefined)[],
): { name: string; management: Management } | undefined {
  if (tags[TAG_STACK] === stack && tags[TAG_ID]) return { name: tags[TAG_ID], management: 'owned' };
  for (const id of ids) {
    const name = id === undefined ? undefined : adopted.get(id);
    if (name) return { name, management: 'adopted' };
  }
  return undefined;
}

/**
 * The inputs a create or an update is handed; called without them (outside a plan: a test, a
 * script), resolved now by the kind's prepare, whose problem is then the error, in the words the
 * plan would show.
 */
export async function preparedNow<K extends KindName, P>(
  prepare: (ctx: Ctx, desired: Desired<K>[]) => Promise<Prepared<P>[]>,
  ctx: Ctx,
  d: Desired<K>,
  inputs: P | undefined,
): Promise<P> {
  if (inputs) return inputs;
  const [p] = await prepare(ctx, [d]);
  if (p.problems.length) throw new Error(`${d.address}: ${p.problems.join('; ')}`);
  return p.inputs!;
}
