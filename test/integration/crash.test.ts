// Crash safety: `reconcile apply` as a user runs it (the compiled CLI in a child process) is killed
// with SIGKILL at a seeded moment in the middle of its work -- no cleanup, no last write. Running
// the same command again converges: exit 0, a clean plan, every resource of the spec exactly once,
// nothing made left untagged (plain describes straight against moto), and destroy leaves nothing.
//
// The killed run goes through the fault proxy adding latency to every call, so the kill lands
// between AWS calls as it would against AWS. CRASH_SEEDS=20 for more kill points per example (CI: 1).
// And a duplicate left behind (a create still in flight when the run died, landing after the rerun
// looked) is healed by the next apply: the copy the stack does not use is deleted.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, runCli } from '../helpers/cli.js';
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startMoto, type Moto } from '../helpers/moto.js';
import { prng, startFaultProxy, type FaultProxy } from '../fault/proxy.js';
import { added, directClients, inventory, problems, type Clients } from '../fault/inventory.js';
import { loadSpec } from '../../src/spec/load.js';
import {
  AllocateAddressCommand,
  CreateSecurityGroupCommand,
  CreateVpcCommand,
  DescribeAddressesCommand,
  DescribeInstancesCommand,
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
  RunInstancesCommand,
  type Tag,
} from '@aws-sdk/client-ec2';

const EXAMPLES = ['flask-cpu-alert', 'microblog-vpc', 'clock-app-ha', 'webserver-s3-image', 'pipeline-single-node'];
const SEEDS = Number(process.env.CRASH_SEEDS ?? 1);

let moto: Moto;
let proxy: FaultProxy;
let direct: Clients;
let dir: string;

beforeAll(async () => {
  moto = await startMoto({ MOTO_AMIS_PATH: resolve('test/fixtures/amis.json') });
  proxy = await startFaultProxy(moto.endpoint, { seed: 1, rate: 1, kinds: { latency: 1 }, maxFaults: Number.POSITIVE_INFINITY, maxLatencyMs: 60 });
  direct = directClients(moto.endpoint);
  dir = mkdtempSync(join(tmpdir(), 'reconcile-crash-'));
  cpSync('examples', dir, { recursive: true });
});
afterAll(async () => {
  direct?.destroy();
  await proxy?.stop();
  await moto?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const env = (endpoint: string) => ({ ...process.env, ...moto.env, AWS_ENDPOINT_URL: endpoint });

const cli = (args: string[]) => runCli(args, env(moto.endpoint), 120_000);

/**
 * Runs `apply --yes` and kills it with SIGKILL `delayMs` after its `afterLines`-th progress line
 * ("creating...", "updating..."), i.e. while it is changing AWS. Resolves how it ended.
 */
function applyAndKill(spec: string, afterLines: number, delayMs: number): Promise<{ killed: boolean; progress: number; out: string }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [CLI, 'apply', spec, '--yes'], { env: env(proxy.endpoint), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let progress = 0;
    let armed = false;
    child.stdout.on('data', (d: Buffer) => {
      out += String(d);
      progress = (out.match(/: (creating|updating|destroying).*\.\.\.$/gm) ?? []).length;
      if (!armed && progress >= afterLines) {
        armed = true;
        setTimeout(() => child.kill('SIGKILL'), delayMs);
      }
    });
    child.stderr.on('data', (d: Buffer) => (out += String(d)));
    child.on('error', fail);
    child.on('exit', (_code, signal) => done({ killed: signal === 'SIGKILL', progress, out }));
  });
}

describe.each(EXAMPLES)('examples/%s.yaml', (name) => {
  it.each(Array.from({ length: SEEDS }, (_, i) => i + 1))('killed mid-apply (seed %i), a rerun converges: no duplicate, no untagged orphan', async (seed) => {
    const spec = join(dir, `${name}.yaml`);
    const r = loadSpec(spec);
    if (!r.ok) throw new Error(JSON.stringify(r.diagnostics));
    const creates = r.loaded.resources.filter((x) => x.kind !== 'alert-rule' && !(x.body as { lookup?: string }).lookup).length;
    const before = await inventory(direct);
    try {
      // Where to kill: after a seeded number of resources started (never the last), a seeded moment later.
      const rand = prng(seed * 104729 + name.length);
      const afterLines = 1 + Math.floor(rand() * Math.max(1, Math.floor(creates * 0.7)));
      const delayMs = Math.floor(rand() * 120);
      const crashed = await applyAndKill(spec, afterLines, delayMs);
      expect(crashed.killed, `the apply finished before the kill (${crashed.progress} steps started):\n${crashed.out}`).toBe(true);
      // AWS finishes what the killed run had sent before the rerun looks. (A create that lands after
      // the rerun looked is a second resource with the same tags: the next plan deletes it, see below.)
      await proxy.idle();

      // Run again: it picks up where the killed run stopped.
      let rerun = cli(['apply', spec, '--yes']);
      if (rerun.code !== 0) rerun = cli(['apply', spec, '--yes']); // at most one more, for an eventually consistent AWS
      expect(rerun.code, rerun.out + rerun.err).toBe(0);
      const plan = cli(['plan', spec, '--detailed-exitcode']);
      expect(plan.code, plan.out + plan.err).toBe(0);

      const made = added(before, await inventory(direct));
      const why = `killed after ${crashed.progress} steps:\n${crashed.out.split('\n').filter((l) => /^\S+: /.test(l)).join('\n')}\n--- rerun:\n${rerun.out}\n--- plan:\n${plan.out}\n--- made:\n${JSON.stringify(made.instance ?? made)}`;
      expect(problems(r.loaded, made), why).toEqual([]);
    } finally {
      const destroyed = cli(['destroy', spec, '--yes']);
      expect(destroyed.code, destroyed.out + destroyed.err).toBe(0);
    }
    expect(Object.entries(added(before, await inventory(direct))).filter(([, items]) => items.length)).toEqual([]);
  });
});

describe('a duplicate left by a create that landed late', () => {
  it('is planned for deletion and removed by the next apply; the copy the stack uses is kept', async () => {
    const spec = join(dir, 'microblog-vpc.yaml');
    const r = loadSpec(spec);
    if (!r.ok) throw new Error(JSON.stringify(r.diagnostics));
    const before = await inventory(direct);
    try {
      expect(cli(['apply', spec, '--yes']).code).toBe(0);
      const ec2 = direct.ec2;
      const byId = (name: string) => [{ Name: 'tag:reconcile:stack', Values: ['microblog-vpc'] }, { Name: 'tag:reconcile:id', Values: [name] }];
      const vpc = (await ec2.send(new DescribeVpcsCommand({ Filters: byId('microblog-vpc') }))).Vpcs![0];
      const eip = (await ec2.send(new DescribeAddressesCommand({ Filters: byId('nat-ip') }))).Addresses![0];
      const sg = (await ec2.send(new DescribeSecurityGroupsCommand({ Filters: byId('Web_Server-sg') }))).SecurityGroups![0];
      const jenkins = (await ec2.send(new DescribeInstancesCommand({ Filters: byId('Jenkins') }))).Reservations![0].Instances![0];
      const tags = (t: Tag[] | undefined) => t!.filter((x) => !x.Key!.startsWith('aws:'));

      // The late copies: same tags, made straight against moto (as the killed run's requests were).
      await ec2.send(new CreateVpcCommand({ CidrBlock: vpc.CidrBlock, TagSpecifications: [{ ResourceType: 'vpc', Tags: tags(vpc.Tags) }] }));
      await ec2.send(new AllocateAddressCommand({ Domain: 'vpc', TagSpecifications: [{ ResourceType: 'elastic-ip', Tags: tags(eip.Tags) }] }));
      // (in the default VPC, which AWS -- and moto -- may list first: the copy found first is not the one kept)
      const defaultVpc = (await ec2.send(new DescribeVpcsCommand({ Filters: [{ Name: 'is-default', Values: ['true'] }] }))).Vpcs![0].VpcId;
      await ec2.send(
        new CreateSecurityGroupCommand({ GroupName: 'Web_Server-late', Description: sg.Description, VpcId: defaultVpc, TagSpecifications: [{ ResourceType: 'security-group', Tags: tags(sg.Tags) }] }),
      );
      await ec2.send(
        new RunInstancesCommand({
          ImageId: jenkins.ImageId,
          InstanceType: jenkins.InstanceType,
          MinCount: 1,
          MaxCount: 1,
          SubnetId: jenkins.SubnetId,
          SecurityGroupIds: (await ec2.send(new DescribeSecurityGroupsCommand({ Filters: byId('Jenkins-sg') }))).SecurityGroups!.map((g) => g.GroupId!),
          TagSpecifications: [{ ResourceType: 'instance', Tags: tags(jenkins.Tags) }],
        }),
      );
      expect(problems(r.loaded, added(before, await inventory(direct)))).toHaveLength(4);

      const plan = cli(['plan', spec, '--detailed-exitcode']);
      expect(plan.code, plan.out + plan.err).toBe(2);
      expect(plan.out.match(/\(duplicate\) \([a-z]+-[0-9a-f]+\) will be destroyed/g), plan.out).toHaveLength(4);
      expect(plan.out).toContain('Plan: 0 to add, 0 to change, 0 to replace, 4 to destroy.');

      const healed = cli(['apply', spec, '--yes']);
      expect(healed.code, healed.out + healed.err).toBe(0);
      expect(cli(['plan', spec, '--detailed-exitcode']).code).toBe(0);
      expect(problems(r.loaded, added(before, await inventory(direct)))).toEqual([]);
      // The copies the stack uses stayed: its subnets are still in the first VPC, the NAT gateway keeps its address.
      expect((await ec2.send(new DescribeVpcsCommand({ Filters: byId('microblog-vpc') }))).Vpcs!.map((v) => v.VpcId)).toEqual([vpc.VpcId]);
      expect((await ec2.send(new DescribeSubnetsCommand({ Filters: byId('public') }))).Subnets!.map((x) => x.VpcId)).toEqual([vpc.VpcId]);
      expect((await ec2.send(new DescribeAddressesCommand({ Filters: byId('nat-ip') }))).Addresses!.map((a) => a.AllocationId)).toEqual([eip.AllocationId]);
      expect((await ec2.send(new DescribeSecurityGroupsCommand({ Filters: byId('Web_Server-sg') }))).SecurityGroups!.map((g) => g.GroupId)).toEqual([sg.GroupId]);
    } finally {
      const destroyed = cli(['destroy', spec, '--yes']);
      expect(destroyed.code, destroyed.out + destroyed.err).toBe(0);
    }
    expect(Object.entries(added(before, await inventory(direct))).filter(([, items]) => items.length)).toEqual([]);
  });
});
