// instance-profile: an IAM instance profile holding one role, for instances and launch templates
// (their iamInstanceProfile).
//
// observe: ListInstanceProfiles (paginated; its roles come with it). AWS leaves the tags out of
// that list (moto does not): then one GetInstanceProfile for each profile that could be the
// stack's -- a name the spec would give, an `adopt:` name, or a profile holding a role tagged for the
// stack (from the roles' read iam-role shares).
// In place: role (RemoveRoleFromInstanceProfile, AddRoleToInstanceProfile), tags. Replace: name, path.
import {
  AddRoleToInstanceProfileCommand,
  CreateInstanceProfileCommand,
  DeleteInstanceProfileCommand,
  GetInstanceProfileCommand,
  ListInstanceProfilesCommand,
  RemoveRoleFromInstanceProfileCommand,
  TagInstanceProfileCommand,
  UntagInstanceProfileCommand,
  type InstanceProfile,
} from '../aws/sdk/iam.js';
import { TAG_ID, TAG_STACK, tagUpdates, tagsFromList, tagsToList } from '../aws/tags.js';
import { field } from '../engine/diffutil.js';
import { holdersByName } from '../engine/ownership.js';
import type { Ctx, Desired, FieldChange, Observed, Reconciler } from '../engine/types.js';
import { IAM_NOT_FOUND, roleDetails } from './iam-shared.js';
import { adoptions, allPages, assertApplicable, assertKnown, defaultAwsName, identify, ignoreNotFound, isError, mapLimit, readOrAbsent, tryRef } from './services-shared.js';

export type InstanceProfileLive = {
  instanceProfileName: string;
  path: string;
  /** The role it holds (AWS allows one). */
  role?: string;
};

export const profileNameOf = (d: Desired<'instance-profile'>, live?: Observed): string =>
  d.spec.instanceProfileName ?? (d.spec.adopt && live ? (live.live as InstanceProfileLive).instanceProfileName : defaultAwsName(d.stack, d.name));

/** The role name the spec wants: a role of the spec (UNKNOWN until it exists), or an existing role's name. */
const wantedRole = (d: Desired<'instance-profile'>): string => tryRef(d, d.spec.role)?.name ?? d.spec.role;

function observedOf(p: InstanceProfile, tags: Record<string, string>, who: { name: string; management: Observed['management'] }): Observed<InstanceProfileLive> {
  return {
    id: p.InstanceProfileName!,
    name: who.name,
    management: who.management,
    live: { instanceProfileName: p.InstanceProfileName!, path: p.Path ?? '/', role: p.Roles?.[0]?.RoleName },
    tags,
    outputs: { id: p.InstanceProfileName!, name: p.InstanceProfileName!, arn: p.Arn! },
  };
}

async function listProfiles(ctx: Ctx): Promise<InstanceProfile[]> {
  const iam = await ctx.aws.iam();
  return allPages(async (Marker) => {
    const r = await iam.send(new ListInstanceProfilesCommand({ Marker, MaxItems: 1000 }));
    return { items: r.InstanceProfiles, next: r.IsTruncated ? r.Marker : undefined };
  });
}

/** A profile's tags: from the list where it has them (moto), else GetInstanceProfile (AWS). */
async function withTags(ctx: Ctx, profiles: InstanceProfile[]): Promise<{ p: InstanceProfile; tags: Record<string, string> }[]> {
  const iam = await ctx.aws.iam();
  const out = await mapLimit(profiles, async (p) => {
    if (p.Tags?.length) return { p, tags: tagsFromList(p.Tags) };
    const r = await readOrAbsent(() => iam.send(new GetInstanceProfileCommand({ InstanceProfileName: p.InstanceProfileName! })), ...IAM_NOT_FOUND);
    return r?.InstanceProfile ? { p: r.InstanceProfile, tags: tagsFromList(r.InstanceProfile.Tags) } : undefined;
  });
  return out.filter((x): x is { p: InstanceProfile; tags: Record<string, string> } => x !== undefined);
}

async function readOne(ctx: Ctx, name: string, who: { name: string; management: Observed['management'] }): Promise<Observed<InstanceProfileLive>> {
  const iam = await ctx.aws.iam();
  const p = (await iam.send(new GetInstanceProfileCommand({ InstanceProfileName: name }))).InstanceProfile!;
  return observedOf(p, tagsFromList(p.Tags), who);
}

/** The role the profile holds now, read again (undefined when it holds none or is gone). */
async function roleNow(ctx: Ctx, name: string): Promise<string | undefined> {
  const iam = await ctx.aws.iam();
  const r = await readOrAbsent(() => iam.send(new GetInstanceProfileCommand({ InstanceProfileName: name })), ...IAM_NOT_FOUND);
  return r?.InstanceProfile?.Roles?.[0]?.RoleName;
}

/**
 * Add or remove the profile's role, idempotently: a call whose first answer was lost is retried by
 * the SDK, and the retry of an add that happened fails (AWS: LimitExceeded; moto: a 500), as does the
 * retry of a remove that happened. When a call fails, the profile is read again: if it already holds
 * what was wanted, the call did its work.
 */
async function setRole(ctx: Ctx, name: string, op: 'add' | 'remove', role: string): Promise<void> {
  const iam = await ctx.aws.iam();
  const args = { InstanceProfileName: name, RoleName: role };
  try {
    await iam.send(op === 'add' ? new AddRoleToInstanceProfileCommand(args) : new RemoveRoleFromInstanceProfileCommand(args));
  } catch (e) {
    if (isError(e, ...IAM_NOT_FOUND) && op === 'remove') return;
    const now = await roleNow(ctx, name);
    if (op === 'add' ? now === role : now !== role) return;
    throw e;
  }
}

const reconciler: Reconciler<'instance-profile'> = {
  kind: 'instance-profile',

  async observe(ctx, desired) {
    const adopted = adoptions(desired);
    const [all, roles] = await Promise.all([listProfiles(ctx), roleDetails(ctx)]);
    const stackRoles = new Set(roles.filter((r) => tagsFromList(r.Tags)[TAG_STACK] === ctx.stack).map((r) => r.RoleName!));
    const names = new Set([...desired.map((d) => profileNameOf(d)), ...adopted.keys()]);
    const candidates = all.filter(
      (p) => (p.Tags?.length ? tagsFromList(p.Tags)[TAG_STACK] === ctx.stack : false) || names.has(p.InstanceProfileName!) || adopted.has(p.Arn!) || (p.Roles ?? []).some((r) => stackRoles.has(r.RoleName!)),
    );
    const out: Observed[] = [];
    for (const { p, tags } of await withTags(ctx, candidates)) {
      const who = identify(tags, ctx.stack, adopted, [p.InstanceProfileName, p.Arn]);
      if (who) out.push(observedOf(p, tags, who));
    }
    return out;
  },

  async nameHolders(ctx, desired) {
    const names = new Set(desired.map((d) => profileNameOf(d)));
    const held = await withTags(ctx, (await listProfiles(ctx)).filter((p) => names.has(p.InstanceProfileName!)));
    return holdersByName(desired, (d) => profileNameOf(d), 'instanceProfileName', held.map(({ p, tags }) => ({ awsName: p.InstanceProfileName!, adoptId: p.InstanceProfileName!, tags })));
  },

  diff(d, o) {
    const live = o.live as InstanceProfileLive;
    const out: FieldChange[] = [
      ...field('instanceProfileName', live.instanceProfileName, profileNameOf(d, o), true),
      ...field('path', live.path, d.spec.path, true),
      ...field('role', live.role, wantedRole(d)),
    ];
    return out;
  },

  async create(ctx, d) {
    const s = d.spec;
    if (s.adopt) throw new Error(`${d.address}: adopt: ${s.adopt} names no instance profile (remove adopt: to create one)`);
    const role = wantedRole(d);
    assertKnown(d.address, 'role', role);
    const iam = await ctx.aws.iam();
    const name = profileNameOf(d);
    try {
      await iam.send(new CreateInstanceProfileCommand({ InstanceProfileName: name, Path: s.path, Tags: tagsToList(d.tags) }));
    } catch (e) {
      if (!isError(e, 'EntityAlreadyExists', 'EntityAlreadyExistsException')) throw e;
      // An earlier create whose answer was lost made it: ours by its tags, anything else refused.
      const o = await readOne(ctx, name, { name: d.name, management: 'owned' });
      if (o.tags[TAG_STACK] !== ctx.stack || o.tags[TAG_ID] !== d.name)
        throw new Error(`${d.address}: an instance profile named ${name} already exists and is not this stack's: adopt it (adopt: ${name}) or choose another instanceProfileName`);
      if (o.live.role === role) return o;
    }
    await setRole(ctx, name, 'add', role);
    return readOne(ctx, name, { name: d.name, management: 'owned' });
  },

  async update(ctx, d, o, changes) {
    assertApplicable(d.address, changes);
    const iam = await ctx.aws.iam();
    const live = o.live as InstanceProfileLive;
    const InstanceProfileName = o.id;
    if (changes.some((c) => c.path === 'role')) {
      if (live.role) await setRole(ctx, InstanceProfileName, 'remove', live.role);
      await setRole(ctx, InstanceProfileName, 'add', wantedRole(d));
    }
    const { set, remove } = tagUpdates(changes);
    if (Object.keys(set).length) await iam.send(new TagInstanceProfileCommand({ InstanceProfileName, Tags: tagsToList(set) }));
    if (remove.length) await iam.send(new UntagInstanceProfileCommand({ InstanceProfileName, TagKeys: remove }));
    return readOne(ctx, InstanceProfileName, { name: d.name, management: { ...o.tags, ...set }[TAG_STACK] === ctx.stack ? 'owned' : o.management });
  },

  async delete(ctx, o) {
    const iam = await ctx.aws.iam();
    const live = o.live as InstanceProfileLive;
    if (live.role) await setRole(ctx, o.id, 'remove', live.role);
    await ignoreNotFound(() => iam.send(new DeleteInstanceProfileCommand({ InstanceProfileName: o.id })), ...IAM_NOT_FOUND);
  },

  permissions: {
    observe: ['iam:ListInstanceProfiles', 'iam:GetInstanceProfile', 'iam:GetAccountAuthorizationDetails'],
    create: ['iam:CreateInstanceProfile', 'iam:TagInstanceProfile', 'iam:GetInstanceProfile', 'iam:AddRoleToInstanceProfile', 'iam:PassRole'],
    update: ['iam:RemoveRoleFromInstanceProfile', 'iam:AddRoleToInstanceProfile', 'iam:TagInstanceProfile', 'iam:UntagInstanceProfile', 'iam:GetInstanceProfile', 'iam:PassRole'],
    delete: ['iam:RemoveRoleFromInstanceProfile', 'iam:DeleteInstanceProfile'],
  },
};

export default reconciler;
