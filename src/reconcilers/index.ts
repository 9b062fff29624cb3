// The registry: a kind's reconciler lives in src/reconcilers/<kind>.ts and default-exports it.
// Loaded on demand, so a command loads only the kinds (and SDK clients) its spec uses, and adding
// a kind is adding one file.
import { KIND_DEFS, type KindName } from '../spec/schema.js';
import type { Reconciler, Registry } from '../engine/types.js';

/** Kinds that have no AWS resource of their own (evaluated by `watch`): their descriptors say `virtual`. */
export const VIRTUAL_KINDS: ReadonlySet<string> = new Set(KIND_DEFS.filter((d) => d.virtual).map((d) => d.kind));

const cache = new Map<string, Promise<Reconciler>>();

export function reconcilerFor(kind: KindName): Promise<Reconciler> {
  let p = cache.get(kind);
  if (!p) {
    p = import(/* @vite-ignore */ `./${kind}.js`).then((m: { default: Reconciler }) => {
      if (!m.default || m.default.kind !== kind) throw new Error(`src/reconcilers/${kind}.ts must default-export the ${kind} reconciler`);
      return m.default;
    });
    cache.set(kind, p);
  }
  return p;
}

/** The registry the commands hand to the engine: every kind's reconciler, and the EC2 inventory. */
export const registry: Registry = {
  reconcilerFor,
  kindsTagged: (ctx, kinds) => import('./ec2-inventory.js').then((m) => m.ec2KindsTagged(ctx, kinds)),
};
