// The fault proxy itself, against moto with real SDK clients: it tells services apart, its faults
// come in each service's own error shape (the SDK parses them into the right error and retries
// them), a cut call really was executed, and its faults are seeded and bounded.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateVpcCommand, DescribeVpcsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { AutoScalingClient, DescribeAutoScalingGroupsCommand } from '@aws-sdk/client-auto-scaling';
import { DescribeLoadBalancersCommand, ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { CloudWatchClient, DescribeAlarmsCommand } from '@aws-sdk/client-cloudwatch';
import { ListTopicsCommand, SNSClient } from '@aws-sdk/client-sns';
import { ListBucketsCommand, S3Client } from '@aws-sdk/client-s3';
import { startMoto, type Moto } from '../helpers/moto.js';
import { isWrite, prng, startFaultProxy, throttlingError, type FaultProxy, type Service } from './proxy.js';

let moto: Moto;
let proxy: FaultProxy;
beforeAll(async () => {
  moto = await startMoto();
  proxy = await startFaultProxy(moto.endpoint);
});
afterAll(async () => {
  await proxy?.stop();
  await moto?.stop();
});

const cfg = (maxAttempts: number, endpoint = proxy.endpoint) => ({ region: 'us-east-1', endpoint, maxAttempts });

/** One read per service, through a client of that service. */
const READS: [Service, string, (n: number) => Promise<unknown>][] = [
  ['ec2', 'DescribeVpcs', (n) => new EC2Client(cfg(n)).send(new DescribeVpcsCommand({}))],
  ['autoscaling', 'DescribeAutoScalingGroups', (n) => new AutoScalingClient(cfg(n)).send(new DescribeAutoScalingGroupsCommand({}))],
  ['elasticloadbalancing', 'DescribeLoadBalancers', (n) => new ElasticLoadBalancingV2Client(cfg(n)).send(new DescribeLoadBalancersCommand({}))],
  ['monitoring', 'DescribeAlarms', (n) => new CloudWatchClient(cfg(n)).send(new DescribeAlarmsCommand({}))],
  ['sns', 'ListTopics', (n) => new SNSClient(cfg(n)).send(new ListTopicsCommand({}))],
  ['s3', 'ListBuckets', (n) => new S3Client({ ...cfg(n), forcePathStyle: true }).send(new ListBucketsCommand({}))],
];

describe('throttling in each service own error shape', () => {
  it.each(READS)('%s: the SDK parses it as %s throttled, and retries past it', async (service, operation, call) => {
    const expected = throttlingError(service);
    proxy.clearInjections();
    proxy.inject({ match: (r) => r.service === service, times: 1, error: expected });
    const from = proxy.log.length;
    // One attempt: the SDK's error is the service's throttling error, by its code.
    const e = (await call(1).catch((x: unknown) => x)) as { name?: string; Code?: string; $metadata?: { httpStatusCode?: number } };
    expect(e.Code ?? e.name).toMatch(new RegExp(`^${expected.code}`));
    expect(e.$metadata?.httpStatusCode).toBe(expected.status);
    expect(proxy.log.slice(from).map((l) => [l.service, l.operation, l.fault])).toEqual([[service, operation, 'injected']]);
    // With retries: the SDK takes it for throttling and tries again, and the second attempt reaches moto.
    proxy.inject({ match: (r) => r.service === service, times: 1, error: expected });
    const before = proxy.log.length;
    await call(3);
    expect(proxy.log.slice(before).map((l) => l.status)).toEqual([expected.status, 200]);
  });
});

describe('a cut call', () => {
  it('was executed by moto although the client saw only a broken connection -- and a plain SDK retry doubles it', async () => {
    const direct = new EC2Client(cfg(1, moto.endpoint));
    const count = async () => ((await direct.send(new DescribeVpcsCommand({ Filters: [{ Name: 'cidr', Values: ['10.77.0.0/16'] }] }))).Vpcs ?? []).length;
    proxy.clearInjections();
    proxy.inject({ match: (r) => r.operation === 'CreateVpc', times: 1, cut: true });
    const e = (await new EC2Client(cfg(1)).send(new CreateVpcCommand({ CidrBlock: '10.77.0.0/16' })).catch((x: unknown) => x)) as Error & { code?: string };
    expect(e.code ?? e.message).toMatch(/ECONNRESET|socket hang up/);
    expect(await count()).toBe(1);
    // Why creates go without SDK retries: the SDK retries the broken call, and moto makes a second VPC.
    proxy.inject({ match: (r) => r.operation === 'CreateVpc', times: 1, cut: true });
    await new EC2Client(cfg(3)).send(new CreateVpcCommand({ CidrBlock: '10.77.0.0/16' }));
    expect(await count()).toBe(3);
    direct.destroy();
  });
});

describe('seeded and bounded faults', () => {
  const plan = (seed: number) => ({ seed, rate: 0.5, kinds: { throttle: 1, error500: 1, error503: 1, drop: 1 }, maxFaults: 6, maxInARow: 2 });

  async function sequentialReads(n: number): Promise<(string | undefined)[]> {
    const from = proxy.log.length;
    const ec2 = new EC2Client(cfg(1));
    for (let i = 0; i < n; i++) await ec2.send(new DescribeVpcsCommand({})).catch(() => undefined);
    ec2.destroy();
    return proxy.log.slice(from).map((l) => l.fault);
  }

  it('the same seed gives the same faults, another seed others', async () => {
    proxy.clearInjections();
    proxy.setFaults(plan(42));
    const a = await sequentialReads(30);
    proxy.setFaults(plan(42));
    const b = await sequentialReads(30);
    proxy.setFaults(plan(7));
    const c = await sequentialReads(30);
    proxy.setFaults(undefined);
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
  });

  it('never more than maxFaults in all, nor more than maxInARow on one operation', async () => {
    proxy.setFaults({ ...plan(3), rate: 1 });
    const faults = await sequentialReads(40);
    const counted = proxy.faults();
    proxy.setFaults(undefined);
    expect(faults.filter(Boolean)).toHaveLength(6);
    expect(Object.values(counted).reduce((x, y) => x + y, 0)).toBe(6);
    let run = 0;
    for (const f of faults) {
      run = f ? run + 1 : 0;
      expect(run).toBeLessThanOrEqual(2);
    }
  });

  it('a filter confines faults to the requests it accepts', async () => {
    proxy.setFaults({ ...plan(5), rate: 1, filter: isWrite, maxFaults: 100 });
    const faults = await sequentialReads(10);
    proxy.setFaults(undefined);
    expect(faults.filter(Boolean)).toEqual([]);
  });

  it('prng is deterministic and spread over [0, 1)', () => {
    const r1 = prng(9);
    const r2 = prng(9);
    const xs = Array.from({ length: 1000 }, () => r1());
    expect(xs).toEqual(Array.from({ length: 1000 }, () => r2()));
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
    expect(xs.filter((x) => x < 0.5).length).toBeGreaterThan(400);
    expect(xs.filter((x) => x < 0.5).length).toBeLessThan(600);
  });
});
