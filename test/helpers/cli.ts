// The compiled CLI (dist/cli.js: build first) run as a user runs it, in a child process: to its end
// (runCli), or started and watched as its output comes (startCli).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

export const CLI = join(process.cwd(), 'dist/cli.js');

export interface CliRun {
  code: number | null;
  out: string;
  err: string;
}

/** Runs `reconcile ARGS` to its end with `env` and no terminal (stdin is empty). */
export function runCli(args: string[], env: NodeJS.ProcessEnv, timeout = 60_000): CliRun {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env, input: '', timeout });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

export interface Started {
  child: ChildProcess;
  /** What it has written so far. */
  readonly out: string;
  readonly err: string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts node with `nodeArgs` (`[CLI, ...args]` for the CLI), collecting its output as it comes. */
export function startNode(nodeArgs: string[], env: NodeJS.ProcessEnv): Started {
  const child = spawn(process.execPath, nodeArgs, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const p = {
    child,
    out: '',
    err: '',
    exit: new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once('exit', (code, signal) => r({ code, signal }))),
  };
  child.stdout!.on('data', (d) => (p.out += String(d)));
  child.stderr!.on('data', (d) => (p.err += String(d)));
  return p;
}

/** Starts `reconcile ARGS`, collecting its output as it comes. */
export const startCli = (args: string[], env: NodeJS.ProcessEnv): Started => startNode([CLI, ...args], env);
