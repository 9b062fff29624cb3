// Preparing: what the spec takes from outside it -- AMI lookups, key pairs named by id, user data
// files, bucket objects from files and URLs -- resolved before anything is decided, by each kind's
// reconciler (Reconciler.prepare), in parallel with observe. Each resource's result carries its
// inputs: the value decide and apply hand to the reconciler's diff, create and update, which read
// no outside data themselves. What was resolved is shown in the plan (the AMI id and the image's
// name), goes into the plan's liveHash (a saved plan is refused when a lookup now answers
// differently), and what could not be (a query that matches nothing, a missing file, a URL that
// cannot be fetched) fails the plan before any write.
import type { KindName } from '../spec/schema.js';
import type { PlanProblem } from './ownership.js';
import type { Ctx, Desired, Prepared, Reconciler, Registry } from './types.js';

/** Prepared values by address: one prepare call per kind that has one. */
export async function prepareAll(registry: Registry, ctx: Ctx, desiredByKind: ReadonlyMap<KindName, Desired[]>): Promise<Map<string, Prepared>> {
  const out = new Map<string, Prepared>();
  await Promise.all(
    [...desiredByKind].map(async ([kind, list]) => {
      const r = await registry.reconcilerFor(kind);
      if (!r.prepare || !list.length) return;
      for (const p of await r.prepare(ctx, list)) out.set(`${kind}.${p.name}`, p);
    }),
  );
  return out;
}

/**
 * Two views of `registry` for a plan that prepares while it observes: `observing` loads reconcilers
 * (observeAll, which loads them service by service, the cheapest SDK first, each service's requests
 * let out before the next SDK loads: src/engine/observe.ts), `preparing` waits for those loads
 * (prepareAll). Loading a reconciler loads its SDK package synchronously; had prepare loaded its
 * kinds itself, every SDK of the spec would load before the first request could leave.
 */
export function loadedByObserve(registry: Registry): { observing: Registry; preparing: Registry } {
  const loads = new Map<KindName, { promise: Promise<Reconciler>; resolve(r: Promise<Reconciler>): void }>();
  const slot = (k: KindName) => {
    let s = loads.get(k);
    if (!s) {
      let resolve!: (r: Promise<Reconciler>) => void;
      const promise = new Promise<Reconciler>((r) => (resolve = r));
      loads.set(k, (s = { promise, resolve }));
    }
    return s;
  };
  return {
    observing: {
      ...registry,
      reconcilerFor: (k) => {
        const r = registry.reconcilerFor(k);
        slot(k).resolve(r);
        return r;
      },
    },
    preparing: { ...registry, reconcilerFor: (k) => slot(k).promise },
  };
}

/** The problems prepare found, as plan problems. */
export const preparedProblems = (prepared: ReadonlyMap<string, Prepared>): PlanProblem[] =>
  [...prepared].flatMap(([address, p]) => p.problems.map((message) => ({ address, message })));
