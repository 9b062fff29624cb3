#!/usr/bin/env node
// The set-up step of `npm test` and `npm run demo` (npm's pretest / predemo): installs what a fresh
// clone lacks, once, saying so in one line each, so that those two commands are all a newcomer types.
//   - the node modules, as `npm ci` would, from package-lock.json (npm ci also builds dist/);
//   - with --build: dist/, when it is older than the sources (the demo runs dist/cli.js);
//   - moto at the version the project is tested with, into .venv/ (git-ignored), when the python3 on
//     PATH has no moto server; the demo and the tests then use .venv/bin/python3 (scripts/moto-python.mjs).
// A second run checks file times and one `python3` look-up, and installs nothing. When an install
// cannot happen (no Python, no package index) it prints one line saying what to install by hand and
// exits 1. Dependency-free on purpose: it runs before anything is installed.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MOTO_VERSION, VENV_MARKER, VENV_PYTHON } from './moto-python.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const say = (line) => process.stderr.write(`setup: ${line}\n`);
const fail = (line) => {
  say(line);
  process.exit(1);
};
const mtime = (p) => (existsSync(p) ? statSync(p).mtimeMs : 0);
const npm = (args, opts = {}) =>
  process.env.npm_execpath
    ? spawnSync(process.execPath, [process.env.npm_execpath, ...args], { cwd: root, stdio: 'inherit', ...opts })
    : spawnSync('npm', args, { cwd: root, stdio: 'inherit', ...opts });

// 1. node_modules: npm ci writes node_modules/.package-lock.json after the lock file it installed.
if (mtime(join(root, 'node_modules/.package-lock.json')) < mtime(join(root, 'package-lock.json'))) {
  say('installing the node modules from package-lock.json (npm ci) and building dist/ ...');
  const r = npm(['ci', '--no-audit', '--no-fund', '--loglevel=error']);
  if (r.status !== 0) fail('npm ci failed (see above): is the npm registry reachable? Run `npm ci` by hand, then this again.');
}

// 2. dist/, for the demo (npm test compiles by itself).
if (process.argv.includes('--build')) {
  const newest = (dir) =>
    readdirSync(dir, { withFileTypes: true }).reduce((m, e) => Math.max(m, e.isDirectory() ? newest(join(dir, e.name)) : mtime(join(dir, e.name))), 0);
  const sources = Math.max(newest(join(root, 'src')), mtime(join(root, 'cli.ts')), mtime(join(root, 'tsconfig.json')));
  if (mtime(join(root, 'dist/cli.js')) < sources) {
    say('building dist/ (tsc) ...');
    const r = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: root, stdio: 'inherit' });
    if (r.status !== 0) fail('the build failed (see above).');
  }
}

// 3. moto: the python3 on PATH, else the project's .venv/.
const byHand = `install it by hand (pip install "moto[server]==${MOTO_VERSION}"), then run this again`;
if (!existsSync(join(root, VENV_MARKER))) {
  const probe = spawnSync('python3', ['-c', 'import importlib.util as u, sys; sys.exit(0 if all(u.find_spec(m) for m in ("moto", "flask", "flask_cors")) else 3)'], {
    stdio: 'ignore',
  });
  if (probe.error) fail(`Python 3 is needed for moto, the local AWS stand-in of the demo and the tests: install python3, then ${byHand}.`);
  if (probe.status !== 0) {
    say(`python3 has no moto: installing moto ${MOTO_VERSION} into .venv/ (only for this project) ...`);
    const venv = join(root, '.venv');
    const log = join(mkdtempSync(join(tmpdir(), 'reconcile-setup-')), 'pip.log');
    const quiet = { cwd: root, encoding: 'utf8', env: { ...process.env, PIP_DISABLE_PIP_VERSION_CHECK: '1' } };
    let r = spawnSync('python3', ['-m', 'venv', venv], quiet);
    const why = r.status !== 0 ? 'python3 -m venv failed (Debian/Ubuntu: apt-get install python3-venv)' : 'no Python package index reachable?';
    if (r.status === 0) r = spawnSync(join(root, VENV_PYTHON), ['-m', 'pip', 'install', '--retries', '1', '--timeout', '20', `moto[server]==${MOTO_VERSION}`], quiet);
    if (r.status !== 0) {
      writeFileSync(log, `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ?? ''}`);
      rmSync(venv, { recursive: true, force: true }); // half a venv would look installed next time
      fail(`cannot install moto ${MOTO_VERSION} into .venv/ (${why}; pip's output: ${log}): ${byHand}.`);
    }
    writeFileSync(join(root, VENV_MARKER), `moto ${MOTO_VERSION}\n`);
  }
}
