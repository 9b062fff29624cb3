// A fresh clone, as a newcomer and as pre-commit get it. Slow (npm installs from the registry, builds
// three times): `npm run test:install`, which .ci/run runs after `npm test`.
//   1. `npm test`'s set-up step on a clone with nothing installed and a python3 without moto: it
//      installs the node modules and builds, and installs moto into .venv/ or says in one line why not;
//      then `npm run demo` (python3 with moto) installs nothing more and applies the demo.
//   2. pre-commit 4's install of a `language: node` hook: `npm install --allow-git=root --install-links -g
//      git+file://<clone>` (pre_commit/languages/node.py), with npm's prefix in the hook's environment.
//   3. A tarball from `npm pack`, installed globally without dev dependencies.
// Each ends with the installed `reconcile validate` checking a good and a bad spec.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

const TEN_MIN = 600_000;
let dir: string;
let clone: string;

const run = (cmd: string, args: string[], opts: SpawnSyncOptions = {}) => {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: TEN_MIN, ...opts, env: { ...process.env, NO_COLOR: '1', ...opts.env } });
  return { status: r.status, stdout: String(r.stdout), stderr: String(r.stderr) };
};

function validates(bin: string) {
  const ok = run(bin, ['validate', resolve('examples/microblog-vpc.yaml')]);
  expect(ok.status, ok.stderr).toBe(0);
  const bad = run(bin, ['validate', resolve('examples/invalid/bad-cidr.yaml')]);
  expect(bad.status).toBe(1);
  expect(bad.stdout + bad.stderr).toContain('bad-cidr.yaml:');
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'reconcile-fresh-'));
  clone = join(dir, 'reconcile');
  const r = run('git', ['clone', '--quiet', resolve('.'), clone]);
  expect(r.status, r.stderr).toBe(0);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('a fresh clone', () => {
  it('npm test\'s set-up step installs what is missing; then npm run demo installs nothing more and works', () => {
    const real = run('python3', ['-c', 'import sys; print(sys.executable)']).stdout.trim();
    const shims = join(dir, 'shims');
    mkdirSync(shims);
    writeFileSync(join(shims, 'python3'), `#!/bin/sh\nexec "${real}" -S "$@"\n`); // no site-packages: no moto
    chmodSync(join(shims, 'python3'), 0o755);
    const set = run(process.execPath, ['scripts/setup.mjs'], { cwd: clone, env: { PATH: `${shims}:${dirname(process.execPath)}:/usr/bin:/bin` } });
    expect(set.stderr).toContain('setup: installing the node modules from package-lock.json (npm ci)');
    expect(existsSync(join(clone, 'node_modules/vitest'))).toBe(true);
    expect(existsSync(join(clone, 'dist/cli.js'))).toBe(true);
    expect(set.stderr).toContain('setup: python3 has no moto: installing moto 5.2.1 into .venv/');
    if (set.status !== 0) {
      expect(set.status).toBe(1);
      expect(set.stderr.trim().split('\n').at(-1)).toMatch(/^setup: cannot install moto 5\.2\.1 .*pip install "moto\[server\]==5\.2\.1"/);
      expect(existsSync(join(clone, '.venv'))).toBe(false);
    } else expect(existsSync(join(clone, '.venv/reconcile-moto-installed'))).toBe(true);

    const demo = run('npm', ['run', 'demo', '--silent'], { cwd: clone });
    expect(demo.status, demo.stdout + demo.stderr).toBe(0);
    expect(demo.stderr).not.toContain('setup:'); // nothing left to install
    expect(demo.stdout).toContain('No changes. microblog-vpc');
  });

  it('installs from git the way pre-commit 4 installs a node hook', () => {
    const prefix = join(dir, 'pre-commit-env');
    const r = run('npm', ['install', '--allow-git=root', '--install-links', '-g', '--no-audit', '--no-fund', `git+file://${clone}`], {
      cwd: clone,
      env: { NPM_CONFIG_PREFIX: prefix, npm_config_prefix: prefix },
    });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    validates(join(prefix, 'bin/reconcile'));
    expect(existsSync(join(prefix, 'lib/node_modules/reconcile/node_modules/typescript'))).toBe(false);
  });

  it('installs from a tarball (npm pack) without dev dependencies', () => {
    const pack = run('npm', ['pack', '--silent'], { cwd: clone });
    expect(pack.status, pack.stderr).toBe(0);
    const tgz = join(clone, pack.stdout.trim().split('\n').at(-1)!);
    const prefix = join(dir, 'from-tarball');
    const r = run('npm', ['install', '-g', '--prefix', prefix, '--no-audit', '--no-fund', tgz]);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    validates(join(prefix, 'bin/reconcile'));
  });
});
