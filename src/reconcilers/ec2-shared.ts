// Helpers the EC2 reconcilers share: the stack filter and tag specifications, the tag-filtered
// observe (observeTagged), references to ids, deletes and writes that wait out AWS's eventual
// consistency. What every family shares (paging, waits, error classification) lives in shared.ts,
// waits.ts and src/aws/errors.ts, and is re-exported here.
import { adoptIds } from '../engine/desired.js';
import { isDependency, isNotFound } from '../aws/errors.js';
import { retryWhile, timingOf } from './waits.js';
import { allPages, changesUnder, identify, shortHash } from './shared.js';
import type { Filter, Tag, TagSpecification, ResourceType } from '@aws-sdk/client-ec2';
import { TAG_ID, TAG_STACK, ownedBy, tagsFromList, tagsToList } from '../aws/tags.js';
import { UNKNOWN, type Ctx, type Desired, type FieldChange, type Management, type Observed } from '../engine/types.js';
import type { KindName } from '../spec/schema.js';

/** Page size passed to describe calls (AWS returns everything without it on most EC2 reads). */
export const describeSettings = { pageSize: 100 };

export const stackFilter = (stack: string): Filter[] => [{ Name: `tag:${TAG_STACK}`, Values: [stack] }];

export const tagSpec = (type: ResourceType, tags: Record<string, string>): TagSpecification[] => [
  { ResourceType: type, Tags: tagsToList(tags) as Tag[] },
];


/** The `adopt:` ids among desired, mapped to the spec name that adopts them (shared with every kind). */
export { adoptIds };

/** The ids among `adopted` not already found by the stack-tag describe (those need one more call). */
export const missingAdoptIds = (adopted: Map<string, string>, found: Iterable<string>): string[] => {
  const f = new Set(found);
  return [...adopted.keys()].filter((id) => !f.has(id));
};

export interface Identified<T> {
  item: T;
  id: string;
  name: string;
  management: Management;
  tags: Record<string, string>;
}

/**
 * The common observe: one describe by stack tag, then one by `idFilter` for the `adopt:` ids it
 * did not return. `describe` runs one (paginated) describe call with the given filters.
 */
export async function observeTagged<T extends { Tags?: Tag[] }, K extends KindName>(
  ctx: Ctx,
  desired: Desired<K>[],
  describe: (filters: Filter[]) => Promise<T[]>,
  idOf: (item: T) => string,
  idFilter: string,
): Promise<Identified<T>[]> {
  const adopted = adoptIds(desired);
  const owned = await describe(stackFilter(ctx.stack));
  const missing = missingAdoptIds(adopted, owned.map(idOf));
  const extra = missing.length ? await describe([{ Name: idFilter, Values: missing }]) : [];
  const out: Identified<T>[] = [];
  const seen = new Set<string>();
  for (const item of [...owned, ...extra]) {
    const id = idOf(item);
    if (seen.has(id)) continue;
    seen.add(id);
    const tags = tagsFromList(item.Tags);
    const who = identify(tags, ctx.stack, adopted, [id]);
    if (who) out.push({ item, id, tags, ...who });
  }
  return out;
}

/** A reference resolved to an AWS id (UNKNOWN while the referenced resource is to be created). */
export function refId<K extends KindName>(desired: Desired<K>, name: string | undefined): string | undefined {
  if (name === undefined) return undefined;
  return desired.ref(name).id;
}

/** Like refId, but never throws: undefined when the engine cannot resolve it (yet) or it is UNKNOWN. */
export function knownRefId<K extends KindName>(desired: Desired<K>, name: string): string | undefined {
  try {
    const id = desired.ref(name).id;
    return id && id !== UNKNOWN ? id : undefined;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Errors (classified in src/aws/errors.ts)

export { errorCode, ignoreNotFound, isDependency, isNotFound } from '../aws/errors.js';

/** The engine's check of in-place changes (also for a create that applies its own diff). */
export { assertApplicable } from '../engine/decide.js';

/** Tags of an Observed after tag changes are applied. */
export function applyTagChanges(tags: Record<string, string>, changes: FieldChange[]): Record<string, string> {
  const out = { ...tags };
  for (const c of changes) {
    if (!c.path.startsWith('tags.')) continue;
    const k = c.path.slice(5);
    if (c.after === undefined) delete out[k];
    else out[k] = String(c.after);
  }
  return out;
}

/** The Observed an update leaves: tags changed, owned once it carries this stack's tags. */
export function updatedObserved<L>(ctx: Ctx, observed: Observed<unknown>, live: L, changes: FieldChange[]): Observed<L> {
  const tags = applyTagChanges(observed.tags, changes);
  return { ...observed, management: ownedBy(tags, ctx.stack) ? 'owned' : observed.management, live, tags };
}

// ---------------------------------------------------------------------------------------------
// Bounded waits

export { retryWhile, timingOf, waitFor, waitSettings, type Probe } from './waits.js';
export { allPages, changesUnder, identify, shortHash };

/** A write right after the create of its resource: tolerate "not found" for a short grace period. */
export const afterCreate = <T>(ctx: Ctx, address: string, what: string, fn: () => Promise<T>): Promise<T> =>
  retryWhile(ctx, address, what, fn, isNotFound, timingOf(ctx).notFoundGraceMs);

/** Deletes, treating "not found" as success and retrying (bounded) while dependents go away. */
export async function deleteIdempotent(ctx: Ctx, address: string, what: string, fn: () => Promise<unknown>): Promise<void> {
  try {
    await retryWhile(ctx, address, what, fn, isDependency);
  } catch (e) {
    if (isNotFound(e) || isNotFound((e as { cause?: unknown }).cause)) return;
    throw e;
  }
}
