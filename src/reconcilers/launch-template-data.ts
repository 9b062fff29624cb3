// What the launch-template reconciler (launch-template.ts) wants a template to hold and writes as a
// version: the spec with its references and prepared inputs (launch-inputs.ts) resolved, the tags of
// what it launches, and the pruning of old versions (keepVersions).
import {
  DeleteLaunchTemplateVersionsCommand,
  DescribeLaunchTemplateVersionsCommand,
  type RequestLaunchTemplateData,
  type Tag,
} from '../aws/sdk/ec2.js';
import { isNotImplemented } from '../aws/errors.js';
import { TAG_ID, TAG_PROTECT, tagsToList } from '../aws/tags.js';
import { desiredTags } from '../engine/desired.js';
import { UNKNOWN, type Ctx, type Desired } from '../engine/types.js';
import { allPages } from './ec2-shared.js';
import { PAGE, type LaunchTemplateLive } from './launch-template-read.js';
import { TAG_OWNER, profileParam, wantedLaunch, type LaunchInputs, type WantedLaunch } from './launch-inputs.js';

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

/** The live profile in the form the spec writes it (ARN or name). */
export function comparableTemplateProfile(live: LaunchTemplateLive['iamInstanceProfile'], wanted: string | undefined): string | undefined {
  if (!live) return undefined;
  if (wanted?.startsWith('arn:')) return live.arn ?? live.name;
  return live.name ?? live.arn?.split('/').pop();
}

export interface WantedTemplate extends WantedLaunch {
  instanceTags: Record<string, string>;
  volumeTags: Record<string, string>;
}

export function wantedTemplate(d: Desired<'launch-template'>, inputs: LaunchInputs): WantedTemplate {
  return { ...wantedLaunch(d, inputs), instanceTags: launchedTags(d, 'instance'), volumeTags: launchedTags(d, 'volume') };
}

/** The full data of a version (every version is written whole, never as a diff of the last). */
export function templateData(d: Desired<'launch-template'>, w: WantedTemplate, inputs: LaunchInputs): RequestLaunchTemplateData {
  if ([...w.securityGroups, w.keyPair, w.iamInstanceProfile].includes(UNKNOWN)) throw new Error(`${d.address}: a referenced resource has no id yet (create it first)`);
  const ud = inputs.userData;
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

/** The versions beyond the newest `keep` (never the default one), oldest first. */
export function versionsToPrune(versions: number[], keep: number, defaultVersion: number): number[] {
  const newest = new Set([...versions].sort((a, b) => b - a).slice(0, keep));
  return [...versions].sort((a, b) => a - b).filter((v) => !newest.has(v) && v !== defaultVersion);
}

export async function pruneVersions(ctx: Ctx, address: string, id: string, keep: number, defaultVersion: number): Promise<void> {
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

