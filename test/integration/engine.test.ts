// The engine end to end against a real moto server: plan, apply, re-plan, drift, prune, protect,
// ownership, destroy -- on the network of the microblog-vpc scenario.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { specYaml } from '../helpers/specs.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateVpcCommand,
  DeleteRouteCommand,
  DescribeVpcsCommand,
  EC2Client,
  RevokeSecurityGroupIngressCommand,
  AuthorizeSecurityGroupIngressCommand,
  DescribeSecurityGroupsCommand,
  DescribeRouteTablesCommand,
} from '@aws-sdk/client-ec2';
import { startMoto, type Moto } from '../helpers/moto.js';
import { Aws } from '../../src/aws/clients.js';
import { loadSpec } from '../../src/spec/load.js';
import { applyPlan, makePlan, type Plan, type PlanOptions } from '../helpers/engine.js';
import { SafetyError } from '../../src/engine/errors.js';
import type { Ctx } from '../../src/engine/types.js';
import { setClock } from '../../src/engine/recent.js';
import { DeleteVpcCommand } from '@aws-sdk/client-ec2';

const NETWORK = `apiVersion: reconcile/v1
stack: net
region: us-east-1
tags: { project: microblog }
resources:
  main:
    kind: vpc
    cidr: 10.0.0.0/16
  default-vpc:
    kind: vpc
    lookup: default
  public:
    kind: subnet
    vpc: main
    cidr: 10.0.1.0/24
    availabilityZone: us-east-1a
    mapPublicIpOnLaunch: true
  private:
    kind: subnet
    vpc: main
    cidr: 10.0.2.0/24
    availabilityZone: us-east-1a
  igw:
    kind: internet-gateway
    vpc: main
  nat-ip:
    kind: elastic-ip
  nat:
    kind: nat-gateway
    subnet: public
    elasticIp: nat-ip
  peering:
    kind: vpc-peering
    vpc: default-vpc
    peerVpc: main
  public-rt:
    kind: route-table
    vpc: main
    routes:
      - { destination: 0.0.0.0/0, internetGateway: igw }
      - { destination: 172.31.0.0/16, vpcPeering: peering }
    subnets: [public]
  private-rt:
    kind: route-table
    vpc: main
    routes:
      - { destination: 0.0.0.0/0, natGateway: nat }
    subnets: [private]
  default-main-rt:
    kind: route-table
    vpc: default-vpc
    main: true
    routes:
      - { destination: 10.0.0.0/16, vpcPeering: peering }
  web:
    kind: security-group
    vpc: main
    ingress:
      - { port: 22, cidr: 203.0.113.0/24 }
      - { port: 80, cidr: 0.0.0.0/0 }
  app:
    kind: security-group
    vpc: main
    ingress:
      - { port: 5000, securityGroup: web }
      - { port: 9100, cidr: 172.31.0.0/16 }
`;

let moto: Moto;
let dir: string;
let ec2: EC2Client;

function spec(text: string, name = 'spec.yaml') {
  const file = join(dir, name);
  writeFileSync(file, text);
  const r = loadSpec(file);
  if (!r.ok) throw new Error(JSON.stringify(r.diagnostics, null, 2));
  return r.loaded;
}

function ctx(): Ctx {
  return { stack: 'net', region: 'us-east-1', aws: new Aws({ region: 'us-east-1', endpoint: moto.endpoint }), emit: () => {} };
}

async function plan(text: string, opts: PlanOptions = {}) {
  const c = ctx();
  const r = await makePlan(spec(text), c, opts);
  return { ...r, ctx: c };
}

async function apply(text: string, opts: PlanOptions = {}) {
  const { plan: p, state, ctx: c } = await plan(text, opts);
  await applyPlan(p, state, c);
  return { plan: p, ctx: c };
}

const changed = (p: Plan) => p.changes.filter((c) => !['noop', 'read', 'keep'].includes(c.action));
const actions = (p: Plan) => Object.fromEntries(changed(p).map((c) => [c.address, c.action]));

async function ownedVpcs(stack = 'net') {
  const r = await ec2.send(new DescribeVpcsCommand({ Filters: [{ Name: 'tag:reconcile:stack', Values: [stack] }] }));
  return r.Vpcs ?? [];
}

beforeAll(async () => {
  moto = await startMoto();
  dir = mkdtempSync(join(tmpdir(), 'reconcile-engine-'));
  ec2 = new EC2Client({ region: 'us-east-1', endpoint: moto.endpoint, credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
});
afterAll(async () => {
  ec2?.destroy();
  await moto?.stop();
});

describe('engine on the microblog network', () => {
  beforeEach(async () => moto.reset());

  it('creates from empty, then plans no changes and re-applies with zero write calls', async () => {
    const first = await plan(NETWORK);
    expect(first.plan.summary.create).toBe(11);
    expect(actions(first.plan)['route-table.default-main-rt']).toBe('adopt');
    await applyPlan(first.plan, first.state, first.ctx);

    const again = await plan(NETWORK);
    expect(changed(again.plan)).toEqual([]);
    const reads = again.ctx.aws.counts();
    expect(reads.writes).toBe(0);
    // One describe per EC2 kind (+ lookups): the reads do not grow with the number of resources.
    expect(reads.reads).toBeLessThanOrEqual(16);

    await applyPlan(again.plan, again.state, again.ctx);
    expect(again.ctx.aws.counts().writes).toBe(0);
    expect(await ownedVpcs()).toHaveLength(1);
  });

  it('shows drift in a security group rule and a route exactly, and heals it', async () => {
    await apply(NETWORK);
    const sgs = await ec2.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'tag:reconcile:id', Values: ['web'] }] }));
    const web = sgs.SecurityGroups![0].GroupId!;
    await ec2.send(new RevokeSecurityGroupIngressCommand({ GroupId: web, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 80, ToPort: 80, IpRanges: [{ CidrIp: '0.0.0.0/0' }] }] }));
    await ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: web, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 3306, ToPort: 3306, IpRanges: [{ CidrIp: '0.0.0.0/0' }] }] }));
    const rts = await ec2.send(new DescribeRouteTablesCommand({ Filters: [{ Name: 'tag:reconcile:id', Values: ['private-rt'] }] }));
    await ec2.send(new DeleteRouteCommand({ RouteTableId: rts.RouteTables![0].RouteTableId!, DestinationCidrBlock: '0.0.0.0/0' }));

    const drift = await plan(NETWORK);
    expect(actions(drift.plan)).toEqual({ 'security-group.web': 'update', 'route-table.private-rt': 'update' });
    const web1 = drift.plan.changes.find((c) => c.address === 'security-group.web')!;
    expect(web1.fields.map((f) => f.path).sort()).toEqual(['ingress[tcp 3306 0.0.0.0/0]', 'ingress[tcp 80 0.0.0.0/0]']);
    const rt = drift.plan.changes.find((c) => c.address === 'route-table.private-rt')!;
    expect(rt.fields.map((f) => f.path)).toEqual(['routes[0.0.0.0/0]']);

    await applyPlan(drift.plan, drift.state, drift.ctx);
    expect(changed((await plan(NETWORK)).plan)).toEqual([]);
  });

  it('keeps a removed resource unless prune, deletes it with prune, and protect blocks it', async () => {
    await apply(NETWORK);
    const without = NETWORK.replace(/  app:\n(    .*\n|      .*\n)*/, '');
    expect(without).not.toContain('app:');

    const kept = await plan(without);
    expect(kept.plan.changes.find((c) => c.address === 'security-group.app')?.action).toBe('keep');
    expect(kept.plan.summary.delete).toBe(0);

    // protect: true on the resource is written as a tag, so it holds after the resource leaves the spec.
    await apply(NETWORK.replace('  app:\n    kind: security-group\n', '  app:\n    kind: security-group\n    protect: true\n'));
    const blocked = await plan(without, { prune: true });
    expect(blocked.plan.blocked.map((b) => b.address)).toEqual(['security-group.app']);
    await expect(applyPlan(blocked.plan, blocked.state, blocked.ctx)).rejects.toBeInstanceOf(SafetyError);

    await apply(NETWORK); // drops the protect tag
    const pruned = await plan(without, { prune: true });
    expect(actions(pruned.plan)).toEqual({ 'security-group.app': 'delete' });
    const many = await plan(without, { prune: true, maxDeletes: 0 });
    expect(many.plan.blocked[0].reason).toMatch(/max-deletes/);
    await applyPlan(pruned.plan, pruned.state, pruned.ctx);
    expect(changed((await plan(without)).plan)).toEqual([]);
  });

  it('replaces what cannot change in place, with dependents', async () => {
    await apply(NETWORK);
    const moved = NETWORK.replace('cidr: 10.0.2.0/24', 'cidr: 10.0.3.0/24');
    const p = await plan(moved);
    expect(actions(p.plan)).toMatchObject({ 'subnet.private': 'replace', 'route-table.private-rt': 'update' });
    expect(p.plan.changes.find((c) => c.address === 'subnet.private')!.forcedBy).toEqual(['cidr']);
    await applyPlan(p.plan, p.state, p.ctx);
    expect(changed((await plan(moved)).plan)).toEqual([]);
  });

  it('never touches a resource with the same name but without the stack tags, and destroy leaves nothing tagged', async () => {
    const stranger = await ec2.send(
      new CreateVpcCommand({ CidrBlock: '10.9.0.0/16', TagSpecifications: [{ ResourceType: 'vpc', Tags: [{ Key: 'Name', Value: 'net-main' }, { Key: 'reconcile:id', Value: 'main' }] }] }),
    );
    await apply(NETWORK);
    const d = await plan(NETWORK, { destroy: true });
    expect(d.plan.changes.every((c) => c.action === 'delete' || c.action === 'read' || c.action === 'noop')).toBe(true);
    expect(d.plan.changes.some((c) => c.id === stranger.Vpc!.VpcId)).toBe(false);
    await applyPlan(d.plan, d.state, d.ctx);
    expect(await ownedVpcs()).toEqual([]);
    const all = await ec2.send(new DescribeVpcsCommand({}));
    expect(all.Vpcs!.map((v) => v.VpcId)).toContain(stranger.Vpc!.VpcId);
    // The default VPC's main route table lost only the route this stack added.
    const main = await ec2.send(new DescribeRouteTablesCommand({ Filters: [{ Name: 'association.main', Values: ['true'] }, { Name: 'vpc-id', Values: [all.Vpcs!.find((v) => v.IsDefault)!.VpcId!] }] }));
    expect(main.RouteTables![0].Routes!.some((r) => r.DestinationCidrBlock === '10.0.0.0/16')).toBe(false);
    expect(main.RouteTables![0].Routes!.some((r) => r.DestinationCidrBlock === '172.31.0.0/16')).toBe(true);
  });

  it('waits for a resource it just created that AWS does not list yet, for a bounded grace period', async () => {
    const small = specYaml('net', '  lonely: { kind: vpc, cidr: 10.7.0.0/16 }\n');
    let t = 1_000_000;
    setClock(() => t);
    process.env.RECONCILE_CREATE_GRACE_MS = '30000';
    try {
      await apply(small);
      // Make the new VPC invisible, as an eventually consistent describe right after the create would.
      const [vpc] = await ownedVpcs();
      await ec2.send(new DeleteVpcCommand({ VpcId: vpc.VpcId! }));
      t += 5_000;
      const waiting = await plan(small);
      expect(waiting.plan.changes.map((c) => [c.address, c.action, c.reason])).toEqual([['vpc.lonely', 'noop', 'created 5s ago; AWS does not list it yet']]);
      t += 30_000;
      const later = await plan(small);
      expect(later.plan.changes.map((c) => [c.address, c.action])).toEqual([['vpc.lonely', 'create']]);
    } finally {
      process.env.RECONCILE_CREATE_GRACE_MS = '0';
      setClock(() => Date.now());
    }
  });
});
