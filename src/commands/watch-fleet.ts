// `reconcile watch DIR|SPEC...`: a fleet of stacks in one process (src/watch/fleet.ts), or one shard
// of it (--shards n, --shard i: a StatefulSet replica). `watch SPEC` with one file and no --shards
// stays the single-stack controller of watch.ts.
// First: keeps V8's young generation small before the modules below load the AWS SDK (memory.ts).
import '../watch/service-heap.js';
import { statSync } from 'node:fs';
import { hostname } from 'node:os';
import { UserError } from '../engine/errors.js';
import { parseDurationFlag } from '../lock/config.js';
import { Fleet } from '../watch/fleet.js';
import { makeLogger } from '../watch/logger.js';
import { optimizeAgain } from '../watch/memory.js';
import { resolveShard } from '../watch/shard.js';
import type { GlobalOptions, Io } from './common.js';
import { parseInterval, serveEndpoints, stopOnSignals, type WatchCommandOptions } from './watch.js';

export interface FleetCommandOptions extends WatchCommandOptions {
  maxConcurrentStacks?: number;
  shards?: string;
  shard?: string;
}

const isDirectory = (p: string): boolean => {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
};

/** A fleet: several paths, a directory, or a shard of more than one. */
export function isFleet(paths: string[], opts: Pick<FleetCommandOptions, 'shards'>): boolean {
  return paths.length > 1 || paths.some(isDirectory) || (opts.shards !== undefined && opts.shards !== '' && opts.shards !== '1');
}

export async function watchFleetCommand(paths: string[], opts: FleetCommandOptions, g: GlobalOptions, io: Io): Promise<number> {
  // cli.ts turned V8's optimizing compiler off for watch (memory.ts): a fleet's CPU per cycle counts for more.
  optimizeAgain();
  const intervalMs = parseInterval('--interval', opts.interval ?? '60s');
  if (opts.lockTimeout !== undefined) parseDurationFlag('--lock-timeout', opts.lockTimeout);
  if (g.region) throw new UserError('--region cannot be used with several stacks', 'each spec names its own region: drop --region');
  if (g.set?.length || g.values)
    throw new UserError('--set and --values give one spec its parameters, not a fleet', "in a fleet, each spec's parameters take their defaults (or ${env:...} values)");
  if (opts.stateFile)
    throw new UserError('--state-file names one stack\'s alert state file; a fleet keeps each stack\'s in $XDG_STATE_HOME/reconcile/<stack>-alerts.json', 'set XDG_STATE_HOME, or give the rules a stateBucket (or the specs a lock bucket)');
  const maxConcurrentStacks = opts.maxConcurrentStacks ?? 4;
  if (!Number.isInteger(maxConcurrentStacks) || maxConcurrentStacks < 1) throw new UserError(`--max-concurrent-stacks ${maxConcurrentStacks} is below 1`, 'use 1 or more (4 is a good start)');
  for (const p of paths) {
    try {
      statSync(p);
    } catch {
      throw new UserError(`${p} does not exist`, 'name spec files or directories of spec files');
    }
  }
  let shard;
  try {
    shard = resolveShard(opts.shards, opts.shard, process.env.HOSTNAME ?? hostname());
  } catch (e) {
    throw new UserError((e as Error).message, 'a StatefulSet sets --shards to its replica count; the pod name gives the shard');
  }
  const mode = opts.mode ?? 'apply';
  const logger = makeLogger({ level: opts.logLevel, format: opts.logFormat, color: io.color });
  const fleet = new Fleet({
    ...opts,
    paths,
    shard,
    mode,
    intervalMs,
    maxConcurrentStacks,
    notify: opts.notify !== false,
    profile: g.profile,
    endpointUrl: g.endpointUrl,
    logger,
    releaseMemory: !opts.once,
  });
  const where = `shard ${shard.index} of ${shard.count}`;
  if (opts.once) {
    try {
      const r = await fleet.runOnce();
      const failed = [...r.results].filter(([, x]) => !x.ok).map(([s]) => s);
      logger[r.ok ? 'info' : 'warn']({ stacks: r.results.size, failed }, `one cycle of ${r.results.size} stack(s) (${where}): ${failed.length ? `${failed.length} failed: ${failed.join(', ')}` : 'all succeeded'}`);
      return r.ok ? 0 : 1;
    } finally {
      logger.flush();
    }
  }
  const http = await serveEndpoints(opts, logger, () => fleet.health(), { metrics: () => fleet.metricsText(), contentType: fleet.contentType });
  logger.info(
    { paths, shard: shard.index, shards: shard.count, mode, interval: opts.interval ?? '60s', maxConcurrentStacks },
    `watching the stacks of ${paths.join(', ')} (${where}; default ${mode} mode every ${opts.interval ?? '60s'}; at most ${maxConcurrentStacks} at once)`,
  );
  const removeHandlers = stopOnSignals(logger, () => fleet.stop());
  try {
    await fleet.run();
    logger.info('stopped');
    return 0;
  } finally {
    removeHandlers();
    await http.close();
    logger.flush();
  }
}
