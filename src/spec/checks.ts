// Checks beyond the schema, still offline: references, cycles, cross-resource consistency, and
// warnings about things that are valid but risky (SSH open to the world, public buckets).
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { isExternalId, type RefUse, type SpecPath } from './common.js';
import { findCycle, type GraphNode } from './graph.js';
import { KIND_DEFS, kindDef, type AnyResourceSpec, type SpecOf } from './schema.js';
import { formatPath } from './issues.js';
import { didYouMean } from './suggest.js';
import type { SgRule } from './kinds/network.js';

export interface Finding {
  /** Path from the spec root. */
  path: SpecPath;
  at?: 'key' | 'value';
  severity: 'error' | 'warning';
  message: string;
  hint?: string;
}

export interface CheckInput {
  name: string;
  /** The kind as written, when it is a known kind. */
  kind?: string;
  /** The validated body (defaults applied), when the resource is valid on its own. */
  body?: AnyResourceSpec;
}

export interface CheckResult {
  findings: Finding[];
  /** name -> references to resources of the spec (external ids left out). */
  refs: Map<string, RefUse[]>;
  /** name -> names it depends on (refs + dependsOn), deduplicated, in order of appearance. */
  deps: Map<string, string[]>;
}

const article = (w: string) => (/^[aeiou]/.test(w) ? `an ${w}` : `a ${w}`);
const orList = (kinds: readonly string[]) => kinds.join(' or ');

/** References, dependsOn and cycles. */
export function checkReferences(resources: CheckInput[]): CheckResult {
  const findings: Finding[] = [];
  const refs = new Map<string, RefUse[]>();
  const deps = new Map<string, string[]>();
  const byName = new Map(resources.map((r) => [r.name, r]));
  // The path of the first reference a -> b, to point at when a cycle goes through it.
  const edgePath = new Map<string, SpecPath>();

  for (const r of resources) {
    if (!r.body || !r.kind) continue;
    const def = kindDef(r.kind);
    if (!def) continue;
    const uses: RefUse[] = [];
    const d: string[] = [];
    const addDep = (name: string, path: SpecPath) => {
      if (!d.includes(name)) d.push(name);
      if (!edgePath.has(`${r.name}\u0000${name}`)) edgePath.set(`${r.name}\u0000${name}`, path);
    };
    for (const use of def.refs(r.body)) {
      if (isExternalId(use.name)) continue;
      const path: SpecPath = ['resources', r.name, ...use.path];
      const target = byName.get(use.name);
      const field = formatPath(use.path);
      if (!target) {
        const sameKind = resources.filter((x) => x.kind && use.kinds.includes(x.kind)).map((x) => x.name);
        const near = didYouMean(use.name, sameKind);
        findings.push({
          path,
          severity: 'error',
          message: `${field} refers to ${orList(use.kinds)} "${use.name}", which is not in this spec`,
          hint:
            near ??
            (sameKind.length
              ? `${orList(use.kinds)} resources in this spec: ${sameKind.join(', ')}`
              : `add ${article(orList(use.kinds))} named "${use.name}" under resources, or write the id of an existing one`),
        });
        continue;
      }
      if (target.kind && !use.kinds.includes(target.kind)) {
        const sameKind = resources.filter((x) => x.kind && use.kinds.includes(x.kind)).map((x) => x.name);
        findings.push({
          path,
          severity: 'error',
          message: `${field}: "${use.name}" is ${article(target.kind)}, not ${article(orList(use.kinds))}`,
          hint: sameKind.length ? `${orList(use.kinds)} resources in this spec: ${sameKind.join(', ')}` : `add ${article(orList(use.kinds))} under resources and refer to it`,
        });
        continue;
      }
      uses.push(use);
      addDep(use.name, path);
    }
    (r.body.dependsOn ?? []).forEach((name, i) => {
      const path: SpecPath = ['resources', r.name, 'dependsOn', i];
      if (!byName.has(name)) {
        findings.push({
          path,
          severity: 'error',
          message: `dependsOn names "${name}", which is not in this spec`,
          hint: didYouMean(name, resources.map((x) => x.name)) ?? 'dependsOn lists names of resources of this spec',
        });
        return;
      }
      addDep(name, path);
    });
    refs.set(r.name, uses);
    deps.set(r.name, d);
  }

  // Every cycle, one error each: report one, cut the edge it was reported at, look again.
  const nodes: GraphNode[] = resources.map((r) => ({ name: r.name, deps: [...(deps.get(r.name) ?? [])] }));
  for (let i = 0; i < 100; i++) {
    const cycle = findCycle(nodes);
    if (!cycle) break;
    const [from, to] = cycle;
    findings.push({
      path: edgePath.get(`${from}\u0000${to}`) ?? ['resources', from],
      severity: 'error',
      message: `reference cycle: ${cycle.join(' -> ')}`,
      hint: cycle.length === 2 ? `"${from}" cannot depend on itself: remove this reference` : 'resources cannot depend on each other in a circle: remove one of these references',
    });
    const n = nodes.find((x) => x.name === from)!;
    n.deps = n.deps.filter((x) => x !== to);
  }
  return { findings, refs, deps };
}

// ---------------------------------------------------------------------------------------------
// Cross-resource and security checks

function parseCidr(c: string): { net: number; bits: number } | undefined {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)\/(\d+)$/.exec(c);
  if (!m) return undefined;
  const bits = Number(m[5]);
  const ip = ((Number(m[1]) << 24) >>> 0) + (Number(m[2]) << 16) + (Number(m[3]) << 8) + Number(m[4]);
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return { net: (ip & mask) >>> 0, bits };
}
function cidrContains(outer: string, inner: string): boolean | undefined {
  const o = parseCidr(outer);
  const i = parseCidr(inner);
  if (!o || !i) return undefined;
  if (i.bits < o.bits) return false;
  const mask = o.bits === 0 ? 0 : (0xffffffff << (32 - o.bits)) >>> 0;
  return ((i.net & mask) >>> 0) === o.net;
}
const cidrsOverlap = (a: string, b: string) => cidrContains(a, b) === true || cidrContains(b, a) === true;

const WORLD = ['0.0.0.0/0', '::/0'];

interface PortSpan {
  proto: string;
  from: number;
  to: number;
}
function portSpan(r: SgRule): PortSpan | { error: string } {
  if (r.protocol === 'all') return { proto: 'all', from: 0, to: 65535 };
  const p = r.port;
  if (p === undefined || p === -1) return { proto: r.protocol, from: -1, to: -1 };
  if (typeof p === 'number') return { proto: r.protocol, from: p, to: p };
  const [a, b] = p.split('-').map(Number);
  if (a > b) return { error: `port range "${p}" runs backwards: write "${b}-${a}"` };
  if (b > 65535) return { error: `port range "${p}" goes past 65535` };
  return { proto: r.protocol, from: a, to: b };
}
function covers(s: PortSpan, port: number, protos: string[]): boolean {
  if (s.proto === 'all') return true;
  if (!protos.includes(s.proto)) return false;
  return s.from === -1 || (s.from <= port && port <= s.to);
}

type Bodies = Map<string, { kind: string; body: AnyResourceSpec }>;

/**
 * The vpc (name, or external id) a resource of the spec lives in, when the spec says so and the
 * resource is of the kind expected (a wrong-kind reference is reported elsewhere).
 */
function vpcOf(bodies: Bodies, name: string | undefined, kind: string, depth = 0): string | undefined {
  if (!name || depth > 5) return undefined;
  if (isExternalId(name)) return kind === 'vpc' && name.startsWith('vpc-') ? name : undefined;
  const r = bodies.get(name);
  if (!r || r.kind !== kind) return undefined;
  const b = r.body as { vpc?: string; subnet?: string };
  switch (r.kind) {
    case 'vpc':
      return name;
    case 'subnet':
    case 'internet-gateway':
    case 'security-group':
    case 'route-table':
    case 'target-group':
      return b.vpc;
    case 'nat-gateway':
      return vpcOf(bodies, b.subnet, 'subnet', depth + 1);
    default:
      return undefined;
  }
}

function fileProblem(dir: string, file: string): string | undefined {
  const p = resolve(dir, file);
  if (!existsSync(p)) return `file "${file}" does not exist (looked for ${p})`;
  try {
    if (!statSync(p).isFile()) return `"${file}" is not a file`;
  } catch {
    return `file "${file}" cannot be read`;
  }
  return undefined;
}

/** The field of each kind's AWS name, when the spec may give one (the descriptors' nameField). */
const NAME_FIELDS: Record<string, string> = Object.fromEntries(KIND_DEFS.flatMap((d) => (d.nameField ? [[d.kind, d.nameField]] : [])));

/** Consistency between resources, local files, and security warnings. Only valid bodies are checked. */
export function checkSemantics(resources: CheckInput[], opts: { region?: string; dir: string }): Finding[] {
  const out: Finding[] = [];
  const bodies: Bodies = new Map();
  for (const r of resources) if (r.body && r.kind) bodies.set(r.name, { kind: r.kind, body: r.body });
  const at = (name: string, ...p: SpecPath): SpecPath => ['resources', name, ...p];
  const err = (path: SpecPath, message: string, hint?: string) => out.push({ path, severity: 'error', message, hint });
  const warn = (path: SpecPath, message: string, hint?: string) => out.push({ path, severity: 'warning', message, hint });
  const seenNames = new Map<string, string>();

  /** Error at `field` when `b` (of kind bKind) is not in the VPC of `a` (of kind aKind). */
  const sameVpc = (owner: string, field: SpecPath, a: string | undefined, aKind: string, aWhere: string, b: string | undefined, bKind: string) => {
    const va = vpcOf(bodies, a, aKind);
    const vb = vpcOf(bodies, b, bKind);
    if (va && vb && va !== vb) err(at(owner, ...field), `${bKind} "${b}" is in vpc "${vb}", not in vpc "${va}" ${aWhere}`, 'they must be in the same VPC');
  };

  for (const [name, { kind, body }] of bodies) {
    // AWS names given explicitly must not collide within the stack.
    const nf = NAME_FIELDS[kind];
    const awsName = nf ? (body as Record<string, unknown>)[nf] : undefined;
    if (typeof awsName === 'string' && !(kind === 'key-pair' && (body as SpecOf<'key-pair'>).existing)) {
      const scope = kind === 'security-group' ? `${kind}|${(body as SpecOf<'security-group'>).vpc}|${awsName}` : `${kind}|${awsName}`;
      const first = seenNames.get(scope);
      if (first) err(at(name, nf), `${nf} "${awsName}" is also used by ${kind} "${first}"`, `give each ${kind} its own ${nf}`);
      else seenNames.set(scope, name);
    }

    switch (kind) {
      case 'subnet': {
        const s = body as SpecOf<'subnet'>;
        const v = bodies.get(s.vpc);
        const vc = v?.kind === 'vpc' ? (v.body as SpecOf<'vpc'>).cidr : undefined;
        if (vc && cidrContains(vc, s.cidr) === false)
          err(at(name, 'cidr'), `subnet cidr ${s.cidr} is not inside the cidr ${vc} of vpc "${s.vpc}"`, `pick a block inside ${vc}`);
        if (s.availabilityZone && opts.region && !s.availabilityZone.startsWith(opts.region))
          err(at(name, 'availabilityZone'), `availability zone ${s.availabilityZone} is not in the stack's region ${opts.region}`, `use a zone such as ${opts.region}a`);
        for (const [other, o] of bodies) {
          if (other === name) break;
          if (o.kind !== 'subnet') continue;
          const os = o.body as SpecOf<'subnet'>;
          if (os.vpc === s.vpc && cidrsOverlap(os.cidr, s.cidr))
            err(at(name, 'cidr'), `subnet cidr ${s.cidr} overlaps ${os.cidr} of subnet "${other}" in the same vpc`, 'subnets of one VPC need disjoint blocks');
        }
        break;
      }
      case 'vpc-peering': {
        const p = body as SpecOf<'vpc-peering'>;
        if (p.vpc === p.peerVpc) err(at(name, 'peerVpc'), `a vpc cannot peer with itself ("${p.vpc}")`, 'peerVpc names the other VPC');
        break;
      }
      case 'nat-gateway': {
        const n = body as SpecOf<'nat-gateway'>;
        for (const [other, o] of bodies) {
          if (other === name) break;
          if (o.kind === 'nat-gateway' && (o.body as SpecOf<'nat-gateway'>).elasticIp === n.elasticIp)
            err(at(name, 'elasticIp'), `elastic-ip "${n.elasticIp}" is already used by nat-gateway "${other}"`, 'give each NAT gateway its own elastic-ip');
        }
        break;
      }
      case 'route-table': {
        const t = body as SpecOf<'route-table'>;
        if (t.main && t.subnets.length)
          err(
            at(name, 'subnets'),
            'a main route table (main: true) takes no subnets: every subnet without a table of its own uses it already',
            'remove subnets, or remove main: true to create a table of its own',
          );
        const dests = new Map<string, number>();
        t.routes.forEach((r, i) => {
          const prev = dests.get(r.destination);
          if (prev !== undefined)
            err(at(name, 'routes', i, 'destination'), `routes[${i}] has the same destination ${r.destination} as routes[${prev}]`, 'one route per destination');
          else dests.set(r.destination, i);
          if (r.vpcPeering) {
            const pc = bodies.get(r.vpcPeering);
            if (pc?.kind === 'vpc-peering') {
              const pb = pc.body as SpecOf<'vpc-peering'>;
              if (pb.vpc !== t.vpc && pb.peerVpc !== t.vpc)
                err(at(name, 'routes', i, 'vpcPeering'), `vpc-peering "${r.vpcPeering}" connects "${pb.vpc}" and "${pb.peerVpc}", not this table's vpc "${t.vpc}"`);
            }
          }
          if (r.internetGateway) sameVpc(name, ['routes', i, 'internetGateway'], t.vpc, 'vpc', 'of this route table', r.internetGateway, 'internet-gateway');
          if (r.natGateway) sameVpc(name, ['routes', i, 'natGateway'], t.vpc, 'vpc', 'of this route table', r.natGateway, 'nat-gateway');
        });
        t.subnets.forEach((s, i) => sameVpc(name, ['subnets', i], t.vpc, 'vpc', 'of this route table', s, 'subnet'));
        break;
      }
      case 'security-group': {
        const g = body as SpecOf<'security-group'>;
        for (const dir of ['ingress', 'egress'] as const) {
          const seen = new Map<string, number>();
          (g[dir] ?? []).forEach((r, i) => {
            const span = portSpan(r);
            if ('error' in span) {
              err(at(name, dir, i, 'port'), span.error);
              return;
            }
            const sources = r.securityGroup ? [`sg:${r.securityGroup}`] : Array.isArray(r.cidr) ? r.cidr : r.cidr ? [r.cidr] : [];
            for (const src of sources) {
              const key = `${span.proto}|${span.proto === 'all' ? '' : `${span.from}-${span.to}`}|${src}`;
              const prev = seen.get(key);
              if (prev !== undefined && prev !== i) {
                err(at(name, dir, i), `${dir}[${i}] repeats ${dir}[${prev}] (${span.proto} ${span.proto === 'all' ? 'all ports' : r.port} ${dir === 'ingress' ? 'from' : 'to'} ${src.replace(/^sg:/, 'security group ')})`, 'remove the duplicate: AWS rejects a rule it already has');
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
                warn(at(name, ...cidrPath), `security-group "${name}" opens ${what} (port ${port}) to the whole internet (${world[0]})`, 'restrict cidr to the addresses you connect from, e.g. 203.0.113.0/24');
            }
          });
        }
        break;
      }
      case 'instance':
      case 'launch-template': {
        const b = body as SpecOf<'instance'> | SpecOf<'launch-template'>;
        if (b.userData && typeof b.userData === 'object' && 'file' in b.userData) {
          const p = fileProblem(opts.dir, b.userData.file);
          if (p) err(at(name, 'userData', 'file'), `userData ${p}`, 'paths are relative to the spec file');
        }
        if (kind === 'instance') {
          const inst = body as SpecOf<'instance'>;
          inst.securityGroups.forEach((sg, i) => {
            if (inst.subnet) sameVpc(name, ['securityGroups', i], inst.subnet, 'subnet', `of subnet "${inst.subnet}"`, sg, 'security-group');
            else {
              const v = vpcOf(bodies, sg, 'security-group');
              const vb = v ? bodies.get(v) : undefined;
              if (vb?.kind === 'vpc' && (vb.body as SpecOf<'vpc'>).lookup !== 'default')
                err(
                  at(name, 'securityGroups', i),
                  `security-group "${sg}" is in vpc "${v}", but an instance without subnet launches in the default VPC`,
                  `set subnet: to a subnet of vpc "${v}"`,
                );
            }
          });
        }
        break;
      }
      case 'auto-scaling-group': {
        const g = body as SpecOf<'auto-scaling-group'>;
        const first = g.subnets[0];
        g.subnets.forEach((s, i) => i > 0 && sameVpc(name, ['subnets', i], first, 'subnet', `of subnet "${first}"`, s, 'subnet'));
        g.targetGroups.forEach((tg, i) => sameVpc(name, ['targetGroups', i], first, 'subnet', `of subnet "${first}"`, tg, 'target-group'));
        const lt = bodies.get(g.launchTemplate);
        if (lt?.kind === 'launch-template')
          for (const sg of (lt.body as SpecOf<'launch-template'>).securityGroups)
            sameVpc(name, ['launchTemplate'], first, 'subnet', `of subnet "${first}" (launch template "${g.launchTemplate}")`, sg, 'security-group');
        if (g.healthCheckType === 'ELB' && g.targetGroups.length === 0)
          err(at(name, 'healthCheckType'), 'healthCheckType ELB needs a load balancer: the group has no targetGroups', 'add targetGroups: [<target-group>] or use healthCheckType: EC2');
        break;
      }
      case 'load-balancer': {
        const lb = body as SpecOf<'load-balancer'>;
        const first = lb.subnets[0];
        lb.subnets.forEach((s, i) => i > 0 && sameVpc(name, ['subnets', i], first, 'subnet', `of subnet "${first}"`, s, 'subnet'));
        lb.securityGroups.forEach((sg, i) => sameVpc(name, ['securityGroups', i], first, 'subnet', `of subnet "${first}"`, sg, 'security-group'));
        const azs = lb.subnets.map((s) => {
          const b = bodies.get(s);
          return b?.kind === 'subnet' ? (b.body as SpecOf<'subnet'>).availabilityZone : undefined;
        });
        if (azs.every((a) => a !== undefined) && new Set(azs).size < 2)
          err(at(name, 'subnets'), `a load balancer needs subnets in at least two availability zones; these are all in ${azs[0]}`, 'add a subnet in another zone');
        break;
      }
      case 'listener': {
        const l = body as SpecOf<'listener'>;
        const lb = bodies.get(l.loadBalancer);
        if (l.forward && lb?.kind === 'load-balancer')
          sameVpc(name, ['forward'], (lb.body as SpecOf<'load-balancer'>).subnets[0], 'subnet', `of load balancer "${l.loadBalancer}"`, l.forward, 'target-group');
        break;
      }
      case 's3-bucket': {
        const b = body as SpecOf<'s3-bucket'>;
        const keys = new Map<string, number>();
        b.objects.forEach((o, i) => {
          const prev = keys.get(o.key);
          if (prev !== undefined) err(at(name, 'objects', i, 'key'), `objects[${i}] has the same key "${o.key}" as objects[${prev}]`, 'each object needs its own key');
          else keys.set(o.key, i);
          if (o.file !== undefined) {
            const p = fileProblem(opts.dir, o.file);
            if (p) err(at(name, 'objects', i, 'file'), p, 'paths are relative to the spec file');
          }
          if (o.public) {
            if (b.publicAccessBlock)
              err(at(name, 'objects', i, 'public'), `object "${o.key}" is public but bucket "${name}" blocks public access`, 'set publicAccessBlock: false on the bucket');
            else warn(at(name, 'objects', i, 'public'), `object "${o.key}" of bucket "${name}" is readable by anyone on the internet`, 'keep it only for content meant to be public');
          }
        });
        if (!b.publicAccessBlock)
          warn(at(name, 'publicAccessBlock'), `bucket "${name}" does not block public access`, 'keep publicAccessBlock: true unless objects must be public');
        const st = b.policy?.Statement;
        const statements = Array.isArray(st) ? st : st !== undefined ? [st] : [];
        statements.forEach((s, i) => {
          if (!s || typeof s !== 'object') return;
          const { Effect, Principal } = s as { Effect?: unknown; Principal?: unknown };
          const aws = Principal && typeof Principal === 'object' ? (Principal as { AWS?: unknown }).AWS : undefined;
          const star = (v: unknown) => v === '*' || (Array.isArray(v) && v.includes('*'));
          if (Effect === 'Allow' && (star(Principal) || star(aws)))
            warn(
              at(name, 'policy', 'Statement', ...(Array.isArray(st) ? [i] : []), 'Principal'),
              `the policy of bucket "${name}" grants access to everyone (Principal "*")`,
              'name the accounts or roles that need access',
            );
        });
        break;
      }
      case 'cloudwatch-alarm': {
        const a = body as SpecOf<'cloudwatch-alarm'>;
        const i = a.actions.findIndex((x) => 'ec2' in x);
        if (i >= 0 && !a.instance && !a.dimensions.InstanceId)
          err(at(name, 'actions', i, 'ec2'), 'an ec2 action needs the alarm to watch one instance', 'add instance: <name of an instance>');
        if (a.datapointsToAlarm !== undefined && a.datapointsToAlarm > a.evaluationPeriods)
          err(at(name, 'datapointsToAlarm'), `datapointsToAlarm (${a.datapointsToAlarm}) is above evaluationPeriods (${a.evaluationPeriods})`);
        break;
      }
      case 'alert-rule': {
        const a = body as SpecOf<'alert-rule'>;
        if (a.datapoints > a.evaluationPeriods)
          err(at(name, 'datapoints'), `datapoints (${a.datapoints}) is above evaluationPeriods (${a.evaluationPeriods})`, `set evaluationPeriods: ${a.datapoints} or more`);
        break;
      }
      default:
        break;
    }
  }
  return out;
}

