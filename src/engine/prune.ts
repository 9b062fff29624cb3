// Pruning and the safety rules: what a plan deletes or keeps of what the spec no longer wants, and
// what blocks it. Pure: no AWS call (test/unit/decide.test.ts).
//
// - partition(): observations become the spec's resources (by address) and leftovers: resources
//   the stack owns that the spec no longer names, and duplicates -- a second resource claiming one
//   address (a create still in flight when a run was killed, landing after the rerun looked). Of
//   two, the one the rest of the stack uses (whose id the other observations refer to most) is the
//   spec's; the other is a duplicate and is always deleted.
// - prune(): leftovers are deleted with prune (or destroy), kept and listed otherwise; destroy also
//   deletes every owned resource of the spec. Later kinds first.
// - safetyRules(): a delete or replacement of a protected resource (protect: true, or the tag
//   reconcile:protect=true, which outlives the spec) blocks the plan; so does one that deletes or
//   replaces more than --max-deletes resources.
import { TAG_PROTECT, ownedBy } from '../aws/tags.js';
import type { KindName } from '../spec/schema.js';
import type { Change } from './decide.js';
import { kindRank } from './order.js';
import type { Observed } from './types.js';

export interface Blocked {
  address: string;
  reason: string;
}

/** An owned resource the spec does not name at its address: no longer in the spec, or a duplicate. */
export interface Leftover {
  kind: KindName;
  address: string;
  observed: Observed;
  /** A second resource with the address of one the spec has. */
  duplicate: boolean;
}

export interface Partitioned {
  /** The spec's resources that exist, by address. */
  live: Map<string, Observed>;
  leftovers: Leftover[];
}

/** `spec`: the kind of each spec resource, by spec name. */
export function partition(kinds: KindName[], observed: ReadonlyMap<KindName, Observed[]>, spec: ReadonlyMap<string, KindName>, stack: string): Partitioned {
  const live = new Map<string, Observed>();
  const leftovers: Leftover[] = [];
  const everything = [...observed.values()].flat();
  const usedBy = (id: string) => everything.filter((x) => x.id !== id && JSON.stringify(x.live).includes(id)).length;
  const byUse = (list: Observed[]): Observed[] => {
    const groups = new Map<string, Observed[]>();
    for (const o of list) groups.set(o.name, [...(groups.get(o.name) ?? []), o]);
    return [...groups.values()].flatMap((g) => (g.length < 2 ? g : [...g].sort((a, b) => usedBy(b.id) - usedBy(a.id))));
  };
  for (const kind of kinds) {
    for (const o of byUse(observed.get(kind) ?? [])) {
      const address = `${kind}.${o.name}`;
      const inSpec = spec.get(o.name) === kind;
      if (inSpec && !live.has(address)) live.set(address, o);
      else if ((inSpec || o.management === 'owned') && ownedBy(o.tags, stack)) leftovers.push({ kind, address, observed: o, duplicate: inSpec });
    }
  }
  return { live, leftovers };
}

export interface PruneInput extends Partitioned {
  /** The kind of each spec resource, by spec name. */
  spec: ReadonlyMap<string, KindName>;
  destroy: boolean;
  prune: boolean;
}

/** The deletes and keeps: leftovers (and, for destroy, the spec's owned resources), later kinds first. */
export function prune(input: PruneInput): Change[] {
  const doomed: Leftover[] = [];
  if (input.destroy)
    for (const [address, o] of input.live) if (o.management === 'owned') doomed.push({ kind: input.spec.get(o.name)!, address, observed: o, duplicate: false });
  doomed.push(...input.leftovers);
  doomed.sort((a, b) => kindRank(b.kind) - kindRank(a.kind));
  return doomed.map(({ kind, address, observed: o, duplicate }): Change => {
    const base = { address, kind, name: o.name, id: o.id, fields: [] };
    if (input.destroy || input.prune || duplicate)
      return {
        ...base,
        action: 'delete',
        reason: input.destroy ? 'destroy' : duplicate ? 'a second resource with this name, left by an interrupted create' : 'no longer in the spec (prune)',
        ...(duplicate ? { duplicate: true as const } : {}),
      };
    return { ...base, action: 'keep', reason: 'no longer in the spec: kept (prune is off; pass --prune or set prune: true to delete)' };
  });
}

export interface SafetyInput extends Partitioned {
  /** Whether the spec says protect: true for this kind and spec name. */
  specProtects(kind: KindName, name: string): boolean;
  maxDeletes?: number;
}

export function safetyRules(changes: Change[], input: SafetyInput): Blocked[] {
  const blocked: Blocked[] = [];
  for (const c of changes) {
    if (c.action !== 'delete' && c.action !== 'replace') continue;
    const o =
      c.action === 'delete'
        ? (input.leftovers.find((l) => l.kind === c.kind && l.observed.id === c.id)?.observed ?? [...input.live.values()].find((x) => x.id === c.id))
        : input.live.get(c.address);
    if (o?.tags[TAG_PROTECT] === 'true' || input.specProtects(c.kind, c.name))
      blocked.push({ address: c.address, reason: `protected (protect: true / tag ${TAG_PROTECT}=true): refusing to ${c.action} it` });
  }
  const destructive = changes.filter((c) => c.action === 'delete' || c.action === 'replace').length;
  if (input.maxDeletes !== undefined && destructive > input.maxDeletes)
    blocked.push({ address: '*', reason: `the plan deletes or replaces ${destructive} resources, more than --max-deletes ${input.maxDeletes}` });
  return blocked;
}
