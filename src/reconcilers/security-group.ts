// security-group: a VPC security group. vpc, groupName and description force replacement (AWS cannot
// change them); rules and tags change in place.
//
// Rules are compared one by one. Each spec rule is expanded into canonical rules with exactly one
// source (a rule with cidr: [a, b] is two rules) keyed "<protocol> [<ports>] <source>", e.g.
// "tcp 22 0.0.0.0/0", "tcp 8000-8080 sg-0abc", "all 0.0.0.0/0", "icmp 8 10.0.0.0/8". The key is the
// identity; the description is compared too (no description and "" are the same). Changes are
// emitted as `ingress[<key>]` / `egress[<key>]` with `before` undefined (authorize), `after`
// undefined (revoke) or both (a new description, written with UpdateSecurityGroupRuleDescriptions*);
// update authorizes, re-describes and revokes exactly those rules and never recreates the group.
// A source group that is still to be created appears under its spec name until it has an id.
//
// Groups may name each other (app allows db, db allows app) or themselves: a rule's securityGroup is a
// late reference (src/spec/graph.ts). create authorizes the rules whose groups exist and leaves those
// naming a group not created yet (UNKNOWN) to the engine's second step, an update once that group
// exists. delete first revokes the rules of the stack's other groups that name the group (AWS refuses
// DeleteSecurityGroup while one does), so groups that allow each other are deleted side by side, and a
// group pruned from the spec goes although a kept group named it until now.
//
// egress omitted in the spec means the AWS default, allow all outbound: desired egress is then the one
// rule "all 0.0.0.0/0", and an "all ::/0" rule (which AWS adds in IPv6 VPCs) is left alone.
// The group name defaults to <stack>-<name>.
import {
  AuthorizeSecurityGroupEgressCommand,
  AuthorizeSecurityGroupIngressCommand,
  CreateSecurityGroupCommand,
  DeleteSecurityGroupCommand,
  DescribeSecurityGroupsCommand,
  RevokeSecurityGroupEgressCommand,
  RevokeSecurityGroupIngressCommand,
  UpdateSecurityGroupRuleDescriptionsEgressCommand,
  UpdateSecurityGroupRuleDescriptionsIngressCommand,
  type Filter,
  type IpPermission,
  type SecurityGroup,
} from '../aws/sdk/ec2.js';
import { TAG_ID, TAG_STACK, tagsFromList } from '../aws/tags.js';
import { syncEc2Tags } from '../aws/ec2-tags.js';
import { holdersByName } from '../engine/ownership.js';
import { refersToUnknown } from '../engine/decide.js';
import { field } from '../engine/diffutil.js';
import { UNKNOWN, type Ctx, type Desired, type FieldChange, type Observed, type Reconciler } from '../engine/types.js';
import type { SgRule } from '../spec/kinds/network.js';
import {
  afterCreate,
  assertApplicable,
  changesUnder,
  deleteIdempotent,
  allPages,
  describeSettings,
  errorCode,
  knownRefId,
  observeTagged,
  refId,
  tagSpec,
  updatedObserved,
} from './ec2-shared.js';

/** One canonical rule: one protocol, one port range, one source. In the spec's words. */
export type RuleValue = {
  protocol: string;
  /** 22, "8000-8080"; for icmp the type (8) or "type-code"; absent for all ports / protocol all. */
  port?: number | string;
  cidr?: string;
  ipv6Cidr?: string;
  prefixList?: string;
  securityGroup?: string;
  description?: string;
};

export type Direction = 'ingress' | 'egress';

export type SecurityGroupLive = {
  vpc: string;
  groupName: string;
  description: string;
  ingress: RuleValue[];
  egress: RuleValue[];
};

export const ALLOW_ALL_EGRESS: RuleValue = { protocol: 'all', cidr: '0.0.0.0/0' };

const PROTOCOL_NAMES: Record<string, string> = { '-1': 'all', all: 'all', '6': 'tcp', '17': 'udp', '1': 'icmp', tcp: 'tcp', udp: 'udp', icmp: 'icmp' };
const normProtocol = (p: string | undefined): string => PROTOCOL_NAMES[(p ?? '-1').toLowerCase()] ?? (p ?? '-1').toLowerCase();

/** The port range of a spec port for a protocol (AWS FromPort/ToPort). */
export function portRange(protocol: string, port: number | string | undefined): { from?: number; to?: number } {
  if (protocol === 'all') return {};
  let from: number | undefined;
  let to: number | undefined;
  if (typeof port === 'number') [from, to] = [port, protocol === 'icmp' ? -1 : port];
  else if (typeof port === 'string') {
    const m = /^(-?\d+)-(-?\d+)$/.exec(port);
    if (m) [from, to] = [Number(m[1]), Number(m[2])];
    else [from, to] = [Number(port), protocol === 'icmp' ? -1 : Number(port)];
  }
  if (protocol === 'icmp' && from === undefined) [from, to] = [-1, -1];
  return from === undefined ? {} : { from, to };
}

/** The spec's way to write a port range: 22, "8000-8080"; undefined for "all". */
export function portValue(protocol: string, from: number | undefined, to: number | undefined): number | string | undefined {
  if (protocol === 'all' || from === undefined) return undefined;
  if (protocol === 'icmp') {
    if (from === -1) return undefined;
    return to === undefined || to === -1 ? from : `${from}-${to}`;
  }
  if (to === undefined || to === from) return from;
  return `${from}-${to}`;
}

const sourceOf = (r: RuleValue): string => r.cidr ?? r.ipv6Cidr ?? r.prefixList ?? r.securityGroup ?? '?';

/** The identity of a rule: "tcp 22 0.0.0.0/0". */
export function ruleKey(r: RuleValue): string {
  const port = r.port === undefined ? '' : ` ${r.port}`;
  return `${r.protocol}${port} ${sourceOf(r)}`;
}

/**
 * Expands spec rules into canonical rules keyed by ruleKey. `groupId` resolves a source group's
 * spec name; a source still to be created keeps its name in the key and UNKNOWN as its value.
 */
export function canonicalRules(rules: SgRule[], groupId: (name: string) => string): Map<string, RuleValue> {
  const out = new Map<string, RuleValue>();
  for (const r of rules) {
    const protocol = normProtocol(r.protocol);
    const { from, to } = portRange(protocol, r.port);
    const port = portValue(protocol, from, to);
    const base: RuleValue = { protocol, ...(port !== undefined ? { port } : {}), ...(r.description ? { description: r.description } : {}) };
    const cidrs = r.cidr === undefined ? [] : Array.isArray(r.cidr) ? r.cidr : [r.cidr];
    for (const cidr of cidrs) {
      const v = { ...base, cidr };
      if (!out.has(ruleKey(v))) out.set(ruleKey(v), v);
    }
    if (r.securityGroup) {
      const id = groupId(r.securityGroup);
      const v = { ...base, securityGroup: id };
      const key = id === UNKNOWN ? `${protocol}${port === undefined ? '' : ` ${port}`} ${r.securityGroup}` : ruleKey(v);
      if (!out.has(key)) out.set(key, v);
    }
  }
  return out;
}

/** Canonical rules of AWS IpPermissions (one per source). */
export function rulesFromPermissions(perms: IpPermission[] | undefined): RuleValue[] {
  const out: RuleValue[] = [];
  for (const p of perms ?? []) {
    const protocol = normProtocol(p.IpProtocol);
    const port = portValue(protocol, p.FromPort, p.ToPort);
    const base: RuleValue = { protocol, ...(port !== undefined ? { port } : {}) };
    const d = (description: string | undefined) => (description ? { description } : {});
    for (const x of p.IpRanges ?? []) out.push({ ...base, cidr: x.CidrIp!, ...d(x.Description) });
    for (const x of p.Ipv6Ranges ?? []) out.push({ ...base, ipv6Cidr: x.CidrIpv6!, ...d(x.Description) });
    for (const x of p.PrefixListIds ?? []) out.push({ ...base, prefixList: x.PrefixListId!, ...d(x.Description) });
    for (const x of p.UserIdGroupPairs ?? []) out.push({ ...base, securityGroup: x.GroupId!, ...d(x.Description) });
  }
  return out;
}

/** The IpPermission that authorizes or revokes exactly one canonical rule. */
export function toPermission(r: RuleValue): IpPermission {
  const protocol = r.protocol === 'all' ? '-1' : r.protocol;
  const { from, to } = portRange(r.protocol, r.port);
  const Description = r.description;
  return {
    IpProtocol: protocol,
    ...(from !== undefined ? { FromPort: from, ToPort: to } : {}),
    ...(r.cidr ? { IpRanges: [{ CidrIp: r.cidr, Description }] } : {}),
    ...(r.ipv6Cidr ? { Ipv6Ranges: [{ CidrIpv6: r.ipv6Cidr, Description }] } : {}),
    ...(r.prefixList ? { PrefixListIds: [{ PrefixListId: r.prefixList, Description }] } : {}),
    ...(r.securityGroup ? { UserIdGroupPairs: [{ GroupId: r.securityGroup, Description }] } : {}),
  };
}

export const groupNameOf = (d: Desired<'security-group'>): string => d.spec.groupName ?? `${d.stack}-${d.name}`;

/** Desired canonical rules of one direction; `selfId` resolves a rule naming the group itself. */
export function desiredRules(d: Desired<'security-group'>, dir: Direction, selfId: string): Map<string, RuleValue> {
  const rules = dir === 'ingress' ? d.spec.ingress : d.spec.egress;
  if (dir === 'egress' && rules === undefined) return new Map([[ruleKey(ALLOW_ALL_EGRESS), ALLOW_ALL_EGRESS]]);
  return canonicalRules(rules ?? [], (n) => (n === d.name ? selfId : d.ref(n).id));
}

/** Rule changes of one direction, sorted by key. */
export function diffRules(dir: Direction, desired: Map<string, RuleValue>, live: RuleValue[], egressOmitted = false): FieldChange[] {
  const liveMap = new Map<string, RuleValue>();
  for (const r of live) {
    if (egressOmitted && r.protocol === 'all' && r.ipv6Cidr === '::/0') continue; // the AWS default in IPv6 VPCs
    liveMap.set(ruleKey(r), r);
  }
  const out: FieldChange[] = [];
  for (const k of [...new Set([...desired.keys(), ...liveMap.keys()])].sort()) {
    const want = desired.get(k);
    const have = liveMap.get(k);
    if (want && !have) out.push({ path: `${dir}[${k}]`, before: undefined, after: want, forcesReplace: false });
    else if (have && !want) out.push({ path: `${dir}[${k}]`, before: have, after: undefined, forcesReplace: false });
    else if (have && want && (have.description ?? '') !== (want.description ?? ''))
      out.push({ path: `${dir}[${k}]`, before: have, after: want, forcesReplace: false });
  }
  return out;
}

async function describeGroups(ctx: Ctx, filters: Filter[]): Promise<SecurityGroup[]> {
  const ec2 = await ctx.aws.ec2();
  return allPages(async (NextToken) => {
    const r = await ec2.send(new DescribeSecurityGroupsCommand({ Filters: filters, NextToken, MaxResults: describeSettings.pageSize }));
    return { items: r.SecurityGroups, next: r.NextToken };
  });
}

const outputsOf = (id: string, l: SecurityGroupLive) => ({ id, groupName: l.groupName, vpcId: l.vpc });

/**
 * Authorizes or revokes rules of one direction: one call for all of them; when AWS refuses the batch
 * because one rule already is (or no longer is) there, rule by rule, skipping those.
 */
async function applyRules(ctx: Ctx, groupId: string, dir: Direction, action: 'authorize' | 'revoke', rules: RuleValue[]): Promise<void> {
  if (!rules.length) return;
  const ec2 = await ctx.aws.ec2();
  const send = (IpPermissions: IpPermission[]) => {
    const input = { GroupId: groupId, IpPermissions };
    if (action === 'authorize')
      return dir === 'ingress' ? ec2.send(new AuthorizeSecurityGroupIngressCommand(input)) : ec2.send(new AuthorizeSecurityGroupEgressCommand(input));
    return dir === 'ingress' ? ec2.send(new RevokeSecurityGroupIngressCommand(input)) : ec2.send(new RevokeSecurityGroupEgressCommand(input));
  };
  // A rule naming a group that is gone is gone too (InvalidGroup.NotFound): revoked with that group's delete.
  const harmless = action === 'authorize' ? ['InvalidPermission.Duplicate'] : ['InvalidPermission.NotFound', 'InvalidGroup.NotFound'];
  const isHarmless = (e: unknown) => harmless.includes(errorCode(e) ?? '');
  try {
    await send(rules.map(toPermission));
  } catch (e) {
    if (!isHarmless(e)) throw e;
    if (rules.length === 1) return;
    for (const r of rules) {
      try {
        await send([toPermission(r)]);
      } catch (e2) {
        if (!isHarmless(e2)) throw e2;
      }
    }
  }
}

/** New descriptions of rules that exist: one call per direction. */
async function describeRules(ctx: Ctx, groupId: string, dir: Direction, rules: RuleValue[]): Promise<void> {
  if (!rules.length) return;
  const ec2 = await ctx.aws.ec2();
  // AWS clears the description of a rule given without one: "" says so explicitly.
  const input = { GroupId: groupId, IpPermissions: rules.map((r) => toPermission({ ...r, description: r.description ?? '' })) };
  await (dir === 'ingress' ? ec2.send(new UpdateSecurityGroupRuleDescriptionsIngressCommand(input)) : ec2.send(new UpdateSecurityGroupRuleDescriptionsEgressCommand(input)));
}

/**
 * Authorizes the adds first (never a window with less access than both specs allow), then writes
 * new descriptions, then revokes.
 */
async function applyRuleChanges(ctx: Ctx, groupId: string, changes: FieldChange[]): Promise<void> {
  for (const dir of ['ingress', 'egress'] as const) {
    const cs = changesUnder(changes, dir);
    await applyRules(ctx, groupId, dir, 'authorize', cs.filter((c) => c.before === undefined).map((c) => c.after as RuleValue));
    await describeRules(ctx, groupId, dir, cs.filter((c) => c.before !== undefined && c.after !== undefined).map((c) => c.after as RuleValue));
  }
  for (const dir of ['ingress', 'egress'] as const) {
    const cs = changesUnder(changes, dir);
    await applyRules(ctx, groupId, dir, 'revoke', cs.filter((c) => c.after === undefined).map((c) => c.before as RuleValue));
  }
}

function rulesAfter(live: RuleValue[], dir: Direction, changes: FieldChange[]): RuleValue[] {
  const cs = changesUnder(changes, dir);
  const replaced = new Set(cs.filter((c) => c.before !== undefined).map((c) => ruleKey(c.before as RuleValue)));
  return [...live.filter((r) => !replaced.has(ruleKey(r))), ...cs.filter((c) => c.after !== undefined).map((c) => c.after as RuleValue)];
}

/**
 * Revokes the rules of the stack's other groups that name `groupId` (one describe of the stack's groups).
 * Groups that are not the stack's are never changed: a rule of theirs keeps the delete failing, in AWS's words.
 */
async function revokeRulesNaming(ctx: Ctx, groupId: string): Promise<void> {
  const groups = await describeGroups(ctx, [{ Name: `tag:${TAG_STACK}`, Values: [ctx.stack] }]);
  for (const g of groups) {
    if (g.GroupId === groupId) continue;
    for (const dir of ['ingress', 'egress'] as const) {
      const naming = rulesFromPermissions(dir === 'ingress' ? g.IpPermissions : g.IpPermissionsEgress).filter((r) => r.securityGroup === groupId);
      if (!naming.length) continue;
      await applyRules(ctx, g.GroupId!, dir, 'revoke', naming);
      const who = tagsFromList(g.Tags)[TAG_ID] ?? g.GroupId;
      ctx.emit({ type: 'info', address: `security-group.${who}`, message: `revoked ${naming.length} ${dir} rule(s) naming ${groupId}, which is being deleted` });
    }
  }
}

const reconciler: Reconciler<'security-group', SecurityGroupLive> = {
  kind: 'security-group',

  async observe(ctx, desired) {
    const found = await observeTagged(ctx, desired, (f) => describeGroups(ctx, f), (g) => g.GroupId!, 'group-id');
    return found.map(({ item: g, id, name, management, tags }): Observed<SecurityGroupLive> => {
      const live: SecurityGroupLive = {
        vpc: g.VpcId!,
        groupName: g.GroupName!,
        description: g.Description ?? '',
        ingress: rulesFromPermissions(g.IpPermissions),
        egress: rulesFromPermissions(g.IpPermissionsEgress),
      };
      return { id, name, management, live, tags, outputs: outputsOf(id, live) };
    });
  },

  // Group names are unique per VPC: one DescribeSecurityGroups by name for the groups whose VPC exists
  // (a VPC still to be created holds no group yet).
  async nameHolders(ctx, desired) {
    const inVpc = desired.flatMap((d) => {
      const vpc = knownRefId(d, d.spec.vpc);
      return vpc ? [{ d, vpc }] : [];
    });
    if (!inVpc.length) return [];
    const found = await describeGroups(ctx, [
      { Name: 'group-name', Values: [...new Set(inVpc.map(({ d }) => groupNameOf(d)))] },
      { Name: 'vpc-id', Values: [...new Set(inVpc.map(({ vpc }) => vpc))] },
    ]);
    return inVpc.flatMap(({ d, vpc }) =>
      holdersByName(
        [d],
        groupNameOf,
        'groupName',
        found.filter((g) => g.VpcId === vpc).map((g) => ({ awsName: g.GroupName!, adoptId: g.GroupId!, tags: tagsFromList(g.Tags) })),
      ),
    );
  },

  diff(desired, observed) {
    const live = observed.live;
    const s = desired.spec;
    return [
      ...field('vpc', live.vpc, refId(desired, s.vpc), true),
      ...field('groupName', live.groupName, groupNameOf(desired), true),
      ...field('description', live.description, s.description, true),
      ...diffRules('ingress', desiredRules(desired, 'ingress', observed.id), live.ingress),
      ...diffRules('egress', desiredRules(desired, 'egress', observed.id), live.egress, s.egress === undefined),
    ];
  },

  async create(ctx, desired) {
    const s = desired.spec;
    // One attempt: an SDK retry after a lost answer would make a second one (the engine looks first).
    const ec2 = await ctx.aws.ec2({ retries: false });
    const vpc = refId(desired, s.vpc)!;
    const groupName = groupNameOf(desired);
    const r = await ec2.send(
      new CreateSecurityGroupCommand({
        GroupName: groupName,
        Description: s.description,
        VpcId: vpc,
        TagSpecifications: tagSpec('security-group', desired.tags),
      }),
    );
    const id = r.GroupId!;
    // A new group has no ingress and the allow-all egress rule. Rules naming a group not created yet
    // wait for the engine's second step.
    // (Read once: a group named by a rule may get its id meanwhile, and live must say what was authorized.)
    const [ingress, egress] = [desiredRules(desired, 'ingress', id), desiredRules(desired, 'egress', id)];
    const changes = [...diffRules('ingress', ingress, []), ...diffRules('egress', egress, [ALLOW_ALL_EGRESS], s.egress === undefined)].filter((c) => !refersToUnknown(c));
    assertApplicable(desired.address, changes);
    if (changes.length) await afterCreate(ctx, desired.address, `authorize rules of ${id}`, () => applyRuleChanges(ctx, id, changes));
    const authorized = (rules: Map<string, RuleValue>) => [...rules.values()].filter((r) => r.securityGroup !== UNKNOWN);
    const live: SecurityGroupLive = { vpc, groupName, description: s.description, ingress: authorized(ingress), egress: authorized(egress) };
    return { id, name: desired.name, management: 'owned', live, tags: { ...desired.tags }, outputs: outputsOf(id, live) };
  },

  async update(ctx, desired, observed, changes) {
    const live = observed.live;
    // A source group made moments ago may not be visible yet; authorize/revoke are idempotent here.
    await afterCreate(ctx, desired.address, `rules of ${observed.id}`, () => applyRuleChanges(ctx, observed.id, changes));
    await syncEc2Tags(ctx, observed.id, changes);
    return updatedObserved(ctx, observed, { ...live, ingress: rulesAfter(live.ingress, 'ingress', changes), egress: rulesAfter(live.egress, 'egress', changes) }, changes);
  },

  async delete(ctx, observed) {
    await revokeRulesNaming(ctx, observed.id);
    const ec2 = await ctx.aws.ec2();
    // DependencyViolation while network interfaces (instances terminating, load balancers) still
    // use the group, or another group's rule refers to it.
    await deleteIdempotent(ctx, `security-group.${observed.name}`, `delete security group ${observed.id}`, () =>
      ec2.send(new DeleteSecurityGroupCommand({ GroupId: observed.id })),
    );
  },

  permissions: {
    observe: ['ec2:DescribeSecurityGroups'],
    create: ['ec2:CreateSecurityGroup', 'ec2:CreateTags', 'ec2:AuthorizeSecurityGroupIngress', 'ec2:AuthorizeSecurityGroupEgress', 'ec2:RevokeSecurityGroupEgress'],
    update: [
      'ec2:AuthorizeSecurityGroupIngress',
      'ec2:AuthorizeSecurityGroupEgress',
      'ec2:RevokeSecurityGroupIngress',
      'ec2:RevokeSecurityGroupEgress',
      'ec2:UpdateSecurityGroupRuleDescriptionsIngress',
      'ec2:UpdateSecurityGroupRuleDescriptionsEgress',
      'ec2:CreateTags',
      'ec2:DeleteTags',
    ],
    delete: ['ec2:DescribeSecurityGroups', 'ec2:RevokeSecurityGroupIngress', 'ec2:RevokeSecurityGroupEgress', 'ec2:DeleteSecurityGroup'],
  },
};

export default reconciler;
