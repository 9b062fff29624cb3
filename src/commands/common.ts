// What every AWS-facing command shares: options, loading the spec, building the context.
import { writeFileSync } from 'node:fs';
import { roleOptions } from '../aws/assume-role.js';
import { Aws } from '../aws/clients.js';
import { UserError } from '../engine/errors.js';
import type { Ctx, EngineEvent } from '../engine/types.js';
import { loadSpec } from '../spec/load.js';
import { specParams } from '../spec/params.js';
import type { Diagnostic, LoadedSpec } from '../spec/types.js';

export interface GlobalOptions {
  region?: string;
  profile?: string;
  endpointUrl?: string;
  color?: boolean;
  /** --set name=value (repeatable) and --values FILE: the spec's parameters. */
  set?: string[];
  values?: string;
}


/** How a command talks to the user; the CLI provides it, tests capture it. */
export interface Io {
  out(text: string): void;
  err(text: string): void;
  /** Asks a yes/no question on a TTY; undefined when there is no TTY to ask on. */
  confirm?(question: string): Promise<boolean>;
  color: boolean;
}

export function formatDiagnostics(ds: Diagnostic[]): string {
  return ds.map((d) => `${d.file}:${d.line}:${d.col}  ${d.severity}  ${d.message}${d.hint ? `\n    hint: ${d.hint}` : ''}`).join('\n');
}

/** Loads a spec or throws a UserError listing every problem (exit 1). */
export function loadOrThrow(file: string, g: Pick<GlobalOptions, 'set' | 'values'>): LoadedSpec {
  const r = loadSpec(file, { params: specParams(g) });
  if (!r.ok) {
    const errors = r.diagnostics.filter((d) => d.severity === 'error').length;
    throw new UserError(`${file} is not a valid spec (${errors} error${errors === 1 ? '' : 's'}):\n${formatDiagnostics(r.diagnostics)}`, `run \`reconcile validate ${file}\` while you fix it`);
  }
  return r.loaded;
}

export { specParams };

/** signal: the command's stop signal (src/commands/stop.ts); every AWS call ends when it is aborted. */
export function makeCtx(loaded: LoadedSpec, g: GlobalOptions, onEvent: (e: EngineEvent) => void, signal?: AbortSignal): Ctx {
  const region = g.region ?? loaded.spec.region;
  const aws = new Aws({ region, profile: g.profile, endpoint: g.endpointUrl, signal, ...roleOptions(loaded.spec) });
  logCallsAtExit(aws);
  return { stack: loaded.spec.stack, region, aws, emit: onEvent };
}

const logged: Aws[] = [];
let firstCallMs: number | undefined;
const spans: [number, number][] = [];

/** The most calls that were in flight at once. */
function peakInFlight(): number {
  const edges = spans.flatMap(([a, b]): [number, number][] => [[a, 1], [b, -1]]).sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  let now = 0;
  let peak = 0;
  for (const [, d] of edges) peak = Math.max(peak, (now += d));
  return peak;
}

/**
 * RECONCILE_CALL_LOG=<file>: at exit, write the AWS calls this process made (reads, writes, by
 * operation), when the first one started (ms since process start), the most in flight at once and
 * the peak RSS, as JSON.
 * Used by `npm run bench`; handy for call budgets in CI too.
 */
function logCallsAtExit(aws: Aws): void {
  const file = process.env.RECONCILE_CALL_LOG;
  if (!file) return;
  aws.onCall((c) => {
    const end = performance.now();
    firstCallMs = Math.min(firstCallMs ?? end - c.ms, end - c.ms);
    spans.push([end - c.ms, end]);
  });
  if (!logged.length)
    process.once('exit', () => {
      const total = { reads: 0, writes: 0, byOperation: {} as Record<string, number> };
      for (const a of logged) {
        const c = a.counts();
        total.reads += c.reads;
        total.writes += c.writes;
        for (const [op, n] of Object.entries(c.byOperation)) total.byOperation[op] = (total.byOperation[op] ?? 0) + n;
      }
      const firstCall = firstCallMs === undefined ? null : Math.round(firstCallMs);
      writeFileSync(file, JSON.stringify({ ...total, firstCallMs: firstCall, peakInFlight: peakInFlight(), maxRssKb: process.resourceUsage().maxRSS }) + '\n');
    });
  logged.push(aws);
}

/** Renders engine events as progress lines. */
export function eventPrinter(io: Io, toErr = false): (e: EngineEvent) => void {
  return (e) => {
    const line = `${e.address ? `${e.address}: ` : ''}${e.message}`;
    if (e.type === 'warning') io.err(`warning: ${line}`);
    else if (toErr) io.err(line);
    else io.out(line);
  };
}
