// Planning: observe -> decide -> ownership -> prune. The plan is a value: it can be rendered, saved,
// and applied later.
//
//   observe.ts    reads live AWS: every kind the plan needs, in bulk, through the registry
//   prepare.ts    resolves outside data (AMIs, files, URLs) meanwhile: the inputs diff, create and update
//                 are handed; what it cannot resolve fails the plan
//   decide.ts     pure: desired + observed -> create / update / replace / adopt / read / noop
//   ownership.ts  refuses to create where a resource not ours holds the name, or adopt: names nothing
//   prune.ts      pure: leftovers -> delete / keep; duplicates; protect and --max-deletes block
import { levels } from '../spec/graph.js';
import { formatPath } from '../spec/issues.js';
import type { KindName, SpecOf } from '../spec/schema.js';
import type { LoadedResource, LoadedSpec } from '../spec/types.js';
import { decide, unknownOutputs, type Change } from './decide.js';
import { makeDesired } from './desired.js';
import { hashLive, isVirtual, kindsToObserve, observeAll, unusedKindCheck } from './observe.js';
import { KIND_ORDER } from './order.js';
import { PlanError, ownershipProblems } from './ownership.js';
import { loadedByObserve, prepareAll, preparedProblems } from './prepare.js';
import { partition, prune as pruneLeftovers, safetyRules, type Blocked, type Leftover } from './prune.js';
import { createsFinished, createsInFlight } from './journal.js';
import { forgetCreated, recentlyCreated } from './recent.js';
import type { Ctx, Desired, Observed, Outputs, Prepared, Reconciler, Registry } from './types.js';

export type { Action, Change } from './decide.js';
export { changeLabel, diffFields, diffResource, unknownOutputs, withoutIgnored } from './decide.js';
export type { Blocked } from './prune.js';
export { kindsToObserve, lettingRequestsOut, observeAll, unusedKindCheck } from './observe.js';

export interface Plan {
  formatVersion: 1;
  stack: string;
  region: string;
  specFile: string;
  specHash: string;
  /** Hash of everything observed: a saved plan is refused when live AWS changed since. */
  liveHash: string;
  createdAt: string;
  mode: 'apply' | 'destroy';
  prune: boolean;
  changes: Change[];
  blocked: Blocked[];
  summary: Record<'create' | 'update' | 'replace' | 'delete' | 'adopt' | 'keep', number>;
  /**
   * A saved plan (`plan --out`) only: the parameters the run gave values (--set / --values), by name.
   * Not their values (one may be a secret a sensitive field redacts): apply needs the same flags.
   */
  params?: string[];
}

export interface PlanOptions {
  /** Plan the deletion of everything the stack owns. */
  destroy?: boolean;
  /** Delete owned resources that are no longer in the spec (else they are kept and listed). */
  prune?: boolean;
  /** Refuse a plan that deletes (or replaces) more than this many resources. */
  maxDeletes?: number;
}

/** What apply needs beyond the plan value: the live observations and desired views. */
export interface PlanState {
  live: Map<string, Observed>; // by address
  desired: Map<string, Desired>; // by address
  /** Owned resources not in the spec, and duplicates: what deletes and keeps are about. */
  extra: Leftover[];
  /** Outputs by spec name, as the desired views resolve them; apply fills in created resources. */
  outputs: Map<string, Outputs>;
  /** The spec's resources (non-virtual), for dependency order. */
  resources: LoadedResource[];
  /** What prepare resolved, by address: the inputs apply hands to diff, create and update. */
  prepared: Map<string, Prepared>;
}

export async function makePlan(registry: Registry, loaded: LoadedSpec, ctx: Ctx, opts: PlanOptions = {}): Promise<{ plan: Plan; state: PlanState }> {
  const { spec } = loaded;
  const prune = !!(opts.prune || spec.prune);
  const resources = loaded.resources.filter((r) => !isVirtual(r.kind));
  const kindOf = new Map(resources.map((r) => [r.name, r.kind]));

  // Desired views resolve references through `outputs`: while observing, what has been observed so
  // far (a kind that needs another's outputs declares observeAfter); then what decide fills in.
  const outputs = new Map<string, Outputs>();
  let observing = true;
  const desired = new Map<string, Desired>();
  const desiredByKind = new Map<KindName, Desired[]>();
  for (const r of resources) {
    const d = makeDesired({
      stack: spec.stack,
      defaultTags: spec.tags,
      name: r.name,
      kind: r.kind,
      spec: r.body as SpecOf<KindName>,
      specDir: loaded.dir,
      lookup: (n) => outputs.get(n) ?? (observing ? unknownOutputs() : undefined),
    });
    desired.set(r.address, d);
    desiredByKind.set(r.kind, [...(desiredByKind.get(r.kind) ?? []), d]);
  }

  // 1. Observe.
  const kinds = kindsToObserve(resources, !!opts.destroy || prune);
  const needed = opts.destroy ? undefined : unusedKindCheck(registry, ctx, kinds, desiredByKind);
  // Outside data (AMIs, files) is resolved meanwhile: none of it depends on what observe finds. A
  // kind's prepare starts once observe has loaded its reconciler (every kind prepared is observed).
  const loads = loadedByObserve(registry);
  const preparing = opts.destroy ? Promise.resolve(new Map<string, Prepared>()) : prepareAll(loads.preparing, ctx, desiredByKind);
  preparing.catch(() => {}); // reported below, once observe is done
  const observed = await observeAll(loads.observing, ctx, kinds, desiredByKind, outputs, needed);
  const prepared = await preparing;
  outputs.clear();
  observing = false;
  const { live, leftovers } = partition(kinds, observed, kindOf, spec.stack);
  createsFinished(spec.stack, ctx.region, [...live].filter(([, o]) => o.management === 'owned').map(([a]) => a));

  // 2. Decide, in dependency order, so references to resources being created are known to be unknown.
  const changes: Change[] = [];
  if (!opts.destroy) {
    for (const address of live.keys()) forgetCreated(spec.stack, address);
    const reconcilers = new Map<KindName, Reconciler>();
    for (const k of new Set(kindOf.values())) reconcilers.set(k, await registry.reconcilerFor(k));
    const order = levels(resources.map((r) => ({ name: r.name, deps: r.deps })))
      .flat()
      .map((name) => desired.get(`${kindOf.get(name)}.${name}`)!);
    const late = new Map(resources.map((r) => [r.name, r.refs.filter((u) => u.late && r.late.includes(u.name)).map((u) => ({ field: formatPath(u.path), name: u.name }))]));
    const decided = decide({ order, live, reconcilers, outputs, prepared, late, recent: (address) => recentlyCreated(spec.stack, address) });
    for (const [address, o] of decided.recent) live.set(address, o);
    changes.push(...decided.changes);

    // 3. Ownership: nothing is created where a resource that is not the stack's holds the name.
    const creating = changes.flatMap((c) => (c.action === 'create' || c.action === 'replace' ? [{ d: desired.get(c.address)!, action: c.action }] : []));
    const problems = [...preparedProblems(prepared), ...(await ownershipProblems(ctx, registry.reconcilerFor, creating, createsInFlight(spec.stack, ctx.region)))];
    if (problems.length) throw new PlanError(problems);
    for (const c of changes) {
      const resolved = prepared.get(c.address)?.resolved;
      if (resolved?.length) c.resolved = resolved;
    }
  }

  // 4. Prune: owned resources the spec does not (or, for destroy, no longer) want; the safety rules.
  changes.push(...pruneLeftovers({ live, leftovers, spec: kindOf, destroy: !!opts.destroy, prune }));
  const blocked = safetyRules(changes, {
    live,
    leftovers,
    maxDeletes: opts.maxDeletes,
    specProtects: (kind, name) => kindOf.get(name) === kind && !!(resources.find((r) => r.name === name)!.body as { protect?: boolean }).protect,
  });

  const summary = { create: 0, update: 0, replace: 0, delete: 0, adopt: 0, keep: 0 };
  for (const c of changes) if (c.action in summary) summary[c.action as keyof typeof summary]++;

  const plan: Plan = {
    formatVersion: 1,
    stack: spec.stack,
    region: spec.region,
    specFile: loaded.file,
    specHash: loaded.hash,
    liveHash: hashLive(observed, prepared),
    createdAt: new Date().toISOString(),
    mode: opts.destroy ? 'destroy' : 'apply',
    prune,
    changes,
    blocked,
    summary,
  };
  return { plan, state: { live, desired, extra: leftovers, outputs, resources, prepared } };
}

export const hasChanges = (p: Plan): boolean => p.changes.some((c) => !['noop', 'read', 'keep'].includes(c.action));

export { KIND_ORDER };
