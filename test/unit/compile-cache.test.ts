// The CLI keeps V8's compiled code of the CommonJS modules it loads (src/aws/sdk/load.ts
// enableCompileCache): written once, not at every run; a damaged file is never handed to V8 (which
// would crash on it) and is replaced; nowhere to keep it is no error.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const CLI = join(ROOT, 'dist/cli.js');
const SPEC = join(ROOT, 'examples/clock-app-ha.yaml');

/** validate, with the spec parse cache (src/spec/parse-cache.ts, the same cache home) off: these tests count the compile cache's files. */
function validate(env: Record<string, string>) {
  if (!existsSync(CLI)) throw new Error('dist/cli.js is missing: run npm run build (npm test does)');
  const r = spawnSync(process.execPath, [CLI, 'validate', SPEC], { encoding: 'utf8', env: { PATH: process.env.PATH!, NO_COLOR: '1', RECONCILE_SPEC_CACHE: 'off', ...env } });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  expect(r.stdout).toContain('valid');
}

/** The cache files under a cache home, with their modification times. */
function cacheFiles(home: string): Map<string, number> {
  const base = join(home, 'reconcile');
  if (!existsSync(base)) return new Map();
  return new Map(readdirSync(base, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => [join(e.parentPath, e.name), statSync(join(e.parentPath, e.name)).mtimeMs]));
}

describe('the compile cache', () => {
  it('is written once, kept while nothing changes, and a damaged one is replaced without a crash', () => {
    const home = mkdtempSync(join(tmpdir(), 'reconcile-cc-'));
    validate({ XDG_CACHE_HOME: home });
    const first = cacheFiles(home);
    const blob = [...first.keys()].find((f) => f.endsWith('.BLOB'))!;
    expect(blob).toBeDefined();
    expect(statSync(blob).size).toBeGreaterThan(10_000);
    validate({ XDG_CACHE_HOME: home });
    expect(cacheFiles(home)).toEqual(first);

    // Damage the compiled code but not the headers V8 checks: V8 itself would crash on it.
    const data = readFileSync(blob);
    for (let i = 200; i < data.length; i += 97) data[i] ^= 0x5a;
    writeFileSync(blob, data);
    const damaged = statSync(blob).mtimeMs;
    validate({ XDG_CACHE_HOME: home });
    expect(statSync(blob).mtimeMs).not.toBe(damaged);
    const repaired = cacheFiles(home);
    validate({ XDG_CACHE_HOME: home });
    expect(cacheFiles(home)).toEqual(repaired);
  });

  it('is one file per installed copy: the files of copies unused for 30 days and the old shared file are deleted', () => {
    const home = mkdtempSync(join(tmpdir(), 'reconcile-cc-copies-'));
    validate({ XDG_CACHE_HOME: home });
    const [ownBlob] = [...cacheFiles(home).keys()].filter((f) => f.endsWith('.BLOB'));
    const dir = dirname(ownBlob);
    const name = (f: string) => f.slice(dir.length + 1);
    expect(name(ownBlob)).toMatch(/^reconcile-sha256-[0-9a-f]{16}\.BLOB$/);
    const other = (prefix: string, daysOld: number) => {
      for (const ext of ['BLOB', 'MAP']) {
        const f = join(dir, `${prefix}.${ext}`);
        writeFileSync(f, ext === 'MAP' ? '{}' : 'x');
        const t = new Date(Date.now() - daysOld * 24 * 3600 * 1000);
        utimesSync(f, t, t);
      }
    };
    other('reconcile-sha256', 0); // what every copy shared before: it only grew
    other('reconcile-sha256-00000000000000aa', 40);
    other('reconcile-sha256-00000000000000bb', 2);
    // The cache is written (and others pruned) when this copy's own file lacks an entry.
    rmSync(ownBlob);
    validate({ XDG_CACHE_HOME: home });
    expect([...cacheFiles(home).keys()].map(name).sort()).toEqual(
      [name(ownBlob), name(ownBlob).replace('.BLOB', '.MAP'), 'reconcile-sha256-00000000000000bb.BLOB', 'reconcile-sha256-00000000000000bb.MAP'].sort(),
    );
  });

  it('goes to ~/.cache without XDG_CACHE_HOME; without HOME, and when turned off, there is none', () => {
    const home = mkdtempSync(join(tmpdir(), 'reconcile-cc-home-'));
    validate({ HOME: home });
    expect(cacheFiles(join(home, '.cache')).size).toBe(2);
    const tmp = mkdtempSync(join(tmpdir(), 'reconcile-cc-tmp-'));
    validate({ TMPDIR: tmp });
    expect(readdirSync(tmp)).toEqual([]);
    const off = mkdtempSync(join(tmpdir(), 'reconcile-cc-off-'));
    validate({ XDG_CACHE_HOME: off, DISABLE_V8_COMPILE_CACHE: '1' });
    expect(readdirSync(off)).toEqual([]);
  });

  it('leaves a module that uses import() to Node: vm.Script code from the cache cannot import', () => {
    const home = mkdtempSync(join(tmpdir(), 'reconcile-cc-import-'));
    const lib = join(home, 'uses-import.cjs');
    writeFileSync(lib, "module.exports = () => import('node:path').then((m) => typeof m.join);\n");
    const plain = join(home, 'plain.cjs');
    writeFileSync(plain, 'module.exports = 42;\n');
    const script = [
      `import { enableCompileCache } from ${JSON.stringify(join(ROOT, 'dist/src/aws/sdk/load.js'))};`,
      `import { createRequire } from 'node:module';`,
      `enableCompileCache();`,
      `const require = createRequire(import.meta.url);`,
      `console.log(require(${JSON.stringify(plain)}), await require(${JSON.stringify(lib)})());`,
    ].join('\n');
    for (const run of [1, 2]) {
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env: { PATH: process.env.PATH!, XDG_CACHE_HOME: home } });
      expect(r.stderr, `run ${run}`).toBe('');
      expect(r.stdout.trim(), `run ${run}`).toBe('42 function');
    }
    const map = readFileSync([...cacheFiles(home).keys()].find((f) => f.endsWith('.MAP'))!, 'utf8');
    expect(map).toContain('plain.cjs');
    expect(map).not.toContain('uses-import.cjs');
  });

  it('runs as usual where the cache cannot be written', () => {
    validate({ XDG_CACHE_HOME: '/proc/self/no-such-folder' });
    validate({ XDG_CACHE_HOME: '/proc/self/no-such-folder', RECONCILE_SPEC_CACHE: 'on' });
    const home = mkdtempSync(join(tmpdir(), 'reconcile-cc-ro-'));
    validate({ XDG_CACHE_HOME: home });
    // The cache file is a folder: it can be neither read nor written.
    const blob = [...cacheFiles(home).keys()].find((f) => f.endsWith('.BLOB'))!;
    spawnSync('rm', ['-f', blob]);
    spawnSync('mkdir', [blob]);
    validate({ XDG_CACHE_HOME: home });
  });
});
