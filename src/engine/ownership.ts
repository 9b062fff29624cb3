// Ownership, checked once by the engine for every kind: a plan never creates over, updates or deletes
// a resource that is not this stack's. Reconcilers report facts (a resource of this name exists, with
// these tags: Reconciler.nameHolders); the decisions are made here.
//
// - An AWS name the spec chooses (bucketName, topicName, the <stack>-<name> default, ...) that a live
//   resource not tagged reconcile:stack=<this stack> already holds: the plan fails (exit 1, before any
//   write) and says how to take it over (`adopt:`) or what to rename. Without this a create could
//   return the existing resource (S3 in us-east-1 answers 200 for a bucket the account owns) and the
//   stack would tag it, change it and later delete it.
// - An `adopt:` that names nothing AWS has: the plan fails instead of creating a new resource.
// Updates and deletes of resources not carrying the stack's tags are refused again at apply time
// (apply.ts), whatever the plan said.
import { TAG_ID, TAG_STACK } from '../aws/tags.js';
import type { KindName } from '../spec/schema.js';
import { UserError } from './errors.js';
import type { Ctx, Desired, NameHolder, Reconciler } from './types.js';

export interface PlanProblem {
  address: string;
  message: string;
}

/** The spec cannot be applied as it stands (a taken name, an `adopt:` of nothing): exit 1, nothing changed. */
export class PlanError extends UserError {
  constructor(readonly problems: PlanProblem[]) {
    super(
      problems.length === 1 ? `${problems[0].address}: ${problems[0].message}` : `the plan cannot be applied:\n${problems.map((p) => `  ${p.address}: ${p.message}`).join('\n')}`,
      'nothing was changed',
    );
    this.name = 'PlanError';
  }
}

/** Whose a held name is, in words. */
function whose(tags: Record<string, string>): string {
  if (!tags[TAG_STACK]) return 'it carries no reconcile:stack tag';
  return `it belongs to stack ${tags[TAG_STACK]}${tags[TAG_ID] ? ` (${tags[TAG_ID]})` : ''}`;
}

/**
 * The problem, if any, a name holder is for the desired resource `d` of stack `stack`. `inFlight`:
 * addresses whose create this machine started and never saw finished (journal.ts): an untagged
 * holder of such an address's name is that create, killed before its tags were written.
 */
export function nameProblem(stack: string, d: Desired, h: NameHolder, inFlight: ReadonlySet<string> = new Set()): PlanProblem | undefined {
  if (h.tags[TAG_STACK] === stack) return undefined; // ours: an earlier create of this stack (or a rename within it)
  if (!h.tags[TAG_STACK] && inFlight.has(d.address)) return undefined;
  return {
    address: d.address,
    message: `${d.kind} "${h.awsName}" already exists and is not ${d.address} of this stack (${whose(h.tags)}): set adopt: ${h.adoptId} to take it over, or choose another ${h.nameField}`,
  };
}

/** `adopt:` of a resource observe did not find (the engine never creates one with adopt: set). */
export function missingAdoption(region: string, d: Desired): PlanProblem | undefined {
  const id = (d.spec as { adopt?: string }).adopt;
  if (!id) return undefined;
  return { address: d.address, message: `adopt: ${id} does not exist: no ${d.kind} in ${region} has that id or name (remove adopt: to create a new one)` };
}

/**
 * The problems of the resources a plan creates (or replaces, which creates): adoptions of nothing,
 * and AWS names held by resources that are not this stack's. One nameHolders call per kind.
 */
export async function ownershipProblems(
  ctx: Ctx,
  reconcilerFor: (k: KindName) => Promise<Reconciler>,
  creating: { d: Desired; action: 'create' | 'replace' }[],
  inFlight: ReadonlySet<string> = new Set(),
): Promise<PlanProblem[]> {
  const problems: PlanProblem[] = [];
  const byKind = new Map<KindName, Desired[]>();
  const created = new Set(creating.filter((c) => c.action === 'create').map((c) => c.d));
  for (const { d, action } of creating) {
    // A replacement of a resource adopted earlier (now the stack's) may still say adopt: in the spec.
    const adopt = action === 'create' ? missingAdoption(ctx.region, d) : undefined;
    if (adopt) {
      problems.push(adopt);
      continue;
    }
    byKind.set(d.kind, [...(byKind.get(d.kind) ?? []), d]);
  }
  const held = await Promise.all(
    [...byKind].map(async ([kind, all]) => {
      const r = await reconcilerFor(kind);
      // Only read, never created (lookup: default, existing: true): observe did not find it.
      const lookups = new Map(all.map((d) => [d, created.has(d) ? r.lookupOf?.(d) : undefined] as const).filter((x): x is [Desired, string] => !!x[1]));
      problems.push(...[...lookups].map(([d, what]) => ({ address: d.address, message: `${what} does not exist in ${ctx.region}: nothing to look up` })));
      const list = all.filter((d) => !lookups.has(d));
      const holders = r.nameHolders && list.length ? await r.nameHolders(ctx, list) : [];
      const byName = new Map(list.map((d) => [d.name, d]));
      return holders.flatMap((h) => {
        const d = byName.get(h.name);
        const p = d && nameProblem(ctx.stack, d, h, inFlight);
        return p ? [p] : [];
      });
    }),
  );
  return [...problems, ...held.flat()];
}

/** Name holders from what a reconciler found by name: each matched to the desired resources that would take its name. */
export function holdersByName<D extends Desired>(
  desired: D[],
  nameOf: (d: D) => string,
  nameField: string,
  found: { awsName: string; adoptId: string; tags: Record<string, string> }[],
): NameHolder[] {
  return desired.flatMap((d) => found.filter((f) => f.awsName === nameOf(d)).map((f) => ({ name: d.name, nameField, ...f })));
}
