// The controller loop. Level-based (controller-runtime's idea): every cycle re-reads the spec and
// live AWS instead of replaying events, through the same engine as `plan` and `apply`:
//   1. load the spec (spec-reload.ts: an invalid new spec is reported once and the last valid one is used);
//   2. makePlan: observe and diff;
//   3. apply mode: heal the drift with applyPlan, under the stack lock when one is configured;
//      detect mode: report it (log, metric, and a message to the topics of rules with notify.drift);
//   4. evaluate the alert rules that are due (evaluate.ts).
// A step that fails does not skip the next (alerts still run when healing failed); the cycle then
// counts as failed. No error ends the loop: transient ones (throttling, 5xx, endpoint down) are
// retried with exponential backoff up to a cap, the rest (permissions, credentials) at the normal
// interval, since only a person can fix them (readiness.ts, which also answers /readyz). stop() lets
// the current step finish, then returns.
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
import type { LoadedSpec } from '../spec/types.js';
import { AlertEvaluator, type RuleReport } from './evaluate.js';
import { AlertStepError } from './step-error.js';
import type { Health } from './http.js';
import type { Logger } from './logger.js';
import { releaseMemory } from './memory.js';
import { Readiness, type ReadinessOptions } from './readiness.js';
import { SpecReloader } from './spec-reload.js';
import type { WatchMetrics } from './metrics.js';
import { DriftReporter, driftOf, knownTopicsFromOutputs, knownTopicsFromPlan } from './drift.js';

/** watch's options; those of readiness and scheduling (jitter, retries, staleness) are ReadinessOptions. */
export interface WatchOptions extends LockFlags, ReadinessOptions {
  specFile: string;
  /** Values of the spec's parameters (--set, --values), given once at start. */
  params?: Record<string, string>;
  mode: 'apply' | 'detect';
  intervalMs: number;
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
  private readonly spec: SpecReloader;
  private readonly readiness: Readiness;
  private lockWarned = false;
  private stopping = false;
  private wake?: () => void;
  /** The running cycle's stop signal (its --timeout, or stop() after the grace). */
  private cycleAbort?: AbortController;

  private readonly drift: DriftReporter;

  constructor(readonly opts: WatchOptions) {
    this.evaluator = new AlertEvaluator({ logger: opts.logger, metrics: opts.metrics, stateFile: opts.stateFile });
    this.drift = new DriftReporter({ logger: opts.logger, metrics: opts.metrics, notify: opts.notify, mode: opts.mode, now: () => this.now() });
    this.spec = new SpecReloader(opts);
    this.readiness = new Readiness(opts);
  }

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }

  /** What /readyz says. */
  health(): Health {
    return this.readiness.health();
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
    return this.readiness.nextDelay(r);
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
    this.readiness.started(started);
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

    const loaded = this.spec.load();
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
    this.readiness.ended();
    const outcome = result.ok ? 'ok' : 'error';
    const end = Date.now();
    // What the cycle allocated is garbage now (its clients destroyed, its answers dropped).
    const gcMs = this.opts.releaseMemory && !this.stopping ? releaseMemory() : undefined;
    this.opts.metrics.cycles.inc({ outcome });
    this.opts.metrics.cycleDuration.observe({ outcome }, (end - started) / 1000);
    this.readiness.finished(result, end);
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
      if (!last.ok) this.opts.logger.info({ retryInMs: delay, consecutiveFailures: this.readiness.failures }, `next cycle in ${(delay / 1000).toFixed(1)}s`);
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
