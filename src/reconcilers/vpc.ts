// vpc: a VPC, or (lookup: default) the account's default VPC of the region, read only.
//
// observe: one DescribeVpcs by stack tag, one by vpc-id for `adopt:` ids not found by tag, one
// with is-default=true when a desired vpc says `lookup: default`. DNS attributes are not returned by
// DescribeVpcs and have no filter, so they take two DescribeVpcAttribute calls per owned or adopted
// VPC (VPCs are few: AWS allows 5 per region by default).
import {
  CreateVpcCommand,
  DeleteVpcCommand,
  DescribeVpcAttributeCommand,
  DescribeVpcsCommand,
  ModifyVpcAttributeCommand,
  type Filter,
  type Vpc,
} from '../aws/sdk/ec2.js';
import { tagsFromList } from '../aws/tags.js';
import { syncEc2Tags } from '../aws/ec2-tags.js';
import { field } from '../engine/diffutil.js';
import type { Ctx, FieldChange, Observed, Reconciler } from '../engine/types.js';
import {
  afterCreate,
  deleteIdempotent,
  allPages,
  describeSettings,
  observeTagged,
  tagSpec,
  updatedObserved,
} from './ec2-shared.js';

export type VpcLive = {
  cidr: string;
  enableDnsSupport?: boolean;
  enableDnsHostnames?: boolean;
  isDefault: boolean;
};

type DnsAttr = 'enableDnsSupport' | 'enableDnsHostnames';

async function describeVpcs(ctx: Ctx, filters: Filter[]): Promise<Vpc[]> {
  const ec2 = await ctx.aws.ec2();
  return allPages(async (NextToken) => {
    const r = await ec2.send(new DescribeVpcsCommand({ Filters: filters, NextToken, MaxResults: describeSettings.pageSize }));
    return { items: r.Vpcs, next: r.NextToken };
  });
}

async function dnsAttributes(ctx: Ctx, vpcId: string): Promise<Pick<VpcLive, DnsAttr>> {
  const ec2 = await ctx.aws.ec2();
  const [support, hostnames] = await Promise.all([
    ec2.send(new DescribeVpcAttributeCommand({ VpcId: vpcId, Attribute: 'enableDnsSupport' })),
    ec2.send(new DescribeVpcAttributeCommand({ VpcId: vpcId, Attribute: 'enableDnsHostnames' })),
  ]);
  return { enableDnsSupport: support.EnableDnsSupport?.Value ?? true, enableDnsHostnames: hostnames.EnableDnsHostnames?.Value ?? false };
}

const outputsOf = (id: string, cidr: string) => ({ id, cidr });

function lookupObserved(v: Vpc, name: string): Observed<VpcLive> {
  return {
    id: v.VpcId!,
    name,
    management: 'lookup',
    live: { cidr: v.CidrBlock!, isDefault: true },
    tags: tagsFromList(v.Tags),
    outputs: outputsOf(v.VpcId!, v.CidrBlock!),
  };
}

async function findDefault(ctx: Ctx): Promise<Vpc | undefined> {
  return (await describeVpcs(ctx, [{ Name: 'is-default', Values: ['true'] }]))[0];
}

async function setDns(ctx: Ctx, vpcId: string, attr: DnsAttr, value: boolean): Promise<void> {
  const ec2 = await ctx.aws.ec2();
  // One attribute per call: the API refuses both in one request.
  const input = attr === 'enableDnsSupport' ? { VpcId: vpcId, EnableDnsSupport: { Value: value } } : { VpcId: vpcId, EnableDnsHostnames: { Value: value } };
  await ec2.send(new ModifyVpcAttributeCommand(input));
}

/** Order matters: hostnames need DNS support, so support goes on first and off last. */
function dnsSteps(changes: { attr: DnsAttr; value: boolean }[]): { attr: DnsAttr; value: boolean }[] {
  const rank = (c: { attr: DnsAttr; value: boolean }) =>
    c.attr === 'enableDnsSupport' ? (c.value ? 0 : 3) : c.value ? 1 : 2;
  return [...changes].sort((a, b) => rank(a) - rank(b));
}

const reconciler: Reconciler<'vpc', VpcLive> = {
  kind: 'vpc',

  lookupOf: (d) => (d.spec.lookup === 'default' ? 'the default VPC (lookup: default)' : undefined),

  async observe(ctx, desired) {
    const lookups = desired.filter((d) => d.spec.lookup === 'default');
    const [managed, defaults] = await Promise.all([
      observeTagged(ctx, desired, (f) => describeVpcs(ctx, f), (v) => v.VpcId!, 'vpc-id'),
      lookups.length ? describeVpcs(ctx, [{ Name: 'is-default', Values: ['true'] }]) : Promise.resolve([]),
    ]);
    const dns = await Promise.all(managed.map(({ id }) => dnsAttributes(ctx, id)));
    const out: Observed<VpcLive>[] = managed.map(({ item: v, id, name, management, tags }, i) => ({
      id,
      name,
      management,
      live: { cidr: v.CidrBlock!, isDefault: !!v.IsDefault, ...dns[i] },
      tags,
      outputs: outputsOf(id, v.CidrBlock!),
    }));
    // A lookup whose name is still held by an owned VPC is reported as that VPC: diff then plans
    // its replacement by the lookup.
    const def = defaults[0];
    if (def) for (const d of lookups) if (!out.some((o) => o.name === d.name)) out.push(lookupObserved(def, d.name));
    return out;
  },

  diff(desired, observed) {
    const live = observed.live;
    const s = desired.spec;
    if (s.lookup === 'default') return observed.management === 'lookup' ? [] : field('lookup', undefined, 'default', true);
    if (observed.management === 'lookup') return field('lookup', 'default', undefined, true);
    return [
      ...field('cidr', live.cidr, s.cidr, true),
      ...field('enableDnsSupport', live.enableDnsSupport, s.enableDnsSupport),
      ...field('enableDnsHostnames', live.enableDnsHostnames, s.enableDnsHostnames),
    ];
  },

  // A VPC of the stack's that the spec now says to look up is replaced by the lookup: no tags to set.
  tagsForDiff: (desired, observed) => (desired.spec.lookup === 'default' ? undefined : { desired: desired.tags, observed: observed.tags }),

  async create(ctx, desired) {
    const s = desired.spec;
    if (s.lookup === 'default') {
      const def = await findDefault(ctx);
      if (!def)
        throw new Error(
          `${desired.address}: there is no default VPC in ${ctx.region}. Create one (aws ec2 create-default-vpc) or give this vpc a cidr.`,
        );
      return lookupObserved(def, desired.name);
    }
    // One attempt: an SDK retry after a lost answer would make a second one (the engine looks first).
    const ec2 = await ctx.aws.ec2({ retries: false });
    const r = await ec2.send(new CreateVpcCommand({ CidrBlock: s.cidr, TagSpecifications: tagSpec('vpc', desired.tags) }));
    const id = r.Vpc!.VpcId!;
    // A new VPC has DNS support on and DNS hostnames off: change only what differs.
    const steps = dnsSteps([
      ...(s.enableDnsSupport ? [] : [{ attr: 'enableDnsSupport' as const, value: false }]),
      ...(s.enableDnsHostnames ? [{ attr: 'enableDnsHostnames' as const, value: true }] : []),
    ]);
    for (const st of steps) await afterCreate(ctx, desired.address, `set ${st.attr} on ${id}`, () => setDns(ctx, id, st.attr, st.value));
    return {
      id,
      name: desired.name,
      management: 'owned',
      live: { cidr: r.Vpc!.CidrBlock ?? s.cidr!, enableDnsSupport: s.enableDnsSupport, enableDnsHostnames: s.enableDnsHostnames, isDefault: false },
      tags: { ...desired.tags },
      outputs: outputsOf(id, r.Vpc!.CidrBlock ?? s.cidr!),
    };
  },

  async update(ctx, desired, observed, changes) {
    if (observed.management === 'lookup') throw new Error(`${desired.address}: a looked-up VPC is read only`);
    const dns = changes
      .filter((c): c is FieldChange & { path: DnsAttr } => c.path === 'enableDnsSupport' || c.path === 'enableDnsHostnames')
      .map((c) => ({ attr: c.path, value: Boolean(c.after) }));
    for (const st of dnsSteps(dns)) await setDns(ctx, observed.id, st.attr, st.value);
    await syncEc2Tags(ctx, observed.id, changes);
    const live = { ...observed.live };
    for (const st of dns) live[st.attr] = st.value;
    return updatedObserved(ctx, observed, live, changes);
  },

  async delete(ctx, observed) {
    if (observed.management === 'lookup') throw new Error(`vpc.${observed.name}: a looked-up VPC is never deleted`);
    const ec2 = await ctx.aws.ec2();
    await deleteIdempotent(ctx, `vpc.${observed.name}`, `delete VPC ${observed.id}`, () => ec2.send(new DeleteVpcCommand({ VpcId: observed.id })));
  },

  permissions: {
    observe: ['ec2:DescribeVpcs', 'ec2:DescribeVpcAttribute'],
    create: ['ec2:CreateVpc', 'ec2:CreateTags', 'ec2:ModifyVpcAttribute', 'ec2:DescribeVpcs'],
    update: ['ec2:ModifyVpcAttribute', 'ec2:CreateTags', 'ec2:DeleteTags'],
    delete: ['ec2:DeleteVpc'],
  },
};

export default reconciler;
