// Elastic Load Balancing v2 helpers shared by load-balancer, target-group and listener: tags in
// bulk (DescribeTags takes at most 20 ARNs), tag sync, and the stack's load balancers.
import {
  AddTagsCommand,
  DescribeLoadBalancersCommand,
  DescribeTagsCommand,
  RemoveTagsCommand,
  type LoadBalancer,
} from '../aws/sdk/elbv2.js';
import type { Aws } from '../aws/clients.js';
import { TAG_STACK, tagUpdates, tagsFromList, tagsToList } from '../aws/tags.js';
import type { Ctx, FieldChange } from '../engine/types.js';
import { allPages, chunk, isNotFound, mapLimit, sharedInFlight } from './services-shared.js';

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

/**
 * Every load balancer of the region with its tags: ceil(n / 400) DescribeLoadBalancers plus
 * ceil(n / 20) DescribeTags. Concurrent callers on the same Aws share one read (the plan observes
 * load balancers and listeners in parallel).
 */
async function readLoadBalancers(aws: Aws): Promise<TaggedLoadBalancer[]> {
  const elb = await aws.elbv2();
  const lbs = await allPages(async (Marker) => {
    const r = await elb.send(new DescribeLoadBalancersCommand({ Marker, PageSize: elbPageSize.value }));
    return { items: r.LoadBalancers, next: r.NextMarker };
  });
  const tags = await elbTags(
    aws,
    lbs.map((l) => l.LoadBalancerArn!),
  );
  return lbs.filter((l) => tags.has(l.LoadBalancerArn!)).map((lb) => ({ lb, tags: tags.get(lb.LoadBalancerArn!)! }));
}

export const listLoadBalancers = sharedInFlight(readLoadBalancers);

/** Load balancers carrying this stack's tag. */
export const stackLoadBalancers = async (aws: Aws, stack: string): Promise<TaggedLoadBalancer[]> =>
  (await listLoadBalancers(aws)).filter((t) => t.tags[TAG_STACK] === stack);
