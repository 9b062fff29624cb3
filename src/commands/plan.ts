// `reconcile plan`: read live AWS and show what apply would change, and why.
import { registry } from '../reconcilers/index.js';
import { writeFileSync } from 'node:fs';
import { makePlan, hasChanges, type Plan, type PlanOptions } from '../engine/plan.js';
import { renderJson, renderMarkdown, renderText } from '../engine/render.js';
import { specParams } from '../spec/params.js';
import { fileErrorWhy, UserError } from '../errors.js';
import { commandStopper } from './stop.js';
import { eventPrinter, loadOrThrow, makeCtx, type GlobalOptions, type Io } from './common.js';

export interface PlanCommandOptions extends PlanOptions {
  out?: string;
  format?: 'text' | 'json' | 'markdown';
  detailedExitcode?: boolean;
  verbose?: boolean;
  /** --timeout: a bound on the whole command, e.g. "5m". */
  timeout?: string;
}

export function renderPlan(plan: Plan, format: PlanCommandOptions['format'], io: Io, verbose = false): string {
  if (format === 'json') return renderJson(plan);
  if (format === 'markdown') return renderMarkdown(plan);
  return renderText(plan, { color: io.color, verbose });
}

export async function planCommand(file: string, opts: PlanCommandOptions, g: GlobalOptions, io: Io): Promise<number> {
  const loaded = loadOrThrow(file, g);
  const machine = opts.format === 'json' || opts.format === 'markdown';
  const stopper = commandStopper('plan', opts.timeout);
  const ctx = makeCtx(loaded, g, eventPrinter(io, true), stopper.signal);
  try {
    for (const w of loaded.warnings) io.err(`warning: ${w.file}:${w.line}:${w.col} ${w.message}`);
    const { plan } = await makePlan(registry, loaded, ctx, opts);
    io.out(renderPlan(plan, opts.format, io, opts.verbose));
    if (opts.out) {
      const params = Object.keys(specParams(g));
      try {
        writeFileSync(opts.out, renderJson(params.length ? { ...plan, params } : plan) + '\n');
      } catch (e) {
        throw new UserError(`cannot write the plan to ${opts.out}: ${fileErrorWhy(e, 'its folder does not exist')}`, 'give --out a file in a folder that exists and that you can write to');
      }
      const flags = params.length ? `, with the same --set / --values as this plan (${params.join(', ')})` : '';
      if (!machine) io.out(`\nSaved the plan to ${opts.out}. Apply exactly it with: reconcile apply ${opts.out}${flags}`);
    }
    if (plan.blocked.length) return 3;
    return opts.detailedExitcode && hasChanges(plan) ? 2 : 0;
  } catch (e) {
    throw stopper.reason(e);
  } finally {
    stopper.dispose();
    ctx.aws.destroy();
  }
}
