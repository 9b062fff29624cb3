// Which deletes must be done before each delete starts. Pure, no AWS.
//
// A resource goes once everything that refers to it has gone -- the create order, reversed, with the
// same parallelism: each delete starts as soon as its own dependents are deleted, not when a whole
// kind or level is (20 copies of a stack tear down side by side, each along its own chain).
// - Both in the spec (a destroy, the delete half of a replacement): the spec's references, followed
//   transitively, say who refers to whom.
// - Either one no longer in the spec (a prune, a duplicate left by an interrupted create): its
//   references are unknown, so the kind order decides (KIND_ORDER: a kind only refers to kinds
//   before it): every delete of a later kind goes first.
// Should the two rules ever disagree into a cycle (a reference against the kind order next to a
// resource no longer in the spec), every delete waits for all deletes of later kinds and deeper
// levels, as one strict order.
import type { GraphNode } from '../spec/graph.js';
import type { KindName } from '../spec/schema.js';
import { kindRank } from './order.js';

export interface DeleteItem {
  /** Spec name (for a delete known to the spec). */
  name: string;
  kind: KindName;
  /** Whether the spec's references apply to it (it is the spec's resource of that name). */
  inSpec: boolean;
}

/** For each item, the items that must be deleted before it. */
export function deletePrerequisites<T extends DeleteItem>(items: T[], graph: GraphNode[]): Map<T, T[]> {
  const depsOf = new Map(graph.map((n) => [n.name, n.deps]));
  const reach = new Map<string, Set<string>>();
  /** Every name `name` refers to, directly or through others. */
  const refersTo = (name: string, seen = new Set<string>()): Set<string> => {
    const memo = reach.get(name);
    if (memo) return memo;
    const out = new Set<string>();
    seen.add(name);
    for (const d of depsOf.get(name) ?? []) {
      out.add(d);
      if (!seen.has(d)) for (const x of refersTo(d, seen)) out.add(x);
    }
    reach.set(name, out);
    return out;
  };
  const before = (d: T, c: T) => d !== c && (d.inSpec && c.inSpec ? refersTo(d.name).has(c.name) : kindRank(d.kind) > kindRank(c.kind));
  const waits = new Map(items.map((c) => [c, items.filter((d) => before(d, c))]));
  return acyclic(waits) ? waits : strictOrder(items, graph);
}

function acyclic<T>(waits: Map<T, T[]>): boolean {
  const state = new Map<T, 'active' | 'done'>();
  const visit = (x: T): boolean => {
    const s = state.get(x);
    if (s) return s === 'done';
    state.set(x, 'active');
    for (const y of waits.get(x) ?? []) if (!visit(y)) return false;
    state.set(x, 'done');
    return true;
  };
  return [...waits.keys()].every(visit);
}

/** The cautious order: later kinds first, within a kind the deeper spec levels first. */
function strictOrder<T extends DeleteItem>(items: T[], graph: GraphNode[]): Map<T, T[]> {
  const level = new Map<string, number>();
  const depth = (name: string, seen = new Set<string>()): number => {
    const known = level.get(name);
    if (known !== undefined) return known;
    seen.add(name);
    const deps = graph.find((n) => n.name === name)?.deps ?? [];
    const d = Math.max(0, ...deps.filter((x) => !seen.has(x)).map((x) => depth(x, seen) + 1));
    level.set(name, d);
    return d;
  };
  const key = (c: T) => kindRank(c.kind) * 10_000 + (c.inSpec ? depth(c.name) : 0);
  return new Map(items.map((c) => [c, items.filter((d) => key(d) > key(c))]));
}
