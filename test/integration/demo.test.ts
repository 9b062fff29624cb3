// `npm run demo` is the first command a newcomer runs, and README then points at every example: after
// the demo's set-up (its moto, kept running with --keep), every example in examples/ must apply, plan
// clean, `check` and destroy with the CLI, as a user would type it. One moto: the demo's own.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve('.');
const EXAMPLES = readdirSync('examples').filter((f) => f.endsWith('.yaml'));

let demo: ChildProcess;
let out = '';
let env: NodeJS.ProcessEnv;
let dir: string;

beforeAll(async () => {
  demo = spawn(process.execPath, ['scripts/demo.mjs', '--keep'], { env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  demo.stdout!.on('data', (d) => (out += String(d)));
  demo.stderr!.on('data', (d) => (out += String(d)));
  const endpoint = await new Promise<string>((res, rej) => {
    const t = setInterval(() => {
      const m = /moto keeps running on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) res(m[1]);
      if (m || demo.exitCode !== null) {
        clearInterval(t);
        if (!m) rej(new Error(`demo exited ${demo.exitCode}:\n${out}`));
      }
    }, 100);
  });
  dir = mkdtempSync(join(tmpdir(), 'reconcile-demo-'));
  cpSync('examples', dir, { recursive: true }); // key files are written next to the spec
  env = {
    ...process.env,
    AWS_ENDPOINT_URL: endpoint,
    AWS_ACCESS_KEY_ID: 'demo',
    AWS_SECRET_ACCESS_KEY: 'demo',
    AWS_REGION: 'us-east-1',
    XDG_STATE_HOME: dir, // check keeps alert state there
    NO_COLOR: '1',
  };
}, 120_000);

afterAll(async () => {
  if (demo && demo.exitCode === null) {
    const exited = new Promise((r) => demo.once('exit', r));
    demo.kill('SIGINT'); // the demo stops its moto on Ctrl-C
    await exited;
  }
});

const cli = (...args: string[]) => spawnSync(process.execPath, [join(root, 'dist/cli.js'), ...args], { cwd: dir, env, encoding: 'utf8', timeout: 120_000 });

describe('npm run demo -- --keep, then every example against its moto', () => {
  it('the demo applied microblog-vpc, re-planned with no changes and said what to try next', () => {
    expect(out).toContain('Apply complete');
    expect(out).toContain('No changes. microblog-vpc');
    expect(out).toContain('Try next');
    expect(out).not.toMatch(/no stack lock|no lock bucket/); // the demo's moto is its own: no lock warning on every run
  });

  it.each(EXAMPLES)('%s applies, plans clean, checks and destroys', (file) => {
    const apply = cli('apply', file, '--yes');
    expect(apply.status, apply.stdout + apply.stderr).toBe(0);
    const plan = cli('plan', file, '--detailed-exitcode');
    expect(plan.status, plan.stdout + plan.stderr).toBe(0);
    const check = cli('check', file);
    expect(check.status, check.stdout + check.stderr).toBe(0);
    const destroy = cli('destroy', file, '--yes');
    expect(destroy.status, destroy.stdout + destroy.stderr).toBe(0);
    expect(destroy.stderr).toContain('no lock bucket: stack');
    expect(destroy.stderr).toContain('while this destroy does');
  });
});
