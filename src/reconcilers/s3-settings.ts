// The settings of a bucket, for the s3-bucket reconciler (s3-bucket.ts): versioning, default
// encryption, public access block, lifecycle and policy. Read with one call each (a setting that is
// not configured reads as its absence), compared in the spec's vocabulary, written one call each.
import {
  DeleteBucketEncryptionCommand,
  DeleteBucketLifecycleCommand,
  DeleteBucketPolicyCommand,
  DeletePublicAccessBlockCommand,
  GetBucketEncryptionCommand,
  GetBucketLifecycleConfigurationCommand,
  GetBucketPolicyCommand,
  GetBucketVersioningCommand,
  GetPublicAccessBlockCommand,
  PutBucketEncryptionCommand,
  PutBucketLifecycleConfigurationCommand,
  PutBucketPolicyCommand,
  PutBucketVersioningCommand,
  PutPublicAccessBlockCommand,
  type LifecycleRule,
  type S3Client,
  type ServerSideEncryption,
} from '../aws/sdk/s3.js';
import { field } from '../engine/diffutil.js';
import type { Desired, FieldChange } from '../engine/types.js';
import type { SpecOf } from '../spec/schema.js';
import { isError } from './services-shared.js';

type BucketSpec = SpecOf<'s3-bucket'>;

export type LifecycleRuleLive = {
  id: string;
  prefix: string;
  expireDays?: number;
  noncurrentExpireDays?: number;
  /** Present (false) only for a rule disabled in AWS. */
  enabled?: false;
};

export type PublicAccessBlockLive = boolean | { blockPublicAcls: boolean; ignorePublicAcls: boolean; blockPublicPolicy: boolean; restrictPublicBuckets: boolean };

export type BucketSettingsLive = {
  versioning: boolean;
  /** AES256, aws:kms, aws:kms:dsse, or none (no default encryption configured). */
  encryption: string;
  /** true: all four blocks on; false: none; otherwise the four flags as AWS has them. */
  publicAccessBlock: PublicAccessBlockLive;
  lifecycle: LifecycleRuleLive[];
  policy?: Record<string, unknown>;
};

// ---------------------------------------------------------------------------------------------
// Normalizing what AWS returns

/** A policy compared structurally: a one-element list and its element are the same to IAM. */
export function normalizePolicy(p: unknown): unknown {
  if (Array.isArray(p)) return p.length === 1 ? normalizePolicy(p[0]) : p.map(normalizePolicy);
  if (p && typeof p === 'object') return Object.fromEntries(Object.entries(p as Record<string, unknown>).map(([k, v]) => [k, normalizePolicy(v)]));
  return p;
}

export function lifecycleLive(rules: LifecycleRule[] | undefined): LifecycleRuleLive[] {
  return (rules ?? [])
    .map((r) => {
      const out: LifecycleRuleLive = { id: r.ID ?? '', prefix: r.Filter?.Prefix ?? r.Filter?.And?.Prefix ?? r.Prefix ?? '' };
      if (r.Expiration?.Days !== undefined) out.expireDays = r.Expiration.Days;
      if (r.NoncurrentVersionExpiration?.NoncurrentDays !== undefined) out.noncurrentExpireDays = r.NoncurrentVersionExpiration.NoncurrentDays;
      if (r.Status !== 'Enabled') out.enabled = false;
      return out;
    })
    .sort((a, b) => a.id.localeCompare(b.id));
}

function lifecycleDesired(spec: BucketSpec): LifecycleRuleLive[] {
  return spec.lifecycle
    .map((r) => {
      const out: LifecycleRuleLive = { id: r.id, prefix: r.prefix };
      if (r.expireDays !== undefined) out.expireDays = r.expireDays;
      if (r.noncurrentExpireDays !== undefined) out.noncurrentExpireDays = r.noncurrentExpireDays;
      return out;
    })
    .sort((a, b) => a.id.localeCompare(b.id));
}

// ---------------------------------------------------------------------------------------------
// Reading and comparing

/** undefined when the read fails with `absent` (the setting is not configured). NoSuchBucket throws. */
async function setting<T>(fn: () => Promise<T>, absent: string): Promise<T | undefined> {
  try {
    return await fn();
  } catch (e) {
    if (isError(e, absent)) return undefined;
    throw e;
  }
}

/** The five settings, read at once; and whether the bucket ignores public ACLs now. */
export async function readSettings(s3: S3Client, bucket: string): Promise<{ settings: BucketSettingsLive; ignoresPublicAcls: boolean }> {
  const [versioning, encryption, pab, lifecycle, policy] = await Promise.all([
    s3.send(new GetBucketVersioningCommand({ Bucket: bucket })),
    setting(() => s3.send(new GetBucketEncryptionCommand({ Bucket: bucket })), 'ServerSideEncryptionConfigurationNotFoundError'),
    setting(() => s3.send(new GetPublicAccessBlockCommand({ Bucket: bucket })), 'NoSuchPublicAccessBlockConfiguration'),
    setting(() => s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: bucket })), 'NoSuchLifecycleConfiguration'),
    setting(() => s3.send(new GetBucketPolicyCommand({ Bucket: bucket })), 'NoSuchBucketPolicy'),
  ]);
  const flags = pab?.PublicAccessBlockConfiguration;
  const f = {
    blockPublicAcls: !!flags?.BlockPublicAcls,
    ignorePublicAcls: !!flags?.IgnorePublicAcls,
    blockPublicPolicy: !!flags?.BlockPublicPolicy,
    restrictPublicBuckets: !!flags?.RestrictPublicBuckets,
  };
  const values = Object.values(f);
  const settings: BucketSettingsLive = {
    versioning: versioning.Status === 'Enabled',
    encryption: encryption?.ServerSideEncryptionConfiguration?.Rules?.[0]?.ApplyServerSideEncryptionByDefault?.SSEAlgorithm ?? 'none',
    publicAccessBlock: values.every(Boolean) ? true : values.some(Boolean) ? f : false,
    lifecycle: lifecycleLive(lifecycle?.Rules),
  };
  if (policy?.Policy) settings.policy = JSON.parse(policy.Policy) as Record<string, unknown>;
  return { settings, ignoresPublicAcls: f.ignorePublicAcls };
}

/** Pure: the settings that differ. */
export function diffSettings(s: BucketSpec, live: BucketSettingsLive): FieldChange[] {
  const out: FieldChange[] = [...field('versioning', live.versioning, s.versioning)];
  // S3 encrypts every bucket with AES256 by default and that cannot be turned off: "none" means
  // "no encryption of our own", which S3's default satisfies.
  const encryptionOk = s.encryption === 'none' ? ['none', 'AES256'].includes(live.encryption) : live.encryption === s.encryption;
  if (!encryptionOk) out.push({ path: 'encryption', before: live.encryption, after: s.encryption, forcesReplace: false });
  out.push(
    ...field('publicAccessBlock', live.publicAccessBlock, s.publicAccessBlock),
    ...field('lifecycle', live.lifecycle, lifecycleDesired(s)),
    ...field('policy', normalizePolicy(live.policy), normalizePolicy(s.policy)),
  );
  return out;
}

// ---------------------------------------------------------------------------------------------
// Writing

function lifecycleRules(d: Desired<'s3-bucket'>) {
  return d.spec.lifecycle.map((r) => {
    if (r.expireDays === undefined && r.noncurrentExpireDays === undefined)
      throw new Error(`${d.address}: lifecycle rule "${r.id}" does nothing: give it expireDays or noncurrentExpireDays`);
    return {
      ID: r.id,
      Status: 'Enabled' as const,
      Filter: { Prefix: r.prefix },
      ...(r.expireDays !== undefined ? { Expiration: { Days: r.expireDays } } : {}),
      ...(r.noncurrentExpireDays !== undefined ? { NoncurrentVersionExpiration: { NoncurrentDays: r.noncurrentExpireDays } } : {}),
    };
  });
}

const ALL_BLOCKED = { BlockPublicAcls: true, IgnorePublicAcls: true, BlockPublicPolicy: true, RestrictPublicBuckets: true };

/**
 * Writes the settings that changed (`has`: whether a field changed). A public access block being
 * removed goes first and one being set goes last, so a policy in between is never refused by it.
 */
export async function writeSettings(s3: S3Client, d: Desired<'s3-bucket'>, bucket: string, has: (field: string) => boolean): Promise<void> {
  const s = d.spec;
  const rules = has('lifecycle') ? lifecycleRules(d) : [];
  if (has('publicAccessBlock') && !s.publicAccessBlock) await s3.send(new DeletePublicAccessBlockCommand({ Bucket: bucket }));
  if (has('versioning'))
    await s3.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: s.versioning ? 'Enabled' : 'Suspended' } }));
  if (has('encryption')) {
    if (s.encryption === 'none') await s3.send(new DeleteBucketEncryptionCommand({ Bucket: bucket }));
    else
      await s3.send(
        new PutBucketEncryptionCommand({
          Bucket: bucket,
          ServerSideEncryptionConfiguration: { Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: s.encryption as ServerSideEncryption } }] },
        }),
      );
  }
  if (has('lifecycle')) {
    if (rules.length) await s3.send(new PutBucketLifecycleConfigurationCommand({ Bucket: bucket, LifecycleConfiguration: { Rules: rules } }));
    else await s3.send(new DeleteBucketLifecycleCommand({ Bucket: bucket }));
  }
  if (has('policy')) {
    if (s.policy) await s3.send(new PutBucketPolicyCommand({ Bucket: bucket, Policy: JSON.stringify(s.policy) }));
    else await s3.send(new DeleteBucketPolicyCommand({ Bucket: bucket }));
  }
  if (has('publicAccessBlock') && s.publicAccessBlock)
    await s3.send(new PutPublicAccessBlockCommand({ Bucket: bucket, PublicAccessBlockConfiguration: ALL_BLOCKED }));
}
