// `reconcile apply` and `reconcile destroy`: show the plan, confirm, change AWS, report.
import { readFileSync } from 'node:fs';
import { applyPlan } from '../engine/apply.js';
import { UserError } from '../engine/errors.js';
import { hasChanges, makePlan, type Plan, type PlanOptions } from '../engine/plan.js';
import { renderText, summaryLine } from '../engine/render.js';
import type { Outputs } from '../engine/types.js';
import { lockForCommand, type LockFlags } from '../lock/config.js';
import type { Lease } from '../lock/lock.js';
import { eventPrinter, loadOrThrow, makeCtx, type GlobalOptions, type Io } from './common.js';

export interface ApplyCommandOptions extends PlanOptions, LockFlags {
  yes?: boolean;
  concurrency?: number;
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
  try {
    const p = JSON.parse(text) as Plan;
    if (p.formatVersion !== 1 || !Array.isArray(p.changes)) throw new Error('not a plan');
    return p;
  } catch {
    throw new UserError(`${file} is neither a spec nor a plan saved by \`reconcile plan --out\``);
  }
}

async function confirmOrRefuse(io: Io, yes: boolean | undefined, question: string): Promise<void> {
  if (yes) return;
  if (!io.confirm) throw new UserError('refusing to change AWS without confirmation: there is no terminal to ask on', 'pass --yes to apply without asking (e.g. in CI)');
  if (!(await io.confirm(question))) throw new UserError('cancelled: nothing was changed');
}

export async function applyCommand(file: string, opts: ApplyCommandOptions, g: GlobalOptions, io: Io, destroy = false): Promise<number> {
  const saved = destroy ? undefined : readSavedPlan(file);
  const specFile = saved ? saved.specFile : file;
  const loaded = loadOrThrow(specFile, g);
  if (saved && saved.specHash !== loaded.hash)
    throw new UserError(`${specFile} changed since the plan ${file} was made: refusing to apply a stale plan`, 'run `reconcile plan --out` again');
  const ctx = makeCtx(loaded, g, eventPrinter(io));
  let lease: Lease | undefined;
  try {
    // The stack lock first: the plan must see what a run that held it before us has done.
    lease = await lockForCommand(ctx, loaded.spec, opts, `${destroy ? 'destroy' : 'apply'} ${file}`);
    const planOpts: PlanOptions = saved ? { prune: saved.prune, destroy: saved.mode === 'destroy' } : { ...opts, destroy };
    const { plan, state } = await makePlan(loaded, ctx, planOpts);
    if (saved && plan.liveHash !== saved.liveHash)
      throw new UserError(`live AWS changed since the plan ${file} was made: refusing to apply it`, 'run `reconcile plan --out` again and review the new plan');
    io.out(renderText(plan, { color: io.color }));
    if (plan.blocked.length) return 3;
    if (!hasChanges(plan)) {
      printOutputs(io, Object.fromEntries(state.live));
      return 0;
    }
    if (!saved) await confirmOrRefuse(io, opts.yes, destroy ? `Destroy everything stack "${plan.stack}" owns? Only 'yes' will be accepted` : `Apply these changes to stack "${plan.stack}"? Only 'yes' will be accepted`);
    const start = Date.now();
    try {
      const result = await applyPlan(plan, state, ctx, { concurrency: opts.concurrency });
      const secs = ((Date.now() - start) / 1000).toFixed(1);
      io.out(`\n${destroy ? 'Destroy' : 'Apply'} complete in ${secs}s: ${result.done.length} change(s). (${summaryLine(plan).replace(/^Plan: /, '')})`);
      if (!destroy) printOutputs(io, Object.fromEntries(state.live));
      return 0;
    } catch (e) {
      const { ApplyError } = await import('../engine/errors.js');
      if (e instanceof ApplyError) {
        io.err(`\n${destroy ? 'Destroy' : 'Apply'} failed.`);
        for (const f of e.failed) io.err(`  ${f.address}: ${f.message}${f.hint ? `\n    hint: ${f.hint}` : ''}`);
        if (e.done.length) io.err(`Already done: ${e.done.join(', ')}`);
        if (e.skipped.length) io.err(`Not attempted (they depend on a failure): ${e.skipped.join(', ')}`);
        io.err('Nothing was lost: fix the cause and run the same command again; it picks up where this run stopped.');
        return 1;
      }
      throw e;
    }
  } finally {
    await lease?.release();
    ctx.aws.destroy();
  }
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
