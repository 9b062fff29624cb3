// `reconcile watch SPEC`: the controller service. Every --interval: load the spec, plan, heal
// (apply mode) or report (detect mode) the drift, evaluate the alert rules that are due. Serves
// /healthz, /readyz and /metrics on --port. Logs JSON lines (readable on a terminal). SIGTERM or
// SIGINT: the current step finishes, then it returns 0; a second signal ends the process at once.
// First: keeps V8's young generation small before the modules below load the AWS SDK (memory.ts).
import '../watch/service-heap.js';
import { UserError } from '../engine/errors.js';
import { parseDurationFlag, type LockFlags } from '../lock/config.js';
import { parseDuration } from '../spec/common.js';
import { loadSpec } from '../spec/load.js';
import type { Registry } from 'prom-client';
import { startHttp, type Health, type HttpEndpoint } from '../watch/http.js';
import { makeLogger, type Logger } from '../watch/logger.js';
import { Watcher } from '../watch/loop.js';
import { WatchMetrics } from '../watch/metrics.js';
import { optimizeAgain } from '../watch/memory.js';
import { formatDiagnostics, specParams, type GlobalOptions, type Io } from './common.js';

export interface WatchCommandOptions extends LockFlags {
  interval?: string;
  mode?: 'apply' | 'detect';
  port?: number;
  host?: string;
  once?: boolean;
  /** false with --no-notify. */
  notify?: boolean;
  stateFile?: string;
  logLevel?: string;
  logFormat?: 'json' | 'pretty';
  maxDeletes?: number;
  concurrency?: number;
}

export function parseInterval(flag: string, v: string): number {
  let ms: number;
  try {
    ms = parseDuration(v.trim());
  } catch {
    throw new UserError(`${flag} ${v} is not a duration`, 'write a number and a unit: 30s, 5m, 1h');
  }
  if (ms < 1000) throw new UserError(`${flag} ${v} is too short`, 'use 1s or more (60s is a good start)');
  return ms;
}

/** Serves /healthz, /readyz and /metrics on --host:--port; a port in use or refused is a user error. */
export async function serveEndpoints(
  opts: Pick<WatchCommandOptions, 'port' | 'host'>,
  logger: Logger,
  health: () => Health,
  registry: Pick<Registry, 'metrics' | 'contentType'>,
): Promise<HttpEndpoint> {
  const port = opts.port ?? 9464;
  const host = opts.host ?? '0.0.0.0';
  const http = await startHttp({ port, host, health, registry }).catch((e: NodeJS.ErrnoException) => {
    if (e?.code === 'EADDRINUSE') throw new UserError(`port ${port} is already in use: cannot serve /healthz, /readyz and /metrics`, 'pass another --port (0: any free port)');
    if (e?.code === 'EACCES') throw new UserError(`not allowed to listen on port ${port}`, 'use a port above 1023');
    // Not an AWS endpoint's failure (as the CLI would otherwise read ENOTFOUND): the address to listen on.
    const hostHint = 'pass an address of this machine: 127.0.0.1 (this machine only) or 0.0.0.0 (every interface)';
    if (e?.code === 'EADDRNOTAVAIL') throw new UserError(`cannot listen on --host ${host}: no network interface of this machine has that address`, hostHint);
    if (e?.code === 'ENOTFOUND' || e?.code === 'EAI_AGAIN') throw new UserError(`cannot listen on --host ${host}: the name does not resolve`, hostHint);
    throw e;
  });
  logger.info({ port: http.port, host: http.host }, `serving /healthz, /readyz and /metrics on http://${http.host}:${http.port}`);
  return http;
}

/**
 * SIGTERM / SIGINT: `stop` (the current step finishes); a second signal ends the process at once.
 * Returns the function that removes the handlers.
 */
export function stopOnSignals(logger: Logger, stop: () => void): () => void {
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      logger.warn({ signal: sig }, 'second signal: stopping now');
      removeHandlers();
      process.kill(process.pid, sig); // the default action ends the process
      return;
    }
    logger.info({ signal: sig }, `${sig}: stopping once the current step is done`);
    stop();
  };
  const removeHandlers = () => {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return removeHandlers;
}

export async function watchCommand(file: string, opts: WatchCommandOptions, g: GlobalOptions, io: Io): Promise<number> {
  // cli.ts turned V8's optimizing compiler off for watch (memory.ts); one cycle is no service.
  if (opts.once) optimizeAgain();
  let intervalMs = parseInterval('--interval', opts.interval ?? '60s');
  if (opts.lockTimeout !== undefined) parseDurationFlag('--lock-timeout', opts.lockTimeout);
  // A spec that is invalid from the start is an error now; later, the last valid one is kept.
  const params = specParams(g);
  const first = loadSpec(file, { params });
  if (!first.ok) {
    const errors = first.diagnostics.filter((d) => d.severity === 'error').length;
    throw new UserError(`${file} is not a valid spec (${errors} error${errors === 1 ? '' : 's'}):\n${formatDiagnostics(first.diagnostics)}`, `run \`reconcile validate ${file}\` while you fix it`);
  }
  // The spec's own `watch:` block wins over the flags (read at start; a fleet reads it every scan).
  const own = first.loaded.spec.watch;
  if (own?.interval) intervalMs = parseDuration(own.interval);
  const mode = own?.mode ?? opts.mode ?? 'apply';
  const interval = own?.interval ?? opts.interval ?? '60s';
  const logger = makeLogger({ level: opts.logLevel, format: opts.logFormat, color: io.color });
  const metrics = new WatchMetrics();
  const watcher = new Watcher({
    ...opts,
    specFile: file,
    params,
    mode,
    intervalMs,
    notify: opts.notify !== false,
    region: g.region,
    profile: g.profile,
    endpointUrl: g.endpointUrl,
    logger,
    metrics,
    releaseMemory: !opts.once,
  });

  const http = opts.once ? undefined : await serveEndpoints(opts, logger, () => watcher.health(), metrics.registry);
  logger.info(
    { spec: file, mode, interval, notify: opts.notify !== false, stack: first.loaded.spec.stack },
    `watching ${file} (stack ${first.loaded.spec.stack}, ${mode} mode, every ${interval}${opts.notify === false ? ', --no-notify' : ''})`,
  );

  const removeHandlers = stopOnSignals(logger, () => watcher.stop());
  try {
    const last = await watcher.run({ once: opts.once });
    if (opts.once) return last?.ok ? 0 : 1;
    logger.info('stopped');
    return 0;
  } finally {
    removeHandlers();
    await http?.close();
    logger.flush();
  }
}
