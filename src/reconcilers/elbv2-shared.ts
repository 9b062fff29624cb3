// Elastic Load Balancing v2 helpers shared by load-balancer, target-group and listener: tags in
// bulk (DescribeTags takes at most 20 ARNs), tag sync, and the stack's load balancers.
import {
  AddTagsCommand,
  DescribeLoadBalancersCommand,
  DescribeTagsCommand,
  DescribeTargetGroupsCommand,
  RemoveTagsCommand,
  type LoadBalancer,
  type TargetGroup,
} from '../aws/sdk/elbv2.js';
import type { Aws } from '../aws/clients.js';
import { TAG_STACK, tagUpdates, tagsFromList, tagsToList } from '../aws/tags.js';
import type { Ctx, FieldChange } from '../engine/types.js';
import { allPages, chunk, isNotFound, mapLimit, onePerPlan, sharedInFlight } from './services-shared.js';

/** Page size of DescribeLoadBalancers / DescribeTargetGroups / DescribeListeners (AWS maximum: 400). */
export const elbPageSize = { value: 400 };

/**
 * Tags of many elbv2 resources: ceil(n / 20) DescribeTags calls, run concurrently. A resource
 * deleted between the describe and this call makes AWS fail the whole batch; that batch is then
 * read one ARN at a time and the missing one is left out.
 */
export async function elbTags(aws: Aws, arns: string[]): Promise<Map<string, Record<string, string>>> {
  const elb = await aws.elbv2();
  const out = new Map<string, Record<string, string>>();
  const read = async (batch: string[]) => {
    const r = await elb.send(new DescribeTagsCommand({ ResourceArns: batch }));
    for (const t of r.TagDescriptions ?? []) if (t.ResourceArn) out.set(t.ResourceArn, tagsFromList(t.Tags));
  };
  await mapLimit(chunk(arns, 20), async (batch) => {
    try {
      await read(batch);
    } catch (e) {
      if (!isNotFound(e) || batch.length === 1) {
        if (isNotFound(e)) return;
        throw e;
      }
      await mapLimit(batch, async (arn) => {
        try {
          await read([arn]);
        } catch (err) {
          if (!isNotFound(err)) throw err;
        }
      });
    }
  });
  return out;
}

/** Adds and removes tags as the tag changes say (AddTags / RemoveTags). */
export async function syncElbTags(ctx: Ctx, arn: string, changes: FieldChange[]): Promise<void> {
  const { set, remove } = tagUpdates(changes);
  const elb = await ctx.aws.elbv2();
  if (Object.keys(set).length) await elb.send(new AddTagsCommand({ ResourceArns: [arn], Tags: tagsToList(set) }));
  if (remove.length) await elb.send(new RemoveTagsCommand({ ResourceArns: [arn], TagKeys: remove }));
}

export interface TaggedLoadBalancer {
  lb: LoadBalancer;
  tags: Record<string, string>;
}

export interface TaggedTargetGroup {
  tg: TargetGroup;
  tags: Record<string, string>;
}

async function describeLoadBalancers(aws: Aws): Promise<LoadBalancer[]> {
  const elb = await aws.elbv2();
  return allPages(async (Marker) => {
    const r = await elb.send(new DescribeLoadBalancersCommand({ Marker, PageSize: elbPageSize.value }));
    return { items: r.LoadBalancers, next: r.NextMarker };
  });
}

async function describeTargetGroups(aws: Aws): Promise<TargetGroup[]> {
  const elb = await aws.elbv2();
  return allPages(async (Marker) => {
    const r = await elb.send(new DescribeTargetGroupsCommand({ Marker, PageSize: elbPageSize.value }));
    return { items: r.TargetGroups, next: r.NextMarker };
  });
}

/** Pairs each item with its tags; an item whose tags could not be read (deleted meanwhile) is left out. */
function withTags<T, K extends string>(items: T[], arnOf: (t: T) => string, tags: Map<string, Record<string, string>>, key: K) {
  return items.filter((i) => tags.has(arnOf(i))).map((i) => ({ [key]: i, tags: tags.get(arnOf(i))! }) as { [P in K]: T } & { tags: Record<string, string> });
}

/**
 * Every load balancer of the region with its tags: ceil(n / 400) DescribeLoadBalancers plus
 * ceil(n / 20) DescribeTags. Concurrent callers on the same Aws share one read.
 */
async function readLoadBalancers(aws: Aws): Promise<TaggedLoadBalancer[]> {
  const lbs = await describeLoadBalancers(aws);
  return withTags(lbs, (l) => l.LoadBalancerArn!, await elbTags(aws, lbs.map((l) => l.LoadBalancerArn!)), 'lb');
}

const listLoadBalancers = sharedInFlight(readLoadBalancers);

/**
 * In a plan, the load balancers and target groups of the region with their tags, read once for the
 * three elbv2 kinds: both describes at once, then the tags of both together (DescribeTags takes 20
 * ARNs of any kind), so a plan pays ceil((LBs + TGs) / 20) DescribeTags instead of one round per kind.
 */
const regionElbv2 = (ctx: Ctx) =>
  onePerPlan(ctx, 'elbv2:load-balancers+target-groups', async () => {
    const [lbs, tgs] = await Promise.all([describeLoadBalancers(ctx.aws), describeTargetGroups(ctx.aws)]);
    const tags = await elbTags(ctx.aws, [...lbs.map((l) => l.LoadBalancerArn!), ...tgs.map((g) => g.TargetGroupArn!)]);
    return { lbs: withTags(lbs, (l) => l.LoadBalancerArn!, tags, 'lb'), tgs: withTags(tgs, (g) => g.TargetGroupArn!, tags, 'tg') };
  });

/** Every load balancer of the region, with its tags. */
export const loadBalancers = async (ctx: Ctx): Promise<TaggedLoadBalancer[]> => (ctx.shared ? (await regionElbv2(ctx)).lbs : listLoadBalancers(ctx.aws));

/** Every target group of the region, with its tags. */
export async function targetGroups(ctx: Ctx): Promise<TaggedTargetGroup[]> {
  if (ctx.shared) return (await regionElbv2(ctx)).tgs;
  const tgs = await describeTargetGroups(ctx.aws);
  return withTags(tgs, (g) => g.TargetGroupArn!, await elbTags(ctx.aws, tgs.map((g) => g.TargetGroupArn!)), 'tg');
}

/** Load balancers carrying this stack's tag. */
export const stackLoadBalancers = async (ctx: Ctx): Promise<TaggedLoadBalancer[]> => (await loadBalancers(ctx)).filter((t) => t.tags[TAG_STACK] === ctx.stack);
