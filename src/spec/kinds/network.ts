// Network kinds: vpc, subnet, internet-gateway, elastic-ip, nat-gateway, route-table, vpc-peering,
// security-group.
import { z } from '../zod.cjs';
import { cidr, commonFields, ref, type RefUse, type SpecPath } from '../common.js';
import { defineKind, refsOf } from './define.js';
import { cidrContains, cidrsOverlap, covers, portSpan, WORLD } from './net-math.js';

export const vpc = defineKind(
  'vpc',
  z
    .object({
      kind: z.literal('vpc'),
      cidr: cidr.optional().describe('The VPC CIDR block, e.g. 10.0.0.0/16. Required unless lookup: default.'),
      lookup: z
        .literal('default')
        .optional()
        .describe('Use the account\'s default VPC of the region (read only: never created, changed or deleted).'),
      enableDnsSupport: z.boolean().default(true),
      enableDnsHostnames: z.boolean().default(true),
      ...commonFields,
    })
    .strict()
    .superRefine((v, ctx) => {
      if (!v.cidr && !v.lookup) ctx.addIssue({ code: 'custom', path: ['cidr'], message: 'a vpc needs cidr (e.g. cidr: 10.0.0.0/16) or lookup: default', params: { hint: 'add cidr: 10.0.0.0/16 to create a VPC, or lookup: default to use the account\'s default VPC' } });
      if (v.cidr && v.lookup) ctx.addIssue({ code: 'custom', path: ['lookup'], message: 'a looked-up vpc takes no cidr: remove one of cidr and lookup', params: { hint: 'remove cidr to use the default VPC, or lookup to create a VPC' } });
    }),
  () => [],
  { service: 'ec2', ec2TagTypes: ['vpc'], vpc: (_, name) => name },
);

export const subnet = defineKind(
  'subnet',
  z
    .object({
      kind: z.literal('subnet'),
      vpc: ref('vpc'),
      cidr,
      availabilityZone: z.string().describe('e.g. us-east-1a').optional(),
      mapPublicIpOnLaunch: z.boolean().default(false).describe('Give instances launched here a public IP.'),
      ...commonFields,
    })
    .strict(),
  (s) => refsOf([['vpc', s.vpc, ['vpc']]]),
  {
    service: 'ec2',
    ec2TagTypes: ['subnet'],
    vpc: (s) => s.vpc,
    check: ({ name, body: s, bodies, region, err }) => {
      const v = bodies.get(s.vpc);
      const vc = v?.kind === 'vpc' ? (v.body as z.output<typeof vpc.schema>).cidr : undefined;
      if (vc && cidrContains(vc, s.cidr) === false) err(['cidr'], `subnet cidr ${s.cidr} is not inside the cidr ${vc} of vpc "${s.vpc}"`, `pick a block inside ${vc}`);
      if (s.availabilityZone && region && !s.availabilityZone.startsWith(region))
        err(['availabilityZone'], `availability zone ${s.availabilityZone} is not in the stack's region ${region}`, `use a zone such as ${region}a`);
      for (const [other, o] of bodies) {
        if (other === name) break;
        if (o.kind !== 'subnet') continue;
        const os = o.body as typeof s;
        if (os.vpc === s.vpc && cidrsOverlap(os.cidr, s.cidr))
          err(['cidr'], `subnet cidr ${s.cidr} overlaps ${os.cidr} of subnet "${other}" in the same vpc`, 'subnets of one VPC need disjoint blocks');
      }
    },
  },
);

export const internetGateway = defineKind(
  'internet-gateway',
  z.object({ kind: z.literal('internet-gateway'), vpc: ref('vpc'), ...commonFields }).strict(),
  (s) => refsOf([['vpc', s.vpc, ['vpc']]]),
  { service: 'ec2', ec2TagTypes: ['internet-gateway'], vpc: (s) => s.vpc },
);

export const elasticIp = defineKind(
  'elastic-ip',
  z
    .object({ kind: z.literal('elastic-ip'), ...commonFields })
    .strict()
    .describe('An Elastic IP address (AWS allows 5 per region by default).'),
  () => [],
  { service: 'ec2', ec2TagTypes: ['elastic-ip', 'vpc-elastic-ip'] },
);

export const natGateway = defineKind(
  'nat-gateway',
  z
    .object({
      kind: z.literal('nat-gateway'),
      subnet: ref('subnet').describe('The public subnet the NAT gateway lives in.'),
      elasticIp: ref('elastic-ip').describe('The elastic-ip resource that gives it its public address.'),
      ...commonFields,
    })
    .strict(),
  (s) =>
    refsOf([
      ['subnet', s.subnet, ['subnet']],
      ['elasticIp', s.elasticIp, ['elastic-ip']],
    ]),
  {
    service: 'ec2',
    ec2TagTypes: ['natgateway', 'nat-gateway'],
    vpc: (s) => [s.subnet, 'subnet'],
    check: ({ name, body: n, bodies, err }) => {
      for (const [other, o] of bodies) {
        if (other === name) break;
        if (o.kind === 'nat-gateway' && (o.body as typeof n).elasticIp === n.elasticIp)
          err(['elasticIp'], `elastic-ip "${n.elasticIp}" is already used by nat-gateway "${other}"`, 'give each NAT gateway its own elastic-ip');
      }
    },
  },
);

const routeTarget = {
  internetGateway: ref('internet-gateway').optional(),
  natGateway: ref('nat-gateway').optional(),
  vpcPeering: ref('vpc-peering').optional(),
};
export const route = z
  .object({ destination: cidr.describe('Destination CIDR, e.g. 0.0.0.0/0'), ...routeTarget })
  .strict()
  .superRefine((r, ctx) => {
    const n = Object.keys(routeTarget).filter((k) => (r as Record<string, unknown>)[k] !== undefined).length;
    if (n !== 1)
      ctx.addIssue({
        code: 'custom',
        message: 'a route needs exactly one target: internetGateway, natGateway or vpcPeering',
        params: { hint: 'for example { destination: 0.0.0.0/0, internetGateway: <name of an internet-gateway> }' },
      });
  });

export const routeTable = defineKind(
  'route-table',
  z
    .object({
      kind: z.literal('route-table'),
      vpc: ref('vpc'),
      main: z
        .boolean()
        .optional()
        .describe('Manage routes in the VPC\'s existing main route table instead of creating a table. Only the routes listed here are managed; others are left alone.'),
      routes: z.array(route).default([]),
      subnets: z.array(ref('subnet')).default([]).describe('Subnets associated with this table.'),
      ...commonFields,
    })
    .strict(),
  (s) => {
    const out: RefUse[] = refsOf([['vpc', s.vpc, ['vpc']]]);
    (s.routes ?? []).forEach((r, i) => {
      for (const [field, kind] of [
        ['internetGateway', 'internet-gateway'],
        ['natGateway', 'nat-gateway'],
        ['vpcPeering', 'vpc-peering'],
      ] as const) {
        const v = r[field];
        if (v) out.push({ path: ['routes', i, field], name: v, kinds: [kind] });
      }
    });
    (s.subnets ?? []).forEach((n, i) => out.push({ path: ['subnets', i], name: n, kinds: ['subnet'] }));
    return out;
  },
  {
    service: 'ec2',
    ec2TagTypes: ['route-table'],
    vpc: (s) => s.vpc,
    check: ({ body: t, bodies, err, sameVpc }) => {
      if (t.main && t.subnets.length)
        err(
          ['subnets'],
          'a main route table (main: true) takes no subnets: every subnet without a table of its own uses it already',
          'remove subnets, or remove main: true to create a table of its own',
        );
      const dests = new Map<string, number>();
      t.routes.forEach((r, i) => {
        const prev = dests.get(r.destination);
        if (prev !== undefined) err(['routes', i, 'destination'], `routes[${i}] has the same destination ${r.destination} as routes[${prev}]`, 'one route per destination');
        else dests.set(r.destination, i);
        if (r.vpcPeering) {
          const pc = bodies.get(r.vpcPeering);
          if (pc?.kind === 'vpc-peering') {
            const pb = pc.body as z.output<typeof vpcPeering.schema>;
            if (pb.vpc !== t.vpc && pb.peerVpc !== t.vpc)
              err(['routes', i, 'vpcPeering'], `vpc-peering "${r.vpcPeering}" connects "${pb.vpc}" and "${pb.peerVpc}", not this table's vpc "${t.vpc}"`);
          }
        }
        if (r.internetGateway) sameVpc(['routes', i, 'internetGateway'], t.vpc, 'vpc', 'of this route table', r.internetGateway, 'internet-gateway');
        if (r.natGateway) sameVpc(['routes', i, 'natGateway'], t.vpc, 'vpc', 'of this route table', r.natGateway, 'nat-gateway');
      });
      t.subnets.forEach((s, i) => sameVpc(['subnets', i], t.vpc, 'vpc', 'of this route table', s, 'subnet'));
    },
  },
);

export const vpcPeering = defineKind(
  'vpc-peering',
  z
    .object({
      kind: z.literal('vpc-peering'),
      vpc: ref('vpc').describe('The requester VPC.'),
      peerVpc: ref('vpc').describe('The accepter VPC (same account and region).'),
      autoAccept: z.boolean().default(true),
      ...commonFields,
    })
    .strict(),
  (s) =>
    refsOf([
      ['vpc', s.vpc, ['vpc']],
      ['peerVpc', s.peerVpc, ['vpc']],
    ]),
  {
    service: 'ec2',
    ec2TagTypes: ['vpc-peering-connection'],
    check: ({ body: p, err }) => {
      if (p.vpc === p.peerVpc) err(['peerVpc'], `a vpc cannot peer with itself ("${p.vpc}")`, 'peerVpc names the other VPC');
    },
  },
);

const portRange = z.union([
  z.number().int().min(-1).max(65535),
  z.string().regex(/^\d{1,5}-\d{1,5}$/, 'a port range is written from-to, e.g. 8000-8080'),
]);
export const sgRule = z
  .object({
    protocol: z.enum(['tcp', 'udp', 'icmp', 'all']).default('tcp'),
    port: portRange.optional().describe('A port (22) or a range ("8000-8080"). Omit with protocol: all.'),
    cidr: z.union([cidr, z.array(cidr)]).optional().describe('Source (ingress) or destination (egress) CIDR(s).'),
    securityGroup: ref('security-group')
      .optional()
      .describe('A security group as source/destination: another one, or this one. Groups may name each other: such a rule is authorized once both exist.'),
    description: z.string().optional(),
  })
  .strict()
  .superRefine((r, ctx) => {
    if (!r.cidr && !r.securityGroup)
      ctx.addIssue({ code: 'custom', message: 'a rule needs cidr (e.g. cidr: 0.0.0.0/0) or securityGroup', params: { hint: 'add cidr: <CIDR block> or securityGroup: <name of a security-group>' } });
    if (r.protocol !== 'all' && r.protocol !== 'icmp' && r.port === undefined)
      ctx.addIssue({ code: 'custom', path: ['port'], message: `a ${r.protocol} rule needs port (e.g. port: 22 or port: "8000-8080")`, params: { hint: 'add port: 22, or protocol: all for every port' } });
  });
export type SgRule = z.output<typeof sgRule>;

export const securityGroup = defineKind(
  'security-group',
  z
    .object({
      kind: z.literal('security-group'),
      vpc: ref('vpc'),
      groupName: z.string().optional().describe('The AWS group name; defaults to <stack>-<name>.'),
      description: z.string().default('Managed by reconcile'),
      ingress: z.array(sgRule).default([]),
      egress: z
        .array(sgRule)
        .optional()
        .describe('Outbound rules. Omitted: allow all outbound (the AWS default).'),
      ...commonFields,
    })
    .strict(),
  (s) => {
    const out: RefUse[] = refsOf([['vpc', s.vpc, ['vpc']]]);
    for (const dir of ['ingress', 'egress'] as const)
      (s[dir] ?? []).forEach((r, i) => {
        // A rule is authorized once both groups exist: groups may allow each other (or themselves).
        if (r.securityGroup) out.push({ path: [dir, i, 'securityGroup'], name: r.securityGroup, kinds: ['security-group'], late: true });
      });
    return out;
  },
  {
    service: 'ec2',
    ec2TagTypes: ['security-group'],
    nameField: 'groupName',
    nameScope: (g) => g.vpc,
    vpc: (s) => s.vpc,
    check: ({ name, body: g, err, warn }) => {
      for (const dir of ['ingress', 'egress'] as const) {
        const seen = new Map<string, number>();
        (g[dir] ?? []).forEach((r, i) => {
          const span = portSpan(r);
          if ('error' in span) {
            err([dir, i, 'port'], span.error);
            return;
          }
          const sources = r.securityGroup ? [`sg:${r.securityGroup}`] : Array.isArray(r.cidr) ? r.cidr : r.cidr ? [r.cidr] : [];
          for (const src of sources) {
            const key = `${span.proto}|${span.proto === 'all' ? '' : `${span.from}-${span.to}`}|${src}`;
            const prev = seen.get(key);
            if (prev !== undefined && prev !== i) {
              err([dir, i], `${dir}[${i}] repeats ${dir}[${prev}] (${span.proto} ${span.proto === 'all' ? 'all ports' : r.port} ${dir === 'ingress' ? 'from' : 'to'} ${src.replace(/^sg:/, 'security group ')})`, 'remove the duplicate: AWS rejects a rule it already has');
              break;
            }
            seen.set(key, i);
          }
          if (dir !== 'ingress') return;
          const world = sources.filter((c) => WORLD.includes(c));
          if (!world.length) return;
          const cidrPath: SpecPath = Array.isArray(r.cidr) ? ['ingress', i, 'cidr', r.cidr.indexOf(world[0])] : ['ingress', i, 'cidr'];
          for (const [port, what, protos] of [
            [22, 'SSH', ['tcp']],
            [3389, 'RDP', ['tcp', 'udp']],
          ] as const) {
            if (covers(span, port, [...protos]))
              warn(cidrPath, `security-group "${name}" opens ${what} (port ${port}) to the whole internet (${world[0]})`, 'restrict cidr to the addresses you connect from, e.g. 203.0.113.0/24');
          }
        });
      }
    },
  },
);
