// Observing: reads live AWS for a plan -- every kind the plan needs, in bulk, all at once (a kind
// that declares observeAfter waits for those kinds), loading the reconcilers (and so the SDKs) through
// the registry. Nothing here decides anything.
import { createHash } from 'node:crypto';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { ClientRequest } from 'node:http';
import type { Socket } from 'node:net';
import { KIND_DEFS, KIND_NAMES, type KindName } from '../spec/schema.js';
import type { LoadedResource } from '../spec/types.js';
import { KIND_SERVICE, observeWaves } from './order.js';
import type { Ctx, Desired, Observed, Outputs, Prepared, Registry } from './types.js';

/** Kinds with no AWS resource of their own (alert-rule: watch evaluates it). */
export const isVirtual = (k: KindName): boolean => !!KIND_DEFS.find((d) => d.kind === k)?.virtual;

/** The kinds to read: every kind of each AWS service the spec uses; all kinds for destroy / prune. */
export function kindsToObserve(resources: LoadedResource[], all: boolean): KindName[] {
  const services = new Set(resources.map((r) => KIND_SERVICE[r.kind]));
  return KIND_NAMES.filter((k) => !isVirtual(k) && (all || services.has(KIND_SERVICE[k])));
}

/**
 * For a plan (never for destroy, which reads every kind): the EC2 kinds the spec does not use are
 * described only if the stack has something tagged of that kind -- one DescribeTags for all of them
 * instead of one describe each (the registry's kindsTagged). undefined: nothing to save.
 */
export function unusedKindCheck(registry: Registry, ctx: Ctx, kinds: KindName[], desiredByKind: Map<KindName, Desired[]>): ((k: KindName) => Promise<boolean>) | undefined {
  const { kindsTagged } = registry;
  if (!kindsTagged) return undefined;
  const unused = kinds.filter((k) => KIND_SERVICE[k] === 'ec2' && !desiredByKind.has(k));
  if (unused.length < 2) return undefined;
  let tagged: Promise<Set<KindName>> | undefined;
  return async (k) => {
    if (!unused.includes(k)) return true;
    tagged ??= kindsTagged(ctx, unused);
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
  registry: Registry,
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
          const r = await registry.reconcilerFor(k);
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
          const observing = r.observe(ctx, desiredByKind.get(k) ?? []);
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

/**
 * A hash of everything observed and everything prepare resolved: a saved plan is refused when live
 * AWS changed since it was made, or a lookup (a newer AMI) answers differently now.
 */
export function hashLive(observed: Map<KindName, Observed[]>, prepared: ReadonlyMap<string, Prepared> = new Map()): string {
  const h = createHash('sha256');
  for (const k of [...observed.keys()].sort())
    for (const o of [...observed.get(k)!].sort((a, b) => a.id.localeCompare(b.id))) h.update(JSON.stringify([k, o.id, o.live, o.tags]));
  for (const a of [...prepared.keys()].sort()) h.update(JSON.stringify([a, prepared.get(a)!.resolved]));
  return h.digest('hex');
}

