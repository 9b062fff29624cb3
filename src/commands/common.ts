// What every AWS-facing command shares: options, loading the spec, building the context.
import { Aws } from '../aws/clients.js';
import { UserError } from '../engine/errors.js';
import type { Ctx, EngineEvent } from '../engine/types.js';
import { loadSpec } from '../spec/load.js';
import type { Diagnostic, LoadedSpec } from '../spec/types.js';

export interface GlobalOptions {
  region?: string;
  profile?: string;
  endpointUrl?: string;
  color?: boolean;
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
export function loadOrThrow(file: string): LoadedSpec {
  const r = loadSpec(file);
  if (!r.ok) {
    const errors = r.diagnostics.filter((d) => d.severity === 'error').length;
    throw new UserError(`${file} is not a valid spec (${errors} error${errors === 1 ? '' : 's'}):\n${formatDiagnostics(r.diagnostics)}`, `run \`reconcile validate ${file}\` while you fix it`);
  }
  return r.loaded;
}

export function makeCtx(loaded: LoadedSpec, g: GlobalOptions, onEvent: (e: EngineEvent) => void): Ctx {
  const region = g.region ?? loaded.spec.region;
  const aws = new Aws({ region, profile: g.profile, endpoint: g.endpointUrl });
  return { stack: loaded.spec.stack, region, aws, emit: onEvent };
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
