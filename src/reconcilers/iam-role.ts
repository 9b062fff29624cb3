// iam-role: an IAM role with its trust policy, attached managed policies and inline policies.
//
// observe: the account's roles from one paginated GetAccountAuthorizationDetails per plan
// (iam-shared.ts), shared with instance-profile; roles tagged for the stack, and `adopt:` names.
// In place: assumeRolePolicy (UpdateAssumeRolePolicy), managedPolicies (Attach/DetachRolePolicy),
// inlinePolicies.<name> (Put/DeleteRolePolicy), tags (Tag/UntagRole). Replace: roleName, path.
// Policy documents are compared as JSON values (key order and whitespace aside).
// delete: the role leaves its instance profiles, loses its policies, then goes.
import {
  AttachRolePolicyCommand,
  CreateRoleCommand,
  DeleteRoleCommand,
  DeleteRolePolicyCommand,
  DetachRolePolicyCommand,
  GetAccountAuthorizationDetailsCommand,
  GetRoleCommand,
  PutRolePolicyCommand,
  RemoveRoleFromInstanceProfileCommand,
  TagRoleCommand,
  UntagRoleCommand,
  UpdateAssumeRolePolicyCommand,
  type RoleDetail,
} from '../aws/sdk/iam.js';
import { TAG_ID, TAG_STACK, tagUpdates, tagsFromList, tagsToList } from '../aws/tags.js';
import { field, setField } from '../engine/diffutil.js';
import { holdersByName } from '../engine/ownership.js';
import type { Ctx, Desired, FieldChange, Observed, Reconciler } from '../engine/types.js';
import { IAM_NOT_FOUND, parsePolicy, roleDetails } from './iam-shared.js';
import { adoptions, assertApplicable, defaultAwsName, identify, ignoreNotFound, isError } from './services-shared.js';

export type RoleLive = {
  roleName: string;
  path: string;
  assumeRolePolicy: unknown;
  managedPolicies: string[];
  inlinePolicies: Record<string, unknown>;
  /** Names of the instance profiles that hold the role (not compared: delete removes it from them). */
  instanceProfiles: string[];
};

export const roleNameOf = (d: Desired<'iam-role'>, live?: Observed): string =>
  d.spec.roleName ?? (d.spec.adopt && live ? (live.live as RoleLive).roleName : defaultAwsName(d.stack, d.name));

function observedOf(r: RoleDetail, who: { name: string; management: Observed['management'] }): Observed<RoleLive> {
  return {
    id: r.RoleName!,
    name: who.name,
    management: who.management,
    live: {
      roleName: r.RoleName!,
      path: r.Path ?? '/',
      assumeRolePolicy: parsePolicy(r.AssumeRolePolicyDocument),
      managedPolicies: (r.AttachedManagedPolicies ?? []).map((p) => p.PolicyArn!).sort(),
      inlinePolicies: Object.fromEntries((r.RolePolicyList ?? []).map((p) => [p.PolicyName!, parsePolicy(p.PolicyDocument)])),
      instanceProfiles: (r.InstanceProfileList ?? []).map((p) => p.InstanceProfileName!),
    },
    tags: tagsFromList(r.Tags),
    outputs: { id: r.RoleName!, name: r.RoleName!, arn: r.Arn! },
  };
}

async function readOne(ctx: Ctx, roleName: string, who: { name: string; management: Observed['management'] }): Promise<Observed<RoleLive>> {
  // Not through the per-plan read: that one was made before this write.
  const iam = await ctx.aws.iam();
  let marker: string | undefined;
  do {
    const r = await iam.send(new GetAccountAuthorizationDetailsCommand({ Filter: ['Role'], Marker: marker, MaxItems: 1000 }));
    const found = r.RoleDetailList?.find((x) => x.RoleName === roleName);
    if (found) return observedOf(found, who);
    marker = r.IsTruncated ? r.Marker : undefined;
  } while (marker);
  throw new Error(`IAM role ${roleName} is gone`);
}

const json = (doc: unknown) => JSON.stringify(doc);

const reconciler: Reconciler<'iam-role'> = {
  kind: 'iam-role',

  async observe(ctx, desired) {
    const adopted = adoptions(desired);
    const out: Observed[] = [];
    for (const r of await roleDetails(ctx)) {
      const who = identify(tagsFromList(r.Tags), ctx.stack, adopted, [r.RoleName, r.Arn]);
      if (who) out.push(observedOf(r, who));
    }
    return out;
  },

  async nameHolders(ctx, desired) {
    const names = new Set(desired.map((d) => roleNameOf(d)));
    const held = (await roleDetails(ctx)).filter((r) => names.has(r.RoleName!)).map((r) => ({ awsName: r.RoleName!, adoptId: r.RoleName!, tags: tagsFromList(r.Tags) }));
    return holdersByName(desired, (d) => roleNameOf(d), 'roleName', held);
  },

  diff(d, o) {
    const live = o.live as RoleLive;
    const s = d.spec;
    const out: FieldChange[] = [
      ...field('roleName', live.roleName, roleNameOf(d, o), true),
      ...field('path', live.path, s.path, true),
      ...field('assumeRolePolicy', live.assumeRolePolicy, s.assumeRolePolicy),
      ...setField('managedPolicies', live.managedPolicies, s.managedPolicies),
    ];
    for (const name of [...new Set([...Object.keys(live.inlinePolicies), ...Object.keys(s.inlinePolicies)])].sort())
      out.push(...field(`inlinePolicies.${name}`, live.inlinePolicies[name], s.inlinePolicies[name]));
    return out;
  },

  async create(ctx, d) {
    const s = d.spec;
    if (s.adopt) throw new Error(`${d.address}: adopt: ${s.adopt} names no IAM role (remove adopt: to create one)`);
    const iam = await ctx.aws.iam();
    const roleName = roleNameOf(d);
    try {
      await iam.send(new CreateRoleCommand({ RoleName: roleName, Path: s.path, AssumeRolePolicyDocument: json(s.assumeRolePolicy), Tags: tagsToList(d.tags) }));
    } catch (e) {
      if (!isError(e, 'EntityAlreadyExists', 'EntityAlreadyExistsException')) throw e;
      // An earlier create whose answer was lost made it: ours by its tags, anything else refused.
      const tags = tagsFromList((await iam.send(new GetRoleCommand({ RoleName: roleName }))).Role?.Tags);
      if (tags[TAG_STACK] !== ctx.stack || tags[TAG_ID] !== d.name)
        throw new Error(`${d.address}: an IAM role named ${roleName} already exists and is not this stack's: adopt it (adopt: ${roleName}) or choose another roleName`);
    }
    for (const arn of s.managedPolicies) await iam.send(new AttachRolePolicyCommand({ RoleName: roleName, PolicyArn: arn }));
    for (const [name, doc] of Object.entries(s.inlinePolicies)) await iam.send(new PutRolePolicyCommand({ RoleName: roleName, PolicyName: name, PolicyDocument: json(doc) }));
    return readOne(ctx, roleName, { name: d.name, management: 'owned' });
  },

  async update(ctx, d, o, changes) {
    assertApplicable(d.address, changes);
    const iam = await ctx.aws.iam();
    const live = o.live as RoleLive;
    const s = d.spec;
    const RoleName = o.id;
    for (const c of changes) {
      if (c.path === 'assumeRolePolicy') await iam.send(new UpdateAssumeRolePolicyCommand({ RoleName, PolicyDocument: json(s.assumeRolePolicy) }));
      else if (c.path === 'managedPolicies') {
        for (const arn of s.managedPolicies.filter((a) => !live.managedPolicies.includes(a))) await iam.send(new AttachRolePolicyCommand({ RoleName, PolicyArn: arn }));
        for (const arn of live.managedPolicies.filter((a) => !s.managedPolicies.includes(a)))
          await ignoreNotFound(() => iam.send(new DetachRolePolicyCommand({ RoleName, PolicyArn: arn })), ...IAM_NOT_FOUND);
      } else if (c.path.startsWith('inlinePolicies.')) {
        const PolicyName = c.path.slice('inlinePolicies.'.length);
        if (c.after === undefined) await ignoreNotFound(() => iam.send(new DeleteRolePolicyCommand({ RoleName, PolicyName })), ...IAM_NOT_FOUND);
        else await iam.send(new PutRolePolicyCommand({ RoleName, PolicyName, PolicyDocument: json(c.after) }));
      }
    }
    const { set, remove } = tagUpdates(changes);
    if (Object.keys(set).length) await iam.send(new TagRoleCommand({ RoleName, Tags: tagsToList(set) }));
    if (remove.length) await iam.send(new UntagRoleCommand({ RoleName, TagKeys: remove }));
    return readOne(ctx, RoleName, { name: d.name, management: { ...o.tags, ...set }[TAG_STACK] === ctx.stack ? 'owned' : o.management });
  },

  async delete(ctx, o) {
    const iam = await ctx.aws.iam();
    const live = o.live as RoleLive;
    const RoleName = o.id;
    for (const p of live.instanceProfiles) await ignoreNotFound(() => iam.send(new RemoveRoleFromInstanceProfileCommand({ RoleName, InstanceProfileName: p })), ...IAM_NOT_FOUND);
    for (const arn of live.managedPolicies) await ignoreNotFound(() => iam.send(new DetachRolePolicyCommand({ RoleName, PolicyArn: arn })), ...IAM_NOT_FOUND);
    for (const name of Object.keys(live.inlinePolicies)) await ignoreNotFound(() => iam.send(new DeleteRolePolicyCommand({ RoleName, PolicyName: name })), ...IAM_NOT_FOUND);
    try {
      await iam.send(new DeleteRoleCommand({ RoleName }));
    } catch (e) {
      if (!isError(e, ...IAM_NOT_FOUND)) throw e;
    }
  },

  permissions: {
    observe: ['iam:GetAccountAuthorizationDetails'],
    create: ['iam:CreateRole', 'iam:TagRole', 'iam:GetRole', 'iam:AttachRolePolicy', 'iam:PutRolePolicy', 'iam:GetAccountAuthorizationDetails'],
    update: [
      'iam:UpdateAssumeRolePolicy',
      'iam:AttachRolePolicy',
      'iam:DetachRolePolicy',
      'iam:PutRolePolicy',
      'iam:DeleteRolePolicy',
      'iam:TagRole',
      'iam:UntagRole',
      'iam:GetAccountAuthorizationDetails',
    ],
    delete: ['iam:RemoveRoleFromInstanceProfile', 'iam:DetachRolePolicy', 'iam:DeleteRolePolicy', 'iam:DeleteRole'],
  },
};

export default reconciler;
