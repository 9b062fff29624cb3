// Applying a plan: deletes first (dependents before what they depend on), then creates and updates
// along the dependency graph, each resource starting as soon as what it refers to is done. A create
// whose late references (src/spec/graph.ts) name resources created in this apply is finished in a
// second step once they exist.
import { explainAwsError, isRetryable } from '../aws/errors.js';
import { ownedBy } from '../aws/tags.js';
import type { KindName } from '../spec/schema.js';
import { ApplyError, SafetyError, type ApplyFailure } from './errors.js';
import { deletePrerequisites } from './delete-order.js';
import { slots } from './slots.js';
import { createStarted, createsFinished } from './journal.js';
import { missingAdoption } from './ownership.js';
import { forgetCreated, rememberCreated } from './recent.js';
import { assertApplicable, changeLabel, diffResource, refersToUnknown, type Change } from './decide.js';
import type { Plan, PlanState } from './plan.js';
import type { Ctx, Desired, Observed, Outputs, Reconciler, Registry } from './types.js';

export interface ApplyResult {
  done: { address: string; action: Change['action']; id?: string; ms: number }[];
  outputs: Record<string, Outputs>;
}

export interface ApplyOptions {
  /** How many resources are worked on at once. */
  concurrency?: number;
}

const errorText = (e: unknown) => {
  const x = explainAwsError(e);
  return { message: x.message, hint: x.hint };
};

/**
 * What an apply did, one entry per resource: a replacement's destroy and create are one change.
 * apply's closing line and watch's "healed" count and metric both count from this.
 */
export function changesDone<A extends string>(done: readonly { address: string; action: A }[]): Map<string, A> {
  const byAddress = new Map<string, A>();
  for (const d of done) byAddress.set(d.address, d.action);
  return byAddress;
}

export async function applyPlan(registry: Registry, plan: Plan, state: PlanState, ctx: Ctx, opts: ApplyOptions = {}): Promise<ApplyResult> {
  if (plan.blocked.length)
    throw new SafetyError(
      `the plan is blocked: ${plan.blocked.map((b) => `${b.address} ${b.reason}`).join('; ')}`,
      'remove protect: true (and the reconcile:protect tag) first, or raise --max-deletes, if you really mean it',
    );
  const pool = slots(opts.concurrency ?? 8);
  const limit = <T>(fn: () => Promise<T>) => pool.run(fn);
  const done: ApplyResult['done'] = [];
  const failed: ApplyFailure[] = [];
  const skipped: string[] = [];
  const notStarted: string[] = [];
  const stopped = () => !!ctx.stop?.aborted;

  const timed = async (c: Change, verb: string, fn: () => Promise<string | undefined>) => {
    const start = Date.now();
    ctx.emit({ type: 'progress', code: 'change.start', address: changeLabel(c), message: `${verb}...`, phase: 'start', data: { verb } });
    let id: string | undefined;
    try {
      id = await fn();
    } catch (e) {
      ctx.emit({ type: 'progress', code: 'change.end', address: changeLabel(c), message: `${verb} failed`, phase: 'end', data: { verb, outcome: 'failed', ms: Date.now() - start } });
      throw e;
    }
    const ms = Date.now() - start;
    done.push({ address: changeLabel(c), action: c.action, id, ms });
    ctx.emit({ type: 'progress', code: 'change.end', address: changeLabel(c), message: `${verb} done${id ? ` [${id}]` : ''} (${(ms / 1000).toFixed(1)}s)`, phase: 'end', data: { verb, outcome: 'done', id, ms } });
  };

  // 1. Deletes, and the delete half of replacements, in parallel along the graph: each starts once
  // the deletes that must go first (its dependents) are done (src/engine/delete-order.ts).
  const deletes = plan.changes.filter((c) => c.action === 'delete' || c.action === 'replace');
  const items = deletes.map((c) => ({ c, name: c.name, kind: c.kind, inSpec: c.action === 'replace' || (c.id !== undefined && state.live.get(c.address)?.id === c.id) }));
  const prerequisites = deletePrerequisites(items, state.resources);
  const replaceFailed = new Set<string>();
  const deleting = new Map<(typeof items)[number], Promise<void>>();
  const destroy = (item: (typeof items)[number]): Promise<void> => {
    let p = deleting.get(item);
    if (!p) {
      p = Promise.all(prerequisites.get(item)!.map(destroy)).then(() =>
        limit(async () => {
          const c = item.c;
          const live = findLive(state, c);
          if (!live) return;
          if (stopped()) {
            notStarted.push(c.address);
            if (c.action === 'replace') replaceFailed.add(c.name);
            return;
          }
          try {
            if (!ownedBy(live.tags, ctx.stack)) throw new Error(`${live.id} does not carry this stack's tags: refusing to delete it`);
            const r = await registry.reconcilerFor(c.kind);
            await timed(c, c.action === 'replace' ? 'destroying (replace)' : 'destroying', async () => {
              await r.delete(ctx, live);
              forgetCreated(ctx.stack, c.address);
              return live.id;
            });
          } catch (e) {
            failed.push({ address: changeLabel(c), ...errorText(e) });
            if (c.action === 'replace') replaceFailed.add(c.name);
          }
        }),
      );
      deleting.set(item, p);
    }
    return p;
  };
  await Promise.all(items.map(destroy));

  // 2. Creates and updates along the graph. A resource with late references (src/spec/graph.ts: a
  // security group whose rules name groups created now) is created without what they set, and finished
  // in a second step once those exist; what waits for it waits for that. A late reference waits only
  // for its target to exist, so two groups that allow each other are created side by side.
  const byName = new Map(plan.changes.filter((c) => c.action !== 'delete' && c.action !== 'keep').map((c) => [c.name, c]));
  const createdNow = (name: string) => ['create', 'replace'].includes(byName.get(name)?.action ?? '');
  const exists = new Map<string, { promise: Promise<boolean>; resolve: (ok: boolean) => void }>();
  const existence = (name: string) => {
    let e = exists.get(name);
    if (!e) {
      let resolve!: (ok: boolean) => void;
      const promise = new Promise<boolean>((r) => (resolve = r));
      exists.set(name, (e = { promise, resolve }));
    }
    return e;
  };
  /** True once `name` exists (at once unless this apply creates it); false when its create failed or did not run. */
  const existsOf = (name: string): Promise<boolean> => (createdNow(name) ? existence(name).promise : Promise.resolve(true));
  const skip = (c: Change, because: string) => {
    skipped.push(c.address);
    ctx.emit({ type: 'warning', code: 'change.skipped', address: c.address, message: `skipped: ${because}`, data: { because } });
  };
  const running = new Map<string, Promise<boolean>>();
  const run = (name: string): Promise<boolean> => {
    let p = running.get(name);
    if (p) return p;
    p = (async () => {
      const res = state.resources.find((r) => r.name === name);
      const c = byName.get(name);
      if (!res || !c) return true;
      const ok = await first(res, c);
      existence(name).resolve(ok);
      return ok && second(res, c);
    })();
    running.set(name, p);
    return p;
  };
  /** The create, update, adopt or read itself; all but a create wait for the late references too. */
  const first = async (res: PlanState['resources'][number], c: Change): Promise<boolean> => {
    const late = createdNow(c.name) ? [] : res.late;
    const [depsOk, lateOk] = await Promise.all([Promise.all(res.deps.map(run)), Promise.all(late.map(existsOf))]);
    const failedDep = res.deps.find((_, i) => !depsOk[i]) ?? late.find((_, i) => !lateOk[i]);
    if (stopped()) {
      notStarted.push(c.address);
      return false;
    }
    if (failedDep || replaceFailed.has(c.name)) {
      skip(c, failedDep ? `${failedDep} failed` : 'its delete failed');
      return false;
    }
    return limit(() => step(c));
  };
  /** A create's second step: what its late references set, once the resources they name exist. */
  const second = async (res: PlanState['resources'][number], c: Change): Promise<boolean> => {
    const late = createdNow(c.name) ? res.late.filter(createdNow) : [];
    if (!late.length) return true;
    const lateOk = await Promise.all(late.map(existsOf));
    const failedLate = late.find((_, i) => !lateOk[i]);
    if (stopped()) {
      notStarted.push(c.address);
      return false;
    }
    if (failedLate) {
      skip(c, `${failedLate} failed, so its second step (what refers to it) was not made`);
      return false;
    }
    return limit(() => step(c, true));
  };

  const step = async (c: Change, secondStep = false): Promise<boolean> => {
    if (stopped()) {
      notStarted.push(c.address);
      return false;
    }
    const d = state.desired.get(c.address)!;
    const live = state.live.get(c.address);
    const inputs = state.prepared?.get(c.address)?.inputs;
    try {
      const r = await registry.reconcilerFor(c.kind);
      if (c.action === 'read') {
        state.outputs.set(c.name, live!.outputs);
        return true;
      }
      if (!secondStep && (c.action === 'create' || c.action === 'replace')) {
        let created: Observed | undefined;
        await timed(c, c.action === 'replace' ? 'creating (replace)' : 'creating', async () => {
          created = await createOnce(ctx, r, d, inputs);
          return created.id;
        });
        state.outputs.set(c.name, created!.outputs);
        state.live.set(c.address, created!);
        rememberCreated(ctx.stack, c.address, created!);
        return true;
      }
      // update / adopt / noop / a create's second step: diff again now that every reference is known (a
      // noop whose dependency changed an output, e.g. a new launch template version, is updated here).
      if (!live) throw new Error('no live resource to update');
      if (c.action !== 'adopt' && !ownedBy(live.tags, ctx.stack)) throw new Error(`${live.id} does not carry this stack's tags: refusing to change it`);
      const { forcedBy, inPlace } = diffResource(r, d, live, inputs);
      if (forcedBy.length && c.action !== 'adopt') throw new Error(`${forcedBy.join(', ')} now need(s) a replacement the plan did not show: plan again`);
      assertApplicable(d.address, inPlace);
      let updated = live;
      const verb = secondStep
        ? 'completing (what refers to resources created now)'
        : c.action === 'adopt'
          ? `adopting ${live.id}`
          : c.action === 'noop'
            ? 'updating (a dependency changed)'
            : 'updating';
      if (inPlace.length)
        await timed(c, verb, async () => {
          updated = await r.update(ctx, d, live, inPlace, inputs);
          return updated.id;
        });
      state.outputs.set(c.name, updated.outputs);
      return true;
    } catch (e) {
      failed.push({ address: c.address, ...errorText(e) });
      ctx.emit({ type: 'warning', code: 'change.failed', address: c.address, message: `failed: ${errorText(e).message}`, data: { error: errorText(e).message } });
      return false;
    }
  };

  await Promise.all(state.resources.map((r) => run(r.name)));
  if (failed.length || notStarted.length) throw new ApplyError(failed, done.map((d) => d.address), skipped, notStarted);
  return { done, outputs: Object.fromEntries(state.outputs) };
}

/** The engine's own retry of a create that failed with nothing made (defaults: a run's ctx.timing overrides them). */
export const createRetrySettings = Object.freeze({ attempts: 4, minDelayMs: 1_000, maxDelayMs: 8_000 });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Creates a resource, never two. A create can fail after AWS executed it (the connection broke before
 * the answer, a timeout, a 500 after the work was done), and an SDK retry of such a call makes a
 * second resource: so reconcilers send creates that are not idempotent with SDK retries off
 * (`aws.ec2({ retries: false })`), and after any failure this looks for the resource by the tags the
 * create call set. What it finds is used, and finished with an in-place update (e.g. a VPC whose DNS
 * setting failed after its create). When nothing was made and the error is one a retry can get past
 * (throttling, 5xx, a broken connection), the create is tried again, bounded, with backoff; the look
 * comes after the backoff, which gives an eventually consistent describe time to see the resource.
 * `inputs`: what prepare resolved for it, handed to create, diff and update.
 */
export async function createOnce(ctx: Ctx, r: Reconciler, d: Desired, inputs?: unknown): Promise<Observed> {
  const retry = {
    attempts: ctx.timing?.createAttempts ?? createRetrySettings.attempts,
    minDelayMs: ctx.timing?.createMinDelayMs ?? createRetrySettings.minDelayMs,
    maxDelayMs: ctx.timing?.createMaxDelayMs ?? createRetrySettings.maxDelayMs,
  };
  const adopt = missingAdoption(ctx.region, d);
  if (adopt) throw new Error(`${adopt.address}: ${adopt.message}`);
  const lookFor = async (): Promise<Observed | undefined> => {
    let lastError: unknown;
    for (let i = 0; i < 3; i++) {
      try {
        return (await r.observe(ctx, [d])).find((o) => o.name === d.name && o.management === 'owned' && ownedBy(o.tags, ctx.stack));
      } catch (e) {
        lastError = e;
        if (!isRetryable(e)) break;
        await sleep(retry.minDelayMs * (i + 1));
      }
    }
    const x = explainAwsError(lastError);
    const err = new Error(`the create failed and AWS could not be read to see whether it was made (${x.message}): run again; the next plan sees it either way`, {
      cause: lastError,
    });
    err.name = (lastError as Error)?.name ?? 'Error';
    throw err;
  };
  const finish = async (found: Observed): Promise<Observed> => {
    ctx.emit({ type: 'info', code: 'create.found', address: d.address, message: `found ${found.id}, made by the failed call: using it`, data: { id: found.id } });
    const { forcedBy, inPlace } = diffResource(r, d, found, inputs);
    if (forcedBy.length) throw new Error(`found ${found.id}, made by the failed create, but its ${forcedBy.join(', ')} differ(s) from the spec: plan again`);
    // What still refers to a resource not created yet is a late reference: apply's second step sets it.
    const now = inPlace.filter((f) => !refersToUnknown(f));
    assertApplicable(d.address, now);
    return now.length ? r.update(ctx, d, found, now, inputs) : found;
  };
  // A kind whose AWS name the spec chooses: a rerun on this machine must know the create was ours,
  // should this run die before the resource carries its tags (journal.ts).
  if (r.nameHolders) createStarted(ctx.stack, ctx.region, d.address);
  for (let attempt = 1; ; attempt++) {
    let error: unknown;
    try {
      const made = await r.create(ctx, d, inputs);
      if (r.nameHolders) createsFinished(ctx.stack, ctx.region, [d.address]);
      return made;
    } catch (e) {
      error = e;
    }
    // An error a retry cannot get past (permissions, validation, quota) is reported as it is, unless the
    // resource turns out to exist (an "already exists" answer to the SDK's own retry of a create).
    const retryable = isRetryable(error);
    if (retryable) await sleep(Math.min(retry.maxDelayMs, retry.minDelayMs * 2 ** (attempt - 1)) * (0.5 + Math.random() / 2));
    let found: Observed | undefined;
    try {
      found = await lookFor();
    } catch (lookError) {
      throw retryable ? lookError : error;
    }
    if (found) return finish(found);
    if (!retryable || attempt >= retry.attempts) throw error;
    const why = explainAwsError(error).message;
    ctx.emit({
      type: 'progress',
      code: 'create.retry',
      address: d.address,
      message: `create failed (${why}); nothing was made, trying again (${attempt + 1}/${retry.attempts})`,
      data: { attempt: attempt + 1, attempts: retry.attempts, error: why },
    });
  }
}

function findLive(state: PlanState, c: Change): Observed | undefined {
  if (c.action === 'replace') return state.live.get(c.address);
  const left = state.extra.find((l) => l.kind === c.kind && l.observed.id === c.id && l.observed.name === c.name);
  if (left) return left.observed;
  for (const o of state.live.values()) if (o.id === c.id && o.name === c.name) return o;
  return undefined;
}

export type { KindName };
