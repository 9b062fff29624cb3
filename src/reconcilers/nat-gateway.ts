// nat-gateway: a public NAT gateway in a subnet, with an elastic-ip. subnet and elasticIp force
// replacement; only tags change in place.
//
// Create is idempotent through a deterministic ClientToken (stack, name and a hash of subnet and
// allocation id): a create retried after a crash or a lost response returns the same gateway. If
// the token names an older gateway that is deleted or failed, a fresh token is used once. Create
// waits (bounded) until the gateway is available; delete waits (bounded) until it is deleted, so
// the subnet and the Elastic IP can go next. Gateways deleting, deleted or failed are not observed.
import {
  CreateNatGatewayCommand,
  DeleteNatGatewayCommand,
  DescribeNatGatewaysCommand,
  type Filter,
  type NatGateway,
} from '../aws/sdk/ec2.js';
import { syncEc2Tags } from '../aws/ec2-tags.js';
import { field } from '../engine/diffutil.js';
import type { Ctx, Observed, Reconciler } from '../engine/types.js';
import {
  allPages,
  describeSettings,
  isNotFound,
  observeTagged,
  refId,
  shortHash,
  tagSpec,
  updatedObserved,
  waitFor,
} from './ec2-shared.js';

export type NatGatewayLive = {
  subnet: string;
  /** Allocation id of its Elastic IP. */
  elasticIp?: string;
  state: string;
};

const GONE = new Set(['deleting', 'deleted', 'failed']);

async function describeNats(ctx: Ctx, filters: Filter[]): Promise<NatGateway[]> {
  const ec2 = await ctx.aws.ec2();
  return allPages(async (NextToken) => {
    const r = await ec2.send(new DescribeNatGatewaysCommand({ Filter: filters, NextToken, MaxResults: describeSettings.pageSize }));
    return { items: r.NatGateways, next: r.NextToken };
  });
}

async function describeNat(ctx: Ctx, id: string): Promise<NatGateway | undefined> {
  try {
    return (await describeNats(ctx, [{ Name: 'nat-gateway-id', Values: [id] }])).find((n) => n.NatGatewayId === id);
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw e;
  }
}

function liveOf(n: NatGateway): NatGatewayLive {
  const addr = n.NatGatewayAddresses?.find((a) => a.IsPrimary !== false) ?? n.NatGatewayAddresses?.[0];
  return { subnet: n.SubnetId!, ...(addr?.AllocationId ? { elasticIp: addr.AllocationId } : {}), state: n.State ?? 'pending' };
}

function outputsOf(n: NatGateway) {
  const addr = n.NatGatewayAddresses?.find((a) => a.IsPrimary !== false) ?? n.NatGatewayAddresses?.[0];
  return {
    id: n.NatGatewayId!,
    subnetId: n.SubnetId,
    vpcId: n.VpcId,
    elasticIpId: addr?.AllocationId,
    publicIp: addr?.PublicIp,
    privateIp: addr?.PrivateIp,
  };
}

/** Deterministic, at most 64 characters: stack and name (cut if long) and a hash of subnet + allocation. */
export function natClientToken(stack: string, name: string, subnet: string, allocation: string): string {
  const hash = shortHash(`${subnet}/${allocation}`);
  return `${`${stack}-${name}`.slice(0, 64 - hash.length - 1)}-${hash}`;
}

const reconciler: Reconciler<'nat-gateway', NatGatewayLive> = {
  kind: 'nat-gateway',

  async observe(ctx, desired) {
    const found = await observeTagged(ctx, desired, (f) => describeNats(ctx, f), (n) => n.NatGatewayId!, 'nat-gateway-id');
    return found
      .filter(({ item }) => !GONE.has(item.State ?? ''))
      .map(({ item, id, name, management, tags }): Observed<NatGatewayLive> => ({
        id,
        name,
        management,
        live: liveOf(item),
        tags,
        outputs: outputsOf(item),
      }));
  },

  diff(desired, observed) {
    const live = observed.live;
    const s = desired.spec;
    return [
      ...field('subnet', live.subnet, refId(desired, s.subnet), true),
      ...field('elasticIp', live.elasticIp, refId(desired, s.elasticIp), true),
    ];
  },

  async create(ctx, desired) {
    const s = desired.spec;
    const subnet = refId(desired, s.subnet)!;
    const allocation = refId(desired, s.elasticIp)!;
    // One attempt: AWS honours the ClientToken on a retry, moto and other stand-ins do not; the engine
    // looks for the gateway by its tags before it tries again.
    const ec2 = await ctx.aws.ec2({ retries: false });
    const token = natClientToken(ctx.stack, desired.name, subnet, allocation);
    const send = (ClientToken: string) =>
      ec2.send(
        new CreateNatGatewayCommand({
          SubnetId: subnet,
          AllocationId: allocation,
          ConnectivityType: 'public',
          ClientToken,
          TagSpecifications: tagSpec('natgateway', desired.tags),
        }),
      );
    let nat = (await send(token)).NatGateway!;
    if (GONE.has(nat.State ?? '')) {
      // The token belongs to an earlier gateway (same subnet and address) that is gone.
      ctx.emit({ type: 'info', address: desired.address, message: `${nat.NatGatewayId} made with the same client token is ${nat.State}; creating a new one` });
      nat = (await send(`${token.slice(0, 55)}-${Date.now().toString(36).slice(-8)}`)).NatGateway!;
    }
    const id = nat.NatGatewayId!;
    if (nat.State !== 'available') {
      nat = await waitFor(ctx, desired.address, `NAT gateway ${id} to be available`, async () => {
        const n = await describeNat(ctx, id);
        if (!n) return { done: false, status: 'not visible yet' };
        if (n.State === 'available') return { done: true, value: n };
        if (GONE.has(n.State ?? '')) return { failed: `it is ${n.State}: ${n.FailureCode ?? ''} ${n.FailureMessage ?? ''}`.trim() };
        return { done: false, status: n.State ?? 'pending' };
      });
    }
    return {
      id,
      name: desired.name,
      management: 'owned',
      live: { subnet, elasticIp: allocation, state: nat.State ?? 'available' },
      tags: { ...desired.tags },
      outputs: { ...outputsOf(nat), subnetId: subnet, elasticIpId: allocation },
    };
  },

  async update(ctx, desired, observed, changes) {
    await syncEc2Tags(ctx, observed.id, changes);
    return updatedObserved(ctx, observed, observed.live, changes);
  },

  async delete(ctx, observed) {
    const address = `nat-gateway.${observed.name}`;
    const ec2 = await ctx.aws.ec2();
    try {
      await ec2.send(new DeleteNatGatewayCommand({ NatGatewayId: observed.id }));
    } catch (e) {
      if (isNotFound(e)) return;
      throw e;
    }
    // Its network interface and Elastic IP are released only once it is deleted.
    await waitFor(ctx, address, `NAT gateway ${observed.id} to be deleted`, async () => {
      const n = await describeNat(ctx, observed.id);
      if (!n || n.State === 'deleted') return { done: true, value: undefined };
      return { done: false, status: n.State ?? 'deleting' };
    });
  },

  permissions: {
    observe: ['ec2:DescribeNatGateways'],
    create: ['ec2:CreateNatGateway', 'ec2:CreateTags', 'ec2:DescribeNatGateways'],
    update: ['ec2:CreateTags', 'ec2:DeleteTags'],
    delete: ['ec2:DeleteNatGateway', 'ec2:DescribeNatGateways'],
  },
};

export default reconciler;
