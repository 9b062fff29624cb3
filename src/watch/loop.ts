// The controller loop. Level-based (controller-runtime's idea): every cycle re-reads the spec and
// live AWS instead of replaying events, through the same engine as `plan` and `apply`:
//   1. load the spec (an invalid new spec is reported once and the last valid one is used);
//   2. makePlan: observe and diff;
//   3. apply mode: heal the drift with applyPlan, under the stack lock when one is configured;
//      detect mode: report it (log, metric, and a message to the topics of rules with notify.drift);
//   4. evaluate the alert rules that are due (evaluate.ts).
// A step that fails does not skip the next (alerts still run when healing failed); the cycle then
// counts as failed. No error ends the loop: transient ones (throttling, 5xx, endpoint down) are
// retried with exponential backoff up to a cap, the rest (permissions, credentials) at the normal
// interval, since only a person can fix them. stop() lets the current step finish, then returns.
import { roleOptions } from '../aws/assume-role.js';
import { registry } from '../reconcilers/index.js';
import { Aws } from '../aws/clients.js';
import { explainAwsError } from '../aws/errors.js';
import { Stopped, timedOut } from '../commands/stop.js';
import { ApplyError, SafetyError, UserError } from '../engine/errors.js';
import { hasChanges, makePlan, type Change, type Plan, type PlanState } from '../engine/plan.js';
import { changesDone } from '../engine/apply.js';
import { reconcileUnderLock, type Releasable } from '../engine/reconcile.js';
import type { Ctx, EngineEvent } from '../engine/types.js';
import { acquireLocalLock } from '../lock/local.js';
import { acquireStackLock } from '../lock/lock.js';
import { resolveLock, type LockFlags } from '../lock/config.js';
import { parseDuration } from '../spec/common.js';
import { loadSpec } from '../spec/load.js';
import type { SpecOf } from '../spec/schema.js';
import type { LoadedSpec } from '../spec/types.js';
import { AlertEvaluator, AlertStepError, type RuleReport } from './evaluate.js';
import type { Health } from './http.js';
import type { Logger } from './logger.js';
import { releaseMemory } from './memory.js';
import type { WatchMetrics } from './metrics.js';
import { DriftReporter, driftOf, knownTopicsFromOutputs, knownTopicsFromPlan } from './drift.js';

export interface WatchOptions extends LockFlags {
  specFile: string;
  /** Values of the spec's parameters (--set, --values), given once at start. */
  params?: Record<string, string>;
  mode: 'apply' | 'detect';
  intervalMs: number;
  /** Fraction of the interval added or removed at random (default 0.1). */
  jitter?: number;
  /** Publish notifications (false: --no-notify; state is then not persisted either). */
  notify: boolean;
  region?: string;
  profile?: string;
  endpointUrl?: string;
  logger: Logger;
  metrics: WatchMetrics;
  stateFile?: string;
  /** The clock of alert evaluation (tests drive it; default Date.now). */
  now?: () => number;
  /** First retry delay after a transient failure (default min(5 s, interval)). */
  retryBaseMs?: number;
  /** Longest retry delay (default 5 min). */
  retryCapMs?: number;
  /** A successful cycle older than this makes /readyz fail (default 2 x interval + 60 s). */
  readyStaleMs?: number;
  concurrency?: number;
  maxDeletes?: number;
  /** --timeout: a bound on each cycle, e.g. "15m"; a cycle that reaches it fails and the next one follows. */
  timeout?: string;
  /** After stop(), how long the step in flight may go on before its AWS calls are ended (default 5 s). */
  stopGraceMs?: number;
  /**
   * At the end of each cycle, before it is logged as done, one full compacting GC that returns what the
   * cycle freed to the OS (memory.ts): the process then sleeps at its smallest. The service sets it
   * (`reconcile watch` without --once); off by default (tests, one-shot runs).
   */
  releaseMemory?: boolean;
}

export interface CycleResult {
  ok: boolean;
  /** Errors of the steps that failed, in words. */
  errors: { step: string; message: string; hint?: string; terminal: boolean }[];
  /** Resources that differed from the spec. */
  drift: Change[];
  /** Changes applied (apply mode). */
  applied: number;
  alerts: RuleReport[];
  /** True when stop() cut the cycle short between steps. */
  stopped?: boolean;
}

export { driftFingerprint, driftMessage } from './drift.js';

export class Watcher {
  readonly evaluator: AlertEvaluator;
  private lastGood?: LoadedSpec;
  private lastSpecProblem?: string;
  private lastWarnings?: string;
  private lockWarned = false;
  private lastCycle?: { ok: boolean; at: number; errors: CycleResult['errors'] };
  private lastSuccessAt?: number;
  private failures = 0;
  private stopping = false;
  private wake?: () => void;
  /** The running cycle's stop signal (its --timeout, or stop() after the grace). */
  private cycleAbort?: AbortController;
  private cycleStartedAt?: number;

  private readonly drift: DriftReporter;

  constructor(readonly opts: WatchOptions) {
    this.evaluator = new AlertEvaluator({ logger: opts.logger, metrics: opts.metrics, stateFile: opts.stateFile });
    this.drift = new DriftReporter({ logger: opts.logger, metrics: opts.metrics, notify: opts.notify, mode: opts.mode, now: () => this.now() });
  }

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }

  /** What /readyz says. */
  health(): Health {
    const staleMs = this.opts.readyStaleMs ?? 2 * this.opts.intervalMs + 60_000;
    const c = this.lastCycle;
    let ready = false;
    let reason: string;
    // A cycle that hangs (an endpoint that never answers) is said, until its --timeout ends it.
    const running = this.cycleStartedAt !== undefined ? `; the current cycle has been running for ${Math.round((Date.now() - this.cycleStartedAt) / 1000)}s${this.opts.timeout ? ` (--timeout ${this.opts.timeout})` : ''}` : '';
    if (!c) reason = `starting: no cycle has finished yet${running}`;
    else if (!c.ok) reason = `the last cycle failed: ${c.errors.map((e) => e.message).join('; ')}${running}`;
    else if (Date.now() - (this.lastSuccessAt ?? 0) > staleMs) reason = `the last successful cycle ended ${Math.round((Date.now() - this.lastSuccessAt!) / 1000)}s ago${running}`;
    else {
      ready = true;
      reason = 'ok';
    }
    this.opts.metrics.ready.set(ready ? 1 : 0);
    return {
      ready,
      reason,
      mode: this.opts.mode,
      spec: this.opts.specFile,
      lastCycleAt: c ? new Date(c.at).toISOString() : null,
      lastSuccessAt: this.lastSuccessAt ? new Date(this.lastSuccessAt).toISOString() : null,
      consecutiveFailures: this.failures,
    };
  }

  /** Ask the loop to stop: the current step finishes, the next does not start. */
  stop(): void {
    this.stopping = true;
    this.wake?.();
    // A step that hangs (an endpoint that never answers) must not hold the process: its calls end
    // after a grace that lets a healthy step finish.
    const ac = this.cycleAbort;
    if (ac) setTimeout(() => ac.abort(new Stopped('stopped: watch is shutting down', undefined, 0, 'signal')), this.opts.stopGraceMs ?? 5_000).unref();
  }

  get stopped(): boolean {
    return this.stopping;
  }

  /** The delay before the next cycle: the interval (with jitter), or a backoff after a transient failure. */
  nextDelay(r: Pick<CycleResult, 'ok' | 'errors'>): number {
    const interval = this.opts.intervalMs;
    const j = this.opts.jitter ?? 0.1;
    const withJitter = (ms: number) => Math.max(0, Math.round(ms * (1 - j + Math.random() * 2 * j)));
    if (r.ok || r.errors.every((e) => e.terminal)) return withJitter(interval);
    const base = this.opts.retryBaseMs ?? Math.min(5_000, interval);
    const cap = this.opts.retryCapMs ?? 300_000;
    return withJitter(Math.min(cap, base * 2 ** Math.min(30, this.failures - 1)));
  }

  private loadSpec(): LoadedSpec | undefined {
    const log = this.opts.logger;
    const r = loadSpec(this.opts.specFile, { params: this.opts.params });
    if (r.ok) {
      this.opts.metrics.specValid.set(1);
      if (this.lastGood?.hash !== r.loaded.hash)
        log.info({ spec: this.opts.specFile, stack: r.loaded.spec.stack, resources: r.loaded.resources.length, hash: r.loaded.hash.slice(0, 12) }, this.lastGood ? 'the spec changed: using the new one' : 'spec loaded');
      const warnings = r.loaded.warnings.map((w) => `${w.file}:${w.line}:${w.col} ${w.message}`).join('\n');
      if (warnings && warnings !== this.lastWarnings) for (const w of r.loaded.warnings) log.warn({ file: w.file, line: w.line, col: w.col, hint: w.hint }, w.message);
      this.lastWarnings = warnings;
      if (this.lastGood?.hash !== r.loaded.hash)
        for (const a of r.loaded.resources.filter((x) => x.kind === 'alert-rule')) {
          const every = (a.body as SpecOf<'alert-rule'>).every;
          if (parseDuration(every) < this.opts.intervalMs)
            log.warn({ rule: a.name }, `alert rule ${a.name} asks to run every ${every}, but watch wakes every ${this.opts.intervalMs / 1000}s: lower --interval to evaluate it that often`);
        }
      this.lastSpecProblem = undefined;
      this.lastGood = r.loaded;
      return r.loaded;
    }
    this.opts.metrics.specValid.set(0);
    this.opts.metrics.specErrors.inc();
    const text = r.diagnostics.map((d) => `${d.file}:${d.line}:${d.col} ${d.severity} ${d.message}${d.hint ? ` (hint: ${d.hint})` : ''}`).join('\n');
    if (text !== this.lastSpecProblem) {
      for (const d of r.diagnostics.filter((x) => x.severity === 'error')) log.error({ file: d.file, line: d.line, col: d.col, hint: d.hint }, `spec: ${d.message}`);
      log.error(
        { spec: this.opts.specFile },
        this.lastGood ? 'the spec on disk is invalid: still using the last valid one (fix it; `reconcile validate` shows the same errors)' : 'the spec is invalid and there is no valid one to use yet',
      );
    }
    this.lastSpecProblem = text;
    return this.lastGood;
  }

  private makeCtx(loaded: LoadedSpec, signal: AbortSignal): Ctx {
    const region = this.opts.region ?? loaded.spec.region;
    const aws = new Aws({ region, profile: this.opts.profile, endpoint: this.opts.endpointUrl, signal, ...roleOptions(loaded.spec) });
    aws.onCall(this.opts.metrics.onCall);
    const log = this.opts.logger;
    return {
      stack: loaded.spec.stack,
      region,
      aws,
      emit: (e: EngineEvent) => {
        const fields = { ...(e.address ? { address: e.address } : {}), ...(e.code ? { code: e.code, ...e.data } : {}) };
        if (e.type === 'warning') log.warn(fields, e.message);
        else log.info(fields, e.message);
      },
    };
  }

  /** One cycle. Never throws. */
  async cycle(): Promise<CycleResult> {
    const started = Date.now();
    const log = this.opts.logger;
    const result: CycleResult = { ok: true, errors: [], drift: [], applied: 0, alerts: [] };
    const abort = new AbortController();
    const timeout = this.opts.timeout;
    const timer = timeout ? setTimeout(() => abort.abort(timedOut('the cycle', timeout)), parseDuration(timeout)) : undefined;
    this.cycleAbort = abort;
    this.cycleStartedAt = started;
    const fail = (step: string, err: unknown) => {
      // Whatever error a step raised once the cycle was stopped, the stop is the cause (and passes).
      const e = abort.signal.aborted ? new AlertStepError((abort.signal.reason as Error).message, (abort.signal.reason as Stopped).hint, false, undefined) : err;
      let message: string;
      let hint: string | undefined;
      let terminal: boolean;
      if (e instanceof AlertStepError) ({ message, hint, terminal } = e);
      else if (e instanceof ApplyError) {
        message = `apply failed: ${e.failed.map((f) => `${f.address}: ${f.message}`).join('; ')}`;
        hint = e.failed.find((f) => f.hint)?.hint;
        terminal = false;
      } else if (e instanceof UserError) {
        // A safety rule, the lock held by another run: a person (or the other run) has to act.
        ({ message, hint } = e);
        terminal = true;
      } else ({ message, hint, terminal } = explainAwsError(e));
      result.ok = false;
      result.errors.push({ step, message, hint, terminal });
      log.error({ step, hint, terminal }, `${step}: ${message}`);
    };

    const loaded = this.loadSpec();
    if (!loaded) {
      clearTimeout(timer);
      result.ok = false;
      result.errors.push({ step: 'spec', message: `${this.opts.specFile} is not a valid spec`, hint: `run \`reconcile validate ${this.opts.specFile}\``, terminal: true });
      return this.finish(result, started);
    }
    const ctx = this.makeCtx(loaded, abort.signal);
    ctx.stop = abort.signal;
    const knownTopics = new Map<string, string>();
    try {
      // 2-3. Plan, then heal or report.
      try {
        const first = await makePlan(registry, loaded, ctx, { prune: loaded.spec.prune, maxDeletes: this.opts.maxDeletes });
        const { plan, state } = first;
        knownTopicsFromPlan(loaded, state, knownTopics);
        result.drift = driftOf(plan);
        this.opts.metrics.driftResources.set(result.drift.length);
        this.opts.metrics.driftFound.inc(result.drift.length);
        this.drift.log(result.drift);
        if (this.opts.mode === 'apply' && hasChanges(plan) && !this.stopping) {
          result.applied = await this.heal(loaded, ctx, first, knownTopics);
        } else if (this.opts.mode === 'detect' && !this.stopping) {
          await this.drift.notify(loaded, ctx, result.drift, knownTopics);
        }
      } catch (e) {
        fail(this.opts.mode === 'apply' ? 'reconcile' : 'plan', e);
      }
      if (this.stopping) {
        result.stopped = true;
        return this.finish(result, started);
      }
      // 4. Alert rules.
      try {
        const run = await this.evaluator.run(loaded, ctx.aws, {
          now: this.now(),
          notify: this.opts.notify,
          persist: this.opts.notify,
          knownTopics,
          awsFor: (region) => new Aws({ region, profile: this.opts.profile, endpoint: this.opts.endpointUrl, signal: abort.signal, ...roleOptions(loaded.spec) }),
          slackMs: this.opts.intervalMs / 2,
        });
        result.alerts = run.rules;
        for (const r of run.rules) if (r.error) fail(`alert rule ${r.rule}`, new AlertStepError(r.error.message, r.error.hint, false, undefined));
      } catch (e) {
        fail('alerts', e);
      }
    } finally {
      clearTimeout(timer);
      this.cycleAbort = undefined;
      ctx.aws.destroy();
    }
    return this.finish(result, started);
  }

  private finish(result: CycleResult, started: number): CycleResult {
    this.cycleStartedAt = undefined;
    const outcome = result.ok ? 'ok' : 'error';
    const end = Date.now();
    // What the cycle allocated is garbage now (its clients destroyed, its answers dropped).
    const gcMs = this.opts.releaseMemory && !this.stopping ? releaseMemory() : undefined;
    this.opts.metrics.cycles.inc({ outcome });
    this.opts.metrics.cycleDuration.observe({ outcome }, (end - started) / 1000);
    this.lastCycle = { ok: result.ok, at: end, errors: result.errors };
    if (result.ok) {
      this.failures = 0;
      this.lastSuccessAt = end;
      this.opts.metrics.lastSuccess.set(end / 1000);
    } else this.failures++;
    this.health();
    this.opts.logger[result.ok ? 'info' : 'warn'](
      {
        outcome,
        ms: end - started,
        drift: result.drift.length,
        applied: result.applied,
        alarms: result.alerts.reduce((n, r) => n + r.targets.filter((t) => t.state === 'ALARM').length, 0),
        ...(gcMs !== undefined ? { gcMs } : {}),
      },
      result.ok ? 'cycle done' : `cycle failed (${result.errors.map((e) => e.step).join(', ')})`,
    );
    return result;
  }

  /** Applies the plan, under the stack lock when one is configured (planning again once it is held). */
  private async heal(loaded: LoadedSpec, ctx: Ctx, first: { plan: Plan; state: PlanState }, knownTopics: Map<string, string>): Promise<number> {
    const log = this.opts.logger;
    const planOpts = { prune: loaded.spec.prune, maxDeletes: this.opts.maxDeletes };
    const refuseBlocked = (p: Plan) => {
      if (!p.blocked.length) return;
      throw new SafetyError(
        `the plan is blocked, not healing: ${p.blocked.map((b) => `${b.address} ${b.reason}`).join('; ')}`,
        'a safety rule (protect, --max-deletes) stops watch from applying this plan; apply it by hand if it is meant',
      );
    };
    refuseBlocked(first.plan);
    const { result } = await reconcileUnderLock(registry, loaded, ctx, {
      lock: () => this.healingLock(loaded, ctx),
      plan: planOpts,
      // Unlocked, the plan of this cycle is applied as it is; under the lock it is made again.
      planned: first,
      review: (p) => {
        refuseBlocked(p);
        if (!hasChanges(p)) return false;
        log.info({ changes: driftOf(p).length }, 'healing drift: applying the plan');
        return true;
      },
      apply: { concurrency: this.opts.concurrency },
    });
    if (!result) return 0;
    const changes = changesDone(result.done); // a replacement is one change, not its destroy and its create
    for (const action of changes.values()) this.opts.metrics.changesApplied.inc({ action });
    knownTopicsFromOutputs(loaded, result.outputs, knownTopics);
    log.info({ applied: changes.size }, `healed: ${changes.size} change(s) applied`);
    this.drift.healed();
    return changes.size;
  }

  /**
   * The lock around one healing: the stack lock in S3 when the spec or flags name a bucket, else the
   * local lock (an apply on this machine and the healing never overlap), none with --no-lock. watch
   * does not queue behind a long apply: it waits 10 s at most and tries again at the next cycle.
   */
  private async healingLock(loaded: LoadedSpec, ctx: Ctx): Promise<Releasable | undefined> {
    const log = this.opts.logger;
    const decision = resolveLock(loaded.spec, this.opts);
    if (!decision.lock && this.opts.lock !== false) {
      const lease = await acquireLocalLock(ctx, {
        command: `watch ${this.opts.specFile}`,
        timeoutMs: this.opts.lockTimeout !== undefined ? parseDuration(this.opts.lockTimeout) : 10_000,
      });
      if (!this.lockWarned) {
        this.lockWarned = true;
        log.warn(`no lock bucket: healing locks stack "${loaded.spec.stack}" on this machine only; nothing stops a run on another machine from changing it at the same time. Name an existing S3 bucket with lock: { bucket: NAME } in the spec or --lock-bucket NAME`);
      }
      return lease;
    }
    if (decision.lock)
      return acquireStackLock(ctx, {
        bucket: decision.lock.bucket,
        region: decision.lock.region,
        timeoutMs: this.opts.lockTimeout !== undefined ? decision.lock.timeoutMs : 10_000,
        command: `watch ${this.opts.specFile}`,
        signals: false,
      });
    if (!this.lockWarned) {
      this.lockWarned = true;
      log.warn(decision.warning);
    }
    return undefined;
  }

  /** Cycles until stop(): the interval (with jitter) after a success, a backoff after a failure. */
  async run(opts: { once?: boolean } = {}): Promise<CycleResult | undefined> {
    let last: CycleResult | undefined;
    while (!this.stopping) {
      last = await this.cycle();
      if (opts.once || this.stopping) break;
      const delay = this.nextDelay(last);
      if (!last.ok) this.opts.logger.info({ retryInMs: delay, consecutiveFailures: this.failures }, `next cycle in ${(delay / 1000).toFixed(1)}s`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, delay);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.wake = undefined;
    }
    return last;
  }
}
