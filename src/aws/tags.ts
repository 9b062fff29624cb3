// Ownership tags and the tag helpers every reconciler shares. Tag diffs are the engine's
// (diffTags in src/engine/diffutil.ts); applying them is the reconcilers' (tagUpdates, syncEc2Tags).

export const TAG_STACK = 'reconcile:stack';
export const TAG_ID = 'reconcile:id';
export const TAG_PROTECT = 'reconcile:protect';

export type TagList = { Key?: string; Value?: string }[] | undefined;

export const tagsFromList = (list: TagList): Record<string, string> =>
  Object.fromEntries((list ?? []).filter((t) => t.Key).map((t) => [t.Key!, t.Value ?? '']));

export const tagsToList = (tags: Record<string, string>): { Key: string; Value: string }[] =>
  Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));

/** A change of one tag, shaped as the engine's field changes ("tags.Env"; a tag changes in place). */
export interface TagChange {
  path: string;
  before: unknown;
  after: unknown;
  forcesReplace: boolean;
}

/** Splits tag changes into what to set and what to remove. */
export function tagUpdates(changes: readonly TagChange[]): { set: Record<string, string>; remove: string[] } {
  const set: Record<string, string> = {};
  const remove: string[] = [];
  for (const c of changes) {
    if (!c.path.startsWith('tags.')) continue;
    const key = c.path.slice(5);
    if (c.after === undefined) remove.push(key);
    else set[key] = String(c.after);
  }
  return { set, remove };
}

export const ownedBy = (tags: Record<string, string>, stack: string): boolean => tags[TAG_STACK] === stack;
