// Pure diff logic of the network kinds on hand-written and recorded observations: no network.
import { describe, expect, it } from 'vitest';
import type { RouteTable, SecurityGroup } from '@aws-sdk/client-ec2';
import { desired } from '../helpers/aws.js';
import { observed, ownTags } from '../helpers/observed.js';
import { UNKNOWN, type Ctx, type EngineEvent, type FieldChange, type Management, type Observed, type Outputs, type Timing } from '../../src/engine/types.js';
import { allPages as describeAll, isDependency, retryWhile, waitFor } from '../../src/reconcilers/ec2-shared.js';
import type { KindName } from '../../src/spec/schema.js';
import vpc from '../../src/reconcilers/vpc.js';
import subnet from '../../src/reconcilers/subnet.js';
import igw from '../../src/reconcilers/internet-gateway.js';
import eip from '../../src/reconcilers/elastic-ip.js';
import nat, { natClientToken } from '../../src/reconcilers/nat-gateway.js';
import peering from '../../src/reconcilers/vpc-peering.js';
import routeTable from '../../src/reconcilers/route-table.js';
import { liveFromAws } from '../../src/reconcilers/route-table-read.js';
import { declaredRoutes, routesTags } from '../../src/reconcilers/route-table-routes.js';
import sg, { rulesFromPermissions, toPermission } from '../../src/reconcilers/security-group.js';
import { diffFields } from '../../src/engine/plan.js';

const STACK = 'test';
const obs = (name: string, live: Record<string, unknown>, opts: { tags?: Record<string, string>; management?: Management; id?: string } = {}): Observed =>
  observed(name, live, { ...opts, id: opts.id ?? 'x-0000000001' });
const d = <K extends KindName>(kind: K, name: string, body: Record<string, unknown>, refs: Record<string, Outputs> = {}) => desired(kind, name, body, refs, STACK);
const ch = (path: string, before: unknown, after: unknown, forcesReplace = false): FieldChange => ({ path, before, after, forcesReplace });

const VPC = { id: 'vpc-0aaaaaaaaaaaaaaa1' };
const VPC2 = { id: 'vpc-0bbbbbbbbbbbbbbb2' };
const SUB_A = { id: 'subnet-0aaaaaaaaaaaaaaa1' };
const SUB_B = { id: 'subnet-0bbbbbbbbbbbbbbb2' };
const IGW = { id: 'igw-0aaaaaaaaaaaaaaa1' };
const NAT = { id: 'nat-0aaaaaaaaaaaaaaa1' };
const EIP1 = { id: 'eipalloc-0aaaaaaaaaaaaaaa1' };
const EIP2 = { id: 'eipalloc-0bbbbbbbbbbbbbbb2' };
const ALB_SG = { id: 'sg-0aaaaaaaaaaaaaaa1' };
const NOT_YET = { id: UNKNOWN };

describe('vpc diff', () => {
  const live = { cidr: '10.0.0.0/16', enableDnsSupport: true, enableDnsHostnames: true, isDefault: false };
  it.each<[string, Record<string, unknown>, Observed, FieldChange[]]>([
    ['up to date', { cidr: '10.0.0.0/16' }, obs('main', live), []],
    ['cidr forces replacement', { cidr: '10.1.0.0/16' }, obs('main', live), [ch('cidr', '10.0.0.0/16', '10.1.0.0/16', true)]],
    ['dns hostnames in place', { cidr: '10.0.0.0/16', enableDnsHostnames: false }, obs('main', live), [ch('enableDnsHostnames', true, false)]],
    ['dns support drift', { cidr: '10.0.0.0/16' }, obs('main', { ...live, enableDnsSupport: false }), [ch('enableDnsSupport', false, true)]],
    ['a tag added by hand is removed', { cidr: '10.0.0.0/16' }, obs('main', live, { tags: ownTags('main', { Owner: 'bob' }) }), [ch('tags.Owner', 'bob', undefined)]],
    ['aws: tags are not ours', { cidr: '10.0.0.0/16' }, obs('main', live, { tags: ownTags('main', { 'aws:cloudformation:stack-name': 'x' }) }), []],
    ['a lookup never diffs', { lookup: 'default' }, obs('main', { cidr: '172.31.0.0/16', isDefault: true }, { tags: {}, management: 'lookup' }), []],
    ['an owned vpc turned into a lookup is replaced', { lookup: 'default' }, obs('main', live), [ch('lookup', undefined, 'default', true)]],
  ])('%s', (_, body, o, expected) => {
    expect(diffFields(vpc, d('vpc', 'main', body), o)).toEqual(expected);
  });
});

describe('subnet diff', () => {
  const live = { vpc: VPC.id, cidr: '10.0.1.0/24', availabilityZone: 'us-east-1a', mapPublicIpOnLaunch: false };
  it.each<[string, Record<string, unknown>, Record<string, Outputs>, FieldChange[]]>([
    ['up to date, AZ left to AWS', { vpc: 'main', cidr: '10.0.1.0/24' }, { main: VPC }, []],
    ['AZ given and different', { vpc: 'main', cidr: '10.0.1.0/24', availabilityZone: 'us-east-1b' }, { main: VPC }, [ch('availabilityZone', 'us-east-1a', 'us-east-1b', true)]],
    ['cidr', { vpc: 'main', cidr: '10.0.2.0/24' }, { main: VPC }, [ch('cidr', '10.0.1.0/24', '10.0.2.0/24', true)]],
    ['another vpc', { vpc: 'main', cidr: '10.0.1.0/24' }, { main: VPC2 }, [ch('vpc', VPC.id, VPC2.id, true)]],
    ['vpc being replaced (unknown id)', { vpc: 'main', cidr: '10.0.1.0/24' }, { main: NOT_YET }, [ch('vpc', VPC.id, UNKNOWN, true)]],
    ['an external vpc id', { vpc: VPC.id, cidr: '10.0.1.0/24' }, {}, []],
    ['public IPs in place', { vpc: 'main', cidr: '10.0.1.0/24', mapPublicIpOnLaunch: true }, { main: VPC }, [ch('mapPublicIpOnLaunch', false, true)]],
  ])('%s', (_, body, refs, expected) => {
    expect(diffFields(subnet, d('subnet', 'a', body, refs), obs('a', live))).toEqual(expected);
  });
});

describe('internet-gateway, elastic-ip, nat-gateway diff', () => {
  it.each<[string, Record<string, unknown>, Record<string, Outputs>, Record<string, unknown>, FieldChange[]]>([
    ['attached', { vpc: 'main' }, { main: VPC }, { vpc: VPC.id }, []],
    ['detached by hand: attach in place', { vpc: 'main' }, { main: VPC }, {}, [ch('vpc', undefined, VPC.id)]],
    ['moved to another vpc in place', { vpc: 'main' }, { main: VPC2 }, { vpc: VPC.id }, [ch('vpc', VPC.id, VPC2.id)]],
  ])('igw: %s', (_, body, refs, live, expected) => {
    expect(diffFields(igw, d('internet-gateway', 'gw', body, refs), obs('gw', live))).toEqual(expected);
  });

  it.each<[string, Record<string, unknown>, Record<string, string>, FieldChange[]]>([
    ['tags equal', {}, ownTags('ip'), []],
    ['tag to add', { tags: { Team: 'net' } }, ownTags('ip'), [ch('tags.Team', undefined, 'net')]],
    ['stack tags missing (adopted)', {}, {}, [ch('tags.Name', undefined, 'test-ip'), ch('tags.reconcile:id', undefined, 'ip'), ch('tags.reconcile:stack', undefined, 'test')]],
  ])('eip: %s', (_, body, tags, expected) => {
    expect(diffFields(eip, d('elastic-ip', 'ip', body), obs('ip', { publicIp: '1.2.3.4' }, { tags }))).toEqual(expected);
  });

  const natLive = { subnet: SUB_A.id, elasticIp: EIP1.id, state: 'available' };
  it.each<[string, Record<string, Outputs>, FieldChange[]]>([
    ['up to date', { pub: SUB_A, ip: EIP1 }, []],
    ['other address', { pub: SUB_A, ip: EIP2 }, [ch('elasticIp', EIP1.id, EIP2.id, true)]],
    ['other subnet', { pub: SUB_B, ip: EIP1 }, [ch('subnet', SUB_A.id, SUB_B.id, true)]],
    ['address being replaced', { pub: SUB_A, ip: NOT_YET }, [ch('elasticIp', EIP1.id, UNKNOWN, true)]],
  ])('nat: %s', (_, refs, expected) => {
    expect(diffFields(nat, d('nat-gateway', 'nat', { subnet: 'pub', elasticIp: 'ip' }, refs), obs('nat', natLive))).toEqual(expected);
  });

  it('nat client token: deterministic, at most 64 characters, changes with subnet or address', () => {
    const t = natClientToken('s'.repeat(63), 'n'.repeat(63), SUB_A.id, EIP1.id);
    expect(t.length).toBeLessThanOrEqual(64);
    expect(t).toBe(natClientToken('s'.repeat(63), 'n'.repeat(63), SUB_A.id, EIP1.id));
    expect(natClientToken('st', 'nat', SUB_A.id, EIP1.id)).toMatch(/^st-nat-[0-9a-f]{8}$/);
    expect(natClientToken('st', 'nat', SUB_A.id, EIP2.id)).not.toBe(natClientToken('st', 'nat', SUB_A.id, EIP1.id));
  });
});

describe('vpc-peering diff', () => {
  const refs = { a: VPC, b: VPC2 };
  it.each<[string, Record<string, unknown>, Record<string, Outputs>, string, FieldChange[]]>([
    ['active', { vpc: 'a', peerVpc: 'b' }, refs, 'active', []],
    ['pending and autoAccept: accept', { vpc: 'a', peerVpc: 'b' }, refs, 'pending-acceptance', [ch('status', 'pending-acceptance', 'active')]],
    ['pending without autoAccept', { vpc: 'a', peerVpc: 'b', autoAccept: false }, refs, 'pending-acceptance', []],
    ['still provisioning', { vpc: 'a', peerVpc: 'b' }, refs, 'provisioning', []],
    ['other peer', { vpc: 'a', peerVpc: 'b' }, { a: VPC, b: { id: 'vpc-0ccccccccccccccc3' } }, 'active', [ch('peerVpc', VPC2.id, 'vpc-0ccccccccccccccc3', true)]],
  ])('%s', (_, body, r, status, expected) => {
    expect(diffFields(peering, d('vpc-peering', 'p', body, r), obs('p', { vpc: VPC.id, peerVpc: VPC2.id, status }))).toEqual(expected);
  });
});

// A DescribeRouteTables answer as AWS gives it: main association, local route, propagated route.
const recordedTable: RouteTable = {
  RouteTableId: 'rtb-0aaaaaaaaaaaaaaa1',
  VpcId: VPC.id,
  Associations: [
    { Main: true, RouteTableAssociationId: 'rtbassoc-0000000000000000a', RouteTableId: 'rtb-0aaaaaaaaaaaaaaa1', AssociationState: { State: 'associated' } },
    { Main: false, RouteTableAssociationId: 'rtbassoc-0000000000000000b', SubnetId: SUB_A.id, AssociationState: { State: 'associated' } },
  ],
  Routes: [
    { DestinationCidrBlock: '10.0.0.0/16', GatewayId: 'local', Origin: 'CreateRouteTable', State: 'active' },
    { DestinationCidrBlock: '0.0.0.0/0', GatewayId: IGW.id, Origin: 'CreateRoute', State: 'active' },
    { DestinationCidrBlock: '10.8.0.0/16', GatewayId: 'vgw-0123', Origin: 'EnableVgwRoutePropagation', State: 'active' },
    { DestinationCidrBlock: '172.31.0.0/16', VpcPeeringConnectionId: 'pcx-0aaaaaaaaaaaaaaa1', Origin: 'CreateRoute', State: 'active' },
    { DestinationIpv6CidrBlock: '::/0', GatewayId: IGW.id, Origin: 'CreateRoute', State: 'active' },
    { DestinationCidrBlock: '192.168.0.0/16', TransitGatewayId: 'tgw-0aaaaaaaaaaaaaaa1', Origin: 'CreateRoute', State: 'active' },
  ],
  Tags: [],
};

describe('route-table', () => {
  it('normalizes a recorded table: no local, propagated or IPv6 routes; the main association is not a subnet', () => {
    expect(liveFromAws(recordedTable)).toEqual({
      vpc: VPC.id,
      main: true,
      routes: [
        { destination: '0.0.0.0/0', internetGateway: IGW.id },
        { destination: '172.31.0.0/16', vpcPeering: 'pcx-0aaaaaaaaaaaaaaa1' },
        { destination: '192.168.0.0/16', other: 'tgw-0aaaaaaaaaaaaaaa1' },
      ],
      subnets: [SUB_A.id],
      associations: { [SUB_A.id]: 'rtbassoc-0000000000000000b' },
    });
  });

  const refs = { main: VPC, gw: IGW, nat: NAT, a: SUB_A, b: SUB_B };
  const plain = { vpc: VPC.id, main: false, routes: [{ destination: '0.0.0.0/0', internetGateway: IGW.id }], subnets: [SUB_A.id], associations: { [SUB_A.id]: 'rtbassoc-1' } };
  it.each<[string, Record<string, unknown>, Record<string, Outputs>, FieldChange[]]>([
    ['up to date', { vpc: 'main', routes: [{ destination: '0.0.0.0/0', internetGateway: 'gw' }], subnets: ['a'] }, refs, []],
    [
      'target changed: replace the route',
      { vpc: 'main', routes: [{ destination: '0.0.0.0/0', natGateway: 'nat' }], subnets: ['a'] },
      refs,
      [ch('routes[0.0.0.0/0]', { destination: '0.0.0.0/0', internetGateway: IGW.id }, { destination: '0.0.0.0/0', natGateway: NAT.id })],
    ],
    [
      'route removed from the spec',
      { vpc: 'main', subnets: ['a'] },
      refs,
      [ch('routes[0.0.0.0/0]', { destination: '0.0.0.0/0', internetGateway: IGW.id }, undefined)],
    ],
    [
      'target still to be created',
      { vpc: 'main', routes: [{ destination: '0.0.0.0/0', internetGateway: 'gw' }], subnets: ['a'] },
      { ...refs, gw: NOT_YET },
      [ch('routes[0.0.0.0/0]', { destination: '0.0.0.0/0', internetGateway: IGW.id }, { destination: '0.0.0.0/0', internetGateway: UNKNOWN })],
    ],
    [
      'subnets one by one; a new subnet is named until it exists',
      { vpc: 'main', routes: [{ destination: '0.0.0.0/0', internetGateway: 'gw' }], subnets: ['b', 'c'] },
      { ...refs, c: NOT_YET },
      [ch('subnets[c]', undefined, UNKNOWN), ch(`subnets[${SUB_B.id}]`, undefined, SUB_B.id), ch(`subnets[${SUB_A.id}]`, SUB_A.id, undefined)],
    ],
    ['vpc forces replacement', { vpc: 'main', routes: [{ destination: '0.0.0.0/0', internetGateway: 'gw' }], subnets: ['a'] }, { ...refs, main: VPC2 }, [ch('vpc', VPC.id, VPC2.id, true)]],
  ])('%s', (_, body, r, expected) => {
    expect(diffFields(routeTable, d('route-table', 'rt', body, r), obs('rt', plain))).toEqual(expected);
  });

  const mainLive = liveFromAws(recordedTable);
  const mainRefs = { main: VPC, gw: IGW, nat: NAT, a: SUB_A, b: SUB_B };
  it.each<[string, Record<string, unknown>, Record<string, string>, FieldChange[]]>([
    [
      'main table, declared route present, foreign routes and tags left alone',
      { vpc: 'main', main: true, routes: [{ destination: '0.0.0.0/0', internetGateway: 'gw' }] },
      ownTags('rt', { 'reconcile:routes': '0.0.0.0/0', Owner: 'netops' }),
      [],
    ],
    [
      'main table being adopted: routes tag and stack tags added, foreign tag kept',
      { vpc: 'main', main: true, routes: [{ destination: '0.0.0.0/0', internetGateway: 'gw' }] },
      { Owner: 'netops' },
      [
        ch('tags.Name', undefined, 'test-rt'),
        ch('tags.reconcile:id', undefined, 'rt'),
        ch('tags.reconcile:routes', undefined, '0.0.0.0/0'),
        ch('tags.reconcile:stack', undefined, 'test'),
      ],
    ],
    [
      'main table, a recorded route removed from the spec is deleted, a foreign one is not',
      { vpc: 'main', main: true, routes: [] },
      ownTags('rt', { 'reconcile:routes': '0.0.0.0/0 10.99.0.0/16' }),
      [ch('routes[0.0.0.0/0]', { destination: '0.0.0.0/0', internetGateway: IGW.id }, undefined), ch('tags.reconcile:routes', '0.0.0.0/0 10.99.0.0/16', undefined)],
    ],
    [
      'main table, subnets only added, never removed',
      { vpc: 'main', main: true, routes: [{ destination: '0.0.0.0/0', internetGateway: 'gw' }], subnets: ['b'] },
      ownTags('rt', { 'reconcile:routes': '0.0.0.0/0' }),
      [ch(`subnets[${SUB_B.id}]`, undefined, SUB_B.id)],
    ],
    [
      'a non-main spec on the main table forces replacement',
      { vpc: 'main', routes: [{ destination: '0.0.0.0/0', internetGateway: 'gw' }, { destination: '172.31.0.0/16', vpcPeering: 'pcx-0aaaaaaaaaaaaaaa1' }, { destination: '192.168.0.0/16', internetGateway: 'gw' }], subnets: ['a'] },
      ownTags('rt'),
      [ch('main', true, false, true), ch('routes[192.168.0.0/16]', { destination: '192.168.0.0/16', other: 'tgw-0aaaaaaaaaaaaaaa1' }, { destination: '192.168.0.0/16', internetGateway: IGW.id })],
    ],
  ])('%s', (_, body, tags, expected) => {
    expect(diffFields(routeTable, d('route-table', 'rt', body, mainRefs), obs('rt', mainLive, { tags }))).toEqual(expected);
  });

  it('records managed destinations in tags of at most 256 characters and reads them back', () => {
    const dests = Array.from({ length: 40 }, (_, i) => `10.${i}.0.0/16`);
    const tags = routesTags(dests);
    expect(Object.keys(tags).length).toBeGreaterThan(1);
    for (const v of Object.values(tags)) expect(v.length).toBeLessThanOrEqual(256);
    expect(Object.keys(tags)[0]).toBe('reconcile:routes');
    expect(declaredRoutes({ ...tags, Name: 'x' }).sort()).toEqual([...dests].sort());
    expect(routesTags([])).toEqual({});
  });
});

// A DescribeSecurityGroups answer: one permission with several sources, protocol numbers.
const recordedGroup: SecurityGroup = {
  GroupId: 'sg-0bbbbbbbbbbbbbbb2',
  GroupName: 'test-web',
  Description: 'Managed by reconcile',
  VpcId: VPC.id,
  IpPermissions: [
    { IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '10.0.0.0/8' }, { CidrIp: '192.168.0.0/16', Description: 'office' }] },
    { IpProtocol: '6', FromPort: 8000, ToPort: 8080, UserIdGroupPairs: [{ GroupId: ALB_SG.id, UserId: '123456789012' }] },
    { IpProtocol: 'icmp', FromPort: -1, ToPort: -1, IpRanges: [{ CidrIp: '10.0.0.0/8' }] },
  ],
  IpPermissionsEgress: [
    { IpProtocol: '-1', IpRanges: [{ CidrIp: '0.0.0.0/0' }] },
    { IpProtocol: '-1', Ipv6Ranges: [{ CidrIpv6: '::/0' }] },
  ],
};

describe('security-group', () => {
  const live = {
    vpc: VPC.id,
    groupName: 'test-web',
    description: 'Managed by reconcile',
    ingress: rulesFromPermissions(recordedGroup.IpPermissions),
    egress: rulesFromPermissions(recordedGroup.IpPermissionsEgress),
  };
  const refs = { main: VPC, alb: ALB_SG };
  const base = [
    { port: 22, cidr: '10.0.0.0/8' },
    { port: 22, cidr: '192.168.0.0/16', description: 'office' },
    { port: '8000-8080', securityGroup: 'alb' },
    { protocol: 'icmp', cidr: '10.0.0.0/8' },
  ];

  it('expands recorded permissions into one rule per source', () => {
    expect(live.ingress).toEqual([
      { protocol: 'tcp', port: 22, cidr: '10.0.0.0/8' },
      { protocol: 'tcp', port: 22, cidr: '192.168.0.0/16', description: 'office' },
      { protocol: 'tcp', port: '8000-8080', securityGroup: ALB_SG.id },
      { protocol: 'icmp', cidr: '10.0.0.0/8' },
    ]);
  });

  it.each<[string, Record<string, unknown>, Record<string, Outputs>, FieldChange[]]>([
    ['up to date: egress omitted keeps the AWS defaults (IPv4 and IPv6)', { vpc: 'main', ingress: base }, refs, []],
    [
      'a range written 22-22 is port 22',
      { vpc: 'main', ingress: [{ port: '22-22', cidr: '10.0.0.0/8' }, ...base.slice(1)] },
      refs,
      [],
    ],
    [
      'a description is not identity but is compared: the rule keeps its key and gets the new text',
      { vpc: 'main', ingress: [{ port: 22, cidr: ['10.0.0.0/8', '192.168.0.0/16'] }, ...base.slice(2)] },
      refs,
      [ch('ingress[tcp 22 192.168.0.0/16]', { protocol: 'tcp', port: 22, cidr: '192.168.0.0/16', description: 'office' }, { protocol: 'tcp', port: 22, cidr: '192.168.0.0/16' })],
    ],
    [
      'a cidr removed from a list revokes that one rule',
      { vpc: 'main', ingress: [{ port: 22, cidr: '10.0.0.0/8' }, ...base.slice(2)] },
      refs,
      [ch('ingress[tcp 22 192.168.0.0/16]', { protocol: 'tcp', port: 22, cidr: '192.168.0.0/16', description: 'office' }, undefined)],
    ],
    [
      'a port added authorizes one rule',
      { vpc: 'main', ingress: [...base, { port: 443, cidr: '0.0.0.0/0', description: 'https' }] },
      refs,
      [ch('ingress[tcp 443 0.0.0.0/0]', undefined, { protocol: 'tcp', port: 443, cidr: '0.0.0.0/0', description: 'https' })],
    ],
    [
      'a source group still to be created is keyed by its name',
      { vpc: 'main', ingress: base },
      { main: VPC, alb: NOT_YET },
      [
        ch('ingress[tcp 8000-8080 alb]', undefined, { protocol: 'tcp', port: '8000-8080', securityGroup: UNKNOWN }),
        ch(`ingress[tcp 8000-8080 ${ALB_SG.id}]`, { protocol: 'tcp', port: '8000-8080', securityGroup: ALB_SG.id }, undefined),
      ],
    ],
    [
      'explicit egress replaces the defaults',
      { vpc: 'main', ingress: base, egress: [{ protocol: 'all', port: 80, cidr: '0.0.0.0/0' }] },
      refs,
      [ch('egress[all ::/0]', { protocol: 'all', ipv6Cidr: '::/0' }, undefined)],
    ],
    [
      'egress: [] revokes everything',
      { vpc: 'main', ingress: base, egress: [] },
      refs,
      [ch('egress[all 0.0.0.0/0]', { protocol: 'all', cidr: '0.0.0.0/0' }, undefined), ch('egress[all ::/0]', { protocol: 'all', ipv6Cidr: '::/0' }, undefined)],
    ],
    [
      'name, description and vpc force replacement',
      { vpc: 'main', groupName: 'web', description: 'Web servers', ingress: base },
      { ...refs, main: VPC2 },
      [ch('vpc', VPC.id, VPC2.id, true), ch('groupName', 'test-web', 'web', true), ch('description', 'Managed by reconcile', 'Web servers', true)],
    ],
  ])('%s', (_, body, r, expected) => {
    expect(diffFields(sg, d('security-group', 'web', body, r), obs('web', live, { id: recordedGroup.GroupId }))).toEqual(expected);
  });

  it('builds one permission per rule, in the API\'s words', () => {
    expect(toPermission({ protocol: 'tcp', port: 22, cidr: '0.0.0.0/0', description: 'ssh' })).toEqual({
      IpProtocol: 'tcp',
      FromPort: 22,
      ToPort: 22,
      IpRanges: [{ CidrIp: '0.0.0.0/0', Description: 'ssh' }],
    });
    expect(toPermission({ protocol: 'udp', port: '1000-2000', securityGroup: ALB_SG.id })).toEqual({
      IpProtocol: 'udp',
      FromPort: 1000,
      ToPort: 2000,
      UserIdGroupPairs: [{ GroupId: ALB_SG.id, Description: undefined }],
    });
    expect(toPermission({ protocol: 'all', cidr: '0.0.0.0/0' })).toEqual({ IpProtocol: '-1', IpRanges: [{ CidrIp: '0.0.0.0/0', Description: undefined }] });
    expect(toPermission({ protocol: 'icmp', cidr: '10.0.0.0/8' })).toMatchObject({ IpProtocol: 'icmp', FromPort: -1, ToPort: -1 });
    expect(toPermission({ protocol: 'icmp', port: 8, cidr: '10.0.0.0/8' })).toMatchObject({ FromPort: 8, ToPort: -1 });
    expect(toPermission({ protocol: 'all', ipv6Cidr: '::/0' })).toEqual({ IpProtocol: '-1', Ipv6Ranges: [{ CidrIpv6: '::/0', Description: undefined }] });
  });
});

describe('shared EC2 helpers: pagination and bounded waits (no AWS)', () => {
  const fakeCtx = (timing?: Partial<Timing>) => {
    const events: EngineEvent[] = [];
    return { ctx: { stack: STACK, region: 'us-east-1', aws: undefined as never, emit: (e: EngineEvent) => events.push(e), timing }, events };
  };

  it('follows NextToken until the last page, and refuses a token loop', async () => {
    const pages: Record<string, { items: number[]; next?: string }> = { '': { items: [1, 2], next: 'a' }, a: { items: [3], next: 'b' }, b: { items: [4] } };
    const seen: (string | undefined)[] = [];
    const all = await describeAll(async (t) => {
      seen.push(t);
      const p = pages[t ?? ''];
      return { items: p.items, next: p.next };
    });
    expect(all).toEqual([1, 2, 3, 4]);
    expect(seen).toEqual([undefined, 'a', 'b']);
    await expect(describeAll(async () => ({ items: [1], next: 'same' }))).rejects.toThrow(/NextToken same twice/);
  });

  it('waitFor polls until done and reports each wait as progress', async () => {
    {
      const { ctx, events } = fakeCtx({ minDelayMs: 1, maxDelayMs: 2, maxWaitMs: 5_000 });
      const states = ['pending', 'pending', 'available'];
      const v = await waitFor(ctx, 'nat-gateway.nat', 'NAT gateway nat-1 to be available', async () => {
        const s = states.shift()!;
        return s === 'available' ? { done: true, value: s } : { done: false, status: s };
      });
      expect(v).toBe('available');
      expect(events.filter((e) => e.type === 'progress' && e.address === 'nat-gateway.nat')).toHaveLength(2);
      expect(events[0].message).toMatch(/waiting for NAT gateway nat-1 to be available \(pending/);
      expect(events[0]).toMatchObject({ code: 'wait', data: { what: 'NAT gateway nat-1 to be available', status: 'pending', elapsedMs: expect.any(Number) } });
    }
  });

  it('waitFor gives up after its bound naming the last state, and stops at once on a failed state', async () => {
    {
      const { ctx } = fakeCtx({ minDelayMs: 5, maxDelayMs: 10, maxWaitMs: 100 });
      const start = Date.now();
      await expect(waitFor(ctx, 'nat-gateway.nat', 'NAT gateway nat-1 to be available', async () => ({ done: false, status: 'pending' }))).rejects.toThrow(
        /nat-gateway.nat: gave up after \d+s waiting for NAT gateway nat-1 to be available \(last seen: pending\)/,
      );
      expect(Date.now() - start).toBeLessThan(2_000);
      let calls = 0;
      await expect(
        waitFor(ctx, 'nat-gateway.nat', 'NAT gateway nat-1 to be available', async () => {
          calls++;
          return { failed: 'it is failed: Gateway.NotAttached' };
        }),
      ).rejects.toThrow(/it is failed: Gateway.NotAttached/);
      expect(calls).toBe(1);
    }
  });

  it('waitFor and retryWhile end at once when the command must stop (SIGTERM, --timeout), not at their next poll', async () => {
    {
      const ac = new AbortController();
      const ctx = { ...fakeCtx({ minDelayMs: 10_000, maxDelayMs: 10_000, maxWaitMs: 60_000, maxRetryMs: 60_000 }).ctx, aws: { options: { signal: ac.signal } } } as unknown as Ctx;
      setTimeout(() => ac.abort(new Error('stopped: SIGTERM')), 50);
      const start = Date.now();
      await expect(waitFor(ctx, 'nat-gateway.nat', 'NAT gateway nat-1 to be available', async () => ({ done: false, status: 'pending' }))).rejects.toThrow('stopped: SIGTERM');
      const dep = Object.assign(new Error('has dependencies'), { name: 'DependencyViolation' });
      await expect(retryWhile(ctx, 'subnet.a', 'delete subnet', async () => Promise.reject(dep), isDependency)).rejects.toThrow('stopped: SIGTERM');
      expect(Date.now() - start).toBeLessThan(2_000);
    }
  });

  it('retryWhile retries only the errors it is told are transient', async () => {
    {
      const { ctx, events } = fakeCtx({ minDelayMs: 1, maxDelayMs: 2, maxWaitMs: 5_000 });
      const dep = Object.assign(new Error('has dependencies'), { name: 'DependencyViolation' });
      let n = 0;
      const out = await retryWhile(ctx, 'subnet.a', 'delete subnet-1', async () => {
        if (n++ < 2) throw dep;
        return 'ok';
      }, isDependency);
      expect(out).toBe('ok');
      expect(events.map((e) => e.message)).toEqual([expect.stringMatching(/^delete subnet-1: DependencyViolation, retrying/), expect.stringMatching(/DependencyViolation, retrying/)]);
      const denied = Object.assign(new Error('not allowed'), { name: 'UnauthorizedOperation' });
      let m = 0;
      await expect(retryWhile(ctx, 'subnet.a', 'delete subnet-1', async () => {
        m++;
        throw denied;
      }, isDependency)).rejects.toThrow('not allowed');
      expect(m).toBe(1);
    }
  });
});
