// Which EC2 kinds the stack has anything of, in one call: DescribeTags filtered by the tag
// reconcile:stack=<stack> (one row per tagged resource, 1,000 a page) lists every EC2 resource
// the stack tagged, whatever its type. A plan reads every kind of a service the spec uses, to list
// (or prune) what the stack owns but the spec no longer has; for an EC2 kind the spec does not use,
// this call replaces its describe when nothing of that kind is tagged for the stack -- one call
// instead of one per such kind (a spec without elastic IPs, NAT gateways, peerings, key pairs...).
// Not a source of truth: a kind it names is still described (moto keeps the tags of deleted
// resources here; AWS may show a brand-new tag a moment late), and `destroy` never relies on it.
import { TAG_STACK } from '../aws/tags.js';
import { DescribeTagsCommand } from '../aws/sdk/ec2.js';
import type { Ctx } from '../engine/types.js';
import { KIND_DEFS, type KindName } from '../spec/schema.js';
import { allPages } from './ec2-shared.js';

/** DescribeTags resource types of each EC2 kind (its descriptor's ec2TagTypes). */
export const EC2_RESOURCE_TYPES: Readonly<Partial<Record<KindName, readonly string[]>>> = Object.fromEntries(
  KIND_DEFS.flatMap((d) => (d.ec2TagTypes ? [[d.kind, d.ec2TagTypes]] : [])),
);

/** Of `kinds`, those with at least one resource tagged for the stack (kinds it cannot tell are kept). */
export async function ec2KindsTagged(ctx: Ctx, kinds: readonly KindName[]): Promise<Set<KindName>> {
  const ec2 = await ctx.aws.ec2();
  const rows = await allPages(async (NextToken) => {
    const r = await ec2.send(
      new DescribeTagsCommand({
        Filters: [
          { Name: 'key', Values: [TAG_STACK] },
          { Name: 'value', Values: [ctx.stack] },
        ],
        MaxResults: 1000,
        NextToken,
      }),
    );
    return { items: r.Tags, next: r.NextToken };
  });
  const types = new Set(rows.map((t) => t.ResourceType as string | undefined));
  return new Set(kinds.filter((k) => !EC2_RESOURCE_TYPES[k] || EC2_RESOURCE_TYPES[k]!.some((t) => types.has(t))));
}
