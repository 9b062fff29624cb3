// elastic-ip: an Elastic IP address in the VPC domain (AWS allows 5 per region by default). Only its
// tags can change. Delete releases it; while a NAT gateway being deleted still holds it, the release
// is retried (bounded).
import { AllocateAddressCommand, DescribeAddressesCommand, ReleaseAddressCommand, type Address, type Filter } from '../aws/sdk/ec2.js';
import { syncEc2Tags } from '../aws/ec2-tags.js';
import type { Ctx, Observed, Reconciler } from '../engine/types.js';
import { deleteIdempotent, errorCode, observeTagged, tagSpec, updatedObserved } from './ec2-shared.js';

export type ElasticIpLive = {
  publicIp: string;
  /** The network interface it is associated with (a NAT gateway's, an instance's), if any. */
  networkInterface?: string;
};

async function describeAddresses(ctx: Ctx, filters: Filter[]): Promise<Address[]> {
  const ec2 = await ctx.aws.ec2();
  // DescribeAddresses is not paginated: one call returns every match.
  const r = await ec2.send(new DescribeAddressesCommand({ Filters: filters }));
  return r.Addresses ?? [];
}

const outputsOf = (id: string, publicIp: string) => ({ id, publicIp });

const reconciler: Reconciler<'elastic-ip', ElasticIpLive> = {
  kind: 'elastic-ip',

  async observe(ctx, desired) {
    const found = await observeTagged(ctx, desired, (f) => describeAddresses(ctx, f), (a) => a.AllocationId!, 'allocation-id');
    return found.map(({ item, id, name, management, tags }): Observed<ElasticIpLive> => ({
      id,
      name,
      management,
      live: { publicIp: item.PublicIp!, ...(item.NetworkInterfaceId ? { networkInterface: item.NetworkInterfaceId } : {}) },
      tags,
      outputs: outputsOf(id, item.PublicIp!),
    }));
  },

  // An address has nothing to change in place but its tags, which the engine diffs.
  diff: () => [],

  async create(ctx, desired) {
    const s = desired.spec;
    // One attempt: an SDK retry after a lost answer would make a second one (the engine looks first).
    const ec2 = await ctx.aws.ec2({ retries: false });
    let r;
    try {
      r = await ec2.send(new AllocateAddressCommand({ Domain: 'vpc', TagSpecifications: tagSpec('elastic-ip', desired.tags) }));
    } catch (e) {
      if (errorCode(e) === 'AddressLimitExceeded')
        throw new Error(`${desired.address}: the region's Elastic IP quota is used up (AWS allows 5 per region by default; release unused ones or ask for more). ${(e as Error).message}`);
      throw e;
    }
    const id = r.AllocationId!;
    return { id, name: desired.name, management: 'owned', live: { publicIp: r.PublicIp! }, tags: { ...desired.tags }, outputs: outputsOf(id, r.PublicIp!) };
  },

  async update(ctx, desired, observed, changes) {
    await syncEc2Tags(ctx, observed.id, changes);
    return updatedObserved(ctx, observed, observed.live, changes);
  },

  async delete(ctx, observed) {
    const ec2 = await ctx.aws.ec2();
    await deleteIdempotent(ctx, `elastic-ip.${observed.name}`, `release ${observed.id}`, () =>
      ec2.send(new ReleaseAddressCommand({ AllocationId: observed.id })),
    );
  },

  permissions: {
    observe: ['ec2:DescribeAddresses'],
    create: ['ec2:AllocateAddress', 'ec2:CreateTags'],
    update: ['ec2:CreateTags', 'ec2:DeleteTags'],
    delete: ['ec2:ReleaseAddress'],
  },
};

export default reconciler;
