// The network reconcilers against a real moto server: create -> observe -> no diff -> spec change ->
// the right field (and forcesReplace) -> update -> no diff -> drift made with the SDK -> healed ->
// delete -> gone. Also ownership (same name without the stack tag), lookups, adoption and the main
// route table.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  AcceptVpcPeeringConnectionCommand,
  AllocateAddressCommand,
  AttachInternetGatewayCommand,
  AuthorizeSecurityGroupIngressCommand,
  CreateInternetGatewayCommand,
  CreateRouteTableCommand,
  CreateSecurityGroupCommand,
  CreateVpcPeeringConnectionCommand,
  CreateRouteCommand,
  CreateSubnetCommand,
  CreateTagsCommand,
  CreateVpcCommand,
  DeleteRouteCommand,
  DeleteTagsCommand,
  DescribeAddressesCommand,
  DescribeInternetGatewaysCommand,
  DescribeRouteTablesCommand,
  DescribeSecurityGroupsCommand,
  DescribeVpcsCommand,
  DetachInternetGatewayCommand,
  type EC2Client,
  ModifySubnetAttributeCommand,
  ModifyVpcAttributeCommand,
  RevokeSecurityGroupEgressCommand,
  UpdateSecurityGroupRuleDescriptionsIngressCommand,
} from '@aws-sdk/client-ec2';
import { startMoto, type Moto } from '../helpers/moto.js';
import { desired, testCtx } from '../helpers/aws.js';
import { UNKNOWN, type Ctx, type EngineEvent, type Observed, type Outputs, type Reconciler } from '../../src/engine/types.js';
import type { KindName } from '../../src/spec/schema.js';
import { createOnce } from '../../src/engine/apply.js';
import vpc from '../../src/reconcilers/vpc.js';
import subnet from '../../src/reconcilers/subnet.js';
import igw from '../../src/reconcilers/internet-gateway.js';
import eip from '../../src/reconcilers/elastic-ip.js';
import nat from '../../src/reconcilers/nat-gateway.js';
import routeTable from '../../src/reconcilers/route-table.js';
import peering from '../../src/reconcilers/vpc-peering.js';
import sg from '../../src/reconcilers/security-group.js';
import { diffFields } from '../../src/engine/plan.js';

const STACK = 'net';
let moto: Moto;
let ctx: Ctx & { events: EngineEvent[] };
/** A client for making drift and outside resources: its calls are not counted in ctx. */
let sdk: EC2Client;

/** moto changes states at once: short waits, and a short bound on retries (the dependency test gives up after it). */
const TIMING = { minDelayMs: 20, maxDelayMs: 100, maxWaitMs: 2_000, maxRetryMs: 2_000, notFoundGraceMs: 500 };

beforeAll(async () => {
  moto = await startMoto();
  sdk = await testCtx(moto.endpoint, STACK, TIMING).aws.ec2();
});
afterAll(async () => {
  await moto?.stop();
});
beforeEach(async () => {
  await moto.reset();
  ctx = testCtx(moto.endpoint, STACK, TIMING);
});

const d = <K extends KindName>(kind: K, name: string, body: Record<string, unknown>, refs: Record<string, Outputs> = {}) =>
  desired(kind, name, body, refs, STACK);

/** Observes one kind and returns the observation named `name` (or undefined). */
async function find<K extends KindName>(r: Reconciler<K>, want: ReturnType<typeof d<K>>): Promise<Observed | undefined> {
  return (await r.observe(ctx, [want])).find((o) => o.name === want.name);
}

const paths = (fields: { path: string }[]) => fields.map((f) => f.path);
const writes = () => Object.keys(ctx.aws.counts().byOperation).filter((k) => !/:(Describe|Get|List)/.test(k));

async function newVpc(name = 'main', cidr = '10.0.0.0/16') {
  return (await vpc.create(ctx, d('vpc', name, { cidr }))).outputs;
}
async function newSubnet(v: Outputs, name = 'a', cidr = '10.0.1.0/24') {
  return (await subnet.create(ctx, d('subnet', name, { vpc: 'main', cidr }, { main: v }))).outputs;
}

describe('vpc', () => {
  it('create, observe, change, drift, delete', async () => {
    const want = d('vpc', 'main', { cidr: '10.0.0.0/16' });
    const created = await vpc.create(ctx, want);
    expect(created.outputs).toEqual({ id: created.id, cidr: '10.0.0.0/16' });

    const seen = await find(vpc, want);
    expect(seen).toMatchObject({ id: created.id, name: 'main', management: 'owned' });
    expect(seen!.live).toMatchObject({ cidr: '10.0.0.0/16', enableDnsSupport: true, enableDnsHostnames: true });
    expect(diffFields(vpc, want, seen!)).toEqual([]);

    const changed = d('vpc', 'main', { cidr: '10.9.0.0/16', enableDnsHostnames: false });
    const fields = diffFields(vpc, changed, seen!);
    expect(fields).toEqual([
      { path: 'cidr', before: '10.0.0.0/16', after: '10.9.0.0/16', forcesReplace: true },
      { path: 'enableDnsHostnames', before: true, after: false, forcesReplace: false },
    ]);
    const inPlace = d('vpc', 'main', { cidr: '10.0.0.0/16', enableDnsHostnames: false, tags: { Env: 'prod' } });
    await vpc.update(ctx, inPlace, seen!, diffFields(vpc, inPlace, seen!));
    const after = await find(vpc, inPlace);
    expect(diffFields(vpc, inPlace, after!)).toEqual([]);
    expect(after!.tags.Env).toBe('prod');

    // Drift: DNS hostnames turned back on, a tag removed by hand.
    await sdk.send(new ModifyVpcAttributeCommand({ VpcId: created.id, EnableDnsHostnames: { Value: true } }));
    await sdk.send(new DeleteTagsCommand({ Resources: [created.id], Tags: [{ Key: 'Env' }] }));
    const drifted = await find(vpc, inPlace);
    const drift = diffFields(vpc, inPlace, drifted!);
    expect(paths(drift)).toEqual(['enableDnsHostnames', 'tags.Env']);
    await vpc.update(ctx, inPlace, drifted!, drift);
    expect(diffFields(vpc, inPlace, (await find(vpc, inPlace))!)).toEqual([]);

    await vpc.delete(ctx, after!);
    expect(await find(vpc, inPlace)).toBeUndefined();
    await vpc.delete(ctx, after!); // already gone: success
  });

  it('observes in one DescribeVpcs (plus the DNS attributes of each VPC) and ignores the same name without the stack tag', async () => {
    await newVpc('main');
    const untagged = await sdk.send(
      new CreateVpcCommand({
        CidrBlock: '10.1.0.0/16',
        TagSpecifications: [{ ResourceType: 'vpc', Tags: [{ Key: 'reconcile:id', Value: 'main' }, { Key: 'Name', Value: 'net-main' }] }],
      }),
    );
    const otherStack = await sdk.send(
      new CreateVpcCommand({
        CidrBlock: '10.2.0.0/16',
        TagSpecifications: [{ ResourceType: 'vpc', Tags: [{ Key: 'reconcile:id', Value: 'main' }, { Key: 'reconcile:stack', Value: 'other' }] }],
      }),
    );
    ctx = testCtx(moto.endpoint, STACK, TIMING);
    const list = await vpc.observe(ctx, [d('vpc', 'main', { cidr: '10.0.0.0/16' })]);
    expect(list.map((o) => o.name)).toEqual(['main']);
    expect(list.map((o) => o.id)).not.toContain(untagged.Vpc!.VpcId);
    expect(list.map((o) => o.id)).not.toContain(otherStack.Vpc!.VpcId);
    expect(ctx.aws.counts().byOperation).toEqual({ 'ec2:DescribeVpcs': 1, 'ec2:DescribeVpcAttribute': 2 });
  });

  it('looks up the default VPC, read only, and create() of a lookup creates nothing', async () => {
    const want = d('vpc', 'default', { lookup: 'default' });
    const [seen] = await vpc.observe(ctx, [want]);
    const real = await sdk.send(new DescribeVpcsCommand({ Filters: [{ Name: 'is-default', Values: ['true'] }] }));
    expect(seen).toMatchObject({ id: real.Vpcs![0].VpcId, name: 'default', management: 'lookup', outputs: { id: real.Vpcs![0].VpcId, cidr: real.Vpcs![0].CidrBlock } });
    expect(diffFields(vpc, want, seen)).toEqual([]);
    const again = await vpc.create(ctx, want);
    expect(again.id).toBe(seen.id);
    expect(writes()).toEqual([]);
    await expect(vpc.delete(ctx, seen)).rejects.toThrow(/never deleted/);
  });

  it('adopts a VPC named by adopt: and then finds it by its tags', async () => {
    const outside = await sdk.send(new CreateVpcCommand({ CidrBlock: '10.5.0.0/16' }));
    const id = outside.Vpc!.VpcId!;
    const want = d('vpc', 'legacy', { cidr: '10.5.0.0/16', adopt: id });
    const [seen] = await vpc.observe(ctx, [want]);
    expect(seen).toMatchObject({ id, name: 'legacy', management: 'adopted' });
    const fields = diffFields(vpc, want, seen);
    expect(paths(fields)).toEqual(['enableDnsHostnames', 'tags.Name', 'tags.reconcile:id', 'tags.reconcile:stack']);
    const updated = await vpc.update(ctx, want, seen, fields);
    expect(updated.management).toBe('owned');
    ctx = testCtx(moto.endpoint, STACK, TIMING);
    const [now] = await vpc.observe(ctx, [want]);
    expect(now).toMatchObject({ id, management: 'owned' });
    expect(diffFields(vpc, want, now)).toEqual([]);
    // Found by its tags: no second describe for the adopt id.
    expect(ctx.aws.counts().byOperation['ec2:DescribeVpcs']).toBe(1);
  });

  it('retries a delete blocked by a dependency for a bounded time, reporting progress, then says why', async () => {
    const v = await newVpc();
    await sdk.send(new CreateSubnetCommand({ VpcId: v.id, CidrBlock: '10.0.7.0/24' })); // not ours
    const [seen] = await vpc.observe(ctx, [d('vpc', 'main', { cidr: '10.0.0.0/16' })]);
    const start = Date.now();
    await expect(vpc.delete(ctx, seen)).rejects.toMatchObject({
      name: 'DependencyViolation',
      message: expect.stringMatching(/^vpc\.main: delete VPC vpc-\w+ still failing after \d+s: /),
    });
    expect(Date.now() - start).toBeLessThan(TIMING.maxWaitMs + 2_000);
    expect(ctx.events.some((e) => e.type === 'progress' && e.address === 'vpc.main' && /DependencyViolation, retrying/.test(e.message))).toBe(true);
  });
});

describe('subnet', () => {
  it('create, observe, change, drift, delete', async () => {
    const v = await newVpc();
    const want = d('subnet', 'public', { vpc: 'main', cidr: '10.0.1.0/24', availabilityZone: 'us-east-1a', mapPublicIpOnLaunch: true }, { main: v });
    const created = await subnet.create(ctx, want);
    expect(created.outputs).toEqual({ id: created.id, availabilityZone: 'us-east-1a', vpcId: v.id, cidr: '10.0.1.0/24' });
    const seen = await find(subnet, want);
    expect(seen).toMatchObject({ id: created.id, management: 'owned', live: { vpc: v.id, mapPublicIpOnLaunch: true } });
    expect(diffFields(subnet, want, seen!)).toEqual([]);

    const moved = d('subnet', 'public', { vpc: 'main', cidr: '10.0.2.0/24', availabilityZone: 'us-east-1b', mapPublicIpOnLaunch: false }, { main: v });
    expect(diffFields(subnet, moved, seen!)).toEqual([
      { path: 'cidr', before: '10.0.1.0/24', after: '10.0.2.0/24', forcesReplace: true },
      { path: 'availabilityZone', before: 'us-east-1a', after: 'us-east-1b', forcesReplace: true },
      { path: 'mapPublicIpOnLaunch', before: true, after: false, forcesReplace: false },
    ]);
    // The VPC is to be replaced: its id is unknown, which forces the subnet's replacement too.
    const unknownVpc = d('subnet', 'public', { vpc: 'main', cidr: '10.0.1.0/24', mapPublicIpOnLaunch: true }, { main: { id: UNKNOWN } });
    expect(diffFields(subnet, unknownVpc, seen!)).toEqual([{ path: 'vpc', before: v.id, after: UNKNOWN, forcesReplace: true }]);

    const priv = d('subnet', 'public', { vpc: 'main', cidr: '10.0.1.0/24', mapPublicIpOnLaunch: false }, { main: v });
    await subnet.update(ctx, priv, seen!, diffFields(subnet, priv, seen!));
    const after = await find(subnet, priv);
    expect(diffFields(subnet, priv, after!)).toEqual([]);

    await sdk.send(new ModifySubnetAttributeCommand({ SubnetId: created.id, MapPublicIpOnLaunch: { Value: true } }));
    const drifted = await find(subnet, priv);
    expect(diffFields(subnet, priv, drifted!)).toEqual([{ path: 'mapPublicIpOnLaunch', before: true, after: false, forcesReplace: false }]);
    await subnet.update(ctx, priv, drifted!, diffFields(subnet, priv, drifted!));
    expect(diffFields(subnet, priv, (await find(subnet, priv))!)).toEqual([]);

    await subnet.delete(ctx, after!);
    expect(await find(subnet, priv)).toBeUndefined();
    await subnet.delete(ctx, after!);
  });
});

describe('internet-gateway', () => {
  it('create attached, move, drift (detached), delete', async () => {
    const v1 = await newVpc('main');
    const v2 = await newVpc('other', '10.1.0.0/16');
    const want = d('internet-gateway', 'gw', { vpc: 'main' }, { main: v1 });
    const created = await igw.create(ctx, want);
    expect(created.outputs).toEqual({ id: created.id, vpcId: v1.id });
    const seen = await find(igw, want);
    expect(seen).toMatchObject({ id: created.id, management: 'owned', live: { vpc: v1.id } });
    expect(diffFields(igw, want, seen!)).toEqual([]);

    const moved = d('internet-gateway', 'gw', { vpc: 'other' }, { other: v2 });
    const fields = diffFields(igw, moved, seen!);
    expect(fields).toEqual([{ path: 'vpc', before: v1.id, after: v2.id, forcesReplace: false }]);
    await igw.update(ctx, moved, seen!, fields);
    const after = await find(igw, moved);
    expect(after!.live).toEqual({ vpc: v2.id });
    expect(diffFields(igw, moved, after!)).toEqual([]);

    await sdk.send(new DetachInternetGatewayCommand({ InternetGatewayId: created.id, VpcId: v2.id }));
    const drifted = await find(igw, moved);
    expect(diffFields(igw, moved, drifted!)).toEqual([{ path: 'vpc', before: undefined, after: v2.id, forcesReplace: false }]);
    await igw.update(ctx, moved, drifted!, diffFields(igw, moved, drifted!));
    expect(diffFields(igw, moved, (await find(igw, moved))!)).toEqual([]);

    await igw.delete(ctx, after!);
    expect(await find(igw, moved)).toBeUndefined();
    const left = await sdk.send(new DescribeInternetGatewaysCommand({ Filters: [{ Name: 'internet-gateway-id', Values: [created.id] }] }));
    expect(left.InternetGateways ?? []).toEqual([]);
    await igw.delete(ctx, after!);
  });
});

describe('elastic-ip', () => {
  it('allocate with tags, retag, drift, release', async () => {
    const want = d('elastic-ip', 'nat', {});
    const created = await eip.create(ctx, want);
    expect(created.id).toMatch(/^eipalloc-/);
    expect(created.outputs.publicIp).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    const seen = await find(eip, want);
    expect(seen).toMatchObject({ id: created.id, management: 'owned', outputs: created.outputs });
    expect(diffFields(eip, want, seen!)).toEqual([]);

    const tagged = d('elastic-ip', 'nat', { tags: { Team: 'net' } });
    expect(diffFields(eip, tagged, seen!)).toEqual([{ path: 'tags.Team', before: undefined, after: 'net', forcesReplace: false }]);
    await eip.update(ctx, tagged, seen!, diffFields(eip, tagged, seen!));
    const after = await find(eip, tagged);
    expect(diffFields(eip, tagged, after!)).toEqual([]);

    await sdk.send(new CreateTagsCommand({ Resources: [created.id], Tags: [{ Key: 'Team', Value: 'web' }] }));
    const drifted = await find(eip, tagged);
    expect(diffFields(eip, tagged, drifted!)).toEqual([{ path: 'tags.Team', before: 'web', after: 'net', forcesReplace: false }]);
    await eip.update(ctx, tagged, drifted!, diffFields(eip, tagged, drifted!));
    expect(diffFields(eip, tagged, (await find(eip, tagged))!)).toEqual([]);

    await eip.delete(ctx, after!);
    expect(await find(eip, tagged)).toBeUndefined();
    await eip.delete(ctx, after!);
  });
});

describe('nat-gateway', () => {
  it('create (waits available), replace fields, retag, delete (waits deleted) then the address can go', async () => {
    const v = await newVpc();
    await igw.create(ctx, d('internet-gateway', 'gw', { vpc: 'main' }, { main: v }));
    const s = await newSubnet(v, 'public');
    const e1 = (await eip.create(ctx, d('elastic-ip', 'ip1', {}))).outputs;
    const e2 = (await eip.create(ctx, d('elastic-ip', 'ip2', {}))).outputs;
    const refs = { public: s, ip1: e1, ip2: e2 };
    const want = d('nat-gateway', 'nat', { subnet: 'public', elasticIp: 'ip1' }, refs);
    const created = await nat.create(ctx, want);
    expect(created.outputs).toMatchObject({ id: created.id, subnetId: s.id, elasticIpId: e1.id, publicIp: e1.publicIp });
    const seen = await find(nat, want);
    expect(seen).toMatchObject({ id: created.id, management: 'owned', live: { subnet: s.id, elasticIp: e1.id, state: 'available' } });
    expect(diffFields(nat, want, seen!)).toEqual([]);

    const other = d('nat-gateway', 'nat', { subnet: 'public', elasticIp: 'ip2', tags: { Tier: 'edge' } }, refs);
    expect(diffFields(nat, other, seen!)).toEqual([
      { path: 'elasticIp', before: e1.id, after: e2.id, forcesReplace: true },
      { path: 'tags.Tier', before: undefined, after: 'edge', forcesReplace: false },
    ]);
    const retag = d('nat-gateway', 'nat', { subnet: 'public', elasticIp: 'ip1', tags: { Tier: 'edge' } }, refs);
    await nat.update(ctx, retag, seen!, diffFields(nat, retag, seen!));
    const after = await find(nat, retag);
    expect(diffFields(nat, retag, after!)).toEqual([]);

    await sdk.send(new DeleteTagsCommand({ Resources: [created.id], Tags: [{ Key: 'Tier' }] }));
    const drifted = await find(nat, retag);
    expect(paths(diffFields(nat, retag, drifted!))).toEqual(['tags.Tier']);
    await nat.update(ctx, retag, drifted!, diffFields(nat, retag, drifted!));
    expect(diffFields(nat, retag, (await find(nat, retag))!)).toEqual([]);

    await nat.delete(ctx, after!);
    expect(await find(nat, retag)).toBeUndefined(); // a deleted gateway is not live
    await nat.delete(ctx, after!);
    const [addr] = await eip.observe(ctx, [d('elastic-ip', 'ip1', {})]).then((l) => l.filter((o) => o.name === 'ip1'));
    await eip.delete(ctx, addr);
    const left = await sdk.send(new DescribeAddressesCommand({ AllocationIds: [e2.id] }));
    expect(left.Addresses).toHaveLength(1); // only ip2 is left
  });
});

describe('route-table', () => {
  it('create with routes and associations, change targets, move subnets, heal drift, delete', async () => {
    const v = await newVpc();
    const gw = (await igw.create(ctx, d('internet-gateway', 'gw', { vpc: 'main' }, { main: v }))).outputs;
    const a = await newSubnet(v, 'a', '10.0.1.0/24');
    const b = await newSubnet(v, 'b', '10.0.2.0/24');
    const ip = (await eip.create(ctx, d('elastic-ip', 'ip', {}))).outputs;
    const n = (await nat.create(ctx, d('nat-gateway', 'nat', { subnet: 'a', elasticIp: 'ip' }, { a, ip }))).outputs;
    const refs = { main: v, gw, a, b, nat: n };

    const want = d('route-table', 'public', { vpc: 'main', routes: [{ destination: '0.0.0.0/0', internetGateway: 'gw' }], subnets: ['a'] }, refs);
    const created = await routeTable.create(ctx, want);
    expect(created.outputs).toEqual({ id: created.id, vpcId: v.id });
    const seen = await find(routeTable, want);
    expect(seen).toMatchObject({
      id: created.id,
      management: 'owned',
      live: { vpc: v.id, main: false, routes: [{ destination: '0.0.0.0/0', internetGateway: gw.id }], subnets: [a.id] },
    });
    expect(diffFields(routeTable, want, seen!)).toEqual([]); // the local route is not a diff

    const changed = d(
      'route-table',
      'public',
      { vpc: 'main', routes: [{ destination: '0.0.0.0/0', natGateway: 'nat' }, { destination: '192.168.0.0/16', internetGateway: 'gw' }], subnets: ['b'] },
      refs,
    );
    const fields = diffFields(routeTable, changed, seen!);
    expect(fields).toEqual([
      { path: 'routes[0.0.0.0/0]', before: { destination: '0.0.0.0/0', internetGateway: gw.id }, after: { destination: '0.0.0.0/0', natGateway: n.id }, forcesReplace: false },
      { path: 'routes[192.168.0.0/16]', before: undefined, after: { destination: '192.168.0.0/16', internetGateway: gw.id }, forcesReplace: false },
      { path: `subnets[${b.id}]`, before: undefined, after: b.id, forcesReplace: false },
      { path: `subnets[${a.id}]`, before: a.id, after: undefined, forcesReplace: false },
    ]);
    expect(diffFields(routeTable, d('route-table', 'public', { vpc: 'other' }, { other: { id: 'vpc-0123456789abcdef0' } }), seen!)[0]).toMatchObject({
      path: 'vpc',
      forcesReplace: true,
    });
    await routeTable.update(ctx, changed, seen!, fields);
    const after = await find(routeTable, changed);
    expect(diffFields(routeTable, changed, after!)).toEqual([]);

    // Drift: a route deleted, a route added by hand.
    await sdk.send(new DeleteRouteCommand({ RouteTableId: created.id, DestinationCidrBlock: '192.168.0.0/16' }));
    await sdk.send(new CreateRouteCommand({ RouteTableId: created.id, DestinationCidrBlock: '172.16.0.0/12', GatewayId: gw.id }));
    const drifted = await find(routeTable, changed);
    const drift = diffFields(routeTable, changed, drifted!);
    expect(drift).toEqual([
      { path: 'routes[172.16.0.0/12]', before: { destination: '172.16.0.0/12', internetGateway: gw.id }, after: undefined, forcesReplace: false },
      { path: 'routes[192.168.0.0/16]', before: undefined, after: { destination: '192.168.0.0/16', internetGateway: gw.id }, forcesReplace: false },
    ]);
    await routeTable.update(ctx, changed, drifted!, drift);
    expect(diffFields(routeTable, changed, (await find(routeTable, changed))!)).toEqual([]);

    await routeTable.delete(ctx, after!);
    expect(await find(routeTable, changed)).toBeUndefined();
    await routeTable.delete(ctx, after!);
  });

  it('main: true manages only its declared routes of the VPC main table, and never deletes the table', async () => {
    const v = await newVpc();
    const gw = (await igw.create(ctx, d('internet-gateway', 'gw', { vpc: 'main' }, { main: v }))).outputs;
    const mainId = (
      await sdk.send(new DescribeRouteTablesCommand({ Filters: [{ Name: 'vpc-id', Values: [v.id] }, { Name: 'association.main', Values: ['true'] }] }))
    ).RouteTables![0].RouteTableId!;
    // A route someone else owns in the main table.
    await sdk.send(new CreateRouteCommand({ RouteTableId: mainId, DestinationCidrBlock: '172.16.0.0/12', GatewayId: gw.id }));

    const refs = { main: v, gw };
    const want = d('route-table', 'main-rt', { vpc: 'main', main: true, routes: [{ destination: '0.0.0.0/0', internetGateway: 'gw' }] }, refs);
    ctx = testCtx(moto.endpoint, STACK, TIMING);
    const [seen] = await routeTable.observe(ctx, [want]);
    expect(ctx.aws.counts().byOperation['ec2:DescribeRouteTables']).toBe(2); // by tag, then the main table
    expect(seen).toMatchObject({ id: mainId, name: 'main-rt', management: 'adopted', live: { main: true } });
    const fields = diffFields(routeTable, want, seen);
    expect(paths(fields)).toEqual(['routes[0.0.0.0/0]', 'tags.Name', 'tags.reconcile:id', 'tags.reconcile:routes', 'tags.reconcile:stack']);
    await routeTable.update(ctx, want, seen, fields);

    const [owned] = await routeTable.observe(ctx, [want]);
    expect(owned).toMatchObject({ id: mainId, management: 'owned', tags: { 'reconcile:routes': '0.0.0.0/0' } });
    expect(diffFields(routeTable, want, owned)).toEqual([]); // 172.16.0.0/12 is not ours: no diff

    // Drift on a declared route is healed; the foreign route still is not touched.
    await sdk.send(new DeleteRouteCommand({ RouteTableId: mainId, DestinationCidrBlock: '0.0.0.0/0' }));
    const [drifted] = await routeTable.observe(ctx, [want]);
    expect(paths(diffFields(routeTable, want, drifted))).toEqual(['routes[0.0.0.0/0]']);
    await routeTable.update(ctx, want, drifted, diffFields(routeTable, want, drifted));

    // A route removed from the spec is deleted (it is recorded as ours), the foreign one stays.
    const fewer = d('route-table', 'main-rt', { vpc: 'main', main: true, routes: [] }, refs);
    const [now] = await routeTable.observe(ctx, [fewer]);
    const removal = diffFields(routeTable, fewer, now);
    expect(removal).toEqual([
      { path: 'routes[0.0.0.0/0]', before: { destination: '0.0.0.0/0', internetGateway: gw.id }, after: undefined, forcesReplace: false },
      { path: 'tags.reconcile:routes', before: '0.0.0.0/0', after: undefined, forcesReplace: false },
    ]);
    await routeTable.update(ctx, fewer, now, removal);
    await routeTable.update(ctx, want, (await routeTable.observe(ctx, [want]))[0], diffFields(routeTable, want, (await routeTable.observe(ctx, [want]))[0]));

    // Delete: the table stays, our route and tags go, the foreign route stays.
    await routeTable.delete(ctx, owned);
    const table = (await sdk.send(new DescribeRouteTablesCommand({ RouteTableIds: [mainId] }))).RouteTables![0];
    expect(table.Routes!.map((r) => r.DestinationCidrBlock).sort()).toEqual(['10.0.0.0/16', '172.16.0.0/12']);
    expect((table.Tags ?? []).filter((t) => t.Key!.startsWith('reconcile:') || t.Key === 'Name')).toEqual([]);
    const [back] = await routeTable.observe(ctx, [want]);
    expect(back.management).toBe('adopted');
  });

  it('create() of a main: true table takes over the main table of a new VPC instead of creating one', async () => {
    const v = await newVpc();
    const gw = (await igw.create(ctx, d('internet-gateway', 'gw', { vpc: 'main' }, { main: v }))).outputs;
    const want = d('route-table', 'main-rt', { vpc: 'main', main: true, routes: [{ destination: '0.0.0.0/0', internetGateway: 'gw' }] }, { main: v, gw });
    const created = await routeTable.create(ctx, want);
    expect(ctx.aws.counts().byOperation['ec2:CreateRouteTable']).toBeUndefined();
    expect(created.live).toMatchObject({ main: true, routes: [{ destination: '0.0.0.0/0', internetGateway: gw.id }] });
    const [seen] = await routeTable.observe(ctx, [want]);
    expect(seen).toMatchObject({ id: created.id, management: 'owned' });
    expect(diffFields(routeTable, want, seen)).toEqual([]);
  });
});

describe('adopt: for every kind', () => {
  it('finds each id named by adopt: in one extra describe, then owns it after update', async () => {
    const v = await newVpc();
    const other = await newVpc('other', '10.1.0.0/16');
    const sub = (await sdk.send(new CreateSubnetCommand({ VpcId: v.id, CidrBlock: '10.0.9.0/24' }))).Subnet!.SubnetId!;
    const gw = (await sdk.send(new CreateInternetGatewayCommand({}))).InternetGateway!.InternetGatewayId!;
    await sdk.send(new AttachInternetGatewayCommand({ InternetGatewayId: gw, VpcId: v.id }));
    const ip = (await sdk.send(new AllocateAddressCommand({ Domain: 'vpc' }))).AllocationId!;
    const rt = (await sdk.send(new CreateRouteTableCommand({ VpcId: v.id }))).RouteTable!.RouteTableId!;
    const pcx = (await sdk.send(new CreateVpcPeeringConnectionCommand({ VpcId: v.id, PeerVpcId: other.id }))).VpcPeeringConnection!.VpcPeeringConnectionId!;
    await sdk.send(new AcceptVpcPeeringConnectionCommand({ VpcPeeringConnectionId: pcx }));
    const group = (await sdk.send(new CreateSecurityGroupCommand({ VpcId: v.id, GroupName: 'legacy', Description: 'Managed by reconcile' }))).GroupId!;
    const refs = { main: v, other };
    const cases: [Reconciler<any>, ReturnType<typeof d>, string][] = [
      [subnet, d('subnet', 'old-sub', { vpc: 'main', cidr: '10.0.9.0/24', adopt: sub }, refs), sub],
      [igw, d('internet-gateway', 'old-gw', { vpc: 'main', adopt: gw }, refs), gw],
      [eip, d('elastic-ip', 'old-ip', { adopt: ip }), ip],
      [routeTable, d('route-table', 'old-rt', { vpc: 'main', adopt: rt }, refs), rt],
      [peering, d('vpc-peering', 'old-pcx', { vpc: 'main', peerVpc: 'other', adopt: pcx }, refs), pcx],
      [sg, d('security-group', 'old-sg', { vpc: 'main', groupName: 'legacy', adopt: group }, refs), group],
    ];
    for (const [r, want, id] of cases) {
      ctx = testCtx(moto.endpoint, STACK, TIMING);
      const [seen] = await r.observe(ctx, [want]);
      expect(seen, want.address).toMatchObject({ id, name: want.name, management: 'adopted' });
      // One describe by tag and one for the adopt id (moto ignores the tag filter of peering
      // connections, so there the first call already returns it).
      expect(Object.values(ctx.aws.counts().byOperation).reduce((a, b) => a + b, 0), want.address).toBeLessThanOrEqual(2);
      const fields = diffFields(r, want, seen);
      expect(fields.length, want.address).toBeGreaterThan(0);
      expect(fields.every((f) => f.path.startsWith('tags.')), want.address).toBe(true);
      expect((await r.update(ctx, want, seen, fields)).management, want.address).toBe('owned');
      ctx = testCtx(moto.endpoint, STACK, TIMING);
      const [now] = await r.observe(ctx, [want]);
      expect(now, want.address).toMatchObject({ id, management: 'owned' });
      expect(diffFields(r, want, now), want.address).toEqual([]);
      expect(Object.values(ctx.aws.counts().byOperation).reduce((a, b) => a + b, 0), want.address).toBe(1);
    }
  });

  it('the engine refuses to create a resource when the adopt: id does not exist (createOnce, before any call)', async () => {
    await expect(createOnce(ctx, subnet, d('subnet', 'gone', { vpc: 'vpc-0123456789abcdef0', cidr: '10.0.9.0/24', adopt: 'subnet-0123456789abcdef0' }))).rejects.toThrow(
      /adopt: subnet-0123456789abcdef0 does not exist/,
    );
    expect(writes()).toEqual([]);
  });
});

describe('vpc-peering', () => {
  it('create accepted, replace fields, accept a pending one, delete', async () => {
    const a = await newVpc('a', '10.0.0.0/16');
    const b = await newVpc('b', '10.1.0.0/16');
    const c = await newVpc('c', '10.2.0.0/16');
    const refs = { a, b, c };
    const want = d('vpc-peering', 'ab', { vpc: 'a', peerVpc: 'b' }, refs);
    const created = await peering.create(ctx, want);
    expect(created.outputs).toMatchObject({ id: created.id, vpcId: a.id, peerVpcId: b.id });
    const seen = await find(peering, want);
    expect(seen).toMatchObject({ id: created.id, management: 'owned', live: { vpc: a.id, peerVpc: b.id, status: 'active' } });
    expect(diffFields(peering, want, seen!)).toEqual([]);
    expect(diffFields(peering, d('vpc-peering', 'ab', { vpc: 'a', peerVpc: 'c' }, refs), seen!)).toEqual([
      { path: 'peerVpc', before: b.id, after: c.id, forcesReplace: true },
    ]);
    await peering.delete(ctx, seen!);
    expect(await find(peering, want)).toBeUndefined(); // deleted connections are not live
    await peering.delete(ctx, seen!);

    // Made without accepting: pending until the spec asks for autoAccept.
    const manual = d('vpc-peering', 'ac', { vpc: 'a', peerVpc: 'c', autoAccept: false }, refs);
    await peering.create(ctx, manual);
    const pending = await find(peering, manual);
    expect(pending!.live).toMatchObject({ status: 'pending-acceptance' });
    expect(diffFields(peering, manual, pending!)).toEqual([]);
    const auto = d('vpc-peering', 'ac', { vpc: 'a', peerVpc: 'c' }, refs);
    const fields = diffFields(peering, auto, pending!);
    expect(fields).toEqual([{ path: 'status', before: 'pending-acceptance', after: 'active', forcesReplace: false }]);
    await peering.update(ctx, auto, pending!, fields);
    expect(diffFields(peering, auto, (await find(peering, auto))!)).toEqual([]);
  });
});

describe('security-group', () => {
  it('create, change rules one by one, heal drift without recreating the group, delete', async () => {
    const v = await newVpc();
    const want = d(
      'security-group',
      'web',
      { vpc: 'main', ingress: [{ port: 22, cidr: ['10.0.0.0/8', '192.168.0.0/16'] }, { port: 80, cidr: '0.0.0.0/0', description: 'http' }] },
      { main: v },
    );
    const created = await sg.create(ctx, want);
    expect(created.outputs).toEqual({ id: created.id, groupName: 'net-web', vpcId: v.id });
    const seen = await find(sg, want);
    expect(seen).toMatchObject({ id: created.id, management: 'owned', live: { groupName: 'net-web', description: 'Managed by reconcile' } });
    expect((seen!.live as { egress: unknown[] }).egress).toEqual([{ protocol: 'all', cidr: '0.0.0.0/0' }]);
    expect(diffFields(sg, want, seen!)).toEqual([]); // the default egress is no diff

    const changed = d(
      'security-group',
      'web',
      { vpc: 'main', ingress: [{ port: 22, cidr: ['10.0.0.0/8', '192.168.0.0/16'] }, { port: 443, cidr: '0.0.0.0/0' }] },
      { main: v },
    );
    const fields = diffFields(sg, changed, seen!);
    expect(fields).toEqual([
      { path: 'ingress[tcp 443 0.0.0.0/0]', before: undefined, after: { protocol: 'tcp', port: 443, cidr: '0.0.0.0/0' }, forcesReplace: false },
      { path: 'ingress[tcp 80 0.0.0.0/0]', before: { protocol: 'tcp', port: 80, cidr: '0.0.0.0/0', description: 'http' }, after: undefined, forcesReplace: false },
    ]);
    expect(diffFields(sg, d('security-group', 'web', { vpc: 'main', description: 'other' }, { main: v }), seen!)).toContainEqual({
      path: 'description',
      before: 'Managed by reconcile',
      after: 'other',
      forcesReplace: true,
    });
    ctx = testCtx(moto.endpoint, STACK, TIMING);
    await sg.update(ctx, changed, seen!, fields);
    expect(ctx.aws.counts().byOperation).toEqual({ 'ec2:AuthorizeSecurityGroupIngress': 1, 'ec2:RevokeSecurityGroupIngress': 1 });
    const after = await find(sg, changed);
    expect(after!.id).toBe(created.id);
    expect(diffFields(sg, changed, after!)).toEqual([]);

    // Drift: a port opened by hand.
    await sdk.send(
      new AuthorizeSecurityGroupIngressCommand({ GroupId: created.id, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 3306, ToPort: 3306, IpRanges: [{ CidrIp: '0.0.0.0/0' }] }] }),
    );
    const drifted = await find(sg, changed);
    const drift = diffFields(sg, changed, drifted!);
    expect(drift).toEqual([{ path: 'ingress[tcp 3306 0.0.0.0/0]', before: { protocol: 'tcp', port: 3306, cidr: '0.0.0.0/0' }, after: undefined, forcesReplace: false }]);
    await sg.update(ctx, changed, drifted!, drift);
    const healed = await find(sg, changed);
    expect(diffFields(sg, changed, healed!)).toEqual([]);
    expect(healed!.id).toBe(created.id);

    // Drift: the default egress revoked by hand, while the spec leaves egress to the default.
    await sdk.send(new RevokeSecurityGroupEgressCommand({ GroupId: created.id, IpPermissions: [{ IpProtocol: '-1', IpRanges: [{ CidrIp: '0.0.0.0/0' }] }] }));
    const noEgress = await find(sg, changed);
    expect(paths(diffFields(sg, changed, noEgress!))).toEqual(['egress[all 0.0.0.0/0]']);
    await sg.update(ctx, changed, noEgress!, diffFields(sg, changed, noEgress!));
    expect(diffFields(sg, changed, (await find(sg, changed))!)).toEqual([]);

    // Drift: a rule's description changed by hand is shown and written back, the rule kept.
    await sdk.send(
      new UpdateSecurityGroupRuleDescriptionsIngressCommand({ GroupId: created.id, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 443, ToPort: 443, IpRanges: [{ CidrIp: '0.0.0.0/0', Description: 'by hand' }] }] }),
    );
    const redescribed = await find(sg, changed);
    const described = diffFields(sg, changed, redescribed!);
    expect(described).toEqual([
      { path: 'ingress[tcp 443 0.0.0.0/0]', before: { protocol: 'tcp', port: 443, cidr: '0.0.0.0/0', description: 'by hand' }, after: { protocol: 'tcp', port: 443, cidr: '0.0.0.0/0' }, forcesReplace: false },
    ]);
    ctx = testCtx(moto.endpoint, STACK, TIMING);
    await sg.update(ctx, changed, redescribed!, described);
    expect(ctx.aws.counts().byOperation).toEqual({ 'ec2:UpdateSecurityGroupRuleDescriptionsIngress': 1 });
    expect(diffFields(sg, changed, (await find(sg, changed))!)).toEqual([]);

    await sg.delete(ctx, after!);
    expect(await find(sg, changed)).toBeUndefined();
    await sg.delete(ctx, after!);
  });

  it('explicit egress replaces the default; a group source is a rule of its own; groupName is kept', async () => {
    const v = await newVpc();
    const alb = await sg.create(ctx, d('security-group', 'alb', { vpc: 'main', groupName: 'my-alb', ingress: [{ port: 443, cidr: '0.0.0.0/0' }] }, { main: v }));
    expect(alb.outputs.groupName).toBe('my-alb');
    const want = d(
      'security-group',
      'app',
      { vpc: 'main', ingress: [{ port: '8000-8080', securityGroup: 'alb' }, { protocol: 'icmp', cidr: '10.0.0.0/8' }], egress: [{ port: 443, cidr: '0.0.0.0/0' }] },
      { main: v, alb: alb.outputs },
    );
    const created = await sg.create(ctx, want);
    const seen = await find(sg, want);
    const live = seen!.live as { ingress: unknown[]; egress: unknown[] };
    expect(live.egress).toEqual([{ protocol: 'tcp', port: 443, cidr: '0.0.0.0/0' }]);
    expect(live.ingress).toEqual(
      expect.arrayContaining([
        { protocol: 'tcp', port: '8000-8080', securityGroup: alb.id },
        { protocol: 'icmp', cidr: '10.0.0.0/8' },
      ]),
    );
    expect(diffFields(sg, want, seen!)).toEqual([]);
    const real = await sdk.send(new DescribeSecurityGroupsCommand({ GroupIds: [created.id] }));
    expect(real.SecurityGroups![0].GroupName).toBe('net-app');
    await sg.delete(ctx, seen!);
  });
});
