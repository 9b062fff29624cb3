// vpc-peering: a peering connection from vpc (requester) to peerVpc (accepter), both in this account
// and region. vpc and peerVpc force replacement. With autoAccept (the default) the connection is
// accepted on create, and a connection found waiting for acceptance shows as a `status` change that
// update accepts. Connections deleting, deleted, rejected, failed or expired are not observed.
import {
  AcceptVpcPeeringConnectionCommand,
  CreateVpcPeeringConnectionCommand,
  DeleteVpcPeeringConnectionCommand,
  DescribeVpcPeeringConnectionsCommand,
  type Filter,
  type VpcPeeringConnection,
} from '../aws/sdk/ec2.js';
import { syncEc2Tags } from '../aws/ec2-tags.js';
import { field } from '../engine/diffutil.js';
import type { Ctx, Observed, Reconciler } from '../engine/types.js';
import {
  afterCreate,
  allPages,
  describeSettings,
  errorCode,
  ignoreNotFound,
  observeTagged,
  refId,
  tagSpec,
  updatedObserved,
  waitFor,
} from './ec2-shared.js';

export type VpcPeeringLive = {
  vpc: string;
  peerVpc: string;
  /** pending-acceptance, provisioning, active, initiating-request. */
  status: string;
};

const GONE = new Set(['deleting', 'deleted', 'rejected', 'failed', 'expired']);

async function describePcx(ctx: Ctx, filters: Filter[]): Promise<VpcPeeringConnection[]> {
  const ec2 = await ctx.aws.ec2();
  return allPages(async (NextToken) => {
    const r = await ec2.send(new DescribeVpcPeeringConnectionsCommand({ Filters: filters, NextToken, MaxResults: describeSettings.pageSize }));
    return { items: r.VpcPeeringConnections, next: r.NextToken };
  });
}

const outputsOf = (p: VpcPeeringConnection) => ({
  id: p.VpcPeeringConnectionId!,
  vpcId: p.RequesterVpcInfo?.VpcId,
  peerVpcId: p.AccepterVpcInfo?.VpcId,
  cidr: p.RequesterVpcInfo?.CidrBlock,
  peerCidr: p.AccepterVpcInfo?.CidrBlock,
});

async function accept(ctx: Ctx, address: string, id: string): Promise<VpcPeeringConnection | undefined> {
  const ec2 = await ctx.aws.ec2();
  try {
    const r = await afterCreate(ctx, address, `accept ${id}`, () => ec2.send(new AcceptVpcPeeringConnectionCommand({ VpcPeeringConnectionId: id })));
    return r.VpcPeeringConnection;
  } catch (e) {
    // A retried accept whose first attempt went through (its answer was lost) finds it accepted.
    if (errorCode(e) !== 'InvalidStateTransition') throw e;
    const p = (await describePcx(ctx, [{ Name: 'vpc-peering-connection-id', Values: [id] }]))[0];
    if (p && ['active', 'provisioning'].includes(p.Status?.Code ?? '')) return p;
    throw e;
  }
}

const reconciler: Reconciler<'vpc-peering', VpcPeeringLive> = {
  kind: 'vpc-peering',

  async observe(ctx, desired) {
    const found = await observeTagged(ctx, desired, (f) => describePcx(ctx, f), (p) => p.VpcPeeringConnectionId!, 'vpc-peering-connection-id');
    return found
      .filter(({ item }) => !GONE.has(item.Status?.Code ?? ''))
      .map(({ item, id, name, management, tags }): Observed<VpcPeeringLive> => ({
        id,
        name,
        management,
        live: { vpc: item.RequesterVpcInfo!.VpcId!, peerVpc: item.AccepterVpcInfo!.VpcId!, status: item.Status?.Code ?? 'unknown' },
        tags,
        outputs: outputsOf(item),
      }));
  },

  diff(desired, observed) {
    const live = observed.live;
    const s = desired.spec;
    return [
      ...field('vpc', live.vpc, refId(desired, s.vpc), true),
      ...field('peerVpc', live.peerVpc, refId(desired, s.peerVpc), true),
      ...(s.autoAccept && live.status === 'pending-acceptance' ? field('status', live.status, 'active') : []),
    ];
  },

  async create(ctx, desired) {
    const s = desired.spec;
    // One attempt: an SDK retry after a lost answer would make a second one (the engine looks first).
    const ec2 = await ctx.aws.ec2({ retries: false });
    const r = await ec2.send(
      new CreateVpcPeeringConnectionCommand({
        VpcId: refId(desired, s.vpc),
        PeerVpcId: refId(desired, s.peerVpc),
        TagSpecifications: tagSpec('vpc-peering-connection', desired.tags),
      }),
    );
    let pcx = r.VpcPeeringConnection!;
    const id = pcx.VpcPeeringConnectionId!;
    if (s.autoAccept) {
      if (pcx.Status?.Code === 'initiating-request')
        pcx = await waitFor(ctx, desired.address, `peering ${id} to be ready for acceptance`, async () => {
          const p = (await describePcx(ctx, [{ Name: 'vpc-peering-connection-id', Values: [id] }]))[0];
          if (!p) return { done: false, status: 'not visible yet' };
          const code = p.Status?.Code ?? '';
          if (GONE.has(code)) return { failed: `it is ${code}: ${p.Status?.Message ?? ''}` };
          return code === 'initiating-request' ? { done: false, status: code } : { done: true, value: p };
        });
      if (pcx.Status?.Code === 'pending-acceptance') pcx = (await accept(ctx, desired.address, id)) ?? pcx;
    }
    const out = outputsOf(pcx);
    return {
      id,
      name: desired.name,
      management: 'owned',
      live: {
        vpc: out.vpcId ?? refId(desired, s.vpc)!,
        peerVpc: out.peerVpcId ?? refId(desired, s.peerVpc)!,
        status: pcx.Status?.Code ?? (s.autoAccept ? 'active' : 'pending-acceptance'),
      },
      tags: { ...desired.tags },
      outputs: { ...out, vpcId: out.vpcId ?? refId(desired, s.vpc), peerVpcId: out.peerVpcId ?? refId(desired, s.peerVpc) },
    };
  },

  async update(ctx, desired, observed, changes) {
    const live = { ...observed.live };
    if (changes.some((c) => c.path === 'status')) {
      const p = await accept(ctx, desired.address, observed.id);
      live.status = p?.Status?.Code ?? 'active';
    }
    await syncEc2Tags(ctx, observed.id, changes);
    return updatedObserved(ctx, observed, live, changes);
  },

  async delete(ctx, observed) {
    const ec2 = await ctx.aws.ec2();
    await ignoreNotFound(() => ec2.send(new DeleteVpcPeeringConnectionCommand({ VpcPeeringConnectionId: observed.id })));
  },

  permissions: {
    observe: ['ec2:DescribeVpcPeeringConnections'],
    create: ['ec2:CreateVpcPeeringConnection', 'ec2:CreateTags', 'ec2:AcceptVpcPeeringConnection', 'ec2:DescribeVpcPeeringConnections'],
    update: ['ec2:AcceptVpcPeeringConnection', 'ec2:CreateTags', 'ec2:DeleteTags'],
    delete: ['ec2:DeleteVpcPeeringConnection'],
  },
};

export default reconciler;
