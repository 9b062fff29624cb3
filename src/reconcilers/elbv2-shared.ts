// Elastic Load Balancing v2 helpers shared by load-balancer, target-group and listener: tags in
// bulk (DescribeTags takes at most 20 ARNs), tag sync, and the stack's load balancers and target
// groups: the region's (DescribeLoadBalancers / DescribeTargetGroups, 400 a page), of which the tag
// index (tag-index.ts) says which are the stack's, with their tags.
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
import type { Ctx, Desired, FieldChange, NameHolder } from '../engine/types.js';
import { allPages, chunk, isNotFound, mapLimit, onePerPlan, sharedInFlight } from './services-shared.js';
import { indexedOf } from './tag-index.js';

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

async function readLoadBalancers(aws: Aws): Promise<LoadBalancer[]> {
  const elb = await aws.elbv2();
  return allPages(async (Marker) => {
    const r = await elb.send(new DescribeLoadBalancersCommand({ Marker, PageSize: elbPageSize.value }));
    return { items: r.LoadBalancers, next: r.NextMarker };
  });
}

/** Every load balancer of the region; concurrent callers on the same Aws share one read (load balancers and listeners observe at once). */
const describeLoadBalancers = sharedInFlight(readLoadBalancers);

async function describeTargetGroups(aws: Aws): Promise<TargetGroup[]> {
  const elb = await aws.elbv2();
  return allPages(async (Marker) => {
    const r = await elb.send(new DescribeTargetGroupsCommand({ Marker, PageSize: elbPageSize.value }));
    return { items: r.TargetGroups, next: r.NextMarker };
  });
}

/**
 * In a plan, the load balancers and target groups of the region, read once for the three elbv2
 * kinds (both describes at once), with the stack's tag index (tag-index.ts) saying which are the
 * stack's and with what tags.
 */
const regionElbv2 = (ctx: Ctx) =>
  onePerPlan(ctx, 'elbv2:load-balancers+target-groups', async () => {
    const [lbs, tgs, index] = await Promise.all([describeLoadBalancers(ctx.aws), describeTargetGroups(ctx.aws), indexedOf(ctx, 'elasticloadbalancing')]);
    return { lbs, tgs, index };
  });

type Tagged<K extends string, T> = { [P in K]: T } & { tags: Record<string, string> };

/**
 * The items the index lists (the stack's), with their tags, plus those `adopted` names (by ARN or
 * name) with tags read directly: DescribeTags, 20 ARNs a call. No tag read for anything else of the
 * region, however many there are.
 */
async function withTags<T, K extends string>(
  ctx: Ctx,
  items: T[],
  ids: (t: T) => [arn: string, name: string | undefined],
  index: Map<string, Record<string, string>>,
  adopted: Map<string, string>,
  key: K,
): Promise<Tagged<K, T>[]> {
  const listed = items.map((item) => ({ item, ids: ids(item) }));
  const direct = listed.filter(({ ids: [arn, name] }) => !index.has(arn) && (adopted.has(arn) || (name !== undefined && adopted.has(name))));
  const read = direct.length ? await elbTags(ctx.aws, direct.map(({ ids: [arn] }) => arn)) : new Map<string, Record<string, string>>();
  return listed.flatMap(({ item, ids: [arn] }) => {
    const tags = index.get(arn) ?? read.get(arn);
    return tags ? [{ [key]: item, tags } as Tagged<K, T>] : [];
  });
}

/** The stack's load balancers and those `adopted` names, with their tags. */
export async function loadBalancers(ctx: Ctx, adopted: Map<string, string> = new Map()): Promise<TaggedLoadBalancer[]> {
  const { lbs, index } = ctx.shared ? await regionElbv2(ctx) : { lbs: await describeLoadBalancers(ctx.aws), index: await indexedOf(ctx, 'elasticloadbalancing') };
  return withTags(ctx, lbs, (l) => [l.LoadBalancerArn!, l.LoadBalancerName], index, adopted, 'lb');
}

/** The stack's target groups and those `adopted` names, with their tags. */
export async function targetGroups(ctx: Ctx, adopted: Map<string, string> = new Map()): Promise<TaggedTargetGroup[]> {
  const { tgs, index } = ctx.shared ? await regionElbv2(ctx) : { tgs: await describeTargetGroups(ctx.aws), index: await indexedOf(ctx, 'elasticloadbalancing') };
  return withTags(ctx, tgs, (g) => [g.TargetGroupArn!, g.TargetGroupName], index, adopted, 'tg');
}

/** Load balancers carrying this stack's tag. */
export const stackLoadBalancers = async (ctx: Ctx): Promise<TaggedLoadBalancer[]> => (await loadBalancers(ctx)).filter((t) => t.tags[TAG_STACK] === ctx.stack);

/**
 * Name holders (Reconciler.nameHolders) of load balancers or target groups: one describe by name per
 * resource to create, then DescribeTags (20 ARNs a call) for those that exist.
 */
export async function elbNameHolders<D extends Desired, T>(
  ctx: Ctx,
  desired: D[],
  nameOf: (d: D) => string,
  describeByName: (name: string) => Promise<T | undefined>,
  ids: (t: T) => [arn: string, name: string],
  nameField: string,
): Promise<NameHolder[]> {
  const found = (await mapLimit(desired, async (d) => ({ d, item: await describeByName(nameOf(d)) }))).flatMap(({ d, item }) => (item ? [{ d, ids: ids(item) }] : []));
  const tags = found.length ? await elbTags(ctx.aws, found.map((x) => x.ids[0])) : new Map<string, Record<string, string>>();
  return found.map(({ d, ids: [arn, awsName] }) => ({ name: d.name, awsName, adoptId: arn, tags: tags.get(arn) ?? {}, nameField }));
}
