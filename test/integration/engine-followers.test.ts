// A change to one resource that moves an output its dependents use (a new launch template version)
// shows for the dependents in the same plan and is applied in one go: the re-plan is clean.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { specYaml } from '../helpers/specs.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startMoto, type Moto } from '../helpers/moto.js';
import { Aws } from '../../src/aws/clients.js';
import { loadSpec } from '../../src/spec/load.js';
import { applyPlan, makePlan } from '../helpers/engine.js';
import { UNKNOWN } from '../../src/engine/types.js';

const SPEC = (instanceType: string) => specYaml('followers', `  main: { kind: vpc, cidr: 10.3.0.0/16 }
  a: { kind: subnet, vpc: main, cidr: 10.3.1.0/24, availabilityZone: us-east-1a }
  b: { kind: subnet, vpc: main, cidr: 10.3.2.0/24, availabilityZone: us-east-1b }
  app-sg: { kind: security-group, vpc: main, ingress: [{ port: 80, cidr: 10.3.0.0/16 }] }
  app-lt:
    kind: launch-template
    ami: { owner: amazon, name: al2023-ami-2023.*-x86_64 }
    instanceType: ${instanceType}
    securityGroups: [app-sg]
  app:
    kind: auto-scaling-group
    launchTemplate: app-lt
    minSize: 1
    maxSize: 2
    subnets: [a, b]
`);

let moto: Moto;
let dir: string;
beforeAll(async () => {
  moto = await startMoto();
  dir = mkdtempSync(join(tmpdir(), 'reconcile-followers-'));
});
afterAll(async () => moto?.stop());

async function planOf(text: string) {
  const file = join(dir, 'spec.yaml');
  writeFileSync(file, text);
  const r = loadSpec(file);
  if (!r.ok) throw new Error(JSON.stringify(r.diagnostics));
  const ctx = { stack: 'followers', region: 'us-east-1', aws: new Aws({ region: 'us-east-1', endpoint: moto.endpoint }), emit: () => {} };
  return { ...(await makePlan(r.loaded, ctx)), ctx };
}

describe('outputs that an update moves', () => {
  it('a new launch template version moves the group in the same apply', async () => {
    const first = await planOf(SPEC('t3.micro'));
    await applyPlan(first.plan, first.state, first.ctx);

    const p = await planOf(SPEC('t3.small'));
    const byAddress = Object.fromEntries(p.plan.changes.map((c) => [c.address, c]));
    expect(byAddress['launch-template.app-lt'].action).toBe('update');
    expect(byAddress['auto-scaling-group.app'].action).toBe('update');
    expect(byAddress['auto-scaling-group.app'].fields.find((f) => f.path === 'launchTemplateVersion')?.after).toBe(UNKNOWN);
    await applyPlan(p.plan, p.state, p.ctx);

    const again = await planOf(SPEC('t3.small'));
    expect(again.plan.changes.filter((c) => !['noop', 'read'].includes(c.action))).toEqual([]);
  });
});
