// Reading launch templates for the launch-template reconciler (launch-template.ts): the describes
// (templates, their $Latest versions, their tags) and the live state in the spec's vocabulary.
import {
  DescribeLaunchTemplatesCommand,
  DescribeLaunchTemplateVersionsCommand,
  DescribeTagsCommand,
  type Filter,
  type LaunchTemplate,
  type LaunchTemplateVersion,
  type ResponseLaunchTemplateData,
} from '../aws/sdk/ec2.js';
import { tagsFromList, tagsToList } from '../aws/tags.js';
import { sha256OfBase64 } from '../inputs/user-data.js';
import type { Ctx, Observed } from '../engine/types.js';
import { afterCreate, allPages, errorCode, isNotFound } from './ec2-shared.js';

/** InvalidLaunchTemplateId.NotFound, InvalidLaunchTemplateName.NotFoundException (AWS uses both forms). */
export const isTemplateNotFound = (e: unknown) => isNotFound(e) || /NotFoundException$/.test(errorCode(e));

/** AWS's largest page for both describe calls. */
export const PAGE = 200;

export type LaunchTemplateLive = {
  templateName: string;
  ami?: string;
  instanceType?: string;
  securityGroups: string[];
  keyPair?: string;
  userData?: string;
  monitoring: boolean;
  publicIp?: boolean;
  /** As the template holds it: an ARN or a name. */
  iamInstanceProfile?: { arn?: string; name?: string };
  instanceTags: Record<string, string>;
  volumeTags: Record<string, string>;
  latestVersion: number;
  defaultVersion: number;
};

const specTags = (data: ResponseLaunchTemplateData | undefined, type: string) =>
  tagsFromList(data?.TagSpecifications?.find((t) => t.ResourceType === type)?.Tags);

/** Version data in the spec's vocabulary. The template's own tags, which moto returns as a launch-template TagSpecifications entry, are ignored. */
export function liveOfData(data: ResponseLaunchTemplateData | undefined): Omit<LaunchTemplateLive, 'templateName' | 'latestVersion' | 'defaultVersion'> {
  const ni = data?.NetworkInterfaces?.find((n) => (n.DeviceIndex ?? 0) === 0);
  const profile = data?.IamInstanceProfile;
  return {
    ami: data?.ImageId,
    instanceType: data?.InstanceType,
    securityGroups: [...(data?.SecurityGroupIds ?? []), ...(ni?.Groups ?? [])].sort(),
    keyPair: data?.KeyName,
    userData: data?.UserData ? `sha256:${sha256OfBase64(data.UserData)}` : undefined,
    monitoring: !!data?.Monitoring?.Enabled,
    publicIp: ni?.AssociatePublicIpAddress,
    iamInstanceProfile: profile?.Arn || profile?.Name ? { arn: profile.Arn, name: profile.Name } : undefined,
    instanceTags: specTags(data, 'instance'),
    volumeTags: specTags(data, 'volume'),
  };
}

export function observedOf(t: LaunchTemplate, v: LaunchTemplateVersion | undefined, name: string, management: Observed['management']): Observed<LaunchTemplateLive> {
  const live: LaunchTemplateLive = {
    templateName: t.LaunchTemplateName!,
    ...liveOfData(v?.LaunchTemplateData),
    latestVersion: t.LatestVersionNumber ?? v?.VersionNumber ?? 1,
    defaultVersion: t.DefaultVersionNumber ?? 1,
  };
  return {
    id: t.LaunchTemplateId!,
    name,
    management,
    live,
    tags: tagsFromList(t.Tags),
    outputs: {
      id: t.LaunchTemplateId!,
      name: t.LaunchTemplateName!,
      latestVersion: String(live.latestVersion),
      defaultVersion: String(live.defaultVersion),
    },
  };
}

export async function describeTemplates(ctx: Ctx, input: { Filters?: Filter[]; LaunchTemplateIds?: string[] }): Promise<LaunchTemplate[]> {
  const ec2 = await ctx.aws.ec2();
  return allPages(async (NextToken) => {
    const r = await ec2.send(new DescribeLaunchTemplatesCommand({ ...input, NextToken, MaxResults: input.LaunchTemplateIds ? undefined : PAGE }));
    return { items: r.LaunchTemplates, next: r.NextToken };
  });
}

/** Templates by id; ids that do not exist are left out (AWS fails the whole call for one). */
export async function describeByIds(ctx: Ctx, ids: string[]): Promise<LaunchTemplate[]> {
  if (!ids.length) return [];
  try {
    return await describeTemplates(ctx, { LaunchTemplateIds: ids });
  } catch (e) {
    if (!isTemplateNotFound(e) || ids.length === 1) {
      if (isTemplateNotFound(e)) return [];
      throw e;
    }
    return (await Promise.all(ids.map((id) => describeByIds(ctx, [id])))).flat();
  }
}

/** The $Latest version of every template of the region, by template id (one paginated call). */
export async function latestVersions(ctx: Ctx): Promise<Map<string, LaunchTemplateVersion>> {
  const ec2 = await ctx.aws.ec2();
  const all = await allPages(async (NextToken) => {
    const r = await ec2.send(new DescribeLaunchTemplateVersionsCommand({ Versions: ['$Latest'], NextToken, MaxResults: PAGE }));
    return { items: r.LaunchTemplateVersions, next: r.NextToken };
  });
  return new Map(all.map((v) => [v.LaunchTemplateId!, v]));
}

export async function latestVersionOf(ctx: Ctx, id: string): Promise<LaunchTemplateVersion | undefined> {
  const ec2 = await ctx.aws.ec2();
  const r = await ec2.send(new DescribeLaunchTemplateVersionsCommand({ LaunchTemplateId: id, Versions: ['$Latest'] }));
  return r.LaunchTemplateVersions?.[0];
}

/**
 * Tags of templates by id, in one paginated DescribeTags. DescribeLaunchTemplates returns them too,
 * but moto answers there with the tags the template was created with, whatever changed since.
 */
export async function currentTags(ctx: Ctx, ids: string[]): Promise<Map<string, Record<string, string>>> {
  const ec2 = await ctx.aws.ec2();
  const all = await allPages(async (NextToken) => {
    const r = await ec2.send(new DescribeTagsCommand({ Filters: [{ Name: 'resource-id', Values: ids }], NextToken, MaxResults: 1000 }));
    return { items: r.Tags, next: r.NextToken };
  });
  const out = new Map<string, Record<string, string>>();
  for (const t of all) {
    const m = out.get(t.ResourceId!) ?? {};
    m[t.Key!] = t.Value ?? '';
    out.set(t.ResourceId!, m);
  }
  return out;
}

/** One template, read back after a write (tolerates "not found" just after a create). */
export async function readOne(ctx: Ctx, address: string, id: string, name: string, management: Observed['management']): Promise<Observed<LaunchTemplateLive>> {
  const [t, v] = await afterCreate(ctx, address, `reading launch template ${id}`, async () => {
    const found = await describeTemplates(ctx, { LaunchTemplateIds: [id] });
    if (!found[0]) throw Object.assign(new Error(`launch template ${id} not visible yet`), { name: 'InvalidLaunchTemplateId.NotFound' });
    return [found[0], await latestVersionOf(ctx, id)] as const;
  });
  const tags = (await currentTags(ctx, [id])).get(id) ?? tagsFromList(t.Tags);
  return observedOf({ ...t, Tags: tagsToList(tags) }, v, name, management);
}

