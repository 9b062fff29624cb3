// The set-up every fault suite shares: moto (serving the AMIs the examples look up), the fault proxy
// in front of it, clients straight at moto for counting, and a copy of examples/ to run in. moto
// needs no patience (the waits themselves are tested elsewhere), and the client-side rate limiter
// only spaces calls out (its own tests cover it): the suite's runs use MOTO_TIMING (through their
// ctx), and the limiter is off until stop().
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { resetLimiters } from '../../src/aws/limiter.js';
import type { Timing } from '../../src/engine/types.js';
import { startMoto, type Moto } from '../helpers/moto.js';
import { directClients, type Clients } from './inventory.js';
import { startFaultProxy, type FaultProxy } from './proxy.js';

/** The timing of the suites' runs (ctx.timing): moto answers at once. */
export const MOTO_TIMING: Partial<Timing> = { minDelayMs: 20, maxDelayMs: 200, createMinDelayMs: 20, createMaxDelayMs: 200 };

export interface FaultSuite {
  moto: Moto;
  proxy: FaultProxy;
  direct: Clients;
  /** A copy of examples/. */
  dir: string;
  /** Stops everything and restores the limiter. */
  stop(): Promise<void>;
}

export async function startFaultSuite(opts: { tmpPrefix: string; keepLimiter?: boolean }): Promise<FaultSuite> {
  const saved = { scale: process.env.RECONCILE_RATE_SCALE };
  const moto = await startMoto({ MOTO_AMIS_PATH: resolve('test/fixtures/amis.json') });
  const proxy = await startFaultProxy(moto.endpoint);
  const direct = directClients(moto.endpoint);
  const dir = mkdtempSync(join(tmpdir(), opts.tmpPrefix));
  cpSync('examples', dir, { recursive: true });
  if (!opts.keepLimiter) process.env.RECONCILE_RATE_SCALE = 'off';
  resetLimiters();
  return {
    moto,
    proxy,
    direct,
    dir,
    async stop() {
      if (saved.scale === undefined) delete process.env.RECONCILE_RATE_SCALE;
      else process.env.RECONCILE_RATE_SCALE = saved.scale;
      resetLimiters();
      direct.destroy();
      await proxy.stop();
      await moto.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
