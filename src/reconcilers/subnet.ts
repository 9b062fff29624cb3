// subnet: a subnet of a VPC. vpc, cidr and availabilityZone force replacement; mapPublicIpOnLaunch
// and tags change in place. An availabilityZone left out of the spec is whatever AWS picked.
import {
  CreateSubnetCommand,
  DeleteSubnetCommand,
  DescribeSubnetsCommand,
  ModifySubnetAttributeCommand,
  type Filter,
  type Subnet,
} from '../aws/sdk/ec2.js';
import { syncEc2Tags } from '../aws/ec2-tags.js';
import { field } from '../engine/diffutil.js';
import type { Ctx, Observed, Reconciler } from '../engine/types.js';
import {
  afterCreate,
  deleteIdempotent,
  allPages,
  describeSettings,
  observeTagged,
  refId,
  tagSpec,
  updatedObserved,
} from './ec2-shared.js';

export type SubnetLive = {
  vpc: string;
  cidr: string;
  availabilityZone: string;
  mapPublicIpOnLaunch: boolean;
};

async function describeSubnets(ctx: Ctx, filters: Filter[]): Promise<Subnet[]> {
  const ec2 = await ctx.aws.ec2();
  return allPages(async (NextToken) => {
    const r = await ec2.send(new DescribeSubnetsCommand({ Filters: filters, NextToken, MaxResults: describeSettings.pageSize }));
    return { items: r.Subnets, next: r.NextToken };
  });
}

const outputsOf = (id: string, l: SubnetLive) => ({ id, availabilityZone: l.availabilityZone, vpcId: l.vpc, cidr: l.cidr });

async function setMapPublicIp(ctx: Ctx, id: string, value: boolean): Promise<void> {
  const ec2 = await ctx.aws.ec2();
  await ec2.send(new ModifySubnetAttributeCommand({ SubnetId: id, MapPublicIpOnLaunch: { Value: value } }));
}

const reconciler: Reconciler<'subnet', SubnetLive> = {
  kind: 'subnet',

  async observe(ctx, desired) {
    const found = await observeTagged(ctx, desired, (f) => describeSubnets(ctx, f), (s) => s.SubnetId!, 'subnet-id');
    return found.map(({ item: s, id, name, management, tags }): Observed<SubnetLive> => {
      const live: SubnetLive = {
        vpc: s.VpcId!,
        cidr: s.CidrBlock!,
        availabilityZone: s.AvailabilityZone!,
        mapPublicIpOnLaunch: !!s.MapPublicIpOnLaunch,
      };
      return { id, name, management, live, tags, outputs: outputsOf(id, live) };
    });
  },

  diff(desired, observed) {
    const live = observed.live;
    const s = desired.spec;
    return [
      ...field('vpc', live.vpc, refId(desired, s.vpc), true),
      ...field('cidr', live.cidr, s.cidr, true),
      ...(s.availabilityZone ? field('availabilityZone', live.availabilityZone, s.availabilityZone, true) : []),
      ...field('mapPublicIpOnLaunch', live.mapPublicIpOnLaunch, s.mapPublicIpOnLaunch),
    ];
  },

  async create(ctx, desired) {
    const s = desired.spec;
    // One attempt: an SDK retry after a lost answer would make a second one (the engine looks first).
    const ec2 = await ctx.aws.ec2({ retries: false });
    const r = await ec2.send(
      new CreateSubnetCommand({
        VpcId: refId(desired, s.vpc),
        CidrBlock: s.cidr,
        AvailabilityZone: s.availabilityZone,
        TagSpecifications: tagSpec('subnet', desired.tags),
      }),
    );
    const sub = r.Subnet!;
    const id = sub.SubnetId!;
    if (s.mapPublicIpOnLaunch) await afterCreate(ctx, desired.address, `set mapPublicIpOnLaunch on ${id}`, () => setMapPublicIp(ctx, id, true));
    const live: SubnetLive = {
      vpc: sub.VpcId ?? refId(desired, s.vpc)!,
      cidr: sub.CidrBlock ?? s.cidr,
      availabilityZone: sub.AvailabilityZone ?? s.availabilityZone!,
      mapPublicIpOnLaunch: s.mapPublicIpOnLaunch,
    };
    return { id, name: desired.name, management: 'owned', live, tags: { ...desired.tags }, outputs: outputsOf(id, live) };
  },

  async update(ctx, desired, observed, changes) {
    const live = { ...observed.live };
    const m = changes.find((c) => c.path === 'mapPublicIpOnLaunch');
    if (m) {
      await setMapPublicIp(ctx, observed.id, Boolean(m.after));
      live.mapPublicIpOnLaunch = Boolean(m.after);
    }
    await syncEc2Tags(ctx, observed.id, changes);
    return updatedObserved(ctx, observed, live, changes);
  },

  async delete(ctx, observed) {
    const ec2 = await ctx.aws.ec2();
    // DependencyViolation while ENIs of a deleted NAT gateway or terminated instances go away.
    await deleteIdempotent(ctx, `subnet.${observed.name}`, `delete subnet ${observed.id}`, () =>
      ec2.send(new DeleteSubnetCommand({ SubnetId: observed.id })),
    );
  },

  permissions: {
    observe: ['ec2:DescribeSubnets'],
    create: ['ec2:CreateSubnet', 'ec2:CreateTags', 'ec2:ModifySubnetAttribute'],
    update: ['ec2:ModifySubnetAttribute', 'ec2:CreateTags', 'ec2:DeleteTags'],
    delete: ['ec2:DeleteSubnet'],
  },
};

export default reconciler;
