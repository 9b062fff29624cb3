// `reconcile apply` and `reconcile destroy`: show the plan, confirm, change AWS, report.
import { registry } from '../reconcilers/index.js';
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { changesDone, type ApplyResult } from '../engine/apply.js';
import { ApplyError, SafetyError, UserError } from '../engine/errors.js';
import { hasChanges, type Plan, type PlanOptions, type PlanState } from '../engine/plan.js';
import { reconcileUnderLock } from '../engine/reconcile.js';
import { renderText } from '../engine/render.js';
import type { EngineEvent, Outputs } from '../engine/types.js';
import { lockForCommand, type LockFlags } from '../lock/config.js';
import { Stopped, commandStopper, signalExitCode } from './stop.js';
import { eventPrinter, loadOrThrow, makeCtx, type GlobalOptions, type Io } from './common.js';

export interface ApplyCommandOptions extends PlanOptions, LockFlags {
  yes?: boolean;
  concurrency?: number;
  /** --timeout: a bound on the whole command, e.g. "30m". */
  timeout?: string;
}

/** A saved plan file (from `plan --out`), or undefined if `file` is a spec. */
function readSavedPlan(file: string): Plan | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined; // loadOrThrow reports the missing file
  }
  if (!text.trimStart().startsWith('{')) return undefined;
  let p: Partial<Plan> | null;
  try {
    p = JSON.parse(text) as Partial<Plan> | null;
  } catch {
    return undefined; // a spec as a YAML flow mapping ({apiVersion: reconcile/v1, ...}): the loader reads it
  }
  // A spec written as JSON (YAML's subset) is a spec: a plan says formatVersion.
  if (p !== null && typeof p === 'object' && !Array.isArray(p) && !('formatVersion' in p) && 'apiVersion' in p) return undefined;
  if (p?.formatVersion !== 1 || !Array.isArray(p.changes)) throw new UserError(`${file} is neither a spec nor a plan saved by \`reconcile plan --out\``);
  return p as Plan;
}

async function confirmOrRefuse(io: Io, yes: boolean | undefined, question: string): Promise<void> {
  if (yes) return;
  if (!io.confirm) throw new UserError('refusing to change AWS without confirmation: there is no terminal to ask on', 'pass --yes to apply without asking (e.g. in CI)');
  if (!(await io.confirm(question))) throw new UserError('cancelled: nothing was changed');
}

export async function applyCommand(file: string, opts: ApplyCommandOptions, g: GlobalOptions, io: Io, destroy = false): Promise<number> {
  const saved = destroy ? undefined : readSavedPlan(file);
  const specFile = saved ? saved.specFile : file;
  if (saved && !isAbsolute(specFile) && !existsSync(specFile))
    throw new UserError(
      `the plan ${file} was made from ${specFile}, a path relative to the folder plan ran in, and there is no ${specFile} in this folder (${process.cwd()})`,
      'run apply in the folder plan ran in (where the spec is), with the same --set / --values',
    );
  const loaded = loadOrThrow(specFile, g);
  if (saved && saved.specHash !== loaded.hash) {
    const given = saved.params?.length ? saved.params : undefined;
    throw new UserError(
      `${specFile} changed since the plan ${file} was made, or ${given ? `the values of its parameters (${given.join(', ')}: given to plan with --set / --values)` : 'a value it takes from the environment or from --set / --values'} differ${given ? '' : 's'}: refusing to apply a stale plan`,
      given ? `pass apply the same --set / --values as the plan, or run \`reconcile plan --out\` again` : 'run `reconcile plan --out` again',
    );
  }
  // --prune decides what a plan deletes: a saved plan was made with it or without it, and is applied
  // exactly, so apply's own --prune cannot widen it (silently keeping the plan's choice misled).
  if (saved && opts.prune && !saved.prune)
    throw new UserError(
      `the plan ${file} was made without --prune: apply carries out a saved plan exactly, and --prune cannot add deletes to it`,
      'run `reconcile plan --prune --out` for a plan that deletes, then apply that plan',
    );
  // A plan a safety rule blocked (exit 3 from plan) stays blocked: its re-plan below would not know
  // the --max-deletes it was made with.
  if (saved?.blocked?.length)
    throw new SafetyError(
      `the plan ${file} was blocked by a safety rule (${saved.blocked.map((b) => `${b.address}: ${b.reason}`).join('; ')}): refusing to apply it`,
      'resolve what blocks it, then run `reconcile plan --out` again',
    );
  const verb = destroy ? 'Destroy' : 'Apply';
  const stopper = commandStopper(destroy ? 'destroy' : 'apply', opts.timeout);
  const progress = new InFlight();
  const print = eventPrinter(io);
  const ctx = makeCtx(loaded, g, (e) => (progress.see(e), print(e)), stopper.signal);
  // Ctrl-C / SIGTERM while changing AWS: the changes in flight finish, no new one starts; a second
  // signal stops those too (a rerun picks up either way). Before the changes start: stop at once.
  const drain = new AbortController();
  ctx.stop = drain.signal;
  let applying = false;
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    if (signals > 2) process.exit(signalExitCode(sig));
    const stop = new Stopped(`interrupted (${sig})${applying ? '' : ': nothing was changed'}`, undefined, signalExitCode(sig), 'signal');
    drain.abort(stop);
    if (applying && signals === 1) {
      const now = progress.now();
      io.err(
        `\n${sig}: no new change starts; waiting for the ${now.length} in flight to finish${now.length ? ` (${now.join(', ')})` : ''}. ${sig === 'SIGINT' ? 'Press Ctrl-C again' : 'Send it again'} to stop them too.`,
      );
      progress.snapshot();
      return;
    }
    if (applying) progress.snapshot();
    stopper.stop(stop);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  stopper.signal.addEventListener('abort', () => {
    drain.abort(stopper.signal.reason);
    if (applying) progress.snapshot();
  });
  try {
    const planOpts: PlanOptions = saved ? { prune: saved.prune, destroy: saved.mode === 'destroy', maxDeletes: opts.maxDeletes } : { ...opts, destroy };
    let early: number | undefined;
    let reviewed: { plan: Plan; state: PlanState } | undefined;
    let start = 0;
    let result: ApplyResult | undefined;
    let failure: ApplyError | undefined;
    try {
      // The stack lock first: the plan must see what a run that held it before us has done.
      ({ result } = await reconcileUnderLock(registry, loaded, ctx, {
        lock: () => lockForCommand(ctx, loaded.spec, opts, `${destroy ? 'destroy' : 'apply'} ${file}`),
        plan: planOpts,
        review: async (plan, state) => {
          reviewed = { plan, state };
          if (saved && plan.liveHash !== saved.liveHash)
            throw new UserError(`live AWS changed since the plan ${file} was made: refusing to apply it`, 'run `reconcile plan --out` again and review the new plan');
          io.out(renderText(plan, { color: io.color }));
          if (plan.blocked.length) early = 3;
          else if (!hasChanges(plan)) {
            printOutputs(io, Object.fromEntries(state.live));
            early = 0;
          }
          if (early !== undefined) return false;
          if (!saved) await confirmOrRefuse(io, opts.yes, destroy ? `Destroy everything stack "${plan.stack}" owns? Only 'yes' will be accepted` : `Apply these changes to stack "${plan.stack}"? Only 'yes' will be accepted`);
          start = Date.now();
          applying = true;
          return true;
        },
        apply: { concurrency: opts.concurrency },
      }));
    } catch (e) {
      if (!(e instanceof ApplyError)) throw stopper.reason(e);
      failure = e;
    }
    if (early !== undefined) return early;
    const { plan, state } = reviewed!;
    const stop = drain.signal.aborted ? (drain.signal.reason as Stopped) : undefined;
    if (stop) return reportStopped(io, verb, stop, progress, result?.done.map((d) => d.address) ?? failure!.done, failure, plan);
    if (failure) {
      io.err(`\n${verb} failed.`);
      for (const f of failure.failed) io.err(`  ${f.address}: ${f.message}${f.hint ? `\n    hint: ${f.hint}` : ''}`);
      if (failure.done.length) io.err(`Already done: ${failure.done.join(', ')}`);
      if (failure.skipped.length) io.err(`Not attempted (they depend on a failure): ${failure.skipped.join(', ')}`);
      io.err(RERUN);
      return 1;
    }
    const secs = ((Date.now() - start) / 1000).toFixed(1);
    io.out(`\n${verb} complete in ${secs}s: ${doneSummary(result!.done)}.`);
    if (!destroy) printOutputs(io, Object.fromEntries(state.live));
    return 0;
  } catch (e) {
    throw stopper.reason(e);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    ctx.aws.destroy();
    stopper.dispose();
  }
}

/**
 * "3 changes: 1 added, 1 changed, 1 replaced, 0 destroyed" -- counted from what was done, one per
 * resource (a replacement's destroy and create are one change), so the count is the breakdown's sum.
 */
export function doneSummary(done: readonly { address: string; action: string }[]): string {
  const byAddress = changesDone(done);
  const n = { create: 0, change: 0, replace: 0, delete: 0 };
  for (const a of byAddress.values()) n[a === 'create' || a === 'replace' || a === 'delete' ? a : 'change']++;
  const total = byAddress.size;
  return `${total} change${total === 1 ? '' : 's'}: ${n.create} added, ${n.change} changed, ${n.replace} replaced, ${n.delete} destroyed`;
}

const RERUN = 'Nothing was lost: fix the cause and run the same command again; it picks up where this run stopped.';

/** Which changes are in flight (from apply's start / end events), and which were when the run was stopped. */
class InFlight {
  private readonly running = new Set<string>();
  atStop?: string[];
  see(e: EngineEvent): void {
    if (!e.address || !e.phase) return;
    if (e.phase === 'start') this.running.add(e.address);
    else this.running.delete(e.address);
  }
  now(): string[] {
    return [...this.running];
  }
  snapshot(): void {
    this.atStop ??= this.now();
  }
}

/** After Ctrl-C, SIGTERM or --timeout during apply: what was done, what was in flight, what did not start. */
function reportStopped(io: Io, verb: string, stop: Stopped, progress: InFlight, done: string[], failure: ApplyError | undefined, plan: Plan): number {
  const changes = new Set(plan.changes.filter((c) => !['keep', 'read', 'noop'].includes(c.action)).map((c) => c.address));
  const inFlight = progress.atStop ?? [];
  const failed = new Map((failure?.failed ?? []).map((f) => [f.address, f.message]));
  io.err(`\n${stop.why === 'timeout' ? `${verb} stopped: ${stop.message}` : `${verb} ${stop.message}`}.${stop.hint ? `\n  hint: ${stop.hint}` : ''}`);
  io.err(`  Done: ${done.length ? done.join(', ') : 'nothing'}`);
  if (inFlight.length)
    io.err(`  In flight when stopped: ${inFlight.map((a) => `${a} (${done.includes(a) ? 'finished' : failed.has(a) ? `stopped: ${failed.get(a)}` : 'stopped'})`).join(', ')}`);
  const other = [...failed].filter(([a]) => !inFlight.includes(a));
  for (const [a, m] of other) io.err(`  Failed: ${a}: ${m}`);
  const notStarted = [...(failure?.notStarted ?? []), ...(failure?.skipped ?? [])].filter((a) => changes.has(a));
  if (notStarted.length) io.err(`  Not started: ${notStarted.join(', ')}`);
  io.err('Nothing was lost: run the same command again; it picks up where this run stopped.');
  return stop.exitCode;
}

/** Prints the interesting outputs (ids, IPs, DNS names) of every resource. */
export function printOutputs(io: Io, live: Record<string, { outputs: Outputs }>): void {
  const lines: string[] = [];
  for (const [address, o] of Object.entries(live)) {
    const extra = Object.entries(o.outputs).filter(([k, v]) => k !== 'id' && v && /ip|dns|url|endpoint/i.test(k));
    if (extra.length) lines.push(`  ${address}: ${extra.map(([k, v]) => `${k}=${v}`).join(' ')}`);
  }
  if (lines.length) io.out(`\nOutputs:\n${lines.join('\n')}`);
}
