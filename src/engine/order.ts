// Which kinds depend on which, independent of any one spec: used to order deletes of resources
// that are no longer in the spec (so their references are unknown) and to pick which kinds to read.
// Derived from the kind descriptors (src/spec/kinds/define.ts).
import { SERVICES } from '../aws/sdk/services.js';
import { levels } from '../spec/graph.js';
import { KIND_DEFS, type KindName } from '../spec/schema.js';

/**
 * Creation order of kinds: a kind only ever refers to kinds before it (its descriptor's refKinds,
 * from the ref() fields of its schema). Deletes go in reverse. Kinds that refer to nothing come
 * first, then those that refer only to them, and so on; within a step, in KIND_DEFS' order.
 */
export const KIND_ORDER: readonly KindName[] = levels(KIND_DEFS.map((d) => ({ name: d.kind, deps: [...d.refKinds] }))).flat() as KindName[];

export const kindRank = (k: KindName): number => KIND_ORDER.indexOf(k);

/** The AWS service each kind's reconciler talks to (so a plan reads every kind of the services it uses); 'none' for a virtual kind. */
export const KIND_SERVICE: Record<KindName, string> = Object.fromEntries(KIND_DEFS.map((d) => [d.kind, d.service ?? 'none'])) as Record<KindName, string>;

/** What loading each service's SDK package costs, relatively (src/aws/sdk/services.ts). Only the order matters (observeWaves). */
export const SERVICE_LOAD_COST: Record<string, number> = {
  none: 0,
  ...Object.fromEntries(Object.entries(SERVICES).flatMap(([s, v]) => ('loadCost' in v ? [[s, v.loadCost]] : []))),
};

/**
 * The kinds to observe, one group per AWS service, in the order observeAll starts them: loading an
 * SDK package blocks the event loop, so the requests of the groups started before it are on their
 * way while it loads. First the service whose SDK loads fastest, for a first request as soon as can
 * be; then the others, the slowest to load first: its requests would otherwise wait the longest,
 * and it is ec2's, whose kinds wait on each other's reads (observeAfter, the unused-kind check).
 * An unknown service counts as the slowest. Kinds keep their order within a group.
 */
export function observeWaves(kinds: readonly KindName[]): KindName[][] {
  const cost = (s: string) => SERVICE_LOAD_COST[s] ?? Number.MAX_SAFE_INTEGER;
  const byService = new Map<string, KindName[]>();
  for (const k of kinds) {
    const s = KIND_SERVICE[k];
    byService.set(s, [...(byService.get(s) ?? []), k]);
  }
  const [first, ...rest] = [...byService.entries()].sort(([a], [b]) => cost(a) - cost(b));
  return first ? [first, ...rest.reverse()].map(([, ks]) => ks) : [];
}
