// Deciding: desired + observed -> one change per spec resource. No AWS call, no clock, no module
// state: table-tested with fake reconcilers (test/unit/decide.test.ts).
//
// Per resource, in dependency order (so a reference to a resource being created reads "known after
// apply" in its dependents' diffs):
// - not observed: create (or, created by this process moments ago and not listed yet: noop, the
//   observation it made is used -- eventual consistency must not make a duplicate);
// - looked up: read, never changed;
// - adopted (`adopt:` names it, not the stack's yet): adopt, with the fields that differ;
// - the stack's: replace when a field that cannot change in place differs, update when others do,
//   noop otherwise.
// The fields are always those of diffResource(): the reconciler's diff, then the tags' (the engine
// diffs tags for every kind), without what the spec says something else owns (ignoreChanges). apply
// diffs again with the same function once references are known.
//
// Late references (src/spec/graph.ts: security group rules naming groups) may name a resource decided
// after the one that makes them (two groups that allow each other): until it is decided, its outputs
// read UNKNOWN. Once every resource is decided, those that make late references are diffed again with
// every output known (late references never force a replacement, so only the fields can change), and
// a change whose late references name resources made by this apply says so (`waitsFor`): apply makes
// it (a create: its second step) once they exist.
//
// Decisions also fill in `outputs`, the map the desired views resolve references through: observed
// outputs for what stays, UNKNOWN for what is (re)created, and UNKNOWN for the volatile outputs of
// what is updated (a launch template's latestVersion), so dependents' changes show in the same plan.
import type { KindName } from '../spec/schema.js';
import { diffTags } from './diffutil.js';
import { UNKNOWN, type Desired, type FieldChange, type Observed, type Outputs, type Prepared, type Reconciler, type Resolution } from './types.js';

export type Action = 'create' | 'update' | 'replace' | 'delete' | 'noop' | 'read' | 'adopt' | 'keep';

export interface Change {
  address: string;
  kind: KindName;
  name: string;
  action: Action;
  /** The AWS id of the live resource, if there is one. */
  id?: string;
  fields: FieldChange[];
  /** For humans only. */
  reason: string;
  /** Fields that force the replacement, when action is replace. */
  forcedBy?: string[];
  /** A second resource claiming this address (an interrupted create): deleted, the other one kept. */
  duplicate?: true;
  /** Values read from outside the spec for it (prepare): the AMI id and name a lookup found, ... */
  resolved?: Resolution[];
  /**
   * Late references to resources this apply creates or replaces (e.g. a security group rule naming a
   * group created now): the field and the address it names. Apply makes them once those exist: a
   * create in a second step, after the create itself; an update after them.
   */
  waitsFor?: { field: string; address: string }[];
}

/** How a change is named to people: its address, and "(duplicate)" for the second of two. */
export const changeLabel = (c: Pick<Change, 'address' | 'duplicate'>): string => (c.duplicate ? `${c.address} (duplicate)` : c.address);

/** A stand-in for the outputs of a resource that does not exist yet. */
export function unknownOutputs(): Outputs {
  return new Proxy({ id: UNKNOWN } as Outputs, { get: (t, k) => (typeof k === 'string' ? UNKNOWN : Reflect.get(t, k)) });
}

/** Drops changes to fields the spec says something else owns. */
export function withoutIgnored(fields: FieldChange[], ignore: string[] | undefined): FieldChange[] {
  if (!ignore?.length) return fields;
  return fields.filter((f) => !ignore.some((i) => f.path === i || f.path.startsWith(`${i}.`) || f.path.startsWith(`${i}[`)));
}

export interface ResourceDiff {
  /** Every field that differs and is the spec's to set. */
  fields: FieldChange[];
  /** The paths of those that force a replacement. */
  forcedBy: string[];
  /** Those that change in place. */
  inPlace: FieldChange[];
}

/**
 * Every field of a resource that differs: the kind's own (its reconciler's diff, given what prepare
 * resolved for it: `inputs`), then its tags, which the engine compares for every kind (desired.tags
 * against observed.tags, or what the kind's tagsForDiff says; a looked-up resource's tags are not
 * the stack's to set).
 */
export function diffFields(r: Pick<Reconciler, 'diff' | 'tagsForDiff'>, d: Desired, o: Observed, inputs?: unknown): FieldChange[] {
  const fields = r.diff(d, o, inputs);
  if (o.management === 'lookup') return fields;
  const tags = r.tagsForDiff ? r.tagsForDiff(d, o) : { desired: d.tags, observed: o.tags };
  return tags ? [...fields, ...diffTags(tags.desired, tags.observed)] : fields;
}

/** The one diff of a resource: diffFields without ignoreChanges, split by what forces a replacement. */
export function diffResource(r: Pick<Reconciler, 'diff' | 'tagsForDiff'>, d: Desired, o: Observed, inputs?: unknown): ResourceDiff {
  const fields = withoutIgnored(diffFields(r, d, o, inputs), (d.spec as { ignoreChanges?: string[] }).ignoreChanges);
  return { fields, forcedBy: fields.filter((f) => f.forcesReplace).map((f) => f.path), inPlace: fields.filter((f) => !f.forcesReplace) };
}

/** Whether a change sets a value of a resource not created yet (a late reference, before its second step). */
export const refersToUnknown = (c: FieldChange): boolean => JSON.stringify(c.after ?? null).includes(UNKNOWN);

/**
 * Changes applied in place must be free of replacements and of UNKNOWN (a reference to a resource
 * not created yet): the engine checks this once, before every update it asks a reconciler for.
 */
export function assertApplicable(address: string, changes: FieldChange[]): void {
  for (const c of changes) {
    if (c.forcesReplace) throw new Error(`${address}: ${c.path} cannot be changed in place (it forces a replacement)`);
    if (refersToUnknown(c)) throw new Error(`${address}: ${c.path} refers to a resource not created yet; plan again once it exists`);
  }
}

export interface DecideInput {
  /** The spec's resources (no virtual kinds), in dependency order. */
  order: Desired[];
  /** What observe found for them, by address. */
  live: ReadonlyMap<string, Observed>;
  reconcilers: ReadonlyMap<KindName, Pick<Reconciler, 'diff' | 'tagsForDiff' | 'volatileOutputs'>>;
  /** The outputs the desired views resolve references through, by spec name: filled in here. */
  outputs: Map<string, Outputs>;
  /** A resource this process created moments ago (AWS may not list it yet), with how long ago. */
  recent?: (address: string) => { observed: Observed; ageMs: number } | undefined;
  /**
   * What prepare resolved, by address: its inputs are handed to diff. A resource whose prepare found
   * problems is not diffed (the plan fails with those problems).
   */
  prepared?: ReadonlyMap<string, Prepared>;
  /** The late references each resource makes, by spec name: the field (e.g. "ingress[0].securityGroup") and the name. */
  late?: ReadonlyMap<string, readonly { field: string; name: string }[]>;
}

export interface Decisions {
  changes: Change[];
  /** Observations of resources created moments ago that observe did not list (they are live). */
  recent: Map<string, Observed>;
}

export function decide(input: DecideInput): Decisions {
  const { outputs } = input;
  const changes: Change[] = [];
  const recent = new Map<string, Observed>();
  const late = input.late ?? new Map<string, readonly { field: string; name: string }[]>();
  for (const refs of late.values()) for (const u of refs) if (!outputs.has(u.name)) outputs.set(u.name, unknownOutputs());
  for (const d of input.order) {
    const base = { address: d.address, kind: d.kind, name: d.name };
    const o = input.live.get(d.address);
    if (!o) {
      const just = input.recent?.(d.address);
      if (just) {
        outputs.set(d.name, just.observed.outputs);
        recent.set(d.address, just.observed);
        const secs = Math.round(just.ageMs / 1000);
        changes.push({ ...base, action: 'noop', id: just.observed.id, fields: [], reason: `created ${secs}s ago; AWS does not list it yet` });
        continue;
      }
      outputs.set(d.name, unknownOutputs());
      changes.push({ ...base, action: 'create', fields: createFields(d), reason: 'not in AWS yet' });
      continue;
    }
    if (o.management === 'lookup') {
      outputs.set(d.name, o.outputs);
      changes.push({ ...base, action: 'read', id: o.id, fields: [], reason: 'looked up, never changed' });
      continue;
    }
    const r = input.reconcilers.get(d.kind);
    if (!r) throw new Error(`no reconciler for ${d.kind}`);
    const prepared = input.prepared?.get(d.address);
    if (prepared?.problems.length) {
      outputs.set(d.name, o.outputs);
      changes.push({ ...base, action: 'noop', id: o.id, fields: [], reason: `not compared: ${prepared.problems.join('; ')}` });
      continue;
    }
    const { fields, forcedBy } = diffResource(r, d, o, prepared?.inputs);
    if (o.management === 'adopted') {
      outputs.set(d.name, o.outputs);
      if (forcedBy.length) changes.push({ ...base, action: 'adopt', id: o.id, fields, reason: `adopting ${o.id}`, forcedBy });
      else changes.push({ ...base, action: 'adopt', id: o.id, fields, reason: `adopting ${o.id}: it gets this stack's tags` });
      continue;
    }
    if (forcedBy.length) {
      outputs.set(d.name, unknownOutputs());
      changes.push({ ...base, action: 'replace', id: o.id, fields, forcedBy, reason: `${forcedBy.join(', ')} cannot change in place` });
      continue;
    }
    const volatile = fields.length ? (r.volatileOutputs ?? []) : [];
    outputs.set(d.name, volatile.length ? { ...o.outputs, ...Object.fromEntries(volatile.map((k) => [k, UNKNOWN])) } : o.outputs);
    changes.push({ ...base, action: fields.length ? 'update' : 'noop', id: o.id, fields, reason: fields.length ? `${fields.length} field(s) differ` : 'up to date' });
  }
  rediffLate(input, changes, late);
  return { changes, recent };
}

/** The second look at resources that make late references, once every output is known (see above). */
function rediffLate(input: DecideInput, changes: Change[], late: NonNullable<DecideInput['late']>): void {
  const byName = new Map(changes.map((c) => [c.name, c]));
  for (const c of changes) {
    const refs = late.get(c.name) ?? [];
    if (!refs.length) continue;
    const waitsFor = refs.flatMap((u) => {
      const t = byName.get(u.name);
      return t && (t.action === 'create' || t.action === 'replace') ? [{ field: u.field, address: t.address }] : [];
    });
    if (waitsFor.length) c.waitsFor = waitsFor;
    if (c.action !== 'update' && c.action !== 'noop' && c.action !== 'adopt' && c.action !== 'replace') continue;
    const d = input.order.find((x) => x.address === c.address)!;
    const o = input.live.get(c.address);
    const prepared = input.prepared?.get(c.address);
    if (!o || o.management === 'lookup' || prepared?.problems.length) continue; // not diffed the first time either
    const { fields, forcedBy } = diffResource(input.reconcilers.get(d.kind)!, d, o, prepared?.inputs);
    if (forcedBy.join() !== (c.forcedBy ?? []).join()) throw new Error(`${c.address}: a late reference changed what forces its replacement (${forcedBy.join(', ')})`);
    c.fields = fields;
    if (c.action === 'update' || c.action === 'noop') {
      c.action = fields.length ? 'update' : 'noop';
      c.reason = fields.length ? `${fields.length} field(s) differ` : 'up to date';
    }
  }
}

/** The fields a create sets, for display: the spec body in its own words, references shown by name. */
function createFields(d: Desired): FieldChange[] {
  const body = d.spec as Record<string, unknown>;
  const out: FieldChange[] = [];
  for (const [k, v] of Object.entries(body)) {
    if (k === 'kind' || k === 'tags' || v === undefined) continue;
    if (Array.isArray(v) && v.length === 0) continue;
    const sensitive = k === 'userData' && typeof v === 'object' && v !== null && (v as { sensitive?: boolean }).sensitive === true;
    out.push({ path: k, before: undefined, after: k === 'objects' ? summarizeObjects(v) : v, forcesReplace: false, ...(sensitive ? { sensitive } : {}) });
  }
  return out;
}

/** Bucket objects for display: inline content is shown by size, never printed. */
function summarizeObjects(v: unknown): unknown {
  if (!Array.isArray(v)) return v;
  return v.map((o: Record<string, unknown>) => (typeof o.content === 'string' ? { ...o, content: `(${Buffer.byteLength(o.content)} bytes)` } : o));
}
