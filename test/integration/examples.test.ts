// Every scenario of ../shared/SCENARIOS.md, as its spec in examples/, end to end on moto: apply from
// nothing, re-plan clean, re-apply with zero write calls, destroy leaves nothing tagged.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cpSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  DescribeAddressesCommand,
  DescribeInstancesCommand,
  DescribeKeyPairsCommand,
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
  EC2Client,
} from '@aws-sdk/client-ec2';
import { startMoto, type Moto } from '../helpers/moto.js';
import { Aws } from '../../src/aws/clients.js';
import { loadSpec } from '../../src/spec/load.js';
import { applyPlan, makePlan } from '../helpers/engine.js';
import type { Ctx } from '../../src/engine/types.js';

const EXAMPLES = ['flask-cpu-alert', 'microblog-vpc', 'clock-app-ha', 'webserver-s3-image', 'pipeline-single-node'];

let moto: Moto;
let dir: string;
let ec2: EC2Client;

beforeAll(async () => {
  // The bundled AMIs plus Ubuntu 24.04 images, which moto does not ship (see ../shared/MOTO.md).
  moto = await startMoto({ MOTO_AMIS_PATH: resolve('test/fixtures/amis.json') });
  dir = mkdtempSync(join(tmpdir(), 'reconcile-examples-'));
  cpSync('examples', dir, { recursive: true }); // key files and the like are written next to the spec
  ec2 = new EC2Client({ region: 'us-east-1', endpoint: moto.endpoint });
});
afterAll(async () => {
  ec2?.destroy();
  await moto?.stop();
});

function ctx(stack: string): Ctx {
  return { stack, region: 'us-east-1', aws: new Aws({ region: 'us-east-1', endpoint: moto.endpoint }), emit: () => {} };
}

describe.each(EXAMPLES)('examples/%s.yaml', (name) => {
  it('applies from nothing, re-plans clean, re-applies with zero writes, destroys to nothing tagged', async () => {
    const r = loadSpec(join(dir, `${name}.yaml`));
    if (!r.ok) throw new Error(JSON.stringify(r.diagnostics));
    const loaded = r.loaded;
    const stack = loaded.spec.stack;

    const c1 = ctx(stack);
    const first = await makePlan(loaded, c1);
    expect(first.plan.summary.create).toBeGreaterThan(0);
    await applyPlan(first.plan, first.state, c1);

    const c2 = ctx(stack);
    const second = await makePlan(loaded, c2);
    const left = second.plan.changes.filter((c) => !['noop', 'read'].includes(c.action));
    expect(left, JSON.stringify(left, null, 2)).toEqual([]);
    await applyPlan(second.plan, second.state, c2);
    expect(c2.aws.counts().writes, JSON.stringify(c2.aws.counts().byOperation)).toBe(0);

    if (name === 'webserver-s3-image') {
      const key = loaded.resources.find((x) => x.kind === 'key-pair')!.body as { privateKeyFile?: string };
      expect(statSync(join(dir, key.privateKeyFile!)).mode & 0o777).toBe(0o600);
    }

    const c3 = ctx(stack);
    const d = await makePlan(loaded, c3, { destroy: true });
    await applyPlan(d.plan, d.state, c3);

    const c4 = ctx(stack);
    const after = await makePlan(loaded, c4, { destroy: true });
    expect(after.plan.changes.filter((c) => c.action === 'delete')).toEqual([]);
    // Checked independently of our reconcilers, with plain describes (moto's DescribeTags keeps the
    // tags of deleted resources, so it cannot serve here).
    const byTag = [{ Name: 'tag:reconcile:stack', Values: [stack] }];
    expect((await ec2.send(new DescribeVpcsCommand({ Filters: byTag }))).Vpcs).toEqual([]);
    expect((await ec2.send(new DescribeSubnetsCommand({ Filters: byTag }))).Subnets).toEqual([]);
    expect((await ec2.send(new DescribeSecurityGroupsCommand({ Filters: byTag }))).SecurityGroups).toEqual([]);
    const live = await ec2.send(new DescribeInstancesCommand({ Filters: [...byTag, { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped'] }] }));
    expect(live.Reservations?.flatMap((x) => x.Instances ?? [])).toEqual([]);
    expect((await ec2.send(new DescribeAddressesCommand({ Filters: byTag }))).Addresses).toEqual([]);
    expect((await ec2.send(new DescribeKeyPairsCommand({ Filters: byTag }))).KeyPairs).toEqual([]);
  });
});
