// The engine with the real registry (src/reconcilers/index.ts), as the commands use it: makePlan and
// applyPlan without the registry argument, for tests that drive the engine against moto.
import { registry } from '../../src/reconcilers/index.js';
import { applyPlan as apply, type ApplyOptions } from '../../src/engine/apply.js';
import { makePlan as plan, observeAll as observe, type Plan, type PlanOptions, type PlanState } from '../../src/engine/plan.js';
import type { Ctx, Desired, Reconciler } from '../../src/engine/types.js';
import type { KindName } from '../../src/spec/schema.js';
import type { LoadedSpec } from '../../src/spec/types.js';

export { hasChanges, lettingRequestsOut, withoutIgnored, type Change, type Plan, type PlanOptions, type PlanState } from '../../src/engine/plan.js';
export { registry };

export const makePlan = (loaded: LoadedSpec, ctx: Ctx, opts?: PlanOptions) => plan(registry, loaded, ctx, opts);
export const applyPlan = (p: Plan, state: PlanState, ctx: Ctx, opts?: ApplyOptions) => apply(registry, p, state, ctx, opts);
export const observeAll = (...args: Parameters<typeof observe> extends [unknown, ...infer R] ? R : never) => observe(registry, ...args);

/**
 * What a reconciler's prepare resolves for one desired resource, as the plan hands it to diff,
 * create and update (undefined for a kind without prepare). A problem is thrown, named by address.
 */
export async function prepared<K extends KindName>(r: Reconciler<K>, ctx: Ctx, d: Desired<K>): Promise<unknown> {
  if (!r.prepare) return undefined;
  const [p] = await r.prepare(ctx, [d]);
  if (p.problems.length) throw new Error(`${d.address}: ${p.problems.join('; ')}`);
  return p.inputs;
}
