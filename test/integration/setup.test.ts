// The set-up step of `npm test` / `npm run demo` (scripts/setup.mjs): a second run installs nothing,
// and when moto cannot be had it says so in one line and exits 1, leaving no half-made .venv/.
// The whole path on a fresh clone (npm ci, the demo, pre-commit's install) is test/install/.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

let dir: string;
let shims: string;

beforeAll(() => {
  // A project whose node modules count as installed (the hidden lock file is newer than the lock file).
  dir = mkdtempSync(join(tmpdir(), 'reconcile-setup-'));
  cpSync('scripts', join(dir, 'scripts'), { recursive: true });
  cpSync('package-lock.json', join(dir, 'package-lock.json'));
  mkdirSync(join(dir, 'node_modules'));
  writeFileSync(join(dir, 'node_modules/.package-lock.json'), '{}');
  // python3 without site-packages: the real interpreter, where `import moto` fails.
  const real = spawnSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).stdout.trim();
  shims = join(dir, 'shims');
  mkdirSync(join(shims, 'with-python'), { recursive: true });
  mkdirSync(join(shims, 'none'));
  writeFileSync(join(shims, 'with-python/python3'), `#!/bin/sh\nexec "${real}" -S "$@"\n`);
  chmodSync(join(shims, 'with-python/python3'), 0o755);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const setup = (cwd: string, path?: string) =>
  spawnSync(process.execPath, ['scripts/setup.mjs'], { cwd, encoding: 'utf8', env: { ...process.env, ...(path ? { PATH: path } : {}) }, timeout: 300_000 });

describe('scripts/setup.mjs', () => {
  it('does no install work when everything is there (node modules installed, python3 with moto)', () => {
    const r = setup(dir);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('without python3: one line saying what to install by hand, exit 1', () => {
    const r = setup(dir, join(shims, 'none'));
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^setup: Python 3 is needed .*pip install "moto\[server\]==5\.2\.1"/)]);
  });

  it('with a python3 that has no moto: installs moto into .venv/, or says in one line that it cannot and leaves no .venv/', () => {
    const r = setup(dir, `${join(shims, 'with-python')}:${dirname(process.execPath)}:/usr/bin:/bin`);
    const lines = r.stderr.trim().split('\n');
    expect(lines[0]).toBe('setup: python3 has no moto: installing moto 5.2.1 into .venv/ (only for this project) ...');
    if (r.status === 0) {
      // A package index (or a local wheel source) was reachable: moto is in the project's venv.
      expect(spawnSync(join(dir, '.venv/bin/python3'), ['-c', 'import moto; print(moto.__version__)'], { encoding: 'utf8' }).stdout.trim()).toBe('5.2.1');
      expect(existsSync(join(dir, '.venv/reconcile-moto-installed'))).toBe(true);
    } else {
      expect(r.status).toBe(1);
      expect(lines.slice(1)).toEqual([expect.stringMatching(/^setup: cannot install moto 5\.2\.1 into \.venv\/ .*install it by hand \(pip install "moto\[server\]==5\.2\.1"\)/)]);
      expect(existsSync(join(dir, '.venv'))).toBe(false);
    }
  });
});
