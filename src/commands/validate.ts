// `reconcile validate SPEC... [--format text|json|sarif|github]`: offline checks of spec files. No
// AWS SDK is loaded: this module imports only the spec loader, so it starts fast and needs no
// credentials. sarif feeds GitHub code scanning (inline in pull requests); github prints workflow
// commands (::error file=...,line=...,col=...::) that Actions turns into annotations.
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { loadSpec } from '../spec/load.js';
import type { Diagnostic } from '../spec/types.js';

export const VALIDATE_FORMATS = ['text', 'json', 'sarif', 'github'] as const;
export type ValidateFormat = (typeof VALIDATE_FORMATS)[number];

export interface ValidateOptions {
  /** Same as format: 'json' (kept for scripts written before --format). */
  json?: boolean;
  format?: ValidateFormat;
  /** Environment for ${env:...} (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Values of the specs' parameters (--set, --values). */
  params?: Record<string, string>;
  /**
   * Folder that sarif and github paths are made relative to: GitHub resolves both against the
   * repository root. Default: GITHUB_WORKSPACE when set (in Actions), else the current folder.
   */
  root?: string;
  /** Shown as the tool's version in SARIF. */
  toolVersion?: string;
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
export function validateFiles(files: string[], env?: NodeJS.ProcessEnv, params?: Record<string, string>): ValidateReport {
  return {
    formatVersion: 1,
    files: files.map((file) => {
      try {
        const r = loadSpec(file, { env, params });
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
    const report = validateFiles(files, opts.env, opts.params);
    const exitCode = report.files.some((f) => !f.valid) ? 1 : 0;
    const format: ValidateFormat = opts.json ? 'json' : (opts.format ?? 'text');
    const root = opts.root ?? process.env.GITHUB_WORKSPACE ?? process.cwd();
    if (files.length === 0) {
      const usage = 'no spec files given: reconcile validate SPEC...';
      if (format === 'json') return { output: JSON.stringify(report, null, 2), exitCode: 1 };
      if (format === 'github') return { output: `::error title=reconcile validate::${escapeData(usage)}`, exitCode: 1 };
      return { output: usage, exitCode: 1 };
    }
    if (format === 'json') return { output: JSON.stringify(report, null, 2), exitCode };
    if (format === 'sarif') return { output: JSON.stringify(toSarif(report, { root, toolVersion: opts.toolVersion }), null, 2), exitCode };
    if (format === 'github') return { output: formatGithub(report, root), exitCode };
    return { output: formatText(report), exitCode };
  } catch (e) {
    return { output: `internal error: ${(e as Error)?.message ?? String(e)}`, exitCode: 1 };
  }
}

// ---------------------------------------------------------------------------------------------
// Rules: one per kind of diagnostic, for SARIF (code scanning groups and filters alerts by rule) and
// for annotation titles. The loader's diagnostics carry no code, so a diagnostic is matched to the
// first rule whose pattern fits its message; the last rule of each severity catches the rest.

export interface Rule {
  id: string;
  /** SARIF reportingDescriptor.name: an identifier-like name. */
  name: string;
  short: string;
  full: string;
  level: Diagnostic['severity'];
  match: (d: Diagnostic) => boolean;
}

const msg = (re: RegExp) => (d: Diagnostic) => re.test(d.message);

export const RULES: readonly Rule[] = [
  { id: 'unreadable-file', name: 'UnreadableFile', level: 'error', match: msg(/^cannot read /), short: 'The spec file cannot be read.', full: 'The file does not exist, is a directory, or cannot be read.' },
  { id: 'internal-error', name: 'InternalError', level: 'error', match: msg(/^internal error/), short: 'reconcile failed while checking the spec.', full: 'A bug in reconcile: please report it with the spec that caused it.' },
  { id: 'yaml-syntax', name: 'YamlSyntax', level: 'error', match: msg(/^YAML syntax:/), short: 'The file is not valid YAML.', full: 'A YAML syntax error (indentation, an unclosed bracket, a duplicate key): nothing after it can be checked.' },
  { id: 'yaml', name: 'Yaml', level: 'warning', match: msg(/^YAML:/), short: 'YAML that loads but may not mean what it says.', full: 'The YAML parser accepted the file with a remark (for example an alias or tag it does not use).' },
  { id: 'not-a-spec', name: 'NotASpec', level: 'error', match: msg(/^a spec is a mapping|^the spec is empty/), short: 'The file is not a spec.', full: 'A spec is a YAML mapping that starts with apiVersion: reconcile/v1, stack, region and resources.' },
  { id: 'environment-variable', name: 'EnvironmentVariable', level: 'error', match: msg(/environment variable|^unterminated "\$\{env:"/), short: 'An ${env:...} value cannot be filled in.', full: 'An ${env:NAME} reference names a variable that is not set (and has no :-default), or is written wrongly.' },
  { id: 'unknown-kind', name: 'UnknownKind', level: 'error', match: msg(/^unknown kind |^resource "[^"]*" has no kind$/), short: 'A resource has no kind, or one reconcile does not know.', full: 'Every resource needs a kind: vpc, subnet, security-group, instance, and so on (see the JSON Schema).' },
  { id: 'unknown-field', name: 'UnknownField', level: 'error', match: msg(/^unknown field /), short: 'A field that this kind does not have.', full: 'The field is not part of the schema of this kind (often a misspelling: the hint names the nearest field).' },
  { id: 'missing-field', name: 'MissingField', level: 'error', match: msg(/^missing required field |has no value: expected/), short: 'A required field is missing or empty.', full: 'The kind needs this field; the hint shows an example value.' },
  { id: 'unknown-reference', name: 'UnknownReference', level: 'error', match: msg(/which is not in this spec$/), short: 'A reference to a resource that is not in the spec.', full: 'A field names another resource of the spec that does not exist. Write the name of a resource of the spec, or the AWS id of an existing one.' },
  { id: 'wrong-reference-kind', name: 'WrongReferenceKind', level: 'error', match: msg(/^[^ ]+: "[^"]+" is an? [^,]+, not an? /), short: 'A reference to a resource of the wrong kind.', full: 'The field refers to a resource of the spec, but of another kind than the field needs (a subnet where a vpc is expected).' },
  { id: 'reference-cycle', name: 'ReferenceCycle', level: 'error', match: msg(/^reference cycle:/), short: 'Resources refer to each other in a circle.', full: 'No order can create resources that depend on each other in a circle: remove one of the references.' },
  { id: 'missing-local-file', name: 'MissingLocalFile', level: 'error', match: msg(/does not exist \(looked for /), short: 'A file the spec points to does not exist.', full: 'userData.file and objects[].file are read at plan time, relative to the spec file.' },
  { id: 'open-to-internet', name: 'OpenToInternet', level: 'warning', match: msg(/to the whole internet/), short: 'An administrative port is open to the whole internet.', full: 'SSH or RDP reachable from 0.0.0.0/0 (or ::/0) invites brute-force attempts: restrict the cidr to the addresses you connect from.' },
  { id: 'public-access', name: 'PublicAccess', level: 'warning', match: (d) => d.severity === 'warning' && /public access|readable by anyone|grants access to everyone/.test(d.message), short: 'Content is readable by anyone on the internet.', full: 'A bucket that does not block public access, a public object, or a bucket policy for Principal "*". Keep it only for content meant to be public.' },
  { id: 'invalid-value', name: 'InvalidValue', level: 'error', match: (d) => d.severity === 'error', short: 'A value the spec does not accept.', full: 'A value of the wrong type or format, outside its allowed values or range, or inconsistent with another resource of the spec.' },
  { id: 'risky-setting', name: 'RiskySetting', level: 'warning', match: () => true, short: 'A valid setting that is risky.', full: 'The spec is valid, but this setting is likely to cause trouble; the hint says what to do instead.' },
];

/** The rule a diagnostic belongs to (the last rules catch everything, so there always is one). */
export function ruleOf(d: Diagnostic): Rule {
  return RULES.find((r) => r.match(d))!;
}

/** Where GitHub looks for a file: relative to root with "/", or a file:// URI outside of it. */
export function repoPath(file: string, root: string): string {
  const abs = resolve(file);
  const rel = relative(resolve(root), abs);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) return pathToFileURL(abs).href;
  return rel.split(sep).join('/');
}

const messageText = (d: Diagnostic) => (d.hint ? `${d.message}\nhint: ${d.hint}` : d.message);

// ---------------------------------------------------------------------------------------------
// SARIF 2.1.0 (the format GitHub code scanning uploads: github/codeql-action/upload-sarif).

export const SARIF_SCHEMA_URI = 'https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json';

export function toSarif(report: ValidateReport, opts: { root: string; toolVersion?: string }): Record<string, unknown> {
  const results = report.files.flatMap((f) =>
    f.diagnostics.map((d) => {
      const rule = ruleOf(d);
      const uri = repoPath(f.file, opts.root);
      return {
        ruleId: rule.id,
        ruleIndex: RULES.indexOf(rule),
        level: d.severity,
        message: { text: messageText(d) },
        locations: [
          {
            physicalLocation: {
              artifactLocation: { uri: uri.startsWith('file:') ? uri : encodeURI(uri) },
              region: { startLine: d.line, startColumn: d.col },
            },
          },
        ],
      };
    }),
  );
  return {
    $schema: SARIF_SCHEMA_URI,
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: {
            name: 'reconcile',
            ...(opts.toolVersion ? { version: opts.toolVersion, semanticVersion: opts.toolVersion } : {}),
            rules: RULES.map((r) => ({
              id: r.id,
              name: r.name,
              shortDescription: { text: r.short },
              fullDescription: { text: r.full },
              help: { text: `${r.full} Run \`reconcile validate SPEC\` locally for the same message with a hint.` },
              defaultConfiguration: { level: r.level },
            })),
          },
        },
        // Columns count UTF-16 code units (JavaScript string offsets), 1-based.
        columnKind: 'utf16CodeUnits',
        results,
      },
    ],
  };
}

// ---------------------------------------------------------------------------------------------
// GitHub Actions workflow commands: ::error file=F,line=L,col=C,title=T::message

/** Escapes the message of a workflow command (after the "::"). */
export const escapeData = (s: string): string => s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
/** Escapes a property value of a workflow command (file=, title=). */
export const escapeProperty = (s: string): string => escapeData(s).replace(/:/g, '%3A').replace(/,/g, '%2C');

export function formatGithub(report: ValidateReport, root: string): string {
  const lines: string[] = [];
  for (const f of report.files) {
    const file = repoPath(f.file, root);
    for (const d of f.diagnostics) {
      const rule = ruleOf(d);
      const props = `file=${escapeProperty(file)},line=${d.line},col=${d.col},title=${escapeProperty(`reconcile ${rule.id}`)}`;
      lines.push(`::${d.severity} ${props}::${escapeData(messageText(d))}`);
    }
    lines.push(summaryLine(f));
  }
  return lines.join('\n');
}
