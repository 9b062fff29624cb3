// Starts a real moto server on a free loopback port for a test file, and stops it.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
// @ts-expect-error -- a dependency-free script of the set-up step, without type declarations
import { motoPython } from '../../scripts/moto-python.mjs';

export interface Moto {
  endpoint: string;
  port: number;
  reset(): Promise<void>;
  stop(): Promise<void>;
  /** Environment for a child `reconcile` process pointed at this server. */
  env: Record<string, string>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

export async function startMoto(extraEnv: Record<string, string> = {}): Promise<Moto> {
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  // moto logs every request to stderr. Into a file, not a pipe: a test that runs the CLI with spawnSync
  // blocks this process, nothing reads a pipe meanwhile, and once 64 KB of log fill it moto stops
  // answering -- the CLI then hangs until its timeout (a test of five prune plans was enough).
  const logDir = mkdtempSync(join(tmpdir(), 'reconcile-moto-'));
  const logFile = join(logDir, 'stderr.log');
  const logFd = openSync(logFile, 'w');
  const child: ChildProcess = spawn(motoPython(fileURLToPath(new URL('../..', import.meta.url))) as string, ['-m', 'moto.server', '-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'ignore', logFd],
    env: { ...process.env, ...extraEnv },
  });
  closeSync(logFd);
  const stderrTail = () => {
    try {
      return readFileSync(logFile, 'utf8').slice(-2000);
    } catch {
      return '';
    }
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`moto server exited (${child.exitCode}). Is moto installed? npm test installs it (scripts/setup.mjs), or pip install \"moto[server]==5.2.1\"\n${stderrTail()}`);
    try {
      const r = await fetch(`${endpoint}/moto-api/data.json`);
      if (r.ok) break;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`moto server did not start within 30 s\n${stderrTail()}`);
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  const env = {
    AWS_ENDPOINT_URL: endpoint,
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    AWS_REGION: 'us-east-1',
    NO_COLOR: '1',
  };
  return {
    endpoint,
    port,
    env,
    reset: async () => {
      await fetch(`${endpoint}/moto-api/reset`, { method: 'POST' });
    },
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
      rmSync(logDir, { recursive: true, force: true });
    },
  };
}
