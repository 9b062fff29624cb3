// Tag updates for EC2 resources (vpc, subnet, igw, eip, nat, rtb, pcx, sg, instance, lt, key pair).
import { CreateTagsCommand, DeleteTagsCommand } from './sdk/ec2.js';
import type { Aws } from './clients.js';
import { tagUpdates, tagsToList, type TagChange } from './tags.js';

export async function syncEc2Tags(ctx: { aws: Aws }, resourceId: string, changes: readonly TagChange[]): Promise<void> {
  const { set, remove } = tagUpdates(changes);
  const ec2 = await ctx.aws.ec2();
  if (Object.keys(set).length) await ec2.send(new CreateTagsCommand({ Resources: [resourceId], Tags: tagsToList(set) }));
  if (remove.length) await ec2.send(new DeleteTagsCommand({ Resources: [resourceId], Tags: remove.map((Key) => ({ Key })) }));
}
