// Every example applied through the fault proxy: throttling in each service's own error shape, 500s
// and 503s, added latency, and connections cut after moto executed the call. Whatever the seed, the
// apply converges and moto then holds exactly the resources of the spec: none twice, none untagged,
// none missing (counted with plain describes straight against moto, not through the proxy).
//
// FAULT_SEEDS=50 npx vitest run test/fault/examples-faults.test.ts   for a longer run (CI: 3 seeds);
// FAULT_RATE=0.3 for more faults per run.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import type { Moto } from '../helpers/moto.js';
import { isWrite, type FaultPlan, type FaultProxy } from './proxy.js';
import { added, inventory, problems, type Clients } from './inventory.js';
import { MOTO_TIMING, startFaultSuite, type FaultSuite } from './suite.js';
import { Aws } from '../../src/aws/clients.js';
import { loadSpec } from '../../src/spec/load.js';
import { applyPlan, hasChanges, makePlan } from '../helpers/engine.js';
import { ApplyError } from '../../src/engine/errors.js';
import type { Ctx } from '../../src/engine/types.js';
import type { LoadedSpec } from '../../src/spec/types.js';

const EXAMPLES = ['flask-cpu-alert', 'microblog-vpc', 'clock-app-ha', 'webserver-s3-image', 'pipeline-single-node'];
const SEEDS = Number(process.env.FAULT_SEEDS ?? 3);
/** Applies allowed before the stack must be clean: faults are bounded, so one normally suffices. */
const MAX_ROUNDS = 3;

/**
 * Every kind of fault, cuts (the dangerous one) most often. FAULT_RATE sets the share of requests that
 * get one (CI: 0.1; each throttle costs the SDK's real backoff, so more faults mostly mean a longer run).
 */
const RATE = Number(process.env.FAULT_RATE ?? 0.1);
export const faultMix = (seed: number): FaultPlan => ({
  seed,
  rate: RATE,
  kinds: { throttle: 2, error500: 1, error503: 1, executed500: 2, latency: 2, cut: 5, drop: 1 },
  maxFaults: 30,
  maxInARow: 2,
  maxLatencyMs: 150,
});

let suite: FaultSuite;
let moto: Moto;
let proxy: FaultProxy;
let direct: Clients;
let dir: string;

beforeAll(async () => {
  // The client-side rate limiter halves its rate on every throttle and climbs back over a minute: right
  // for AWS, but here it would only stretch the run (its own tests cover it). FAULT_LIMITER=1 keeps it.
  suite = await startFaultSuite({ tmpPrefix: 'reconcile-faults-', keepLimiter: !!process.env.FAULT_LIMITER });
  ({ moto, proxy, direct, dir } = suite);
});
afterAll(async () => {
  await suite?.stop();
});

const ctxAt = (endpoint: string, stack: string): Ctx => ({ stack, region: 'us-east-1', aws: new Aws({ region: 'us-east-1', endpoint }), emit: () => {}, timing: MOTO_TIMING });

/** Plans and applies until a plan has nothing left to do; returns how many applies it took. */
async function converge(loaded: LoadedSpec, endpoint: string): Promise<{ rounds: number; failures: string[] }> {
  const failures: string[] = [];
  for (let round = 1; round <= MAX_ROUNDS + 1; round++) {
    const ctx = ctxAt(endpoint, loaded.spec.stack);
    try {
      const { plan, state } = await makePlan(loaded, ctx);
      if (!hasChanges(plan)) return { rounds: round - 1, failures };
      if (round > MAX_ROUNDS) break;
      await applyPlan(plan, state, ctx);
    } catch (e) {
      failures.push(e instanceof ApplyError ? e.failed.map((f) => `${f.address}: ${f.message}`).join('; ') : String((e as Error)?.message ?? e));
    } finally {
      ctx.aws.destroy();
    }
  }
  throw new Error(`no convergence in ${MAX_ROUNDS} applies: ${failures.join(' | ')}`);
}

describe.each(EXAMPLES)('examples/%s.yaml under injected faults', (name) => {
  it.each(Array.from({ length: SEEDS }, (_, i) => i + 1))('seed %i: converges with exactly the resources of the spec', async (seed) => {
    const r = loadSpec(join(dir, `${name}.yaml`));
    if (!r.ok) throw new Error(JSON.stringify(r.diagnostics));
    // (moto's reset breaks with MOTO_AMIS_PATH set, so each test cleans up after itself with destroy.)
    const before = await inventory(direct);
    try {
      proxy.setFaults(faultMix(seed * 7919 + name.length));
      // However few calls a small stack makes, at least one answer is lost: the seed-th write is cut.
      let writes = 0;
      proxy.inject({ match: (q) => isWrite(q) && ++writes === 1 + (seed % 5), times: 1, cut: true });
      const from = proxy.log.length;
      const { rounds, failures } = await converge(r.loaded, proxy.endpoint);
      const hit = proxy.log.slice(from).filter((l) => l.fault && l.fault !== 'latency');
      proxy.setFaults(undefined);
      proxy.clearInjections();

      // The faults happened (the test is not vacuous), and did not stop the stack from converging.
      expect(hit.length, JSON.stringify(proxy.faults())).toBeGreaterThan(0);
      expect(rounds, failures.join('\n')).toBeGreaterThanOrEqual(1);

      // Clean when planned without faults, straight against moto.
      const c = ctxAt(moto.endpoint, r.loaded.spec.stack);
      const { plan } = await makePlan(r.loaded, c);
      c.aws.destroy();
      expect(plan.changes.filter((x) => !['noop', 'read'].includes(x.action))).toEqual([]);

      // Exactly the spec's resources: counted with plain describes against moto.
      expect(problems(r.loaded, added(before, await inventory(direct)))).toEqual([]);
    } finally {
      proxy.setFaults(undefined);
      proxy.clearInjections();
      // Destroy, without faults, leaves nothing behind.
      const d = ctxAt(moto.endpoint, r.loaded.spec.stack);
      const destroy = await makePlan(r.loaded, d, { destroy: true });
      await applyPlan(destroy.plan, destroy.state, d);
      d.aws.destroy();
    }
    expect(Object.entries(added(before, await inventory(direct))).filter(([, items]) => items.length)).toEqual([]);
  });
});
