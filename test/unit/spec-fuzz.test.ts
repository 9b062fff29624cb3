// Property test: valid examples mutated at random (keys deleted or renamed, values replaced by
// random JSON, text duplicated, truncated or sprinkled with YAML punctuation) never make the loader
// or `validate` throw; every result is valid or a non-empty list of positioned diagnostics.
// FUZZ_RUNS=5000 npx vitest run test/unit/spec-fuzz.test.ts for a longer run.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { parse, stringify } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { runValidate } from '../../src/commands/validate.js';
import { loadSpec, loadSpecText } from '../../src/spec/load.js';
import type { Diagnostic, LoadResult } from '../../src/spec/types.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const NAMES = ['flask-cpu-alert', 'microblog-vpc', 'clock-app-ha', 'webserver-s3-image', 'pipeline-single-node'];
const EXAMPLES = NAMES.map((n) => ({ file: join(ROOT, 'examples', `${n}.yaml`), text: readFileSync(join(ROOT, 'examples', `${n}.yaml`), 'utf8') }));
const RUNS = Number(process.env.FUZZ_RUNS ?? 2000);
const tmp = mkdtempSync(join(tmpdir(), 'reconcile-fuzz-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

type Path = (string | number)[];
type Mutation =
  | { op: 'delete'; at: number }
  | { op: 'replace'; at: number; value: unknown }
  | { op: 'rename'; at: number; name: string }
  | { op: 'duplicate'; start: number; len: number; to: number }
  | { op: 'truncate'; at: number }
  | { op: 'insert'; at: number; chars: string };

const YAML_CHARS = [...':-[]{}#&*!|>\'"%@`,? \n\t$\\', 'a', 'Z', '0', '9', 'é', '\u0000', '${env:', '\r\n'];

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('delete' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('replace' as const), at: fc.nat(), value: fc.jsonValue({ maxDepth: 3 }) }),
  fc.record({
    op: fc.constant('rename' as const),
    at: fc.nat(),
    name: fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom('kind', 'vpc', 'subnets', 'cidr', 'resources', 'port', 'ami', 'name')),
  }),
  fc.record({ op: fc.constant('duplicate' as const), start: fc.nat(), len: fc.nat({ max: 300 }), to: fc.nat() }),
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), chars: fc.array(fc.constantFrom(...YAML_CHARS), { minLength: 1, maxLength: 8 }).map((a) => a.join('')) }),
);

/** Every path to a value, the root excluded. */
function paths(v: unknown, prefix: Path = [], out: Path[] = []): Path[] {
  if (Array.isArray(v)) v.forEach((x, i) => (out.push([...prefix, i]), paths(x, [...prefix, i], out)));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) out.push([...prefix, k]), paths(x, [...prefix, k], out);
  return out;
}
function parentOf(root: unknown, p: Path): Record<string | number, unknown> {
  let cur = root as Record<string | number, unknown>;
  for (const seg of p.slice(0, -1)) cur = cur[seg] as Record<string | number, unknown>;
  return cur;
}

function mutate(text: string, m: Mutation): string {
  switch (m.op) {
    case 'duplicate': {
      const s = m.start % (text.length + 1);
      const piece = text.slice(s, s + m.len);
      const to = m.to % (text.length + 1);
      return text.slice(0, to) + piece + text.slice(to);
    }
    case 'truncate':
      return text.slice(0, m.at % (text.length + 1));
    case 'insert': {
      const at = m.at % (text.length + 1);
      return text.slice(0, at) + m.chars + text.slice(at);
    }
    default: {
      let data: unknown;
      try {
        data = parse(text);
      } catch {
        return text; // already broken YAML: structural edits do not apply
      }
      const all = paths(data);
      if (!all.length) return text;
      const p = all[m.at % all.length];
      const parent = parentOf(data, p);
      const key = p[p.length - 1];
      if (m.op === 'replace') parent[key] = m.value;
      else if (Array.isArray(parent)) parent.splice(key as number, 1);
      else if (m.op === 'delete') delete parent[key];
      else {
        const v = parent[key];
        delete parent[key];
        parent[m.name] = v;
      }
      return stringify(data);
    }
  }
}

function checkResult(r: LoadResult, file: string, text: string): void {
  const lines = text.split('\n').length;
  const positioned = (d: Diagnostic) => {
    expect(d.file).toBe(file);
    expect(Number.isInteger(d.line) && d.line >= 1 && d.line <= lines + 1).toBe(true);
    expect(Number.isInteger(d.col) && d.col >= 1).toBe(true);
    expect(typeof d.message === 'string' && d.message.trim().length > 0).toBe(true);
    expect(d.message).not.toMatch(/internal error/);
    expect(['error', 'warning']).toContain(d.severity);
  };
  if (r.ok) {
    expect(r.loaded.resources.length).toBe(Object.keys(r.loaded.spec.resources).length);
    expect(r.loaded.hash).toMatch(/^[0-9a-f]{64}$/);
    r.loaded.warnings.forEach(positioned);
    expect(r.loaded.warnings.every((d) => d.severity === 'warning')).toBe(true);
  } else {
    expect(r.diagnostics.length).toBeGreaterThan(0);
    expect(r.diagnostics.some((d) => d.severity === 'error')).toBe(true);
    r.diagnostics.forEach(positioned);
  }
}

describe('fuzz: mutated examples', () => {
  it(`loadSpec and runValidate never throw and always position their diagnostics (${RUNS} runs)`, () => {
    let n = 0;
    fc.assert(
      fc.property(fc.constantFrom(...EXAMPLES), fc.array(mutationArb, { minLength: 1, maxLength: 3 }), (ex, muts) => {
        const text = muts.reduce(mutate, ex.text);
        // In place of the example (so files/... resolve), straight from text: a throw fails the test.
        checkResult(loadSpecText(text, ex.file, { env: {} }), ex.file, text);
        // From a file, through the command, both output formats.
        const f = join(tmp, `m${n++}.yaml`);
        writeFileSync(f, text);
        const fromFile = loadSpec(f, { env: {} });
        checkResult(fromFile, f, text);
        const out = runValidate([f], { env: {} });
        expect(out.exitCode).toBe(fromFile.ok ? 0 : 1);
        expect(out.output).toContain(`${f}: ${fromFile.ok ? 'valid' : ''}`);
        const json = JSON.parse(runValidate([f], { json: true, env: {} }).output);
        expect(json.files[0].valid).toBe(fromFile.ok);
      }),
      { numRuns: RUNS },
    );
    // 2000 loads, validations and file writes: ~35 s on a quiet 2-core machine, more when the
    // integration files run beside it. The bound is for a hang, not a speed target (that is the bench).
  }, 300_000);

  it('the mutations do break specs (the property is not vacuous)', () => {
    const sample = fc.sample(fc.tuple(fc.constantFrom(...EXAMPLES), fc.array(mutationArb, { minLength: 1, maxLength: 3 })), { numRuns: 60, seed: 42 });
    const results = sample.map(([ex, muts]) => loadSpecText(muts.reduce(mutate, ex.text), ex.file, { env: {} }));
    expect(results.filter((r) => !r.ok).length).toBeGreaterThan(20);
  });
});
