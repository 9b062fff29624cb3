// `reconcile policy SPEC [--json]`: the least-privilege IAM policy for exactly this spec -- plan,
// apply, watch and destroy -- derived from what each reconciler declares it calls (`permissions`),
// never from a hand-kept list:
// - every phase (observe, create, update, delete) of each kind in the spec;
// - observe of every other kind: plan reads every kind of each service the spec uses, and destroy
//   and prune read every kind (they find what the stack owns by its tags);
// - what `watch` calls to evaluate the spec's alert rules;
// - the stack lock's object, when the spec or --lock-bucket names a lock bucket.
// Resources are narrowed where AWS allows it and the tool knows the name up front: S3 calls go to
// the spec's buckets and the lock object only. Everything else is "*": describes and lists take no
// narrower resource, and the ids of what a create makes are not known before it runs.
import { VIRTUAL_KINDS, reconcilerFor } from '../reconcilers/index.js';
import { KIND_NAMES, type KindName, type SpecOf } from '../spec/schema.js';
import type { LoadedSpec } from '../spec/types.js';
import { resolveLock } from '../lock/config.js';
import { lockKey } from '../lock/object.js';
import { chooseStore } from '../watch/state-store.js';
import { loadOrThrow, type GlobalOptions, type Io } from './common.js';

export interface PolicyStatement {
  Sid: string;
  Effect: 'Allow';
  Action: string[];
  Resource: string | string[];
  Condition?: Record<string, Record<string, string | string[]>>;
}

export interface PolicyDocument {
  Version: '2012-10-17';
  Statement: PolicyStatement[];
}

export interface SpecPolicy {
  document: PolicyDocument;
  /** For humans: why the policy is as wide as it is. */
  notes: string[];
}

/**
 * What `watch` calls to evaluate one alert rule (src/watch; keep the two in step): one
 * DescribeInstances resolves every rule's targets (a group's instances by their
 * aws:autoscaling:groupName tag), GetMetricData reads the metric, Publish notifies. Its
 * sts:GetCallerIdentity (the account of a topic ARN) needs no permission.
 */
export function alertRulePermissions(rule: SpecOf<'alert-rule'>): string[] {
  const out = ['ec2:DescribeInstances', 'cloudwatch:GetMetricData'];
  if (rule.notify) out.push('sns:Publish');
  return out;
}

/**
 * The roles the spec hands to EC2 (iam:PassRole), by ARN: the role of every instance profile an
 * instance or launch template names, and of every instance-profile of the spec (adding a role to a
 * profile passes it too). A role of the spec has its own name and path; the role of a profile
 * outside the spec is taken to have the profile's name and path (as the console makes them; the
 * policy's notes say so). The account is the profile ARN's, or any.
 */
export function passedRoles(loaded: LoadedSpec, arn: string): string[] {
  const roles = new Set<string>();
  const byName = new Map(loaded.resources.map((r) => [r.name, r]));
  const roleArn = (role: string): string => {
    const r = byName.get(role);
    if (r?.kind !== 'iam-role') return role.startsWith('arn:') ? role : `${arn}:iam::*:role/${role}`;
    const b = r.body as SpecOf<'iam-role'>;
    return `${arn}:iam::*:role${b.path}${b.roleName ?? `${loaded.spec.stack}-${r.name}`}`;
  };
  const specProfile = (name: string) => {
    const p = byName.get(name);
    return p?.kind === 'instance-profile' ? (p.body as SpecOf<'instance-profile'>) : undefined;
  };
  for (const r of loaded.resources) {
    if (r.kind === 'instance-profile') roles.add(roleArn((r.body as SpecOf<'instance-profile'>).role));
    const profile = (r.body as { iamInstanceProfile?: string }).iamInstanceProfile;
    if ((r.kind !== 'instance' && r.kind !== 'launch-template') || !profile) continue;
    const own = specProfile(profile);
    if (own) {
      roles.add(roleArn(own.role));
      continue;
    }
    const m = /^arn:[^:]+:iam::(\d*):instance-profile\/(.+)$/.exec(profile);
    roles.add(m ? `${arn}:iam::${m[1] || '*'}:role/${m[2]}` : `${arn}:iam::*:role/${profile}`);
  }
  return [...roles].sort();
}

export const partitionOf = (region: string): string => (region.startsWith('cn-') ? 'aws-cn' : region.includes('-gov-') ? 'aws-us-gov' : 'aws');

/** IAM service prefix -> a Sid-friendly name. */
const SID_NAME: Record<string, string> = {
  ec2: 'Ec2',
  autoscaling: 'AutoScaling',
  elasticloadbalancing: 'LoadBalancing',
  cloudwatch: 'CloudWatch',
  sns: 'Sns',
  s3: 'S3',
  iam: 'Iam',
  sts: 'Sts',
  tag: 'Tagging',
};

export async function specPolicy(loaded: LoadedSpec, opts: { lockBucket?: string } = {}): Promise<SpecPolicy> {
  const { spec } = loaded;
  const arn = `arn:${partitionOf(spec.region)}`;
  // Kinds the spec may change. A kind whose every resource is only read (lookup: default, a key pair
  // with existing: true) is observed, never created, changed or deleted.
  const readOnly = (body: unknown) => {
    const b = body as { lookup?: unknown; existing?: unknown };
    return b.lookup !== undefined || b.existing === true;
  };
  const inSpec = new Set(loaded.resources.filter((r) => !VIRTUAL_KINDS.has(r.kind) && !readOnly(r.body)).map((r) => r.kind));
  const buckets = loaded.resources.filter((r) => r.kind === 's3-bucket').map((r) => (r.body as SpecOf<'s3-bucket'>).bucketName);
  const bucketArns = [...new Set(buckets)].sort().flatMap((b) => [`${arn}:s3:::${b}`, `${arn}:s3:::${b}/*`]);
  const notes: string[] = [];

  // action -> resources, and a statement group per (purpose, service, resources).
  const groups = new Map<string, { sid: string; actions: Set<string>; resource: string[] }>();
  const everywhere = new Set<string>();
  const allow = (sid: string, action: string, resource: string[]) => {
    if (everywhere.has(action)) return;
    if (resource.length === 1 && resource[0] === '*') everywhere.add(action);
    const key = `${sid}\u0000${resource.join(',')}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { sid, actions: new Set(), resource }));
    g.actions.add(action);
  };
  const service = (action: string) => action.split(':')[0];

  let droppedS3 = false;
  for (const kind of KIND_NAMES.filter((k) => !VIRTUAL_KINDS.has(k)) as KindName[]) {
    const p = (await reconcilerFor(kind)).permissions;
    const actions = inSpec.has(kind) ? [...p.observe, ...p.create, ...p.update, ...p.delete] : p.observe;
    for (const action of actions) {
      if (action === 'iam:PassRole') continue; // only on the roles the spec names (passedRoles)
      const svc = service(action);
      const name = SID_NAME[svc] ?? svc.replace(/[^A-Za-z0-9]/g, '');
      if (svc === 's3' && action !== 's3:ListAllMyBuckets') {
        // Bucket and object calls go to the spec's buckets only; with none, the stack owns none to read.
        if (bucketArns.length) allow('S3Buckets', action, bucketArns);
        else droppedS3 = true;
      } else allow(name, action, ['*']);
    }
  }
  if (droppedS3)
    notes.push('The spec has no s3-bucket, so the policy allows no bucket reads: destroy and prune only list buckets (tags of buckets they may not read are treated as not this stack\'s).');

  const rules = loaded.resources.filter((r) => r.kind === 'alert-rule');
  for (const r of rules) {
    for (const action of alertRulePermissions(r.body as SpecOf<'alert-rule'>)) allow(`Watch${SID_NAME[service(action)] ?? ''}`, action, ['*']);
    // Alert state kept in S3 (the rule's stateBucket, else the lock bucket of the spec): its object only.
    const store = chooseStore(loaded, r.name);
    if (store.kind === 's3') {
      allow('WatchAlertState', 's3:GetObject', [`${arn}:s3:::${store.bucket}/${store.key}`]);
      allow('WatchAlertState', 's3:PutObject', [`${arn}:s3:::${store.bucket}/${store.key}`]);
      // So that state not written yet reads as 404, not 403.
      allow('WatchAlertStateBucket', 's3:ListBucket', [`${arn}:s3:::${store.bucket}`]);
    }
  }

  const lock = resolveLock(spec, { lockBucket: opts.lockBucket }).lock;
  if (lock) {
    allow('StackLock', 's3:GetObject', [`${arn}:s3:::${lock.bucket}/${lockKey(spec.stack)}`]);
    allow('StackLock', 's3:PutObject', [`${arn}:s3:::${lock.bucket}/${lockKey(spec.stack)}`]);
    allow('StackLock', 's3:DeleteObject', [`${arn}:s3:::${lock.bucket}/${lockKey(spec.stack)}`]);
    // Without it, reading a lock that does not exist answers 403 instead of 404.
    allow('StackLockBucket', 's3:ListBucket', [`${arn}:s3:::${lock.bucket}`]);
  } else notes.push('No lock bucket (lock: { bucket } or --lock-bucket): the policy has no stack lock permissions.');

  const roles = passedRoles(loaded, arn);
  if (roles.length)
    notes.push(
      `iam:PassRole on ${roles.join(', ')} only, and only to EC2: the role of each instance profile the spec names (of a profile outside the spec, taken to have the profile's name, as the AWS console makes them; if its role has another name, put that role's ARN in the PassRole statement).`,
    );
  notes.push(
    'Resource "*" where AWS takes no narrower one (describe and list calls) or where the ids are not known before the create runs; S3 is narrowed to the spec\'s buckets and the lock object.',
    'Resources of a kind that is no longer in the spec can be found but not deleted with this policy: to prune or destroy them, use the policy of the spec that still had them.',
  );

  const statements: PolicyStatement[] = [...groups.values()].map((g) => ({
    Sid: g.sid,
    Effect: 'Allow' as const,
    Action: [...g.actions].sort(),
    Resource: g.resource.length === 1 ? g.resource[0] : g.resource,
  }));
  if (roles.length)
    statements.push({
      Sid: 'PassRole',
      Effect: 'Allow',
      Action: ['iam:PassRole'],
      Resource: roles.length === 1 ? roles[0] : roles,
      Condition: { StringEquals: { 'iam:PassedToService': 'ec2.amazonaws.com' } },
    });
  statements.sort((a, b) => a.Sid.localeCompare(b.Sid));
  // Sids must be unique within a policy.
  const seen = new Map<string, number>();
  for (const s of statements) {
    const n = (seen.get(s.Sid) ?? 0) + 1;
    seen.set(s.Sid, n);
    if (n > 1) s.Sid = `${s.Sid}${n}`;
  }
  return { document: { Version: '2012-10-17', Statement: statements }, notes };
}

export function renderPolicyText(stack: string, p: SpecPolicy): string {
  const count = new Set(p.document.Statement.flatMap((s) => s.Action)).size;
  const lines = [`IAM policy for stack "${stack}" (plan, apply, watch, destroy): ${count} actions.`, ''];
  for (const s of p.document.Statement) {
    const res = Array.isArray(s.Resource) ? s.Resource.join(', ') : s.Resource;
    lines.push(`  ${s.Sid} on ${res}:`, `    ${s.Action.join(', ')}`);
  }
  lines.push('', 'Notes:', ...p.notes.map((n) => `  - ${n}`), '', 'Policy document (--json prints only this):', JSON.stringify(p.document, null, 2));
  return lines.join('\n');
}

export async function policyCommand(file: string, opts: { json?: boolean; lockBucket?: string }, g: GlobalOptions, io: Io): Promise<number> {
  const loaded = loadOrThrow(file, g);
  const p = await specPolicy(loaded, { lockBucket: opts.lockBucket });
  io.out(opts.json ? JSON.stringify(p.document, null, 2) : renderPolicyText(loaded.spec.stack, p));
  return 0;
}
