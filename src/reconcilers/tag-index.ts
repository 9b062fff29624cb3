// The stack's tag index: one paginated GetResources call (Resource Groups Tagging API) filtered by
// reconcile:stack=<stack> lists the alarms, topics, buckets, load balancers, target groups (and
// instances) the stack tagged, each with all of its tags. Those kinds have no tag filter on their
// own describes, so without it a plan read tags one resource at a time (ListTagsForResource per
// alarm and topic, GetBucketTagging per bucket of the region, DescribeTags per 20 load balancers and
// target groups of the region): with it, a converged plan reads the tags of all of them in one call,
// whatever their number (100 a page).
//
// The index is what says "owned"; each kind's own describe (or per-resource read) stays the truth
// on whether the resource still exists and what its settings are. AWS fills the index a little
// after a tag is written: a resource it does not list yet looks unowned for that moment, which is
// safe -- every create first looks for a resource of the same name and reads that one's tags
// directly (see each kind's create), and a kind reads tags directly for the resources the spec
// names (`adopt:`, fixed names) that the index does not list.
import { TAG_ID, TAG_STACK, tagsFromList } from '../aws/tags.js';
import { GetResourcesCommand } from '../aws/sdk/tagging.js';
import type { Ctx } from '../engine/types.js';
import { KIND_DEFS } from '../spec/schema.js';
import { allPages, onePerPlan } from './services-shared.js';

/**
 * GetResources resource-type filters (each descriptor's tagIndexType): the kinds that read their
 * tags from the index, and EC2 instances: a spec without instances reads that kind only to find
 * the stack's instances that left the spec, which the index lists (see instance.ts).
 */
export const INDEXED_TYPES: readonly string[] = KIND_DEFS.flatMap((d) => (d.tagIndexType ? [d.tagIndexType] : []));

/** Tags by ARN. */
export type TagIndex = Map<string, Record<string, string>>;

async function readIndex(ctx: Ctx): Promise<TagIndex> {
  const tagging = await ctx.aws.tagging();
  const list = await allPages(async (PaginationToken) => {
    const r = await tagging.send(
      new GetResourcesCommand({
        // Resources of the spec carry reconcile:id; instances an Auto Scaling group or a launch
        // template launched carry the stack tag without it, and are left out, however many.
        TagFilters: [{ Key: TAG_STACK, Values: [ctx.stack] }, { Key: TAG_ID }],
        ResourceTypeFilters: [...INDEXED_TYPES],
        ResourcesPerPage: 100,
        TagsPerPage: 500,
        PaginationToken: PaginationToken || undefined,
      }),
    );
    return { items: r.ResourceTagMappingList, next: r.PaginationToken || undefined };
  });
  const out: TagIndex = new Map();
  for (const m of list) if (m.ResourceARN) out.set(m.ResourceARN, tagsFromList(m.Tags));
  return out;
}

/**
 * The stack's resources of the indexed kinds, by ARN, with their tags. Read once per plan (shared by
 * every kind's observe through ctx.shared); outside a plan every call reads.
 */
export const stackTagIndex = (ctx: Ctx): Promise<TagIndex> => onePerPlan(ctx, 'tagging:stack', () => readIndex(ctx));

/** The service of an ARN (`arn:<partition>:<service>:...`). */
export const arnService = (arn: string): string => arn.split(':')[2] ?? '';

/** Of the index, the ARNs of one service, with their tags. */
export async function indexedOf(ctx: Ctx, service: string): Promise<TagIndex> {
  const all = await stackTagIndex(ctx);
  return new Map([...all].filter(([arn]) => arnService(arn) === service));
}
