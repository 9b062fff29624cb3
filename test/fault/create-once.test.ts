// How the engine creates a resource when a create call fails (src/engine/apply.ts createOnce), each
// case forced through the fault proxy on a one-VPC spec: a lost answer is found, not repeated; a
// throttled create (never executed) is tried again; a refusal is reported at once, in plain words;
// a resource made by a create whose later step failed is found and finished.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { specYaml } from '../helpers/specs.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteVpcCommand, DescribeVpcAttributeCommand, DescribeVpcsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { startMoto, type Moto } from '../helpers/moto.js';
import { startFaultProxy, type FaultProxy } from './proxy.js';
import { Aws } from '../../src/aws/clients.js';
import { resetLimiters } from '../../src/aws/limiter.js';
import { loadSpec } from '../../src/spec/load.js';
import { applyPlan, makePlan } from '../helpers/engine.js';
import { createRetrySettings } from '../../src/engine/apply.js';
import { ApplyError } from '../../src/engine/errors.js';
import type { EngineEvent } from '../../src/engine/types.js';

const SPEC = specYaml('once', `  main:
    kind: vpc
    cidr: 10.42.0.0/16
    enableDnsHostnames: true
`);

let moto: Moto;
let proxy: FaultProxy;
let ec2: EC2Client;
let dir: string;
const saved = { scale: process.env.RECONCILE_RATE_SCALE };

beforeAll(async () => {
  moto = await startMoto();
  proxy = await startFaultProxy(moto.endpoint);
  ec2 = new EC2Client({ region: 'us-east-1', endpoint: moto.endpoint });
  dir = mkdtempSync(join(tmpdir(), 'reconcile-once-'));
  writeFileSync(join(dir, 'spec.yaml'), SPEC);
  process.env.RECONCILE_RATE_SCALE = 'off';
  resetLimiters();
});
afterAll(async () => {
  if (saved.scale === undefined) delete process.env.RECONCILE_RATE_SCALE;
  else process.env.RECONCILE_RATE_SCALE = saved.scale;
  resetLimiters();
  ec2?.destroy();
  await proxy?.stop();
  await moto?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const ours = async () => (await ec2.send(new DescribeVpcsCommand({ Filters: [{ Name: 'tag:reconcile:stack', Values: ['once'] }] }))).Vpcs ?? [];

beforeEach(async () => {
  proxy.clearInjections();
  for (const v of await ours()) await ec2.send(new DeleteVpcCommand({ VpcId: v.VpcId }));
});

/** Plans and applies the spec through the proxy; returns the events and the CreateVpc calls the proxy saw. */
async function apply(): Promise<{ events: EngineEvent[]; creates: number; error?: ApplyError }> {
  const r = loadSpec(join(dir, 'spec.yaml'));
  if (!r.ok) throw new Error(JSON.stringify(r.diagnostics));
  const events: EngineEvent[] = [];
  const ctx = { stack: 'once', region: 'us-east-1', aws: new Aws({ region: 'us-east-1', endpoint: proxy.endpoint }), emit: (e: EngineEvent) => events.push(e), timing: { createMinDelayMs: 10, createMaxDelayMs: 50 } };
  const from = proxy.log.length;
  let error: ApplyError | undefined;
  try {
    const { plan, state } = await makePlan(r.loaded, ctx);
    await applyPlan(plan, state, ctx);
  } catch (e) {
    if (!(e instanceof ApplyError)) throw e;
    error = e;
  } finally {
    ctx.aws.destroy();
  }
  return { events, creates: proxy.log.slice(from).filter((l) => l.operation === 'CreateVpc').length, error };
}

describe('a create that fails', () => {
  it('after AWS made the resource (answer lost): found by its tags, used, never made twice', async () => {
    proxy.inject({ match: (q) => q.operation === 'CreateVpc', times: 1, cut: true });
    const { events, creates, error } = await apply();
    expect(error).toBeUndefined();
    expect(creates).toBe(1); // no SDK retry of the create
    expect(await ours()).toHaveLength(1);
    expect(events.some((e) => /found vpc-[0-9a-f]+, made by the failed call: using it/.test(e.message))).toBe(true);
  });

  it('throttled (AWS made nothing): looked for, then tried again, one VPC', async () => {
    proxy.inject({ match: (q) => q.operation === 'CreateVpc', times: 2, error: { code: 'RequestLimitExceeded', message: 'Request limit exceeded.', status: 503 } });
    const { events, creates, error } = await apply();
    expect(error).toBeUndefined();
    expect(creates).toBe(3);
    expect(await ours()).toHaveLength(1);
    expect(events.filter((e) => /nothing was made, trying again \([23]\/4\)/.test(e.message))).toHaveLength(2);
  });

  it('throttled past the engine retries: fails with the throttling said plainly, nothing made', async () => {
    proxy.inject({ match: (q) => q.operation === 'CreateVpc', error: { code: 'RequestLimitExceeded', message: 'Request limit exceeded.', status: 503 } });
    const { creates, error } = await apply();
    expect(creates).toBe(createRetrySettings.attempts);
    expect(error?.failed).toEqual([{ address: 'vpc.main', message: 'AWS is throttling ec2:CreateVpc (RequestLimitExceeded)', hint: expect.stringMatching(/run again shortly/) }]);
    expect(await ours()).toHaveLength(0);
  });

  it('refused (permissions): reported at once, one attempt, naming the action', async () => {
    proxy.inject({
      match: (q) => q.operation === 'CreateVpc',
      error: { code: 'UnauthorizedOperation', status: 403, message: 'You are not authorized to perform this operation. User: arn:aws:iam::123456789012:user/ci is not authorized to perform: ec2:CreateVpc on resource: arn:aws:ec2:us-east-1:123456789012:vpc/* because no identity-based policy allows the ec2:CreateVpc action' },
    });
    const { creates, error } = await apply();
    expect(creates).toBe(1);
    expect(error?.failed[0]).toMatchObject({ address: 'vpc.main', message: 'AWS refused ec2:CreateVpc on arn:aws:ec2:us-east-1:123456789012:vpc/* (UnauthorizedOperation)' });
    expect(await ours()).toHaveLength(0);
  });

  it('in a later step (the VPC was made, its DNS setting failed): the VPC is found and finished', async () => {
    // Past the SDK's 5 attempts, so the create itself fails after CreateVpc went through.
    proxy.inject({ match: (q) => q.operation === 'ModifyVpcAttribute', times: 5, error: { code: 'InternalError', message: 'We encountered an internal error.', status: 500 } });
    const { creates, error } = await apply();
    expect(error).toBeUndefined();
    expect(creates).toBe(1);
    const [vpc] = await ours();
    expect(vpc).toBeDefined();
    const attr = await ec2.send(new DescribeVpcAttributeCommand({ VpcId: vpc.VpcId, Attribute: 'enableDnsHostnames' }));
    expect(attr.EnableDnsHostnames?.Value).toBe(true);
    expect(await ours()).toHaveLength(1);
  });
});
