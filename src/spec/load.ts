// The spec loader: YAML with positions -> ${env:...} / ${param:...} interpolation -> zod validation -> references,
// cycles and offline checks -> LoadedSpec, or every problem as a positioned diagnostic.
// No AWS SDK here, directly or indirectly: `reconcile validate` must start fast and need no credentials.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import type { Document, LineCounter } from 'yaml';
import { isMap, isScalar, lineCounter, parseDocument } from './yaml.js';
import { checkReferences, checkSemantics, type CheckInput, type Finding } from './checks.js';
import type { SpecPath } from './common.js';
import { interpolateDocument } from './interpolate.js';
import { resolveParams } from './params.js';
import { issuesToDiags, type RawDiag } from './issues.js';
import { envSites, expandedData, keeping, readParsed, writeParsed, type EnvSite } from './parse-cache.js';
import { locate, positionAt } from './positions.js';
import { kindDef, KIND_NAMES, specSchema, type AnyResourceSpec, type KindName, type Spec } from './schema.js';
import type { Diagnostic, LoadedResource, LoadResult, Position } from './types.js';
import { fileErrorWhy } from '../errors.js';

export interface LoadOptions {
  /** Environment for ${env:NAME}; defaults to process.env. */
  env?: NodeJS.ProcessEnv;
  /** Values for the spec's parameters (--set, --values), over their defaults. */
  params?: Readonly<Record<string, string>>;
}

/** Errors first at equal positions, then by message; identical diagnostics once. */
export function sortDiagnostics(ds: Diagnostic[]): Diagnostic[] {
  const seen = new Set<string>();
  return [...ds]
    .sort((a, b) => a.line - b.line || a.col - b.col || (a.severity === b.severity ? 0 : a.severity === 'error' ? -1 : 1) || a.message.localeCompare(b.message))
    .filter((d) => {
      const k = `${d.line}:${d.col}:${d.severity}:${d.message}`;
      if (seen.has(k)) return false;
      seen.add(k);
      return true;
    });
}

/** JSON with object keys sorted, so the hash does not depend on the order keys are written in. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object')
    return `{${Object.keys(v)
      .sort()
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(v) ?? 'null';
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Load, interpolate, validate and resolve one spec file. Never throws: an unreadable file, a YAML
 * syntax error or an invalid spec come back as `{ ok: false, diagnostics }` (warnings included),
 * sorted by position. A valid spec comes back with its warnings in `loaded.warnings`.
 */
export function loadSpec(file: string, opts: LoadOptions = {}): LoadResult {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    return { ok: false, diagnostics: [{ file, line: 1, col: 1, severity: 'error', message: `cannot read ${file}: ${fileErrorWhy(e, 'no such file')}` }] };
  }
  try {
    return loadSpecText(text, file, opts);
  } catch (e) {
    // A bug of ours must not take `validate` down: report it where the user can see it.
    return { ok: false, diagnostics: [{ file, line: 1, col: 1, severity: 'error', message: `internal error while loading the spec: ${(e as Error).message}`, hint: 'please report this with the spec that caused it' }] };
  }
}

/** The version of the YAML library: a parse kept by ./parse-cache.ts is used only by the same version. */
let yamlVersion: string | undefined;
const yamlLib = () => (yamlVersion ??= (createRequire(import.meta.url)('yaml/package.json') as { version: string }).version);

/** loadSpec on text already read; `file` names it in diagnostics and relative paths resolve against its folder. */
export function loadSpecText(text: string, file: string, opts: LoadOptions = {}): LoadResult {
  const env = opts.env ?? process.env;
  const given = opts.params ?? {};
  const diags: Diagnostic[] = [];
  const at = (pos: Position, severity: Diagnostic['severity'], message: string, hint?: string, path?: SpecPath): Diagnostic => ({
    file,
    line: pos.line,
    col: pos.col,
    severity,
    message,
    ...(hint ? { hint } : {}),
    ...(path ? { path } : {}),
  });

  // 1. YAML, with positions -- or, for text an earlier run parsed (./parse-cache.ts), its values
  //    only, and the document with positions parsed when a diagnostic needs a place.
  const entry = Object.keys(given).length ? undefined : readParsed(text, yamlLib());
  const fromCache = entry && expandedData(entry, env);
  const cached = fromCache === undefined ? undefined : { data: fromCache, names: entry!.names };
  // What is kept of this parse for the next run: the values before interpolation and the ${env:...} sites.
  let keep: { data: unknown; sites: EnvSite[] } | undefined;
  let parsedDoc: { doc: Document; lc: LineCounter } | undefined;
  const yaml = () => {
    if (!parsedDoc) {
      const lc = lineCounter();
      parsedDoc = { doc: parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true, logLevel: 'error' }), lc };
    }
    return parsedDoc;
  };
  // A value whose ${env:...} failed is reported once, not again by the schema.
  let envFailed = new Set<string>();
  let data: unknown;
  if (cached) data = cached.data;
  else {
    const { doc, lc } = yaml();
    // Syntax errors stop here: what follows would only be noise.
    // An error at the very end (an unclosed bracket) points at the end of the last line, not past it.
    const clamp = (offset: number) => (offset >= text.length && text.endsWith('\n') ? text.length - 1 : offset);
    for (const e of doc.errors) diags.push(at(positionAt(lc, clamp(e.pos[0])), 'error', `YAML syntax: ${firstLine(e.message)}`, yamlHint(e.code, e.message)));
    for (const w of doc.warnings) diags.push(at(positionAt(lc, w.pos[0]), 'warning', `YAML: ${firstLine(w.message)}`));
    if (doc.errors.length) return { ok: false, diagnostics: sortDiagnostics(diags) };
    if (!isMap(doc.contents)) {
      diags.push(at(
        doc.contents ? positionAt(lc, doc.contents.range?.[0] ?? 0) : { line: 1, col: 1 },
        'error',
        doc.contents ? 'a spec is a mapping (key: value), not a single value or a list' : 'the spec is empty',
        'start with apiVersion: reconcile/v1, stack: <name>, region: <region>, resources: {...}',
      ));
      return { ok: false, diagnostics: sortDiagnostics(diags) };
    }

    if (!doc.warnings.length && !Object.keys(given).length && keeping(text)) {
      try {
        const raw = doc.toJS({ maxAliasCount: 100 }) as unknown;
        const sites = envSites(doc, raw);
        if (sites) keep = { data: raw, sites };
      } catch {
        // not kept: the same toJS below reports it
      }
    }

    // 2. ${env:NAME} and ${param:NAME} in string values.
    const params = resolveParams(doc, given, env);
    const envErrors = [...params.errors, ...interpolateDocument(doc, text, env, params.values)];
    for (const e of envErrors) diags.push(at(positionAt(lc, e.offset), 'error', e.message, e.hint, e.path));
    envFailed = new Set(envErrors.map((e) => JSON.stringify(e.path)));

    try {
      data = doc.toJS({ maxAliasCount: 100 });
    } catch (e) {
      diags.push(at({ line: 1, col: 1 }, 'error', `YAML: ${(e as Error).message}`));
      return { ok: false, diagnostics: sortDiagnostics(diags) };
    }
  }
  const yamlClean = !diags.length; // no YAML warning, no interpolation error: what parsing gave may be kept
  const place = (d: RawDiag | Finding, severity: Diagnostic['severity']) => {
    if (envFailed.has(JSON.stringify(d.path))) return;
    const { doc, lc } = yaml();
    if ('unknownKey' in d && d.unknownKey && strayComma(doc, d.path))
      d = { ...d, hint: 'a "," inside { ... } starts a new field: quote a value that holds a comma ("a, b")' };
    diags.push(at(locate(doc, lc, d.path, d.at ?? 'value').pos, severity, d.message, d.hint, d.path));
  };

  // 3. The schema.
  const parsed = specSchema.safeParse(data);
  if (!parsed.success) for (const d of issuesToDiags(parsed.error.issues, specSchema, data)) place(d, 'error');

  // 4. References, cycles and cross-resource checks, on every resource that is valid on its own
  //    (so one broken resource does not hide the reference errors of the others).
  const rawResources = isObj(data) && isObj(data.resources) ? data.resources : {};
  const inputs: CheckInput[] = Object.entries(rawResources).map(([name, raw]) => {
    const kind = isObj(raw) && typeof raw.kind === 'string' && (KIND_NAMES as string[]).includes(raw.kind) ? raw.kind : undefined;
    let body: AnyResourceSpec | undefined;
    if (parsed.success) body = parsed.data.resources[name] as unknown as AnyResourceSpec;
    else if (kind) {
      const r = kindDef(kind)!.schema.safeParse(raw);
      if (r.success) body = r.data as AnyResourceSpec;
    }
    return { name, kind, body };
  });
  const refs = checkReferences(inputs);
  const region = isObj(data) && typeof data.region === 'string' ? data.region : undefined;
  const dir = dirname(resolve(file));
  for (const f of [...refs.findings, ...checkSemantics(inputs, { region, dir })]) place(f, f.severity);

  const sorted = sortDiagnostics(diags);
  if (!parsed.success || sorted.some((d) => d.severity === 'error')) return { ok: false, diagnostics: sorted };

  // 5. The loaded spec.
  const spec: Spec = parsed.data;
  const names = cached?.names ?? resourceNames(yaml().doc, yaml().lc, inputs.map((i) => i.name));
  if (keep && yamlClean) writeParsed(text, yamlLib(), { ...keep, names });
  const resources: LoadedResource[] = inputs.map(({ name, kind, body }) => ({
    name,
    kind: kind as KindName,
    address: `${kind}.${name}`,
    body: body!,
    refs: refs.refs.get(name) ?? [],
    deps: refs.deps.get(name) ?? [],
    late: refs.late.get(name) ?? [],
    pos: Object.hasOwn(names, name) ? names[name] : { line: 1, col: 1 },
  }));
  return {
    ok: true,
    loaded: {
      file,
      dir,
      spec,
      resources,
      warnings: sorted,
      hash: createHash('sha256').update(canonicalJson(spec)).digest('hex'),
    },
  };
}

/**
 * Where each resource's name is: one pass over the `resources` mapping (locate() per name would
 * search it once per resource); a name it does not hold as a plain key (a merge key) by locate().
 */
function resourceNames(doc: Document, lc: LineCounter, names: string[]): Record<string, Position> {
  const out = new Map<string, Position>();
  const block = isMap(doc.contents) ? doc.contents.get('resources', true) : undefined;
  if (isMap(block))
    for (const p of block.items) {
      const start = isScalar(p.key) ? p.key.range?.[0] : undefined;
      const key = isScalar(p.key) ? (p.key.value === null ? '' : String(p.key.value)) : undefined;
      if (start !== undefined && key !== undefined && !out.has(key)) out.set(key, positionAt(lc, start));
    }
  for (const n of names) if (!out.has(n)) out.set(n, locate(doc, lc, ['resources', n], 'key').pos);
  return Object.fromEntries(out);
}

/** Whether the key at `path` has no value in a flow mapping: text after a comma, `{ a: x, y }`. */
function strayComma(doc: Document, path: SpecPath): boolean {
  const parent = doc.getIn(path.slice(0, -1), true);
  if (!isMap(parent) || !parent.flow) return false;
  const pair = parent.items.find((p) => isScalar(p.key) && String(p.key.value) === String(path[path.length - 1]));
  return !!pair && (pair.value === null || (isScalar(pair.value) && pair.value.value === null));
}

function firstLine(s: string): string {
  return s.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
}

function yamlHint(code: string, message: string): string | undefined {
  const close = /end with an? ([\]}])/.exec(message);
  if (close) return `close the ${close[1] === ']' ? '[ ... ] list' : '{ ... } mapping'} with "${close[1]}"`;
  switch (code) {
    case 'DUPLICATE_KEY':
      return 'each key may appear once in a mapping: remove or rename one';
    case 'TAB_AS_INDENT':
      return 'indent with spaces, not tabs';
    case 'BAD_INDENT':
    case 'MISSING_CHAR':
    case 'UNEXPECTED_TOKEN':
      return 'check the indentation and the ":" after each key';
    case 'MULTIPLE_DOCS':
      return 'one spec per file: remove the extra "---" document';
    case 'BLOCK_AS_IMPLICIT_KEY':
      return 'a key must fit on one line; check for a missing ":" or quote';
    default:
      return undefined;
  }
}
