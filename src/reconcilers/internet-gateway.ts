// internet-gateway: created with its tags, then attached to its VPC. The attachment is updated in
// place (detach from the old VPC, attach to the new one); delete detaches, then deletes.
import {
  AttachInternetGatewayCommand,
  CreateInternetGatewayCommand,
  DeleteInternetGatewayCommand,
  DescribeInternetGatewaysCommand,
  DetachInternetGatewayCommand,
  type Filter,
  type InternetGateway,
} from '../aws/sdk/ec2.js';
import { syncEc2Tags } from '../aws/ec2-tags.js';
import { field } from '../engine/diffutil.js';
import type { Ctx, Observed, Reconciler } from '../engine/types.js';
import {
  afterCreate,
  deleteIdempotent,
  allPages,
  describeSettings,
  errorCode,
  isNotFound,
  observeTagged,
  refId,
  retryWhile,
  isDependency,
  tagSpec,
  updatedObserved,
} from './ec2-shared.js';

export type InternetGatewayLive = {
  /** The attached VPC; undefined when detached. */
  vpc?: string;
};

async function describeIgws(ctx: Ctx, filters: Filter[]): Promise<InternetGateway[]> {
  const ec2 = await ctx.aws.ec2();
  return allPages(async (NextToken) => {
    const r = await ec2.send(new DescribeInternetGatewaysCommand({ Filters: filters, NextToken, MaxResults: describeSettings.pageSize }));
    return { items: r.InternetGateways, next: r.NextToken };
  });
}

const outputsOf = (id: string, vpc: string | undefined) => ({ id, vpcId: vpc });

async function attach(ctx: Ctx, id: string, vpc: string): Promise<void> {
  const ec2 = await ctx.aws.ec2();
  try {
    await ec2.send(new AttachInternetGatewayCommand({ InternetGatewayId: id, VpcId: vpc }));
  } catch (e) {
    // A retried attach that already went through (its answer was lost): attached to this VPC is success.
    if (errorCode(e) !== 'Resource.AlreadyAssociated') throw e;
    if ((e as Error).message.includes(vpc)) return;
    const [igw] = await describeIgws(ctx, [{ Name: 'internet-gateway-id', Values: [id] }]);
    if ((igw?.Attachments ?? []).some((a) => a.VpcId === vpc && a.State !== 'detaching' && a.State !== 'detached')) return;
    throw e;
  }
}

/** Detach; absent gateway or attachment is success. Retries while public addresses are still mapped. */
async function detach(ctx: Ctx, address: string, id: string, vpc: string): Promise<void> {
  const ec2 = await ctx.aws.ec2();
  try {
    await retryWhile(ctx, address, `detach ${id} from ${vpc}`, () => ec2.send(new DetachInternetGatewayCommand({ InternetGatewayId: id, VpcId: vpc })), isDependency);
  } catch (e) {
    if (isNotFound(e) || errorCode(e) === 'Gateway.NotAttached') return;
    throw e;
  }
}

const reconciler: Reconciler<'internet-gateway', InternetGatewayLive> = {
  kind: 'internet-gateway',

  async observe(ctx, desired) {
    const found = await observeTagged(ctx, desired, (f) => describeIgws(ctx, f), (g) => g.InternetGatewayId!, 'internet-gateway-id');
    return found.map(({ item, id, name, management, tags }): Observed<InternetGatewayLive> => {
      const att = (item.Attachments ?? []).find((a) => a.State !== 'detaching' && a.State !== 'detached');
      return { id, name, management, live: { vpc: att?.VpcId }, tags, outputs: outputsOf(id, att?.VpcId) };
    });
  },

  diff(desired, observed) {
    const live = observed.live;
    return field('vpc', live.vpc, refId(desired, desired.spec.vpc));
  },

  async create(ctx, desired) {
    const s = desired.spec;
    // One attempt: an SDK retry after a lost answer would make a second one (the engine looks first).
    const ec2 = await ctx.aws.ec2({ retries: false });
    const r = await ec2.send(new CreateInternetGatewayCommand({ TagSpecifications: tagSpec('internet-gateway', desired.tags) }));
    const id = r.InternetGateway!.InternetGatewayId!;
    const vpc = refId(desired, s.vpc)!;
    await afterCreate(ctx, desired.address, `attach ${id} to ${vpc}`, () => attach(ctx, id, vpc));
    return { id, name: desired.name, management: 'owned', live: { vpc }, tags: { ...desired.tags }, outputs: outputsOf(id, vpc) };
  },

  async update(ctx, desired, observed, changes) {
    const live = { ...observed.live };
    const v = changes.find((c) => c.path === 'vpc');
    if (v) {
      if (typeof v.before === 'string') await detach(ctx, desired.address, observed.id, v.before);
      const to = v.after;
      if (typeof to === 'string') await afterCreate(ctx, desired.address, `attach ${observed.id} to ${to}`, () => attach(ctx, observed.id, to));
      live.vpc = v.after as string | undefined;
    }
    await syncEc2Tags(ctx, observed.id, changes);
    const out = updatedObserved(ctx, observed, live, changes);
    return { ...out, outputs: outputsOf(observed.id, live.vpc) };
  },

  async delete(ctx, observed) {
    const address = `internet-gateway.${observed.name}`;
    // Read the attachments now: the observed ones may be stale, and a gateway still attached
    // cannot be deleted.
    let current: InternetGateway[];
    try {
      current = await describeIgws(ctx, [{ Name: 'internet-gateway-id', Values: [observed.id] }]);
    } catch (e) {
      if (isNotFound(e)) return;
      throw e;
    }
    if (!current.length) return;
    for (const a of current[0].Attachments ?? []) if (a.VpcId && a.State !== 'detached') await detach(ctx, address, observed.id, a.VpcId);
    const ec2 = await ctx.aws.ec2();
    await deleteIdempotent(ctx, address, `delete internet gateway ${observed.id}`, () =>
      ec2.send(new DeleteInternetGatewayCommand({ InternetGatewayId: observed.id })),
    );
  },

  permissions: {
    observe: ['ec2:DescribeInternetGateways'],
    create: ['ec2:CreateInternetGateway', 'ec2:CreateTags', 'ec2:AttachInternetGateway'],
    update: ['ec2:AttachInternetGateway', 'ec2:DetachInternetGateway', 'ec2:CreateTags', 'ec2:DeleteTags'],
    delete: ['ec2:DescribeInternetGateways', 'ec2:DetachInternetGateway', 'ec2:DeleteInternetGateway'],
  },
};

export default reconciler;
