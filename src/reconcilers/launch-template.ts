// launch-template: an EC2 launch template. Any change to what it launches makes a NEW VERSION
// (CreateLaunchTemplateVersion) that becomes the default: an in-place update; the Auto Scaling group
// that refers to it follows its latestVersion output. Only templateName forces a replacement.
//
// observe: one DescribeLaunchTemplates by stack tag (MaxResults given: moto stops at 15 without a
// next token otherwise), one more for `adopt:` ids / names it did not return, and the $Latest
// version data of every template of the region in one paginated DescribeLaunchTemplateVersions (AWS
// returns the latest version of all templates when no template is named), matched here. Tags come
// from one DescribeTags for the templates found (moto's DescribeLaunchTemplates returns the tags of
// creation time). AMI lookups, key pair ids and user data files are resolved by prepare
// (launch-inputs.ts) and handed to diff, create and update as a value.
//
// This file is the kind's entry; launch-template-read.ts reads templates, launch-template-data.ts
// builds the version data and prunes old versions.
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
  ModifyLaunchTemplateCommand,
  type LaunchTemplate,
} from '../aws/sdk/ec2.js';
import { syncEc2Tags } from '../aws/ec2-tags.js';
import { TAG_ID, TAG_STACK, tagsFromList, tagsToList } from '../aws/tags.js';
import { field, setField } from '../engine/diffutil.js';
import { holdersByName } from '../engine/ownership.js';
import type { Observed, Reconciler } from '../engine/types.js';
import { applyTagChanges, errorCode, shortHash, stackFilter, tagSpec } from './ec2-shared.js';
import { comparableTemplateProfile, pruneVersions, templateData, templateNameOf, wantedTemplate } from './launch-template-data.js';
import {
  currentTags,
  describeByIds,
  describeTemplates,
  isTemplateNotFound,
  latestVersionOf,
  latestVersions,
  observedOf,
  readOne,
  type LaunchTemplateLive,
} from './launch-template-read.js';
import { inputsOf, launchInputs, prepareLaunchInputs, type LaunchInputs } from './launch-inputs.js';

export { type LaunchTemplateLive } from './launch-template-read.js';

const reconciler: Reconciler<'launch-template', LaunchTemplateLive, LaunchInputs> = {
  kind: 'launch-template',

  prepare: prepareLaunchInputs,

  async observe(ctx, desired) {
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

  diff(desired, observed, prepared) {
    const live = observed.live;
    const w = wantedTemplate(desired, inputsOf(desired, prepared));
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
    ];
  },

  async create(ctx, desired, prepared) {
    const inputs = await launchInputs(ctx, desired, prepared);
    const name = templateNameOf(desired);
    const ec2 = await ctx.aws.ec2();
    try {
      const r = await ec2.send(
        new CreateLaunchTemplateCommand({
          LaunchTemplateName: name,
          LaunchTemplateData: templateData(desired, wantedTemplate(desired, inputs), inputs),
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

  async update(ctx, desired, observed, changes, prepared) {
    const live = observed.live;
    const id = observed.id;
    const ec2 = await ctx.aws.ec2();
    const dataPaths = changes.filter((c) => !c.path.startsWith('tags.') && c.path !== 'defaultVersion').map((c) => c.path);
    if (dataPaths.length) {
      const inputs = await launchInputs(ctx, desired, prepared);
      const data = templateData(desired, wantedTemplate(desired, inputs), inputs);
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
