// Planning: observe live AWS (in bulk, all kinds in parallel), then a pure decision per resource.
// The plan is a value: it can be rendered, saved, and applied later.
import { createHash } from 'node:crypto';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { ClientRequest } from 'node:http';
import type { Socket } from 'node:net';
import { TAG_PROTECT, ownedBy } from '../aws/tags.js';
import { levels } from '../spec/graph.js';
import type { KindName } from '../spec/schema.js';
import { KIND_NAMES } from '../spec/schema.js';
import type { LoadedResource, LoadedSpec } from '../spec/types.js';
import { VIRTUAL_KINDS, reconcilerFor } from '../reconcilers/index.js';
import { makeDesired } from './desired.js';
import { forgetCreated, recentlyCreated } from './recent.js';
import { PlanError, ownershipProblems } from './ownership.js';
import { KIND_ORDER, KIND_SERVICE, kindRank, observeWaves } from './order.js';
import { UNKNOWN, type Ctx, type Desired, type FieldChange, type Observed, type Outputs } from './types.js';

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
}

export interface Blocked {
  address: string;
  reason: string;
}

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
  /** Observations of owned resources not in the spec (deletes and keeps), by address. */
  extra: Map<string, Observed>;
  /** Outputs by spec name, as the desired views resolve them; apply fills in created resources. */
  outputs: Map<string, Outputs>;
  /** The spec's resources (non-virtual), for dependency order. */
  resources: LoadedResource[];
}

/** A stand-in for the outputs of a resource that does not exist yet. */
export function unknownOutputs(): Outputs {
  return new Proxy({ id: UNKNOWN } as Outputs, { get: (t, k) => (typeof k === 'string' ? UNKNOWN : (t as never)[k]) });
}

/** Drops changes to fields the spec says something else owns. */
export function withoutIgnored(fields: FieldChange[], ignore: string[] | undefined): FieldChange[] {
  if (!ignore?.length) return fields;
  return fields.filter((f) => !ignore.some((i) => f.path === i || f.path.startsWith(`${i}.`) || f.path.startsWith(`${i}[`)));
}

/** The kinds to read: every kind of each AWS service the spec uses; all kinds for destroy / prune. */
export function kindsToObserve(resources: LoadedResource[], all: boolean): KindName[] {
  const services = new Set(resources.map((r) => KIND_SERVICE[r.kind]));
  return KIND_NAMES.filter((k) => !VIRTUAL_KINDS.has(k) && (all || services.has(KIND_SERVICE[k])));
}

/**
 * For a plan (never for destroy, which reads every kind): the EC2 kinds the spec does not use are
 * described only if the stack has something tagged of that kind -- one DescribeTags for all of them
 * instead of one describe each (src/reconcilers/ec2-inventory.ts). undefined: nothing to save.
 */
export function unusedKindCheck(ctx: Ctx, kinds: KindName[], desiredByKind: Map<KindName, Desired[]>): ((k: KindName) => Promise<boolean>) | undefined {
  const unused = kinds.filter((k) => KIND_SERVICE[k] === 'ec2' && !desiredByKind.has(k));
  if (unused.length < 2) return undefined;
  let tagged: Promise<Set<KindName>> | undefined;
  return async (k) => {
    if (!unused.includes(k)) return true;
    tagged ??= import('../reconcilers/ec2-inventory.js').then((m) => m.ec2KindsTagged(ctx, unused));
    return (await tagged).has(k);
  };
}

/** The kinds whose reconciler (and so SDK package) this process has loaded. */
const reconcilersLoaded = new Set<KindName>();

/**
 * Reads every kind in parallel (a kind that declares observeAfter waits for those kinds). While
 * observing, `outputs` holds what has been observed so far, so such a kind can resolve its refs.
 * A kind `needed` says no to is not read (it has nothing of the stack's).
 *
 * Kinds are started one service at a time (in observeWaves' order, the service whose SDK loads
 * fastest first): loading an SDK package blocks the event loop, so before the next one loads, the
 * requests of the kinds already started are let out (lettingRequestsOut). The first request leaves
 * after the cheapest package has loaded, not after all of them (@aws-sdk/client-ec2 alone is ~120 ms),
 * and the answers come while the rest load.
 */
export async function observeAll(
  ctx: Ctx,
  kinds: KindName[],
  desiredByKind: Map<KindName, Desired[]>,
  outputs?: Map<string, Outputs>,
  needed?: (k: KindName) => Promise<boolean>,
): Promise<Map<KindName, Observed[]>> {
  const out = new Map<KindName, Observed[]>();
  const running = new Map<KindName, Promise<void>>();
  /** Per kind: settles once its reconciler (and so its SDK) is loaded and it has sent for what it reads (its observe, the `needed` check) or waits for observeAfter kinds. */
  const loaded = new Map<KindName, Promise<void>>();
  const wanted = new Set(kinds);
  let failed = false;
  ctx = { ...ctx, shared: new Map() };
  const start = (k: KindName): Promise<void> => {
    let p = running.get(k);
    if (!p) {
      let isLoaded!: () => void;
      loaded.set(k, new Promise<void>((resolve) => (isLoaded = resolve)));
      p = (async () => {
        try {
          const r = await reconcilerFor(k);
          reconcilersLoaded.add(k);
          if (needed) {
            const check = needed(k);
            isLoaded(); // the next group need not wait for the check's answer
            if (!(await check)) {
              out.set(k, []);
              return;
            }
          }
          const after = (r.observeAfter ?? []).filter((a) => wanted.has(a)).map(start);
          if (after.length) {
            isLoaded();
            await Promise.all(after);
          }
          const observing = r.observe(ctx, (desiredByKind.get(k) ?? []) as never);
          isLoaded();
          const list = await observing;
          out.set(k, list);
          const names = new Set((desiredByKind.get(k) ?? []).map((d) => d.name));
          if (outputs) for (const o of list) if (names.has(o.name)) outputs.set(o.name, o.outputs);
        } catch (e) {
          failed = true;
          throw e;
        } finally {
          isLoaded();
        }
      })();
      running.set(k, p);
    }
    return p;
  };
  // The groups matter only while SDK packages are still to load: where this process has loaded
  // every kind's reconciler already (watch after its first cycle, apply after its plan), all start at once.
  const waves = kinds.every((k) => reconcilersLoaded.has(k)) ? [kinds] : observeWaves(kinds);
  const requests = waves.length > 1 ? lettingRequestsOut() : undefined;
  try {
    for (const [i, wave] of waves.entries()) {
      if (failed) break; // no point loading more: the plan fails
      const mark = requests?.started() ?? 0;
      for (const k of wave) void start(k).catch(() => {}); // failures are reported below, by Promise.all
      if (i === waves.length - 1) break;
      await Promise.all(wave.map((k) => loaded.get(k)));
      await requests?.out(mark, Promise.allSettled(wave.map((k) => running.get(k))));
    }
    await Promise.all(running.values());
  } finally {
    requests?.close();
  }
  return out;
}

/**
 * Watches the HTTP requests this process starts (the http.client.request.start diagnostics channel),
 * so observeAll can wait, before a synchronous SDK load, until the requests already started have
 * their connection: over a connected socket a request is written at once (over TLS, the handshake
 * starts), and its answer waits in the kernel meanwhile instead of the request in the process. A
 * connection that takes longer than connectMs (a far region) is not waited for: the kernel goes on
 * with it during the load. `out(mark, done)` resolves once a request has started since `started()`
 * was `mark` and none is still waited for; or when `done` settles (the kinds of the group are
 * finished); or after maxMs.
 */
export function lettingRequestsOut(maxMs = 50, connectMs = 10): { started(): number; out(mark: number, done?: Promise<unknown>): Promise<void>; close(): void } {
  let started = 0;
  const connecting = new Set<ClientRequest>();
  let wake: (() => void) | undefined;
  const isOut = (mark: number) => started > mark && connecting.size === 0;
  const onStart = (message: unknown) => {
    started++;
    const req = (message as { request?: ClientRequest }).request;
    if (req) {
      const connected = () => {
        if (connecting.delete(req)) wake?.();
      };
      const watch = (socket: Socket) => {
        if (!socket.connecting) return connected();
        socket.once('connect', connected);
        setTimeout(connected, connectMs).unref();
      };
      connecting.add(req);
      req.once('close', connected);
      if (req.socket) watch(req.socket);
      else req.once('socket', watch); // queued by the agent
    }
    wake?.();
  };
  subscribe('http.client.request.start', onStart);
  return {
    started: () => started,
    out: (mark, done) =>
      new Promise<void>((resolve) => {
        if (isOut(mark)) return resolve();
        let settled = false;
        const finish = () => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          if (wake === waker) wake = undefined;
          resolve();
        };
        // Checked a turn later: other kinds of the group may start a request in the same turn.
        const waker = () => void setImmediate(() => isOut(mark) && finish());
        const timer = setTimeout(finish, maxMs);
        wake = waker;
        void done?.then(finish, finish);
      }),
    close: () => unsubscribe('http.client.request.start', onStart),
  };
}

function hashLive(observed: Map<KindName, Observed[]>): string {
  const h = createHash('sha256');
  for (const k of [...observed.keys()].sort())
    for (const o of [...observed.get(k)!].sort((a, b) => a.id.localeCompare(b.id))) h.update(JSON.stringify([k, o.id, o.live, o.tags]));
  return h.digest('hex');
}

export async function makePlan(loaded: LoadedSpec, ctx: Ctx, opts: PlanOptions = {}): Promise<{ plan: Plan; state: PlanState }> {
  const { spec } = loaded;
  const prune = !!(opts.prune || spec.prune);
  const resources = loaded.resources.filter((r) => !VIRTUAL_KINDS.has(r.kind));
  const byName = new Map(resources.map((r) => [r.name, r]));

  // Desired views resolve references through `outputs`, which fills in as we walk the graph.
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
      spec: r.body as never,
      specDir: loaded.dir,
      lookup: (n) => outputs.get(n) ?? (observing ? unknownOutputs() : undefined),
    });
    desired.set(r.address, d);
    const list = desiredByKind.get(r.kind) ?? [];
    list.push(d);
    desiredByKind.set(r.kind, list);
  }

  const kinds = kindsToObserve(resources, !!opts.destroy || prune);
  // References in desired views are resolved lazily, so lookups (adopt ids, default VPC) need outputs of
  // their own refs only where a reconciler asks; observe does not resolve references.
  const observed = await observeAll(ctx, kinds, desiredByKind, outputs, opts.destroy ? undefined : unusedKindCheck(ctx, kinds, desiredByKind));
  outputs.clear();
  observing = false;

  // Index observations: by name for those in the spec; the rest are candidates for delete / keep.
  const live = new Map<string, Observed>();
  const extra = new Map<string, Observed>();
  const changes: Change[] = [];
  // Two resources claiming one name (a create still in flight when a run was killed, landing after
  // the rerun looked): the one the rest of the stack uses -- whose id the other observed resources
  // refer to most -- is kept; the other is planned for deletion below.
  const everything = [...observed.values()].flat();
  const usedBy = (id: string) => everything.filter((x) => x.id !== id && JSON.stringify(x.live).includes(id)).length;
  const byUse = (list: Observed[]): Observed[] => {
    const groups = new Map<string, Observed[]>();
    for (const o of list) groups.set(o.name, [...(groups.get(o.name) ?? []), o]);
    return [...groups.values()].flatMap((g) => (g.length < 2 ? g : [...g].sort((a, b) => usedBy(b.id) - usedBy(a.id))));
  };
  for (const kind of kinds) {
    for (const o of byUse(observed.get(kind) ?? [])) {
      const address = `${kind}.${o.name}`;
      const inSpec = byName.get(o.name)?.kind === kind;
      if (inSpec && !live.has(address)) {
        live.set(address, o);
      } else if (inSpec || o.management === 'owned') {
        if (!ownedBy(o.tags, spec.stack)) continue;
        // Owned but not in the spec, or a second resource claiming the same name (an interrupted create).
        const dupe = inSpec;
        const key = dupe ? `${address}#${o.id}` : address;
        extra.set(key, o);
      }
    }
  }

  // Decide, in dependency order, so references to resources being created are known to be unknown.
  const order = levels(resources.map((r) => ({ name: r.name, deps: r.deps }))).flat();
  if (!opts.destroy) {
    for (const name of order) {
      const r = byName.get(name)!;
      const d = desired.get(r.address)!;
      const o = live.get(r.address);
      const reconciler = await reconcilerFor(r.kind);
      if (!o) {
        const just = recentlyCreated(spec.stack, r.address);
        if (just) {
          // Eventual consistency: created by this process moments ago, not listed yet. Wait, don't duplicate.
          outputs.set(name, just.observed.outputs);
          live.set(r.address, just.observed);
          const secs = Math.round(just.ageMs / 1000);
          changes.push({ address: r.address, kind: r.kind, name, action: 'noop', id: just.observed.id, fields: [], reason: `created ${secs}s ago; AWS does not list it yet` });
          continue;
        }
        outputs.set(name, unknownOutputs());
        changes.push({ address: r.address, kind: r.kind, name, action: 'create', fields: createFields(d), reason: 'not in AWS yet' });
        continue;
      }
      forgetCreated(spec.stack, r.address);
      if (o.management === 'lookup') {
        outputs.set(name, o.outputs);
        changes.push({ address: r.address, kind: r.kind, name, action: 'read', id: o.id, fields: [], reason: 'looked up, never changed' });
        continue;
      }
      const fields = withoutIgnored(reconciler.diff(d, o), (r.body as { ignoreChanges?: string[] }).ignoreChanges);
      const forcedBy = fields.filter((f) => f.forcesReplace).map((f) => f.path);
      if (o.management === 'adopted') {
        outputs.set(name, o.outputs);
        if (forcedBy.length) {
          changes.push({ address: r.address, kind: r.kind, name, action: 'adopt', id: o.id, fields, reason: `adopting ${o.id}`, forcedBy });
        } else changes.push({ address: r.address, kind: r.kind, name, action: 'adopt', id: o.id, fields, reason: `adopting ${o.id}: it gets this stack's tags` });
        continue;
      }
      if (forcedBy.length) {
        outputs.set(name, unknownOutputs());
        changes.push({ address: r.address, kind: r.kind, name, action: 'replace', id: o.id, fields, forcedBy, reason: `${forcedBy.join(', ')} cannot change in place` });
      } else {
        const volatile = fields.length ? (reconciler.volatileOutputs ?? []) : [];
        outputs.set(name, volatile.length ? { ...o.outputs, ...Object.fromEntries(volatile.map((k) => [k, UNKNOWN])) } : o.outputs);
        changes.push({
          address: r.address,
          kind: r.kind,
          name,
          action: fields.length ? 'update' : 'noop',
          id: o.id,
          fields,
          reason: fields.length ? `${fields.length} field(s) differ` : 'up to date',
        });
      }
    }
  }

  // Ownership: nothing is created where a resource that is not the stack's holds the name.
  if (!opts.destroy) {
    const creating = changes.flatMap((c) => (c.action === 'create' || c.action === 'replace' ? [{ d: desired.get(c.address)!, action: c.action }] : []));
    const problems = await ownershipProblems(ctx, reconcilerFor, creating);
    if (problems.length) throw new PlanError(problems);
  }

  // Owned resources the spec does not (or, for destroy, no longer) want.
  const deletes: [string, Observed, KindName][] = [];
  if (opts.destroy) {
    for (const [address, o] of live) if (o.management === 'owned') deletes.push([address, o, address.split('.')[0] as KindName]);
  }
  for (const [key, o] of extra) deletes.push([key, o, key.split('.')[0] as KindName]);
  deletes.sort((a, b) => kindRank(b[2]) - kindRank(a[2]));
  for (const [key, o, kind] of deletes) {
    const address = key.split('#')[0];
    const dupe = key.includes('#');
    if (opts.destroy || prune || dupe) {
      changes.push({
        address: dupe ? `${address} (duplicate)` : address,
        kind,
        name: o.name,
        action: 'delete',
        id: o.id,
        fields: [],
        reason: opts.destroy ? 'destroy' : dupe ? 'a second resource with this name, left by an interrupted create' : 'no longer in the spec (prune)',
      });
    } else {
      changes.push({ address, kind, name: o.name, action: 'keep', id: o.id, fields: [], reason: 'no longer in the spec: kept (prune is off; pass --prune or set prune: true to delete)' });
    }
  }

  // Safety rules.
  const blocked: Blocked[] = [];
  for (const c of changes) {
    if (c.action !== 'delete' && c.action !== 'replace') continue;
    const o = c.action === 'delete' ? [...extra.values(), ...live.values()].find((x) => x.id === c.id) : live.get(c.address);
    const spec = byName.get(c.name);
    const isProtected = o?.tags[TAG_PROTECT] === 'true' || (spec?.kind === c.kind && (spec.body as { protect?: boolean }).protect);
    if (isProtected) blocked.push({ address: c.address, reason: `protected (protect: true / tag ${TAG_PROTECT}=true): refusing to ${c.action} it` });
  }
  const destructive = changes.filter((c) => c.action === 'delete' || c.action === 'replace').length;
  if (opts.maxDeletes !== undefined && destructive > opts.maxDeletes)
    blocked.push({ address: '*', reason: `the plan deletes or replaces ${destructive} resources, more than --max-deletes ${opts.maxDeletes}` });

  const summary = { create: 0, update: 0, replace: 0, delete: 0, adopt: 0, keep: 0 };
  for (const c of changes) if (c.action in summary) summary[c.action as keyof typeof summary]++;

  // Order for display and apply: deletes last in the list but ordered; others by kind then spec order.
  const plan: Plan = {
    formatVersion: 1,
    stack: spec.stack,
    region: spec.region,
    specFile: loaded.file,
    specHash: loaded.hash,
    liveHash: hashLive(observed),
    createdAt: new Date().toISOString(),
    mode: opts.destroy ? 'destroy' : 'apply',
    prune,
    changes,
    blocked,
    summary,
  };
  return { plan, state: { live, desired, extra, outputs, resources } };
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

export const hasChanges = (p: Plan): boolean => p.changes.some((c) => !['noop', 'read', 'keep'].includes(c.action));

export { KIND_ORDER };
