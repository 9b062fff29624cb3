// The worst case, made deterministic: every write call of an apply (each create, attach, authorize,
// put...) reaches moto, moto executes it, and the connection is cut before the answer -- the first
// time each operation is called. The SDK retries what it may, the engine looks before it creates
// again, and one apply still leaves exactly the resources of the spec: nothing doubled, nothing
// untagged, nothing missing. Then, without faults, the plan is clean; and destroy, with the first
// answer of every delete lost as well, leaves nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash, createPrivateKey, createPublicKey } from 'node:crypto';
import { DescribeKeyPairsCommand } from '@aws-sdk/client-ec2';
import type { Moto } from '../helpers/moto.js';
import { isWrite, type FaultProxy } from './proxy.js';
import { added, inventory, problems, type Clients } from './inventory.js';
import { MOTO_TIMING, startFaultSuite, type FaultSuite } from './suite.js';
import { Aws } from '../../src/aws/clients.js';
import { loadSpec } from '../../src/spec/load.js';
import { applyPlan, makePlan } from '../helpers/engine.js';
import type { Ctx, EngineEvent } from '../../src/engine/types.js';

const EXAMPLES = ['flask-cpu-alert', 'microblog-vpc', 'clock-app-ha', 'webserver-s3-image', 'pipeline-single-node'];

let suite: FaultSuite;
let moto: Moto;
let proxy: FaultProxy;
let direct: Clients;
let dir: string;

beforeAll(async () => {
  suite = await startFaultSuite({ tmpPrefix: 'reconcile-lost-' });
  ({ moto, proxy, direct, dir } = suite);
});
afterAll(async () => {
  await suite?.stop();
});

const ctxAt = (endpoint: string, stack: string, events: EngineEvent[] = []): Ctx => ({
  stack,
  region: 'us-east-1',
  aws: new Aws({ region: 'us-east-1', endpoint }),
  emit: (e) => events.push(e),
  timing: MOTO_TIMING,
});

describe.each(EXAMPLES)('examples/%s.yaml', (name) => {
  it('one apply (and one destroy) with the first answer of every write operation lost leaves exactly the spec (and then nothing)', async () => {
    const r = loadSpec(join(dir, `${name}.yaml`));
    if (!r.ok) throw new Error(JSON.stringify(r.diagnostics));
    const stack = r.loaded.spec.stack;
    const before = await inventory(direct);

    const seen = new Set<string>();
    proxy.inject({
      match: (q) => {
        if (!isWrite(q) || seen.has(`${q.service}:${q.operation}`)) return false;
        seen.add(`${q.service}:${q.operation}`);
        return true;
      },
      cut: true,
    });
    const events: EngineEvent[] = [];
    const ctx = ctxAt(proxy.endpoint, stack, events);
    try {
      const { plan, state } = await makePlan(r.loaded, ctx);
      await applyPlan(plan, state, ctx);
    } finally {
      ctx.aws.destroy();
      proxy.clearInjections();
    }
    // Creates were among the cut calls, and the engine found what they made instead of a second one.
    expect([...seen].filter((op) => /:(Create|Allocate|Run|Import)/.test(op)).length).toBeGreaterThan(0);
    try {
      expect(problems(r.loaded, added(before, await inventory(direct)))).toEqual([]);

      const c = ctxAt(moto.endpoint, stack);
      const { plan } = await makePlan(r.loaded, c);
      c.aws.destroy();
      expect(plan.changes.filter((x) => !['noop', 'read'].includes(x.action))).toEqual([]);

      // A created key pair's private key survives a lost answer: the file holds the key pair's key.
      const kp = r.loaded.resources.find((x) => x.kind === 'key-pair' && (x.body as { privateKeyFile?: string }).privateKeyFile);
      if (kp) {
        const file = join(dir, (kp.body as { privateKeyFile: string }).privateKeyFile);
        const key = createPrivateKey(readFileSync(file, 'utf8'));
        const spki = createPublicKey(key).export({ type: 'spki', format: 'der' }); // moto's fingerprint: SHA-1 of the public key
        const found = (await direct.ec2.send(new DescribeKeyPairsCommand({ Filters: [{ Name: 'tag:reconcile:id', Values: [kp.name] }] }))).KeyPairs ?? [];
        expect(found.map((k) => k.KeyFingerprint)).toEqual([createHash('sha1').update(spki).digest('hex').replace(/(..)(?!$)/g, '$1:')]);
      }
    } finally {
      // Destroy with the first answer of every write operation lost too: one destroy removes everything.
      const deleted = new Set<string>();
      proxy.inject({
        match: (q) => {
          if (!isWrite(q) || deleted.has(`${q.service}:${q.operation}`)) return false;
          deleted.add(`${q.service}:${q.operation}`);
          return true;
        },
        cut: true,
      });
      const d = ctxAt(proxy.endpoint, stack);
      try {
        const x = await makePlan(r.loaded, d, { destroy: true });
        await applyPlan(x.plan, x.state, d);
      } finally {
        d.aws.destroy();
        proxy.clearInjections();
      }
      expect([...deleted].filter((op) => /:(Delete|Terminate|Release)/.test(op)).length).toBeGreaterThan(0);
    }
    expect(Object.entries(added(before, await inventory(direct))).filter(([, items]) => items.length)).toEqual([]);
  });
});
