// What an instance or a launch template takes from outside its spec, and what both write the same
// way. prepare resolves the outside values before anything is decided and hands them to diff, create
// and update as one value (LaunchInputs), so diff reads no cache and no file:
// - ami: the AMI id as written, or the newest image an AMI query matches (one DescribeImages per
//   distinct query, src/aws/ami.ts), with every image the query matches: a running instance on one
//   of them is kept when a newer build appears;
// - keyName: the name of a key pair id written in place of a key-pair reference (RunInstances and
//   launch templates take names); every such id of the kind in one DescribeKeyPairs;
// - userData: the bytes and hash of inline text or a file (src/inputs/user-data.ts).
// What cannot be resolved is a problem of that resource (the plan fails before any write); an AWS
// that cannot be asked at all (no credentials, no network) fails the command once.
import { describeAmiQuery, lookupAmi } from '../aws/ami.js';
import { cannotAskAws } from '../aws/errors.js';
import { resolveUserData, type ResolvedUserData } from '../inputs/user-data.js';
import { UNKNOWN, type Ctx, type Desired, type Prepared } from '../engine/types.js';
import { describeKeyPairs } from './key-pair.js';
import { preparedNow } from './shared.js';

/** Set on instances launched from a stack's launch template: the template (or group) that owns them. */
export const TAG_OWNER = 'reconcile:owner';

export interface LaunchInputs {
  /** The AMI id: the spec's, or the newest image its query matches. */
  ami: string;
  /** Every available image the spec's query matches ([] for an AMI id). */
  amiMatching: string[];
  /** The key pair name of a key pair id written as keyPair. */
  keyName?: string;
  userData?: ResolvedUserData;
}

const KEY_PAIR_ID = /^key-[0-9a-f]+$/;

/** The key pair ids written as keyPair (in place of a key-pair reference). */
const externalKeyPairIds = (desired: Desired<'instance' | 'launch-template'>[]): string[] =>
  [...new Set(desired.map((d) => d.spec.keyPair).filter((k): k is string => !!k && KEY_PAIR_ID.test(k)))];

/** Key pair names by id, in one DescribeKeyPairs; ids that do not exist are left out. */
async function keyPairNames(ctx: Ctx, ids: string[]): Promise<Map<string, string>> {
  if (!ids.length) return new Map();
  const found = await describeKeyPairs(ctx, [{ Name: 'key-pair-id', Values: ids }]);
  return new Map(found.map((k) => [k.KeyPairId!, k.KeyName!]));
}

/**
 * The prepare of instances and launch templates: each AMI query looked up (the id and the image's
 * name shown in the plan), key pairs named by id found, user data read.
 */
export async function prepareLaunchInputs(ctx: Ctx, desired: Desired<'instance' | 'launch-template'>[]): Promise<Prepared<LaunchInputs>[]> {
  const rethrowUnreachable = (e: unknown): string => {
    if (cannotAskAws(e)) throw e;
    return (e as Error).message ?? String(e);
  };
  let names = new Map<string, string>();
  let keyPairProblem: string | undefined;
  await keyPairNames(ctx, externalKeyPairIds(desired)).then(
    (n) => (names = n),
    (e) => (keyPairProblem = rethrowUnreachable(e)),
  );
  return Promise.all(
    desired.map(async (d): Promise<Prepared<LaunchInputs>> => {
      const out: Prepared<LaunchInputs> = { name: d.name, resolved: [], problems: [] };
      const spec = d.spec.ami;
      let ami = typeof spec === 'string' ? spec : undefined;
      let amiMatching: string[] = [];
      if (typeof spec !== 'string') {
        try {
          const image = await lookupAmi(ctx.aws, spec);
          ({ id: ami, matching: amiMatching } = image);
          out.resolved.push({ field: 'ami', value: image.id, detail: `${image.name}, the newest of ${describeAmiQuery(spec)}` });
        } catch (e) {
          out.problems.push(rethrowUnreachable(e));
        }
      }
      const key = d.spec.keyPair;
      const keyName = key && KEY_PAIR_ID.test(key) ? names.get(key) : undefined;
      if (key && KEY_PAIR_ID.test(key) && !keyName) out.problems.push(keyPairProblem ?? `key pair ${key} does not exist in ${ctx.region}`);
      let userData: ResolvedUserData | undefined;
      try {
        userData = resolveUserData(d.spec.userData, d.specDir, d.address);
        if (userData && userData.source !== 'inline') out.resolved.push({ field: 'userData', value: `sha256:${userData.sha256.slice(0, 12)}`, detail: userData.source });
      } catch (e) {
        out.problems.push((e as Error).message);
      }
      if (!out.problems.length) out.inputs = { ami: ami!, amiMatching, keyName, userData };
      return out;
    }),
  );
}

/** The inputs, or an error naming the resource when prepare has not resolved them. */
export function inputsOf(d: Desired, inputs: LaunchInputs | undefined): LaunchInputs {
  if (!inputs) throw new Error(`${d.address}: its AMI, key pair and user data have not been resolved (prepare resolves them before diff)`);
  return inputs;
}

/**
 * The key name a reference stands for: a key-pair resource's keyName output, the name prepare found
 * for a key pair id, or UNKNOWN while the key pair is to be created.
 */
export function keyNameFromRef(desired: Desired, ref: string, inputs: LaunchInputs): string {
  const o = desired.ref(ref);
  if (o.keyName) return o.keyName;
  if (o.id === UNKNOWN) return UNKNOWN;
  if (KEY_PAIR_ID.test(o.id)) {
    if (!inputs.keyName) throw new Error(`${desired.address}: key pair ${o.id} does not exist`);
    return inputs.keyName;
  }
  return o.id;
}

/** What an instance and a launch template both launch with, references and inputs resolved. */
export interface WantedLaunch {
  ami: string;
  instanceType: string;
  securityGroups: string[];
  keyPair?: string;
  /** "sha256:<hex>" of the user data. */
  userData?: string;
  userDataSensitive: boolean;
  monitoring: boolean;
  publicIp?: boolean;
  iamInstanceProfile?: string;
}

/** Pure: what the spec of an instance or a launch template launches with, given its inputs. */
export function wantedLaunch(d: Desired<'instance'> | Desired<'launch-template'>, inputs: LaunchInputs): WantedLaunch {
  const s = d.spec;
  const ud = inputs.userData;
  return {
    ami: inputs.ami,
    instanceType: s.instanceType,
    securityGroups: s.securityGroups.map((g) => (d as Desired).ref(g).id),
    keyPair: s.keyPair !== undefined ? keyNameFromRef(d as Desired, s.keyPair, inputs) : undefined,
    userData: ud ? `sha256:${ud.sha256}` : undefined,
    userDataSensitive: !!ud?.sensitive,
    monitoring: s.monitoring,
    publicIp: s.publicIp,
    iamInstanceProfile: wantedProfile(d),
  };
}

/** The last path segment of an instance profile ARN: its name. */
const profileName = (arn: string | undefined) => arn?.split('/').pop();

/**
 * iamInstanceProfile as AWS takes it: an instance-profile of the spec by its ARN (UNKNOWN until it
 * exists), else the name or ARN the spec writes (an existing profile).
 */
export function wantedProfile(d: Desired<'instance'> | Desired<'launch-template'>): string | undefined {
  const p = d.spec.iamInstanceProfile;
  if (!p || p.startsWith('arn:')) return p;
  try {
    return (d as Desired).ref(p).arn ?? p;
  } catch {
    return p; // not in the spec: an existing profile's name
  }
}

/** The IamInstanceProfile parameter of RunInstances / a launch template for a wanted profile. */
export const profileParam = (p: string | undefined) => (p ? (p.startsWith('arn:') ? { Arn: p } : { Name: p }) : undefined);

/** The live profile (an ARN) in the spec's own form: an ARN when the spec gives an ARN, else the name. */
export function comparableProfile(liveArn: string | undefined, wanted: string | undefined): string | undefined {
  if (!liveArn) return undefined;
  return wanted?.startsWith('arn:') ? liveArn : profileName(liveArn);
}

/** The inputs of a create or an update: those handed, or (outside a plan) resolved now. */
export const launchInputs = (ctx: Ctx, d: Desired<'instance' | 'launch-template'>, inputs: LaunchInputs | undefined): Promise<LaunchInputs> =>
  preparedNow(prepareLaunchInputs, ctx, d, inputs);
