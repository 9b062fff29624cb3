// `reconcile validate SPEC... [--json]`: offline checks of spec files. No AWS SDK is loaded: this
// module imports only the spec loader, so it starts fast and needs no credentials.
import { loadSpec } from '../spec/load.js';
import type { Diagnostic } from '../spec/types.js';

export interface ValidateOptions {
  json?: boolean;
  format?: 'text' | 'json';
  /** Environment for ${env:...} (default process.env). */
  env?: NodeJS.ProcessEnv;
}

export interface ValidatedFile {
  file: string;
  valid: boolean;
  /** Number of resources of a valid spec (0 when invalid). */
  resources: number;
  diagnostics: Diagnostic[];
}

export interface ValidateReport {
  formatVersion: 1;
  files: ValidatedFile[];
}

const plural = (n: number, w: string) => `${n} ${w}${n === 1 ? '' : 's'}`;

/** Validates each file; never throws (an unreadable file is an error diagnostic at 1:1). */
export function validateFiles(files: string[], env?: NodeJS.ProcessEnv): ValidateReport {
  return {
    formatVersion: 1,
    files: files.map((file) => {
      try {
        const r = loadSpec(file, { env });
        return r.ok
          ? { file, valid: true, resources: r.loaded.resources.length, diagnostics: r.loaded.warnings }
          : { file, valid: false, resources: 0, diagnostics: r.diagnostics };
      } catch (e) {
        const d: Diagnostic = { file, line: 1, col: 1, severity: 'error', message: `internal error: ${(e as Error)?.message ?? String(e)}` };
        return { file, valid: false, resources: 0, diagnostics: [d] };
      }
    }),
  };
}

/** One diagnostic as text: `file:line:col  severity  message`, then an indented hint line. */
export function formatDiagnostic(d: Diagnostic): string {
  return `${d.file}:${d.line}:${d.col}  ${d.severity}  ${d.message}${d.hint ? `\n    hint: ${d.hint}` : ''}`;
}

export function summaryLine(f: ValidatedFile): string {
  const errors = f.diagnostics.filter((d) => d.severity === 'error').length;
  const warnings = f.diagnostics.length - errors;
  if (f.valid) return `${f.file}: valid (${plural(f.resources, 'resource')})${warnings ? `, ${plural(warnings, 'warning')}` : ''}`;
  return `${f.file}: ${plural(errors, 'error')}, ${plural(warnings, 'warning')}`;
}

export function formatText(report: ValidateReport): string {
  const lines: string[] = [];
  for (const f of report.files) {
    for (const d of f.diagnostics) lines.push(formatDiagnostic(d));
    lines.push(summaryLine(f));
  }
  return lines.join('\n');
}

/**
 * Runs `validate` on files and renders the result (no trailing newline). Exit code 1 when any file
 * has an error, 0 otherwise (warnings alone do not fail). Never throws.
 */
export function runValidate(files: string[], opts: ValidateOptions = {}): { output: string; exitCode: 0 | 1 } {
  try {
    const report = validateFiles(files, opts.env);
    const exitCode = report.files.some((f) => !f.valid) ? 1 : 0;
    const json = opts.json || opts.format === 'json';
    if (files.length === 0)
      return json ? { output: JSON.stringify(report, null, 2), exitCode: 1 } : { output: 'no spec files given: reconcile validate SPEC...', exitCode: 1 };
    return { output: json ? JSON.stringify(report, null, 2) : formatText(report), exitCode };
  } catch (e) {
    return { output: `internal error: ${(e as Error)?.message ?? String(e)}`, exitCode: 1 };
  }
}
