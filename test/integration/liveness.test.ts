// Nothing hangs: against an AWS endpoint that accepts connections and never answers, `plan` ends
// with a clear error once its --timeout is reached; `watch` stays up, says on /readyz that it is not
// ready and why, keeps cycling, and ends within seconds on SIGTERM. And bad flag values are refused
// before any AWS call. The compiled CLI in a child process (build first), no moto.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { specYaml } from '../helpers/specs.js';
import { CLI, runCli } from '../helpers/cli.js';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHangServer, type HangServer } from '../helpers/hang.js';

let hang: HangServer;
let spec: string;
let env: Record<string, string | undefined>;

beforeAll(async () => {
  hang = await startHangServer();
  const dir = mkdtempSync(join(tmpdir(), 'reconcile-liveness-'));
  spec = join(dir, 'spec.yaml');
  writeFileSync(spec, specYaml('hangtest', '  main:\n    kind: vpc\n    cidr: 10.1.0.0/16\n'));
  env = { ...process.env, AWS_ENDPOINT_URL: hang.endpoint, XDG_STATE_HOME: dir, NO_COLOR: '1' };
});
afterAll(async () => {
  await hang.close();
});

const cli = (args: string[]) => {
  const start = Date.now();
  return { ...runCli(args, env), ms: Date.now() - start };
};

describe('an endpoint that never answers', () => {
  it('plan --timeout ends with a clear one-line error, exit 1, in bounded time', () => {
    const r = cli(['plan', spec, '--timeout', '2s']);
    expect(r.code).toBe(1);
    expect(r.err).toContain('error: plan did not finish within 2s (--timeout 2s)');
    expect(r.err).toContain('hint:');
    expect(r.err).not.toMatch(/\n\s+at /); // no stack trace
    expect(r.ms).toBeLessThan(20_000);
  });

  it('apply --timeout: the same, before any change; the local lock is released', () => {
    const r = cli(['apply', spec, '--yes', '--timeout', '2s']);
    expect(r.code).toBe(1);
    expect(r.err).toContain('error: apply did not finish within 2s (--timeout 2s)');
    expect(r.ms).toBeLessThan(20_000);
    expect(cli(['apply', spec, '--yes', '--timeout', '1s', '--lock-timeout', '0s']).err).not.toContain('is locked on this machine by');
  });

  it('watch: not ready while its cycles hang and time out, keeps cycling, and SIGTERM ends it within seconds', async () => {
    const child = spawn(process.execPath, [CLI, 'watch', spec, '--port', '0', '--host', '127.0.0.1', '--interval', '1s', '--timeout', '2s', '--log-format', 'json'], { env });
    let log = '';
    child.stdout.on('data', (d) => (log += String(d)));
    child.stderr.on('data', (d) => (log += String(d)));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const lines = () => log.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { msg: string; port?: number });
    const until = async (pred: () => boolean, ms: number) => {
      const end = Date.now() + ms;
      while (!pred() && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
      return pred();
    };
    try {
      expect(await until(() => lines().some((l) => l.port), 20_000)).toBe(true);
      const port = lines().find((l) => l.port)!.port;
      // While a cycle hangs: not ready, and /readyz says for how long.
      let hung = { status: 0, text: '' };
      for (const end = Date.now() + 10_000; Date.now() < end && !/has been running/.test(hung.text); await until(() => false, 100)) {
        const r = await fetch(`http://127.0.0.1:${port}/readyz`);
        hung = { status: r.status, text: await r.text() };
      }
      expect(hung.status).toBe(503);
      expect(hung.text).toMatch(/the current cycle has been running for \d+s \(--timeout 2s\)/);
      // Two cycles failed on the timeout: watch stays up and cycles again.
      expect(await until(() => lines().filter((l) => /cycle failed/.test(l.msg)).length >= 2, 30_000)).toBe(true);
      expect(lines().some((l) => l.msg.includes('the cycle did not finish within 2s'))).toBe(true);
      const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
      expect(ready.status).toBe(503);
      expect(await ready.text()).toContain('did not finish within 2s');
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
      // SIGTERM in the middle of a hung cycle.
      const cycles = lines().filter((l) => /cycle failed/.test(l.msg)).length;
      await until(() => false, 500);
      const start = Date.now();
      child.kill('SIGTERM');
      const code = await exited;
      expect(code).toBe(0);
      expect(Date.now() - start).toBeLessThan(9_000);
      expect(cycles).toBeGreaterThanOrEqual(2);
    } finally {
      child.kill('SIGKILL');
    }
  }, 60_000);
});

describe('flag values are checked before any AWS call', () => {
  it.each([
    [['apply', '--concurrency', '0'], "option '--concurrency <n>' argument '0' is invalid. Allowed: a whole number from 1 to 100."],
    [['apply', '--concurrency', 'abc'], "'--concurrency <n>' argument 'abc' is invalid"],
    [['apply', '--max-deletes', '-1'], "'--max-deletes <n>' argument '-1' is invalid. Allowed: a whole number, 0 or more."],
    [['plan', '--max-deletes', '2.5'], "'--max-deletes <n>' argument '2.5' is invalid"],
    [['watch', '--port', '99999'], "'--port <port>' argument '99999' is invalid. Allowed: a whole number from 0 to 65535."],
    [['watch', '--interval', '0s'], "'--interval <duration>' argument '0s' is invalid. Allowed: a duration of at least 1s."],
    [['destroy', '--lock-timeout', 'soon'], "'--lock-timeout <duration>' argument 'soon' is invalid"],
    [['plan', '--timeout', '5'], "'--timeout <duration>' argument '5' is invalid"],
  ])('%j', (args, message) => {
    const before = hang.connections;
    const r = cli([args[0], spec, ...args.slice(1)]);
    expect(r.code).not.toBe(0);
    const first = r.err.split('\n')[0];
    expect(first).toMatch(/^error: option '--[a-z-]+ <[a-z]+>' argument '.*' is invalid\. Allowed: /);
    expect(first).toContain(message);
    expect(r.out).toBe('');
    expect(hang.connections).toBe(before);
  });
});
