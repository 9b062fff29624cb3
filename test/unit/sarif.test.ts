// `reconcile validate --format sarif|github`: the SARIF validates against the SARIF 2.1.0 JSON schema,
// and both formats point at exactly the positions `validate` reports.
//
// test/fixtures/sarif-2.1.0.json is the OASIS SARIF 2.1.0 schema (errata01, as published in
// oasis-tcs/sarif-spec Schemata/sarif-schema-2.1.0.json; JSON Schema draft-04), reformatted only.
// No JSON Schema validator is installed (ajv is not a dependency), so this file carries a small one
// for exactly the keywords that schema uses; it throws on any other keyword, so nothing in the schema
// can be skipped silently, and its own tests below show it rejects what the schema forbids.
import { describe, expect, it } from 'vitest';
import { specYaml } from '../helpers/specs.js';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { RULES, escapeData, formatGithub, repoPath, ruleOf, runValidate, toSarif, validateFiles, type ValidateReport } from '../../src/commands/validate.js';
import type { Diagnostic } from '../../src/spec/types.js';

const ROOT = resolve(import.meta.dirname, '../..');
const ex = (n: string) => join(ROOT, 'examples', n);
type Json = unknown;
type Schema = Record<string, Json>;
const SCHEMA = JSON.parse(readFileSync(join(ROOT, 'test/fixtures/sarif-2.1.0.json'), 'utf8')) as Schema;

// ---------------------------------------------------------------------------------------------
// A JSON Schema (draft-04) validator for the keywords of the SARIF schema.

const ANNOTATIONS = new Set(['$schema', 'id', 'title', 'description', 'default', 'definitions']);
const canonical = (v: Json): string =>
  Array.isArray(v) ? `[${v.map(canonical).join(',')}]` : v && typeof v === 'object' ? `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, Json>)[k])}`).join(',')}}` : JSON.stringify(v);
const typeOk = (t: string, v: Json) =>
  t === 'object' ? !!v && typeof v === 'object' && !Array.isArray(v)
  : t === 'array' ? Array.isArray(v)
  : t === 'integer' ? Number.isInteger(v)
  : t === 'number' ? typeof v === 'number'
  : t === 'null' ? v === null
  : typeof v === t;
const FORMATS: Record<string, (s: string) => boolean> = {
  uri: (s) => /^[a-zA-Z][a-zA-Z0-9+.-]*:\S*$/.test(s) && URL.canParse(s),
  'uri-reference': (s) => !/[\s\\]/.test(s) && URL.canParse(s, 'http://base.example/'),
  'date-time': (s) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i.test(s),
};

export function validateJson(schema: Schema, value: Json, root: Schema = schema, at = '$'): string[] {
  const errors: string[] = [];
  for (const [k, s] of Object.entries(schema)) {
    if (ANNOTATIONS.has(k)) continue;
    switch (k) {
      case '$ref': {
        const m = /^#\/definitions\/(\w+)$/.exec(s as string);
        if (!m) throw new Error(`unsupported $ref ${String(s)}`);
        errors.push(...validateJson((root.definitions as Record<string, Schema>)[m[1]], value, root, at));
        break;
      }
      case 'type': {
        const ts = Array.isArray(s) ? (s as string[]) : [s as string];
        if (!ts.some((t) => typeOk(t, value))) errors.push(`${at}: expected ${ts.join(' or ')}`);
        break;
      }
      case 'enum':
        if (!(s as Json[]).some((e) => canonical(e) === canonical(value))) errors.push(`${at}: ${JSON.stringify(value)} is not one of ${JSON.stringify(s)}`);
        break;
      case 'required':
        if (typeOk('object', value)) for (const r of s as string[]) if (!(r in (value as object))) errors.push(`${at}: missing ${r}`);
        break;
      case 'properties':
        if (typeOk('object', value))
          for (const [p, ps] of Object.entries(s as Record<string, Schema>))
            if (p in (value as object)) errors.push(...validateJson(ps, (value as Record<string, Json>)[p], root, `${at}.${p}`));
        break;
      case 'additionalProperties':
        if (typeOk('object', value)) {
          const known = Object.keys((schema.properties as object) ?? {});
          for (const [p, v] of Object.entries(value as Record<string, Json>)) {
            if (known.includes(p)) continue;
            if (s === false) errors.push(`${at}: property ${p} is not allowed`);
            else if (s !== true) errors.push(...validateJson(s as Schema, v, root, `${at}.${p}`));
          }
        }
        break;
      case 'items':
        if (Array.isArray(value)) value.forEach((v, i) => errors.push(...validateJson(s as Schema, v, root, `${at}[${i}]`)));
        break;
      case 'minItems':
        if (Array.isArray(value) && value.length < (s as number)) errors.push(`${at}: fewer than ${String(s)} items`);
        break;
      case 'uniqueItems':
        if (s === true && Array.isArray(value) && new Set(value.map(canonical)).size !== value.length) errors.push(`${at}: items are not unique`);
        break;
      case 'minimum':
        if (typeof value === 'number' && value < (s as number)) errors.push(`${at}: ${value} is below ${String(s)}`);
        break;
      case 'maximum':
        if (typeof value === 'number' && value > (s as number)) errors.push(`${at}: ${value} is above ${String(s)}`);
        break;
      case 'pattern':
        if (typeof value === 'string' && !new RegExp(s as string, 'u').test(value)) errors.push(`${at}: does not match ${String(s)}`);
        break;
      case 'format': {
        const f = FORMATS[s as string];
        if (!f) throw new Error(`unsupported format ${String(s)}`);
        if (typeof value === 'string' && !f(value)) errors.push(`${at}: not a valid ${String(s)}`);
        break;
      }
      case 'anyOf':
        if (!(s as Schema[]).some((x) => validateJson(x, value, root, at).length === 0)) errors.push(`${at}: matches none of anyOf`);
        break;
      case 'oneOf':
        if ((s as Schema[]).filter((x) => validateJson(x, value, root, at).length === 0).length !== 1) errors.push(`${at}: does not match exactly one of oneOf`);
        break;
      default:
        throw new Error(`the test validator does not implement the keyword "${k}" (at ${at})`);
    }
  }
  return errors;
}

const minimal = () => ({
  version: '2.1.0',
  runs: [{ tool: { driver: { name: 't', rules: [{ id: 'r' }] } }, results: [{ ruleId: 'r', level: 'warning', message: { text: 'm' }, locations: [{ physicalLocation: { artifactLocation: { uri: 'a/b.yaml' }, region: { startLine: 1, startColumn: 1 } } }] }] }],
});

describe('the test validator and the vendored schema', () => {
  it('is the SARIF 2.1.0 schema, every $ref resolves, and a minimal log is valid', () => {
    expect(SCHEMA.title).toBe('Static Analysis Results Format (SARIF) Version 2.1.0 JSON Schema');
    expect(Object.keys(SCHEMA.definitions as object)).toHaveLength(52);
    const refs = [...JSON.stringify(SCHEMA).matchAll(/"#\/definitions\/(\w+)"/g)].map((m) => m[1]);
    for (const r of refs) expect(SCHEMA.definitions).toHaveProperty(r);
    expect(validateJson(SCHEMA, minimal())).toEqual([]);
  });

  it.each<[string, (l: ReturnType<typeof minimal>) => void, RegExp]>([
    ['a wrong version', (l) => ((l as { version: string }).version = '2.0.0'), /\$\.version: "2\.0\.0" is not one of/],
    ['an unknown level', (l) => ((l.runs[0].results[0] as { level: string }).level = 'fatal'), /level: "fatal"/],
    ['line 0', (l) => (l.runs[0].results[0].locations[0].physicalLocation.region.startLine = 0), /startLine: 0 is below 1/],
    ['a property SARIF does not have', (l) => ((l.runs[0].results[0] as Record<string, unknown>).severity = 'high'), /property severity is not allowed/],
    ['a result without a message', (l) => delete (l.runs[0].results[0] as { message?: unknown }).message, /missing message/],
    ['a rule without an id', (l) => delete (l.runs[0].tool.driver.rules[0] as { id?: string }).id, /missing id/],
    ['a uri with a space', (l) => (l.runs[0].results[0].locations[0].physicalLocation.artifactLocation.uri = 'a b.yaml'), /not a valid uri-reference/],
    ['a region with no start', (l) => (l.runs[0].results[0].locations[0].physicalLocation.region = {} as never), /matches none of anyOf/],
  ])('rejects %s', (_what, mutate, error) => {
    const log = minimal();
    mutate(log);
    expect(validateJson(SCHEMA, log).join('\n')).toMatch(error);
  });
});

// ---------------------------------------------------------------------------------------------

const INVALID: [string, string][] = [
  ['bad-cidr.yaml', 'invalid-value'],
  ['bad-enum.yaml', 'invalid-value'],
  ['duplicate-key.yaml', 'yaml-syntax'],
  ['invalid-bucket-name.yaml', 'invalid-value'],
  ['main-route-table-with-subnets.yaml', 'invalid-value'],
  ['min-above-max.yaml', 'invalid-value'],
  ['missing-local-file.yaml', 'missing-local-file'],
  ['missing-required-field.yaml', 'missing-field'],
  ['misspelt-key.yaml', 'unknown-field'],
  ['reference-cycle.yaml', 'reference-cycle'],
  ['unknown-kind.yaml', 'unknown-kind'],
  ['unknown-reference.yaml', 'unknown-reference'],
  ['unset-env-var.yaml', 'environment-variable'],
  ['wrong-kind-reference.yaml', 'wrong-reference-kind'],
  ['yaml-syntax-error.yaml', 'yaml-syntax'],
];
const EXAMPLES = ['flask-cpu-alert.yaml', 'microblog-vpc.yaml', 'clock-app-ha.yaml', 'webserver-s3-image.yaml', 'pipeline-single-node.yaml'];
const ALL = [...EXAMPLES.map(ex), ...INVALID.map(([f]) => ex(`invalid/${f}`))];

interface SarifResult {
  ruleId: string;
  ruleIndex: number;
  level: string;
  message: { text: string };
  locations: { physicalLocation: { artifactLocation: { uri: string }; region: { startLine: number; startColumn: number } } }[];
}
const sarifOf = (files: string[], root = ROOT) => JSON.parse(runValidate(files, { format: 'sarif', env: {}, root, toolVersion: '9.9.9' }).output);

describe('validate --format sarif', () => {
  const report = validateFiles(ALL, {});
  const log = sarifOf(ALL);
  const results = log.runs[0].results as SarifResult[];
  const diags = report.files.flatMap((f) => f.diagnostics);

  it('validates against the SARIF 2.1.0 schema (every example, valid and invalid)', () => {
    expect(validateJson(SCHEMA, log)).toEqual([]);
    expect(log.version).toBe('2.1.0');
    expect(log.runs[0].tool.driver).toMatchObject({ name: 'reconcile', version: '9.9.9' });
    expect(results.length).toBe(diags.length);
    expect(results.length).toBeGreaterThan(INVALID.length);
  });

  it('one rule per kind of diagnostic; each result names its rule by id and index', () => {
    const rules = log.runs[0].tool.driver.rules as { id: string; defaultConfiguration: { level: string }; shortDescription: { text: string } }[];
    expect(new Set(rules.map((r) => r.id)).size).toBe(rules.length);
    expect(rules.map((r) => r.id)).toEqual(RULES.map((r) => r.id));
    for (const r of results) expect(rules[r.ruleIndex].id).toBe(r.ruleId);
    for (const [file, rule] of INVALID) {
      const uri = `examples/invalid/${file}`;
      expect(results.filter((r) => r.locations[0].physicalLocation.artifactLocation.uri === uri).map((r) => r.ruleId), file).toEqual([rule]);
    }
    const byFile = (f: string) => results.filter((r) => r.locations[0].physicalLocation.artifactLocation.uri === `examples/${f}`).map((r) => [r.ruleId, r.level]);
    expect(byFile('flask-cpu-alert.yaml')).toEqual([['open-to-internet', 'warning']]);
    expect(byFile('webserver-s3-image.yaml')).toEqual([['public-access', 'warning'], ['public-access', 'warning']]);
    expect(byFile('microblog-vpc.yaml')).toEqual([]);
  });

  it('each result is at the line and column validate reports, with its severity as level and its hint in the text', () => {
    expect(results.map((r) => [r.locations[0].physicalLocation.region.startLine, r.locations[0].physicalLocation.region.startColumn, r.level])).toEqual(
      diags.map((d) => [d.line, d.col, d.severity]),
    );
    expect(results.map((r) => r.message.text)).toEqual(diags.map((d) => (d.hint ? `${d.message}\nhint: ${d.hint}` : d.message)));
    expect(log.runs[0].columnKind).toBe('utf16CodeUnits');
  });

  it('paths are relative to the root with "/", percent-encoded; outside the root they are file:// URIs', () => {
    const dir = mkdtempSync(join(tmpdir(), 'reconcile sarif '));
    const f = join(dir, 'my spec.yaml');
    writeFileSync(f, specYaml('s', '  v:\n    kind: vpc\n    cidr: 10.0.0.0/33\n'));
    const inside = sarifOf([f], dir);
    expect(validateJson(SCHEMA, inside)).toEqual([]);
    expect(inside.runs[0].results[0].locations[0].physicalLocation.artifactLocation.uri).toBe('my%20spec.yaml');
    const outside = sarifOf([f], ROOT);
    expect(validateJson(SCHEMA, outside)).toEqual([]);
    expect(outside.runs[0].results[0].locations[0].physicalLocation.artifactLocation.uri).toMatch(/^file:\/\/\/.*reconcile%20sarif%20.*\/my%20spec\.yaml$/);
    expect(repoPath('examples/x.yaml', ROOT)).toBe('examples/x.yaml');
  });

  it('a valid spec gives an empty, still valid, results list', () => {
    const clean = sarifOf([ex('microblog-vpc.yaml')]);
    expect(clean.runs[0].results).toEqual([]);
    expect(validateJson(SCHEMA, clean)).toEqual([]);
  });
});

/** Parses `::error file=F,line=L,col=C,title=T::message` back, undoing the workflow-command escapes. */
function parseAnnotation(line: string) {
  const m = /^::(error|warning) ([^:]*)::(.*)$/.exec(line);
  if (!m) return undefined;
  const unescape = (s: string) => s.replace(/%0A/g, '\n').replace(/%0D/g, '\r').replace(/%3A/g, ':').replace(/%2C/g, ',').replace(/%25/g, '%');
  const props = Object.fromEntries(m[2].split(',').map((p) => [p.slice(0, p.indexOf('=')), unescape(p.slice(p.indexOf('=') + 1))]));
  return { level: m[1], ...props, message: unescape(m[3]) } as { level: string; file: string; line: string; col: string; title: string; message: string };
}

describe('validate --format github', () => {
  it('one annotation per diagnostic, at the position validate reports, then the summary line per file', () => {
    const r = runValidate(ALL, { format: 'github', env: {}, root: ROOT });
    expect(r.exitCode).toBe(1);
    const lines = r.output.split('\n');
    const annotations = lines.map(parseAnnotation).filter((a) => a !== undefined);
    const report = validateFiles(ALL, {});
    const want = report.files.flatMap((f) =>
      f.diagnostics.map((d) => ({
        level: d.severity,
        file: relative(ROOT, f.file),
        line: String(d.line),
        col: String(d.col),
        title: `reconcile ${ruleOf(d).id}`,
        message: d.hint ? `${d.message}\nhint: ${d.hint}` : d.message,
      })),
    );
    expect(annotations).toEqual(want);
    // Everything else is a per-file summary line, plain text in the log.
    expect(lines.filter((l) => !l.startsWith('::'))).toEqual(report.files.map((f) => expect.stringMatching(new RegExp(`^${f.file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: `))));
  });

  it('escapes what would end a property or the message early', () => {
    const d: Diagnostic = { file: join(ROOT, 'a,b:c.yaml'), line: 3, col: 7, severity: 'error', message: '100% wrong: a, b\nnext', hint: 'fix it' };
    const report: ValidateReport = { formatVersion: 1, files: [{ file: d.file, valid: false, resources: 0, diagnostics: [d] }] };
    const line = formatGithub(report, ROOT).split('\n')[0];
    expect(line).toBe('::error file=a%2Cb%3Ac.yaml,line=3,col=7,title=reconcile invalid-value::100%25 wrong: a, b%0Anext%0Ahint: fix it');
    expect(parseAnnotation(line)).toMatchObject({ file: 'a,b:c.yaml', message: '100% wrong: a, b\nnext\nhint: fix it' });
    expect(escapeData('a\r\nb')).toBe('a%0D%0Ab');
  });

  it('no files: a usage error as an annotation', () => {
    expect(runValidate([], { format: 'github' })).toEqual({ output: '::error title=reconcile validate::no spec files given: reconcile validate SPEC...', exitCode: 1 });
  });
});

describe('the CLI', () => {
  const cli = join(ROOT, 'dist/cli.js');
  const run = (args: string[]) => {
    if (!existsSync(cli)) throw new Error('dist/cli.js is missing: run npm run build (npm test does)');
    return spawnSync(process.execPath, [cli, 'validate', ...args], { cwd: ROOT, encoding: 'utf8', env: { PATH: process.env.PATH, HOME: tmpdir() } });
  };

  it('--format sarif prints schema-valid SARIF carrying the package version; exit 1 on errors', () => {
    const r = run(['--format', 'sarif', 'examples/flask-cpu-alert.yaml', 'examples/invalid/bad-enum.yaml']);
    expect(r.status).toBe(1);
    const log = JSON.parse(r.stdout);
    expect(validateJson(SCHEMA, log)).toEqual([]);
    expect(log.runs[0].tool.driver.version).toBe(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version);
    expect(log.runs[0].results.map((x: SarifResult) => x.locations[0].physicalLocation.artifactLocation.uri)).toEqual(['examples/flask-cpu-alert.yaml', 'examples/invalid/bad-enum.yaml']);
  });

  it('--format github annotates; --json still prints the JSON report; an unknown format is refused', () => {
    const g = run(['--format', 'github', 'examples/flask-cpu-alert.yaml']);
    expect(g.status).toBe(0);
    expect(g.stdout).toMatch(/^::warning file=examples\/flask-cpu-alert\.yaml,line=35,col=42,title=reconcile open-to-internet::/);
    const j = run(['--json', 'examples/flask-cpu-alert.yaml']);
    expect(JSON.parse(j.stdout).formatVersion).toBe(1);
    const bad = run(['--format', 'xml', 'examples/flask-cpu-alert.yaml']);
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/Allowed choices are text, json, sarif, github/);
  });
});
