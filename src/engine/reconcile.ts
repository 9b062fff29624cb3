// One reconcile, as `apply` and `watch`'s healing both do it: take the stack lock, plan under it (a
// run that held it before may have changed the stack), let the caller review the plan (render and
// confirm, refuse a blocked one, stop when there is nothing to do), apply it, release the lock --
// whatever happens.
import { applyPlan, type ApplyOptions, type ApplyResult } from './apply.js';
import { makePlan, type Plan, type PlanOptions, type PlanState } from './plan.js';
import type { LoadedSpec } from '../spec/types.js';
import type { Ctx, Registry } from './types.js';

export interface Releasable {
  release(): Promise<void>;
}

export interface UnderLock {
  /** Takes the stack lock; undefined: this run goes unlocked (said by the caller). */
  lock(): Promise<Releasable | undefined>;
  plan: PlanOptions;
  /** A plan made moments ago, used as it is when no lock was taken (nothing can have changed it). */
  planned?: { plan: Plan; state: PlanState };
  /** The plan made under the lock: whether to apply it. Throw to refuse it. */
  review(plan: Plan, state: PlanState): boolean | Promise<boolean>;
  apply?: ApplyOptions;
}

export interface Reconciled {
  plan: Plan;
  state: PlanState;
  /** Absent when review said not to apply. */
  result?: ApplyResult;
}

export async function reconcileUnderLock(registry: Registry, loaded: LoadedSpec, ctx: Ctx, o: UnderLock): Promise<Reconciled> {
  const lease = await o.lock();
  try {
    const { plan, state } = !lease && o.planned ? o.planned : await makePlan(registry, loaded, ctx, o.plan);
    if (!(await o.review(plan, state))) return { plan, state };
    return { plan, state, result: await applyPlan(registry, plan, state, ctx, o.apply) };
  } finally {
    await lease?.release();
  }
}
