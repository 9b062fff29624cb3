#!/usr/bin/env node
// npm's `prepare`: builds dist/ with TypeScript. npm runs it after `npm ci` / `npm install` in a clone,
// before `npm pack`, and when it installs this package from git (`npm install -g git+https://...`, which
// is how pre-commit 4 installs the hook of .pre-commit-hooks.yaml). In that last case npm's nested
// install inherits --global and puts nothing into the clone: no TypeScript, no dependencies. So then
// install the locked ones into the clone first (dev included, scripts off), and build. dist/ is never
// committed: it would go stale with every change to src/.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tsc = join(root, 'node_modules/typescript/bin/tsc');
const run = (cmd, args) => spawnSync(cmd, args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] }).status;

if (!existsSync(join(root, 'node_modules'))) {
  const npm = process.env.npm_execpath ? [process.execPath, [process.env.npm_execpath]] : ['npm', []];
  const ci = ['ci', '--global=false', `--prefix=${root}`, '--include=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error'];
  if (run(npm[0], [...npm[1], ...ci]) !== 0) {
    console.error('reconcile: could not install the build dependencies (npm ci) to build dist/');
    process.exit(1);
  }
}
if (!existsSync(tsc)) {
  // Installed without dev dependencies (npm ci --omit=dev): keep a dist/ that is there.
  if (existsSync(join(root, 'dist/cli.js'))) process.exit(0);
  console.error('reconcile: TypeScript is not installed, so dist/ cannot be built: run npm ci (with dev dependencies)');
  process.exit(1);
}
process.exit(run(process.execPath, [tsc, '-p', 'tsconfig.json']) ?? 1);
