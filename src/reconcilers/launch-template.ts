// launch-template: an EC2 launch template. Any change to what it launches makes a NEW VERSION
// (CreateLaunchTemplateVersion) that becomes the default: an in-place update; the Auto Scaling group
// that refers to it follows its latestVersion output. Only templateName forces a replacement.
//
// observe: one DescribeLaunchTemplates by stack tag (MaxResults given: moto stops at 15 without a
// next token otherwise), one more for `adopt:` ids / names it did not return, and the $Latest
// version data of every template of the region in one paginated DescribeLaunchTemplateVersions (AWS
// returns the latest version of all templates when no template is named), matched here. AMI
// lookups and key pair ids are resolved here, so diff stays pure. Tags come from one DescribeTags
// for the templates found (moto's DescribeLaunchTemplates returns the tags of creation time).
//
// keepVersions: after apply makes a version, the versions older than the newest N are deleted (one
// DescribeLaunchTemplateVersions, one DeleteLaunchTemplateVersions per 200); an endpoint without
// DeleteLaunchTemplateVersions (moto) gets a warning instead.
//
// Instances launched from the template carry reconcile:stack and Name, never reconcile:id (so the
// instance reconciler does not take them for spec instances), and reconcile:owner=<this address>.
// Their tags are instanceTags (volumes: volumeTags) next to the stack's, or, without those fields, the
// template's own tags: a template named app-lt can launch instances named app.
import {
  CreateLaunchTemplateCommand,
  CreateLaunchTemplateVersionCommand,
  DeleteLaunchTemplateCommand,
  DeleteLaunchTemplateVersionsCommand,
  DescribeLaunchTemplatesCommand,
  DescribeLaunchTemplateVersionsCommand,
  DescribeTagsCommand,
  ModifyLaunchTemplateCommand,
  type Filter,
  type LaunchTemplate,
  type LaunchTemplateVersion,
  type RequestLaunchTemplateData,
  type ResponseLaunchTemplateData,
  type Tag,
} from '../aws/sdk/ec2.js';
import { resolveAmi, resolvedAmi } from '../aws/ami.js';
import { syncEc2Tags } from '../aws/ec2-tags.js';
import { TAG_ID, TAG_PROTECT, TAG_STACK, diffTags, tagsFromList, tagsToList } from '../aws/tags.js';
import { resolveUserData, sha256OfBase64 } from '../inputs/user-data.js';
import { desiredTags } from '../engine/desired.js';
import { field, setField } from '../engine/diffutil.js';
import { holdersByName } from '../engine/ownership.js';
import { UNKNOWN, type Ctx, type Desired, type FieldChange, type Observed, type Reconciler } from '../engine/types.js';
import { afterCreate, applyTagChanges, allPages, errorCode, isNotFound, shortHash, stackFilter, tagSpec } from './ec2-shared.js';
import { TAG_OWNER, isNotImplemented, prepareLaunch, prepareLaunchInputs, profileParam, wantedProfile } from './instance.js';
import { externalKeyPairIds, keyNameFromRef, resolveKeyPairIds } from './key-pair.js';

/** InvalidLaunchTemplateId.NotFound, InvalidLaunchTemplateName.NotFoundException (AWS uses both forms). */
const isTemplateNotFound = (e: unknown) => isNotFound(e) || /NotFoundException$/.test(errorCode(e));

/** AWS's largest page for both describe calls. */
const PAGE = 200;

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

/** The AWS name: templateName, or <stack>-<name>. */
export const templateNameOf = (d: Desired<'launch-template'>): string => d.spec.templateName ?? `${d.stack}-${d.name}`;

/**
 * Tags of what the template launches (instances, or their volumes): the stack's and instanceTags /
 * volumeTags (without them, the template's own tags), no reconcile:id, plus the owner.
 */
export function launchedTags(d: Desired<'launch-template'>, what: 'instance' | 'volume'): Record<string, string> {
  const own = what === 'volume' ? (d.spec.volumeTags ?? d.spec.instanceTags) : d.spec.instanceTags;
  const all = own === undefined ? d.tags : desiredTags(d.stack, d.stackTags, d.name, { tags: own });
  const { [TAG_ID]: _id, [TAG_PROTECT]: _protect, ...rest } = all;
  return { ...rest, [TAG_OWNER]: d.address };
}

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

/** The live profile in the form the spec writes it (ARN or name). */
export function comparableTemplateProfile(live: LaunchTemplateLive['iamInstanceProfile'], wanted: string | undefined): string | undefined {
  if (!live) return undefined;
  if (wanted?.startsWith('arn:')) return live.arn ?? live.name;
  return live.name ?? live.arn?.split('/').pop();
}

export interface WantedTemplate {
  ami: string;
  instanceType: string;
  securityGroups: string[];
  keyPair?: string;
  userData?: string;
  userDataSensitive: boolean;
  monitoring: boolean;
  publicIp?: boolean;
  iamInstanceProfile?: string;
  instanceTags: Record<string, string>;
  volumeTags: Record<string, string>;
}

export function wantedTemplate(d: Desired<'launch-template'>): WantedTemplate {
  const s = d.spec;
  const ud = resolveUserData(s.userData, d.specDir, d.address);
  return {
    ami: resolvedAmi(d),
    instanceType: s.instanceType,
    securityGroups: s.securityGroups.map((g) => d.ref(g).id),
    keyPair: s.keyPair !== undefined ? keyNameFromRef(d, s.keyPair) : undefined,
    userData: ud ? `sha256:${ud.sha256}` : undefined,
    userDataSensitive: !!ud?.sensitive,
    monitoring: s.monitoring,
    publicIp: s.publicIp,
    iamInstanceProfile: wantedProfile(d),
    instanceTags: launchedTags(d, 'instance'),
    volumeTags: launchedTags(d, 'volume'),
  };
}

/** The full data of a version (every version is written whole, never as a diff of the last). */
function templateData(d: Desired<'launch-template'>, w: WantedTemplate): RequestLaunchTemplateData {
  const s = d.spec;
  if ([...w.securityGroups, w.keyPair, w.iamInstanceProfile].includes(UNKNOWN)) throw new Error(`${d.address}: a referenced resource has no id yet (create it first)`);
  const ud = resolveUserData(s.userData, d.specDir, d.address);
  const data: RequestLaunchTemplateData = {
    ImageId: w.ami,
    InstanceType: w.instanceType as RequestLaunchTemplateData['InstanceType'],
    KeyName: w.keyPair,
    UserData: ud?.base64,
    Monitoring: { Enabled: w.monitoring },
    IamInstanceProfile: profileParam(w.iamInstanceProfile),
    TagSpecifications: [
      { ResourceType: 'instance', Tags: tagsToList(w.instanceTags) as Tag[] },
      { ResourceType: 'volume', Tags: tagsToList(w.volumeTags) as Tag[] },
    ],
  };
  if (w.publicIp !== undefined)
    // The public IP choice lives on the network interface, so the groups go there too.
    data.NetworkInterfaces = [
      { DeviceIndex: 0, AssociatePublicIpAddress: w.publicIp, Groups: w.securityGroups.length ? w.securityGroups : undefined, DeleteOnTermination: true },
    ];
  else if (w.securityGroups.length) data.SecurityGroupIds = w.securityGroups;
  return data;
}

function observedOf(t: LaunchTemplate, v: LaunchTemplateVersion | undefined, name: string, management: Observed['management']): Observed<LaunchTemplateLive> {
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

async function describeTemplates(ctx: Ctx, input: { Filters?: Filter[]; LaunchTemplateIds?: string[] }): Promise<LaunchTemplate[]> {
  const ec2 = await ctx.aws.ec2();
  return allPages(async (NextToken) => {
    const r = await ec2.send(new DescribeLaunchTemplatesCommand({ ...input, NextToken, MaxResults: input.LaunchTemplateIds ? undefined : PAGE }));
    return { items: r.LaunchTemplates, next: r.NextToken };
  });
}

/** Templates by id; ids that do not exist are left out (AWS fails the whole call for one). */
async function describeByIds(ctx: Ctx, ids: string[]): Promise<LaunchTemplate[]> {
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
async function latestVersions(ctx: Ctx): Promise<Map<string, LaunchTemplateVersion>> {
  const ec2 = await ctx.aws.ec2();
  const all = await allPages(async (NextToken) => {
    const r = await ec2.send(new DescribeLaunchTemplateVersionsCommand({ Versions: ['$Latest'], NextToken, MaxResults: PAGE }));
    return { items: r.LaunchTemplateVersions, next: r.NextToken };
  });
  return new Map(all.map((v) => [v.LaunchTemplateId!, v]));
}

async function latestVersionOf(ctx: Ctx, id: string): Promise<LaunchTemplateVersion | undefined> {
  const ec2 = await ctx.aws.ec2();
  const r = await ec2.send(new DescribeLaunchTemplateVersionsCommand({ LaunchTemplateId: id, Versions: ['$Latest'] }));
  return r.LaunchTemplateVersions?.[0];
}

/**
 * Tags of templates by id, in one paginated DescribeTags. DescribeLaunchTemplates returns them too,
 * but moto answers there with the tags the template was created with, whatever changed since.
 */
async function currentTags(ctx: Ctx, ids: string[]): Promise<Map<string, Record<string, string>>> {
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
async function readOne(ctx: Ctx, address: string, id: string, name: string, management: Observed['management']): Promise<Observed<LaunchTemplateLive>> {
  const [t, v] = await afterCreate(ctx, address, `reading launch template ${id}`, async () => {
    const found = await describeTemplates(ctx, { LaunchTemplateIds: [id] });
    if (!found[0]) throw Object.assign(new Error(`launch template ${id} not visible yet`), { name: 'InvalidLaunchTemplateId.NotFound' });
    return [found[0], await latestVersionOf(ctx, id)] as const;
  });
  const tags = (await currentTags(ctx, [id])).get(id) ?? tagsFromList(t.Tags);
  return observedOf({ ...t, Tags: tagsToList(tags) }, v, name, management);
}

/** The versions beyond the newest `keep` (never the default one), oldest first. */
export function versionsToPrune(versions: number[], keep: number, defaultVersion: number): number[] {
  const newest = new Set([...versions].sort((a, b) => b - a).slice(0, keep));
  return [...versions].sort((a, b) => a - b).filter((v) => !newest.has(v) && v !== defaultVersion);
}

async function pruneVersions(ctx: Ctx, address: string, id: string, keep: number, defaultVersion: number): Promise<void> {
  const ec2 = await ctx.aws.ec2();
  const all = await allPages(async (NextToken) => {
    const r = await ec2.send(new DescribeLaunchTemplateVersionsCommand({ LaunchTemplateId: id, NextToken, MaxResults: PAGE }));
    return { items: r.LaunchTemplateVersions, next: r.NextToken };
  });
  const old = versionsToPrune(all.map((v) => v.VersionNumber!), keep, defaultVersion);
  try {
    for (let i = 0; i < old.length; i += 200)
      await ec2.send(new DeleteLaunchTemplateVersionsCommand({ LaunchTemplateId: id, Versions: old.slice(i, i + 200).map(String) }));
    if (old.length) ctx.emit({ type: 'info', address, message: `launch template ${id}: deleted version${old.length === 1 ? '' : 's'} ${old.join(', ')} (keepVersions: ${keep})` });
  } catch (e) {
    if (!isNotImplemented(e)) throw e;
    ctx.emit({ type: 'warning', address, message: `this endpoint does not implement DeleteLaunchTemplateVersions: versions ${old.join(', ')} stay (keepVersions: ${keep})` });
  }
}

const reconciler: Reconciler<'launch-template', LaunchTemplateLive> = {
  kind: 'launch-template',

  prepare: prepareLaunchInputs,

  async observe(ctx, desired) {
    await prepareLaunch(ctx, desired);

    const owned = await describeTemplates(ctx, { Filters: stackFilter(ctx.stack) });
    // adopt: a template id (lt-...) or name.
    const adopts = desired.filter((d) => d.spec.adopt && !owned.some((t) => t.LaunchTemplateId === d.spec.adopt || t.LaunchTemplateName === d.spec.adopt));
    const ids = adopts.map((d) => d.spec.adopt!).filter((a) => a.startsWith('lt-'));
    const names = adopts.map((d) => d.spec.adopt!).filter((a) => !a.startsWith('lt-'));
    const [byId, byName] = await Promise.all([
      describeByIds(ctx, ids),
      names.length ? describeTemplates(ctx, { Filters: [{ Name: 'launch-template-name', Values: names }] }) : Promise.resolve([]),
    ]);

    const candidates = new Map<string, LaunchTemplate>();
    for (const t of [...owned, ...byId, ...byName]) candidates.set(t.LaunchTemplateId!, t);
    if (!candidates.size) return [];
    const tagsById = await currentTags(ctx, [...candidates.keys()]);
    const found: { t: LaunchTemplate; name: string; management: Observed['management'] }[] = [];
    for (const [id, raw] of candidates) {
      const tags = tagsById.get(id) ?? {};
      const t = { ...raw, Tags: tagsToList(tags) };
      if (tags[TAG_STACK] === ctx.stack && tags[TAG_ID]) found.push({ t, name: tags[TAG_ID], management: 'owned' });
      else {
        const d = desired.find((x) => x.spec.adopt === t.LaunchTemplateId || x.spec.adopt === t.LaunchTemplateName);
        if (d) found.push({ t, name: d.name, management: 'adopted' });
      }
    }
    if (!found.length) return [];
    const versions = await latestVersions(ctx);
    // A template created a moment ago may be missing from the bulk read: ask for it alone.
    await Promise.all(
      found
        .filter(({ t }) => !versions.has(t.LaunchTemplateId!))
        .map(async ({ t }) => {
          const v = await latestVersionOf(ctx, t.LaunchTemplateId!);
          if (v) versions.set(t.LaunchTemplateId!, v);
        }),
    );
    return found.map(({ t, name, management }) => observedOf(t, versions.get(t.LaunchTemplateId!), name, management));
  },

  // One DescribeLaunchTemplates by name filter, DescribeTags for those found (moto's describe has the
  // tags of creation time).
  async nameHolders(ctx, desired) {
    const found = await describeTemplates(ctx, { Filters: [{ Name: 'launch-template-name', Values: [...new Set(desired.map(templateNameOf))] }] });
    const tags = found.length ? await currentTags(ctx, found.map((t) => t.LaunchTemplateId!)) : new Map<string, Record<string, string>>();
    const held = found.map((t) => ({ awsName: t.LaunchTemplateName!, adoptId: t.LaunchTemplateId!, tags: tags.get(t.LaunchTemplateId!) ?? tagsFromList(t.Tags) }));
    return holdersByName(desired, templateNameOf, 'templateName', held);
  },

  diff(desired, observed) {
    const live = observed.live;
    const s = desired.spec;
    const w = wantedTemplate(desired);
    return [
      ...field('templateName', live.templateName, templateNameOf(desired), true),
      ...field('ami', live.ami, w.ami),
      ...field('instanceType', live.instanceType, w.instanceType),
      ...setField('securityGroups', live.securityGroups, w.securityGroups),
      ...field('keyPair', live.keyPair, w.keyPair),
      ...field('userData', live.userData, w.userData, false, w.userDataSensitive),
      ...field('monitoring', live.monitoring, w.monitoring),
      ...field('publicIp', live.publicIp, w.publicIp),
      ...field('iamInstanceProfile', comparableTemplateProfile(live.iamInstanceProfile, w.iamInstanceProfile), w.iamInstanceProfile),
      ...field('instanceTags', live.instanceTags, w.instanceTags),
      ...field('volumeTags', live.volumeTags, w.volumeTags),
      // Someone made an older version the default: the latest (ours) goes back.
      ...field('defaultVersion', live.defaultVersion, live.latestVersion),
      ...diffTags(desired.tags, observed.tags),
    ];
  },

  async create(ctx, desired) {
    const s = desired.spec;
    await resolveAmi(ctx.aws, desired);
    await resolveKeyPairIds(ctx, externalKeyPairIds([desired]));
    const name = templateNameOf(desired);
    const ec2 = await ctx.aws.ec2();
    try {
      const r = await ec2.send(
        new CreateLaunchTemplateCommand({
          LaunchTemplateName: name,
          LaunchTemplateData: templateData(desired, wantedTemplate(desired)),
          TagSpecifications: tagSpec('launch-template', desired.tags),
          VersionDescription: 'reconcile: created',
        }),
      );
      return await readOne(ctx, desired.address, r.LaunchTemplate!.LaunchTemplateId!, desired.name, 'owned');
    } catch (e) {
      if (!/AlreadyExists/.test(errorCode(e))) throw e;
      // The name is taken: ours (an earlier create whose answer was lost) is reused, anything else refused.
      const t = (await describeTemplates(ctx, { Filters: [{ Name: 'launch-template-name', Values: [name] }] }))[0];
      const tags = tagsFromList(t?.Tags);
      if (t && tags[TAG_STACK] === ctx.stack && tags[TAG_ID] === desired.name) return readOne(ctx, desired.address, t.LaunchTemplateId!, desired.name, 'owned');
      throw new Error(`${desired.address}: a launch template named "${name}" already exists and does not belong to this stack; adopt it (adopt: ${t?.LaunchTemplateId ?? name}) or choose another templateName`);
    }
  },

  async update(ctx, desired, observed, changes) {
    const live = observed.live;
    const id = observed.id;
    const ec2 = await ctx.aws.ec2();
    const dataPaths = changes.filter((c) => !c.path.startsWith('tags.') && c.path !== 'defaultVersion').map((c) => c.path);
    if (dataPaths.length) {
      const data = templateData(desired, wantedTemplate(desired));
      const r = await ec2.send(
        new CreateLaunchTemplateVersionCommand({
          LaunchTemplateId: id,
          LaunchTemplateData: data,
          VersionDescription: `reconcile: ${dataPaths.join(', ')}`.slice(0, 255),
          // A retried call returns the version the first one made; the next change gets a new token.
          ClientToken: shortHash(JSON.stringify([id, live.latestVersion, data]), 32),
        }),
      );
      const version = r.LaunchTemplateVersion!.VersionNumber!;
      await ec2.send(new ModifyLaunchTemplateCommand({ LaunchTemplateId: id, DefaultVersion: String(version) }));
      ctx.emit({ type: 'info', address: desired.address, message: `launch template ${id}: version ${version} (${dataPaths.join(', ')}) is now the default` });
      if (desired.spec.keepVersions) await pruneVersions(ctx, desired.address, id, desired.spec.keepVersions, version);
    } else if (changes.some((c) => c.path === 'defaultVersion')) {
      await ec2.send(new ModifyLaunchTemplateCommand({ LaunchTemplateId: id, DefaultVersion: String(live.latestVersion) }));
    }
    await syncEc2Tags(ctx, id, changes);
    const tags = applyTagChanges(observed.tags, changes);
    const o = await readOne(ctx, desired.address, id, desired.name, tags[TAG_STACK] === ctx.stack ? 'owned' : observed.management);
    // DescribeLaunchTemplates can lag behind CreateTags: keep what was just written.
    return { ...o, tags };
  },

  async delete(ctx, observed) {
    const ec2 = await ctx.aws.ec2();
    try {
      await ec2.send(new DeleteLaunchTemplateCommand({ LaunchTemplateId: observed.id }));
    } catch (e) {
      if (!isTemplateNotFound(e)) throw e;
    }
  },

  // A new version per change: the groups that follow the template see the new number only after apply.
  volatileOutputs: ['latestVersion', 'defaultVersion'],
  permissions: {
    observe: ['ec2:DescribeLaunchTemplates', 'ec2:DescribeLaunchTemplateVersions', 'ec2:DescribeTags', 'ec2:DescribeImages', 'ec2:DescribeKeyPairs'],
    create: [
      'ec2:CreateLaunchTemplate',
      'ec2:CreateTags',
      'ec2:DescribeLaunchTemplates',
      'ec2:DescribeLaunchTemplateVersions',
      'ec2:DescribeTags',
      'ec2:DescribeImages',
      'ec2:DescribeKeyPairs',
      'iam:PassRole',
    ],
    update: [
      'ec2:CreateLaunchTemplateVersion',
      'ec2:DeleteLaunchTemplateVersions',
      'ec2:ModifyLaunchTemplate',
      'ec2:CreateTags',
      'ec2:DeleteTags',
      'ec2:DescribeLaunchTemplates',
      'ec2:DescribeLaunchTemplateVersions',
      'ec2:DescribeTags',
      'iam:PassRole',
    ],
    delete: ['ec2:DeleteLaunchTemplate'],
  },
};

export default reconciler;
