// `reconcile watch DIR|SPEC...`: many stacks in one process. Each stack is served by its own
// Watcher (loop.ts: load, plan, heal or report, alert rules), with its own interval, mode, alert
// state, backoff and metrics; this file only decides when each one runs:
//
// - The specs are found again every few seconds (fleet-specs.ts): a stack added, changed or
//   removed is picked up without a restart. A removed stack stops being served after its current
//   cycle; nothing of it is deleted in AWS.
// - Schedules are spread: a stack's first cycle starts at a random point of its first interval (at
//   most 30 s in), then every interval with 10 % jitter, so 100 stacks do not fire at once.
// - At most --max-concurrent-stacks cycles run at once; a stack that is due waits for a free slot
//   (reconcile_shard_schedule_lag_seconds says how long). A stack that fails backs off on its own
//   schedule; it never holds up another stack beyond the one slot it uses.
// - Every AWS call of every stack draws from the process's rate budget for its account and region
//   (src/aws/limiter.ts), so a fleet does not throttle its own account.
// - /readyz is ready when every stack of the shard is; /metrics has every stack's series with a
//   `stack` label, and the shard's own.
import { AggregatorRegistry, Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { onLockEvent } from '../lock/lease.js';
import type { LockFlags } from '../lock/config.js';
import { FleetSpecs, type FleetScan, type FleetSpec } from './fleet-specs.js';
import type { Health } from './http.js';
import type { Logger } from './logger.js';
import { type CycleResult, Watcher } from './loop.js';
import { releaseMemory } from './memory.js';
import { WatchMetrics } from './metrics.js';
import type { ShardChoice } from './shard.js';

export interface FleetOptions extends LockFlags {
  /** Spec files and directories of spec files. */
  paths: string[];
  shard: ShardChoice;
  /** For stacks whose spec has no `watch:` block. */
  mode: 'apply' | 'detect';
  intervalMs: number;
  maxConcurrentStacks: number;
  notify: boolean;
  profile?: string;
  endpointUrl?: string;
  logger: Logger;
  concurrency?: number;
  maxDeletes?: number;
  /** --timeout: a bound on each cycle of each stack. */
  timeout?: string;
  /** How often the specs are looked for again (default 5 s). */
  rescanMs?: number;
  /** The first cycle of each stack starts within min(interval, this) of its discovery (default 30 s). */
  spreadMs?: number;
  /** Passed to each stack's Watcher (tests shorten them). */
  retryBaseMs?: number;
  retryCapMs?: number;
  /** Give memory back to the OS when no cycle runs (the service; off in tests and --once). */
  releaseMemory?: boolean;
}

interface Slot {
  spec: FleetSpec;
  watcher: Watcher;
  metrics: WatchMetrics;
  nextAt: number;
  running?: Promise<void>;
  last?: CycleResult;
  removed?: boolean;
}

/** The shard's own metrics; each stack's are in its WatchMetrics, labelled with `stack`. */
class ShardMetrics {
  readonly registry = new Registry();
  readonly info: Gauge<'shard' | 'shards'>;
  readonly stacks: Gauge;
  readonly stacksReady: Gauge;
  readonly running: Gauge;
  readonly specFiles: Gauge<'state'>;
  readonly ready: Gauge;
  readonly lag: Histogram;
  readonly lockEvents: Counter<'stack' | 'event'>;

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.info = new Gauge({ name: 'reconcile_shard_info', help: 'This process serves shard `shard` (0-based) of `shards`.', labelNames: ['shard', 'shards'], registers });
    this.stacks = new Gauge({ name: 'reconcile_shard_stacks', help: 'Stacks this shard serves.', registers });
    this.stacksReady = new Gauge({ name: 'reconcile_shard_stacks_ready', help: 'Stacks of this shard whose last cycle succeeded and is recent.', registers });
    this.running = new Gauge({ name: 'reconcile_shard_cycles_running', help: 'Stack cycles running now (at most --max-concurrent-stacks).', registers });
    this.specFiles = new Gauge({
      name: 'reconcile_shard_spec_files',
      help: 'Spec files found, by state: served (this shard), other_shard, invalid (never valid), duplicate (a stack another file names).',
      labelNames: ['state'],
      registers,
    });
    this.ready = new Gauge({ name: 'reconcile_shard_ready', help: '1 when every stack of this shard is ready (what /readyz says).', registers });
    this.lag = new Histogram({
      name: 'reconcile_shard_schedule_lag_seconds',
      help: 'How late a stack cycle started after it was due (waiting for a --max-concurrent-stacks slot).',
      buckets: [0.1, 0.5, 1, 5, 15, 30, 60, 120, 300],
      registers,
    });
    this.lockEvents = new Counter({
      name: 'reconcile_lock_events_total',
      help: 'Stack lock events of this process, by stack: acquired, taken_over (an expired lease), timed_out, lost, write_refused (a write stopped because the lease was lost).',
      labelNames: ['stack', 'event'],
      registers,
    });
  }
}

export class Fleet {
  private readonly specs: FleetSpecs;
  private readonly slots = new Map<string, Slot>();
  private readonly metrics = new ShardMetrics();
  private lastScan?: FleetScan;
  private lastScanAt = -Infinity;
  private scanReport = '';
  private runningCount = 0;
  private stopping = false;
  private wake?: () => void;
  private lastRelease = 0;
  private readonly offLock: () => void;

  constructor(readonly opts: FleetOptions) {
    this.specs = new FleetSpecs(opts.paths, opts.shard);
    this.metrics.info.set({ shard: String(opts.shard.index), shards: String(opts.shard.count) }, 1);
    this.offLock = onLockEvent((stack, event) => this.metrics.lockEvents.inc({ stack, event }));
  }

  /** The stacks served now. */
  stackNames(): string[] {
    return [...this.slots.values()].filter((s) => !s.removed).map((s) => s.spec.stack);
  }

  /** The Watcher of a stack (tests). */
  watcher(stack: string): Watcher | undefined {
    return this.slots.get(stack)?.watcher;
  }

  /** Prometheus text: the shard's metrics and every stack's, each stack's with its `stack` label. */
  async metricsText(): Promise<string> {
    const all = await Promise.all([this.metrics.registry, ...[...this.slots.values()].map((s) => s.metrics.registry)].map((r) => r.getMetricsAsJSON()));
    return AggregatorRegistry.aggregate(all as Parameters<typeof AggregatorRegistry.aggregate>[0]).metrics();
  }

  readonly contentType = Registry.PROMETHEUS_CONTENT_TYPE;

  /** What /readyz says: ready when every stack of the shard is. */
  health(): Health {
    const served = [...this.slots.values()].filter((s) => !s.removed);
    const per = served.map((s) => Object.assign(s.watcher.health(), { stack: s.spec.stack }));
    const notReady = per.filter((h) => !h.ready);
    const shard = `${this.opts.shard.index}/${this.opts.shard.count}`;
    let reason: string;
    if (!this.lastScan) reason = 'starting: the specs have not been read yet';
    else if (!served.length) reason = `ok: no stack falls in shard ${shard}`;
    else if (!notReady.length) reason = `ok: all ${served.length} stacks ready`;
    else reason = `${notReady.length} of ${served.length} stacks not ready (${notReady[0].stack}: ${notReady[0].reason}${notReady.length > 1 ? '; ...' : ''})`;
    const ready = !!this.lastScan && !notReady.length;
    this.metrics.ready.set(ready ? 1 : 0);
    this.metrics.stacksReady.set(per.length - notReady.length);
    return {
      ready,
      reason,
      shard,
      stacks: served.length,
      stacksReady: per.length - notReady.length,
      notReady: notReady.slice(0, 50).map((h) => ({ stack: h.stack, reason: h.reason, consecutiveFailures: h.consecutiveFailures })),
      invalidSpecs: (this.lastScan?.invalid ?? []).slice(0, 50),
      duplicates: this.lastScan?.duplicates ?? [],
    };
  }

  /** Ask every stack to stop: current steps finish, nothing new starts. */
  stop(): void {
    this.stopping = true;
    for (const s of this.slots.values()) s.watcher.stop();
    this.wake?.();
  }

  get stopped(): boolean {
    return this.stopping;
  }

  private newSlot(spec: FleetSpec, firstAt: number): Slot {
    const metrics = new WatchMetrics({ defaultMetrics: false });
    metrics.registry.setDefaultLabels({ stack: spec.stack });
    const o = this.opts;
    const watcher = new Watcher({
      specFile: spec.file,
      mode: spec.mode ?? o.mode,
      intervalMs: spec.intervalMs ?? o.intervalMs,
      notify: o.notify,
      profile: o.profile,
      endpointUrl: o.endpointUrl,
      logger: o.logger.child({ stack: spec.stack }),
      metrics,
      lockBucket: o.lockBucket,
      lockTimeout: o.lockTimeout,
      lock: o.lock,
      concurrency: o.concurrency,
      maxDeletes: o.maxDeletes,
      timeout: o.timeout,
      retryBaseMs: o.retryBaseMs,
      retryCapMs: o.retryCapMs,
    });
    return { spec, watcher, metrics, nextAt: firstAt };
  }

  /** Finds the specs again: serves new stacks, follows changed ones, drops removed ones. */
  rescan(first = false): FleetScan {
    const log = this.opts.logger;
    const scan = this.specs.scan();
    const now = Date.now();
    for (const spec of scan.stacks.values()) {
      const slot = this.slots.get(spec.stack);
      if (!slot || slot.removed) {
        if (slot?.running) continue; // leaving: served again once its last cycle is over
        const interval = spec.intervalMs ?? this.opts.intervalMs;
        const spread = first || slot ? Math.random() * Math.min(interval, this.opts.spreadMs ?? 30_000) : 0;
        this.slots.set(spec.stack, this.newSlot(spec, now + spread));
        log.info({ stack: spec.stack, spec: spec.file, mode: spec.mode ?? this.opts.mode, intervalMs: interval }, `serving stack ${spec.stack} (${spec.file})`);
        continue;
      }
      const w = slot.watcher.opts;
      const mode = spec.mode ?? this.opts.mode;
      const interval = spec.intervalMs ?? this.opts.intervalMs;
      if (w.specFile !== spec.file || w.mode !== mode || w.intervalMs !== interval) {
        log.info({ stack: spec.stack, spec: spec.file, mode, intervalMs: interval }, `stack ${spec.stack}: now ${mode} mode every ${interval / 1000}s from ${spec.file}`);
        if (interval < w.intervalMs) slot.nextAt = Math.min(slot.nextAt, now + interval);
        Object.assign(w, { specFile: spec.file, mode, intervalMs: interval });
      }
      slot.spec = spec;
    }
    for (const [stack, slot] of this.slots) {
      if (scan.stacks.has(stack) || slot.removed) continue;
      slot.removed = true;
      log.warn({ stack, spec: slot.spec.file }, `stack ${stack}: its spec is gone (or now falls in another shard): no longer served; nothing in AWS was changed or deleted`);
      if (!slot.running) this.slots.delete(stack);
    }
    const report = JSON.stringify([scan.invalid, scan.duplicates]);
    if (report !== this.scanReport) {
      for (const i of scan.invalid) log.error({ spec: i.file }, `not a valid spec, not served: ${i.message}`);
      for (const d of scan.duplicates) log.error({ stack: d.stack, spec: d.file }, `${d.file} names stack ${d.stack}, already served from ${d.servedFrom}: ignored`);
      this.scanReport = report;
    }
    this.metrics.stacks.set(scan.stacks.size);
    this.metrics.specFiles.set({ state: 'served' }, scan.stacks.size);
    this.metrics.specFiles.set({ state: 'other_shard' }, scan.otherShards);
    this.metrics.specFiles.set({ state: 'invalid' }, scan.invalid.length);
    this.metrics.specFiles.set({ state: 'duplicate' }, scan.duplicates.length);
    this.lastScan = scan;
    this.lastScanAt = now;
    return scan;
  }

  private start(slot: Slot): void {
    this.runningCount++;
    this.metrics.running.set(this.runningCount);
    this.metrics.lag.observe(Math.max(0, Date.now() - slot.nextAt) / 1000);
    slot.running = slot.watcher
      .cycle()
      .then((r) => {
        slot.last = r;
        slot.nextAt = Date.now() + slot.watcher.nextDelay(r);
      })
      .finally(() => {
        slot.running = undefined;
        this.runningCount--;
        this.metrics.running.set(this.runningCount);
        if (slot.removed && this.slots.get(slot.spec.stack) === slot) this.slots.delete(slot.spec.stack);
        this.health();
        this.wake?.();
      });
  }

  /** Starts the due stacks, earliest first, while slots are free. */
  private startDue(now: number, all = false): void {
    const due = [...this.slots.values()].filter((s) => !s.removed && !s.running && (all || s.nextAt <= now)).sort((a, b) => a.nextAt - b.nextAt);
    for (const s of due) {
      if (this.runningCount >= this.opts.maxConcurrentStacks || this.stopping) break;
      this.start(s);
    }
  }

  private async sleep(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, Math.max(0, ms));
      this.wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
    this.wake = undefined;
  }

  /** --once: one cycle of every stack (at most --max-concurrent-stacks at once). True when all succeeded. */
  async runOnce(): Promise<{ ok: boolean; results: Map<string, CycleResult> }> {
    const scan = this.rescan();
    const pending = new Set(this.slots.keys());
    while (pending.size && !this.stopping) {
      for (const s of [...this.slots.values()].filter((x) => pending.has(x.spec.stack) && !x.running)) {
        if (this.runningCount >= this.opts.maxConcurrentStacks) break;
        pending.delete(s.spec.stack);
        this.start(s);
      }
      await Promise.race([...this.slots.values()].map((s) => s.running).filter(Boolean));
    }
    await Promise.all([...this.slots.values()].map((s) => s.running));
    this.offLock();
    const results = new Map([...this.slots.values()].map((s) => [s.spec.stack, s.last!] as const).filter(([, r]) => r));
    return { ok: !scan.invalid.length && !scan.duplicates.length && [...results.values()].every((r) => r.ok) && results.size === this.slots.size, results };
  }

  /** Serves the shard's stacks until stop(). */
  async run(): Promise<void> {
    const rescanMs = this.opts.rescanMs ?? 5_000;
    this.rescan(true);
    try {
      while (!this.stopping) {
        let now = Date.now();
        if (now - this.lastScanAt >= rescanMs) this.rescan();
        this.startDue(now);
        now = Date.now();
        const idle = [...this.slots.values()].filter((s) => !s.removed && !s.running);
        const nextDue = Math.min(...idle.map((s) => s.nextAt), this.lastScanAt + rescanMs);
        // Memory back to the OS while no cycle runs: when idle for a while, else at most every 30 s.
        if (this.opts.releaseMemory && !this.runningCount && now - this.lastRelease > (nextDue - now > 1_000 ? 5_000 : 30_000)) {
          releaseMemory();
          this.lastRelease = Date.now();
        }
        // Woken early by a cycle that ends (a slot frees up) or by stop().
        await this.sleep(this.runningCount >= this.opts.maxConcurrentStacks ? rescanMs : nextDue - Date.now());
      }
      await Promise.all([...this.slots.values()].map((s) => s.running));
    } finally {
      this.offLock();
    }
  }
}
