// s3-bucket: a bucket, its settings (versioning, default encryption, public access block, lifecycle,
// policy) and the objects the spec uploads into it.
//
// observe: S3 has no tag filter on ListBuckets and bucket names are always the user's own (no
// <stack>- default to filter on), so: ListBuckets of the region (1 call per 10,000 buckets) says
// which buckets are in the region, and the tag index (tag-index.ts: one GetResources for every
// indexed kind of the plan, tags included) which of them the stack owns -- that is what lets a
// bucket that left the spec, or was renamed in it, be found and pruned. GetBucketTagging is read
// only for a bucket the spec names (bucketName, `adopt:`) that the index does not list. For each
// owned or adopted bucket: 5 reads (versioning, encryption, public access block, lifecycle, policy)
// and, per object (named in the spec or uploaded by us before), HeadObject, plus GetObjectAcl where
// an ACL can make it public (not in a bucket that ignores public ACLs and is to keep doing so).
// Total for N buckets of ours with K objects, converged: 1 + 5N + K reads (+ K with public objects
// allowed), whatever else the region holds. Desired object content is
// loaded here too (files read, URLs fetched) so diff can compare hashes.
//
// Objects: uploaded with the metadata entry sha256 (hex sha256 of the content) and re-uploaded only
// when the hash (or the ETag, an MD5, for objects without it) differs. The keys the stack uploaded
// are kept in the bucket's tags (reconcile:objects, reconcile:objects:1, ...: base64url of a JSON
// list), so an object removed from the spec is deleted and nothing else in the bucket (logs) is
// touched. `forceDestroy` is kept as the tag reconcile:force-destroy, so a bucket deleted after it
// left the spec still knows whether it may be emptied. Both tags are internal: not in
// Observed.tags, never diffed as tags.
// In place: every setting, objects, tags. Replace: bucketName.
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteBucketEncryptionCommand,
  DeleteBucketLifecycleCommand,
  DeleteBucketPolicyCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  DeletePublicAccessBlockCommand,
  GetBucketEncryptionCommand,
  GetBucketLifecycleConfigurationCommand,
  GetBucketPolicyCommand,
  GetBucketTaggingCommand,
  GetBucketVersioningCommand,
  GetObjectAclCommand,
  GetPublicAccessBlockCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListObjectVersionsCommand,
  PutBucketEncryptionCommand,
  PutBucketLifecycleConfigurationCommand,
  PutBucketOwnershipControlsCommand,
  PutBucketPolicyCommand,
  PutBucketTaggingCommand,
  PutBucketVersioningCommand,
  PutObjectAclCommand,
  PutObjectCommand,
  PutPublicAccessBlockCommand,
  type LifecycleRule,
  type S3Client,
  type ServerSideEncryption,
} from '../aws/sdk/s3.js';
import { indexedOf } from './tag-index.js';
import { contentHash, contentTypeOf, loadContent, type ContentHash } from '../inputs/content.js';
import { TAG_ID, TAG_STACK, diffTags, tagsFromList, tagsToList } from '../aws/tags.js';
import { field } from '../engine/diffutil.js';
import { UNKNOWN, type Ctx, type Desired, type FieldChange, type Observed, type Outputs, type Reconciler } from '../engine/types.js';
import type { SpecOf } from '../spec/schema.js';
import {
  adoptions,
  allPages,
  changesUnder,
  identify,
  isError,
  mapLimit,
  retryWhile,
} from './services-shared.js';

export const TAG_OBJECTS = 'reconcile:objects';
export const TAG_FORCE_DESTROY = 'reconcile:force-destroy';
const isInternalTag = (k: string) => k === TAG_OBJECTS || k.startsWith(`${TAG_OBJECTS}:`) || k === TAG_FORCE_DESTROY;

/** S3 allows 50 tags on a bucket; a tag value holds at most 256 characters. */
const MAX_TAGS = 50;
const TAG_VALUE_MAX = 256;

export type BucketObjectLive = {
  /** The metadata entry sha256, when the object has one. */
  sha256?: string;
  /** The ETag when it is the content's MD5 (single-part upload, not KMS-encrypted). */
  md5?: string;
  contentType?: string;
  /** Readable by anyone through its ACL. */
  public: boolean;
};

export type LifecycleRuleLive = {
  id: string;
  prefix: string;
  expireDays?: number;
  noncurrentExpireDays?: number;
  /** Present (false) only for a rule disabled in AWS. */
  enabled?: false;
};

export type PublicAccessBlockLive = boolean | { blockPublicAcls: boolean; ignorePublicAcls: boolean; blockPublicPolicy: boolean; restrictPublicBuckets: boolean };

export type BucketLive = {
  bucketName: string;
  versioning: boolean;
  /** AES256, aws:kms, aws:kms:dsse, or none (no default encryption configured). */
  encryption: string;
  /** true: all four blocks on; false: none; otherwise the four flags as AWS has them. */
  publicAccessBlock: PublicAccessBlockLive;
  lifecycle: LifecycleRuleLive[];
  policy?: Record<string, unknown>;
  /** By key: objects named in the spec or uploaded by the stack before, that exist. */
  objects: Record<string, BucketObjectLive>;
  forceDestroy: boolean;
};

type BucketSpec = SpecOf<'s3-bucket'>;
type ObjectSpec = BucketSpec['objects'][number];

// ---------------------------------------------------------------------------------------------
// Internal tags

/** The tags that record which keys the stack uploaded. */
export function inventoryTags(keys: string[]): Record<string, string> {
  if (!keys.length) return {};
  const value = Buffer.from(JSON.stringify([...new Set(keys)].sort()), 'utf8').toString('base64url');
  const out: Record<string, string> = {};
  for (let i = 0; i * TAG_VALUE_MAX < value.length; i++) out[i ? `${TAG_OBJECTS}:${i}` : TAG_OBJECTS] = value.slice(i * TAG_VALUE_MAX, (i + 1) * TAG_VALUE_MAX);
  return out;
}

/** The keys recorded by inventoryTags ([] when absent or unreadable). */
export function inventoryFrom(tags: Record<string, string>): string[] {
  const parts = Object.keys(tags)
    .filter((k) => k === TAG_OBJECTS || k.startsWith(`${TAG_OBJECTS}:`))
    .map((k) => ({ i: k === TAG_OBJECTS ? 0 : Number(k.slice(TAG_OBJECTS.length + 1)), v: tags[k] }))
    .sort((a, b) => a.i - b.i);
  if (!parts.length) return [];
  try {
    const keys = JSON.parse(Buffer.from(parts.map((p) => p.v).join(''), 'base64url').toString('utf8')) as unknown;
    return Array.isArray(keys) ? keys.filter((k): k is string => typeof k === 'string') : [];
  } catch {
    return [];
  }
}

/** Every tag the bucket must carry: the desired ones, forceDestroy, and the object inventory. */
function allTags(d: Desired<'s3-bucket'>): Record<string, string> {
  const tags: Record<string, string> = { ...d.tags };
  if (d.spec.forceDestroy) tags[TAG_FORCE_DESTROY] = 'true';
  Object.assign(tags, inventoryTags(d.spec.objects.map((o) => o.key)));
  const n = Object.keys(tags).length;
  if (n > MAX_TAGS)
    throw new Error(
      `${d.address}: the bucket would need ${n} tags (its tags plus ${n - Object.keys(d.tags).length} holding the list of its objects' keys), more than the 50 S3 allows: use fewer or shorter object keys, or fewer tags`,
    );
  return tags;
}

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

const short = (hex: string) => hex.slice(0, 12);

/** What diff shows for an object's content: a short hash, never the content. */
export const contentLabel = (h: { sha256?: string; md5?: string } | undefined): string =>
  h === undefined ? UNKNOWN : h.sha256 ? `sha256:${short(h.sha256)}` : h.md5 ? `md5:${short(h.md5)}` : 'present (no hash)';

/** Same content when every hash the live object has matches (and it has at least one). */
export function sameContent(l: BucketObjectLive, want: ContentHash): boolean {
  if (!l.sha256 && !l.md5) return false;
  return (!l.sha256 || l.sha256 === want.sha256) && (!l.md5 || l.md5 === want.md5);
}

/** An object is public only when the spec asks and the bucket's public access block is off. */
const wantsPublic = (spec: BucketSpec, o: ObjectSpec) => o.public && !spec.publicAccessBlock;

function diffObjects(d: Desired<'s3-bucket'>, live: BucketLive): FieldChange[] {
  const out: FieldChange[] = [];
  const wanted = new Set<string>();
  for (const o of d.spec.objects) {
    wanted.add(o.key);
    const path = `objects[${o.key}]`;
    const want = contentHash(d.specDir, o);
    const l = live.objects[o.key];
    if (!l) {
      out.push({ path, before: undefined, after: contentLabel(want && { sha256: want.sha256 }), forcesReplace: false });
      continue;
    }
    if (!want || !sameContent(l, want)) {
      const before = l.sha256 && l.sha256 !== want?.sha256 ? contentLabel({ sha256: l.sha256 }) : contentLabel({ md5: l.md5 });
      out.push({ path, before, after: contentLabel(want && { sha256: want.sha256 }), forcesReplace: false });
    }
    out.push(...field(`${path}.contentType`, l.contentType, contentTypeOf(o)));
    out.push(...field(`${path}.public`, l.public, wantsPublic(d.spec, o)));
  }
  for (const [key, l] of Object.entries(live.objects))
    if (!wanted.has(key)) out.push({ path: `objects[${key}]`, before: contentLabel(l), after: undefined, forcesReplace: false });
  return out;
}

// ---------------------------------------------------------------------------------------------
// Reading

/** undefined when the read fails with `absent` (the setting is not configured). NoSuchBucket throws. */
async function setting<T>(fn: () => Promise<T>, absent: string): Promise<T | undefined> {
  try {
    return await fn();
  } catch (e) {
    if (isError(e, absent)) return undefined;
    throw e;
  }
}

/** Whether an object's ACL makes it readable by anyone (false when the key is gone or ACLs are off). */
async function publicByAcl(s3: S3Client, bucket: string, key: string): Promise<boolean> {
  try {
    const acl = await s3.send(new GetObjectAclCommand({ Bucket: bucket, Key: key }));
    return (acl.Grants ?? []).some((g) => g.Grantee?.URI?.endsWith('/global/AllUsers') && (g.Permission === 'READ' || g.Permission === 'FULL_CONTROL'));
  } catch (e) {
    // Gone (or not there at all), or ACLs not readable on this bucket: not public through an ACL.
    if (!isError(e, 'NoSuchKey', 'NotFound', 'AccessControlListNotSupported')) throw e;
    return false;
  }
}

/**
 * An object's hashes, content type and public ACL: HeadObject, then (if it exists and `readAcl`)
 * GetObjectAcl. Without `readAcl` the ACL is taken as not public: the caller knows it cannot matter.
 */
async function readObject(s3: S3Client, bucket: string, key: string, readAcl: boolean): Promise<BucketObjectLive | undefined> {
  let head;
  try {
    head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
  } catch (e) {
    if (isError(e, 'NotFound', 'NoSuchKey')) return undefined;
    throw e;
  }
  const isPublic = readAcl && (await publicByAcl(s3, bucket, key));
  const etag = (head.ETag ?? '').replace(/"/g, '');
  const kms = head.ServerSideEncryption?.startsWith('aws:kms') || !!head.SSECustomerAlgorithm;
  const out: BucketObjectLive = { public: isPublic };
  if (head.Metadata?.sha256) out.sha256 = head.Metadata.sha256;
  if (!kms && /^[0-9a-f]{32}$/.test(etag)) out.md5 = etag;
  if (head.ContentType) out.contentType = head.ContentType;
  return out;
}

async function readBucket(
  ctx: Ctx,
  bucket: string,
  rawTags: Record<string, string>,
  who: { name: string; management: Observed['management'] },
  d: Desired<'s3-bucket'> | undefined,
): Promise<Observed<BucketLive>> {
  const s3 = await ctx.aws.s3();
  const [versioning, encryption, pab, lifecycle, policy] = await Promise.all([
    s3.send(new GetBucketVersioningCommand({ Bucket: bucket })),
    setting(() => s3.send(new GetBucketEncryptionCommand({ Bucket: bucket })), 'ServerSideEncryptionConfigurationNotFoundError'),
    setting(() => s3.send(new GetPublicAccessBlockCommand({ Bucket: bucket })), 'NoSuchPublicAccessBlockConfiguration'),
    setting(() => s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: bucket })), 'NoSuchLifecycleConfiguration'),
    setting(() => s3.send(new GetBucketPolicyCommand({ Bucket: bucket })), 'NoSuchBucketPolicy'),
  ]);
  const keys = [...new Set([...(d?.spec.objects.map((o) => o.key) ?? []), ...inventoryFrom(rawTags)])];
  const flags = pab?.PublicAccessBlockConfiguration;
  // Object ACLs are read only where they can matter: a bucket that ignores public ACLs now and is to
  // keep doing so (the spec's publicAccessBlock: true) never makes an object public through one, and
  // a bucket no longer in the spec is never diffed. One GetObjectAcl per object saved on private buckets.
  const readAcl = !!d && !(d.spec.publicAccessBlock && flags?.IgnorePublicAcls);
  const objects: Record<string, BucketObjectLive> = {};
  const found = await mapLimit(keys, (k) => readObject(s3, bucket, k, readAcl));
  keys.forEach((k, i) => {
    if (found[i]) objects[k] = found[i]!;
  });
  const f = {
    blockPublicAcls: !!flags?.BlockPublicAcls,
    ignorePublicAcls: !!flags?.IgnorePublicAcls,
    blockPublicPolicy: !!flags?.BlockPublicPolicy,
    restrictPublicBuckets: !!flags?.RestrictPublicBuckets,
  };
  const values = Object.values(f);
  const live: BucketLive = {
    bucketName: bucket,
    versioning: versioning.Status === 'Enabled',
    encryption: encryption?.ServerSideEncryptionConfiguration?.Rules?.[0]?.ApplyServerSideEncryptionByDefault?.SSEAlgorithm ?? 'none',
    publicAccessBlock: values.every(Boolean) ? true : values.some(Boolean) ? f : false,
    lifecycle: lifecycleLive(lifecycle?.Rules),
    objects,
    forceDestroy: rawTags[TAG_FORCE_DESTROY] === 'true',
  };
  if (policy?.Policy) live.policy = JSON.parse(policy.Policy) as Record<string, unknown>;
  const tags = Object.fromEntries(Object.entries(rawTags).filter(([k]) => !isInternalTag(k)));
  return { id: bucket, name: who.name, management: who.management, live, tags, outputs: outputsOf(ctx, bucket) };
}

function outputsOf(ctx: Ctx, bucket: string): Outputs {
  return { id: bucket, name: bucket, arn: `arn:aws:s3:::${bucket}`, region: ctx.region, domainName: `${bucket}.s3.${ctx.region}.amazonaws.com` };
}

/** A bucket's tags; undefined when it is gone or lives in another region. */
async function bucketTags(s3: S3Client, bucket: string): Promise<Record<string, string> | undefined> {
  try {
    return tagsFromList((await s3.send(new GetBucketTaggingCommand({ Bucket: bucket }))).TagSet);
  } catch (e) {
    if (isError(e, 'NoSuchTagSet')) return {};
    if (isError(e, 'NoSuchBucket', 'PermanentRedirect', 'AuthorizationHeaderMalformed', 'IllegalLocationConstraintException')) return undefined;
    if ((e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 301) return undefined;
    throw e;
  }
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

async function upload(ctx: Ctx, d: Desired<'s3-bucket'>, bucket: string, o: ObjectSpec): Promise<void> {
  const s3 = await ctx.aws.s3();
  // The bytes observe fetched for a URL (the ones plan compared); files are read again.
  const c = await loadContent(d.specDir, o);
  await s3.send(
    new PutObjectCommand({ Bucket: bucket, Key: o.key, Body: c.bytes, ContentType: contentTypeOf(o), Metadata: { sha256: c.sha256 } }),
  );
}

async function deleteVersions(s3: S3Client, bucket: string, entries: { Key: string; VersionId?: string }[]): Promise<void> {
  for (let i = 0; i < entries.length; i += 1000) {
    const r = await s3.send(
      new DeleteObjectsCommand({
        Bucket: bucket,
        Delete: { Objects: entries.slice(i, i + 1000).map((e) => ({ Key: e.Key, VersionId: e.VersionId })), Quiet: true },
      }),
    );
    if (r.Errors?.length) throw new Error(`could not delete ${r.Errors.length} object(s) of ${bucket}, e.g. ${r.Errors[0].Key}: ${r.Errors[0].Code} ${r.Errors[0].Message}`);
  }
}

/** Loads every object's content (a URL: the bytes fetched by observe, if it ran). */
const preload = (d: Desired<'s3-bucket'>) => mapLimit(d.spec.objects, (o) => loadContent(d.specDir, o));

const notEmptyMessage = (o: Observed, example: string) =>
  `bucket ${o.id} is not empty: it holds objects this stack did not upload (e.g. "${example}"). Set forceDestroy: true on s3-bucket.${o.name} and apply it, then delete again: that deletes every object and version in the bucket with it`;

const reconciler: Reconciler<'s3-bucket', BucketLive> = {
  kind: 's3-bucket',

  async observe(ctx, desired) {
    // Desired content first: files read, URLs fetched again (their content may have changed).
    await mapLimit(
      desired.flatMap((d) => d.spec.objects.map((o) => [d, o] as const)),
      ([d, o]) => loadContent(d.specDir, o, true),
    );
    for (const d of desired)
      for (const o of d.spec.objects)
        if (o.public && d.spec.publicAccessBlock)
          ctx.emit({
            type: 'warning',
            address: d.address,
            message: `objects[${o.key}] asks for public: true, but the bucket blocks public access (publicAccessBlock: true): it stays private. Set publicAccessBlock: false to let it be public`,
          });

    const s3 = await ctx.aws.s3();
    const indexed = indexedOf(ctx, 's3'); // in flight while the buckets are listed
    indexed.catch(() => {}); // its failure is reported where it is awaited, below
    const buckets = await allPages(async (ContinuationToken) => {
      const r = await s3.send(new ListBucketsCommand({ BucketRegion: ctx.region, MaxBuckets: 10_000, ContinuationToken }));
      return { items: r.Buckets, next: r.ContinuationToken };
    });
    const inRegion = buckets.filter((b) => b.Name && (!b.BucketRegion || b.BucketRegion === ctx.region)).map((b) => b.Name!);
    const adopted = adoptions(desired);
    const byName = new Map(desired.map((d) => [d.name, d]));
    const named = new Set([...desired.map((d) => d.spec.bucketName), ...adopted.keys()]);
    // Bucket ARNs: arn:<partition>:s3:::<name>.
    const index = new Map([...(await indexed)].map(([arn, tags]) => [arn.split(':::')[1], tags]));

    const found = await mapLimit(inRegion, async (bucket) => {
      let tags = index.get(bucket);
      if (!tags) {
        // Not the stack's by the index: only a bucket the spec names can still be ours (adopted, or
        // tagged a moment ago).
        if (!named.has(bucket)) return undefined;
        tags = await bucketTags(s3, bucket);
      }
      if (!tags) return undefined;
      const who = identify(tags, ctx.stack, adopted, [bucket]);
      if (!who) return undefined;
      try {
        return await readBucket(ctx, bucket, tags, who, byName.get(who.name));
      } catch (e) {
        if (isError(e, 'NoSuchBucket')) return undefined; // deleted meanwhile
        throw e;
      }
    });
    return found.filter((o): o is Observed<BucketLive> => o !== undefined);
  },

  // Bucket names are global: one of this account (another account's answers AccessDenied; its create
  // then fails with BucketAlreadyExists) that exists already, with its tags. One GetBucketTagging each.
  async nameHolders(ctx, desired) {
    const s3 = await ctx.aws.s3();
    const held = await mapLimit(desired, async (d) => {
      const bucket = d.spec.bucketName;
      let tags: Record<string, string> | undefined;
      try {
        tags = await bucketTags(s3, bucket);
      } catch (e) {
        if (isError(e, 'AccessDenied')) return undefined;
        throw e;
      }
      return tags && { name: d.name, awsName: bucket, adoptId: bucket, tags, nameField: 'bucketName' };
    });
    return held.filter((h) => h !== undefined);
  },

  diff(d, o) {
    const live = o.live;
    const s = d.spec;
    const out: FieldChange[] = [...field('bucketName', live.bucketName, s.bucketName, true), ...field('versioning', live.versioning, s.versioning)];
    // S3 encrypts every bucket with AES256 by default and that cannot be turned off: "none" means
    // "no encryption of our own", which S3's default satisfies.
    const encryptionOk = s.encryption === 'none' ? ['none', 'AES256'].includes(live.encryption) : live.encryption === s.encryption;
    if (!encryptionOk) out.push({ path: 'encryption', before: live.encryption, after: s.encryption, forcesReplace: false });
    out.push(
      ...field('publicAccessBlock', live.publicAccessBlock, s.publicAccessBlock),
      ...field('lifecycle', live.lifecycle, lifecycleDesired(s)),
      ...field('policy', normalizePolicy(live.policy), normalizePolicy(s.policy)),
      ...field('forceDestroy', live.forceDestroy, s.forceDestroy),
      ...diffObjects(d, live),
      ...diffTags(d.tags, o.tags),
    );
    return out;
  },

  async create(ctx, d) {
    const s3 = await ctx.aws.s3();
    const bucket = d.spec.bucketName;
    const tags = allTags(d);
    try {
      // The tags go in the create call (AWS tags a general purpose bucket at creation), so a bucket
      // of this stack is never untagged: an untagged one is someone else's (the plan refuses it).
      await s3.send(
        new CreateBucketCommand({
          Bucket: bucket,
          CreateBucketConfiguration: {
            ...(ctx.region === 'us-east-1' ? {} : { LocationConstraint: ctx.region as never }),
            Tags: tagsToList(tags),
          },
        }),
      );
    } catch (e) {
      if (isError(e, 'BucketAlreadyExists'))
        throw new Error(`the bucket name ${bucket} is taken by another AWS account (bucket names are global): choose another bucketName`);
      // Ours already (an interrupted create, or tagging failed last time): carry on, idempotent.
      if (!isError(e, 'BucketAlreadyOwnedByYou')) throw e;
    }
    // A new bucket can be invisible for a moment; an old one of this account must not be another
    // stack's or another resource's. Tagged at once where the endpoint did not take the tags with the
    // create (S3-compatible stores, moto), before anything else is written.
    const live = await retryWhile(
      ctx,
      d.address,
      'reading the new bucket',
      async () => {
        let has = await bucketTags(s3, bucket);
        if (!has) throw Object.assign(new Error(`bucket ${bucket} is not visible in ${ctx.region} (yet)`), { name: 'NoSuchBucket' });
        if ((has[TAG_STACK] && has[TAG_STACK] !== ctx.stack) || (has[TAG_STACK] === ctx.stack && has[TAG_ID] && has[TAG_ID] !== d.name))
          throw new Error(`bucket ${bucket} already exists and belongs to ${has[TAG_STACK]}/${has[TAG_ID] ?? '?'}, not ${ctx.stack}/${d.name}: choose another bucketName`);
        if (has[TAG_STACK] !== ctx.stack) {
          await s3.send(new PutBucketTaggingCommand({ Bucket: bucket, Tagging: { TagSet: tagsToList(tags) } }));
          has = tags;
        }
        return readBucket(ctx, bucket, has, { name: d.name, management: 'owned' }, d);
      },
      (e) => isError(e, 'NoSuchBucket'),
      30_000,
    );
    // Settings, objects and tags: the same path as an update, from what the new bucket has.
    await preload(d);
    return reconciler.update(ctx, d, live, reconciler.diff(d, live));
  },

  async update(ctx, d, o, changes) {
    await preload(d);
    const s3 = await ctx.aws.s3();
    const s = d.spec;
    const bucket = o.live.bucketName;
    const has = (p: string) => changesUnder(changes, p).length > 0;
    const rules = has('lifecycle') ? lifecycleRules(d) : [];
    const tags = allTags(d);

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

    // Objects: upload what is new or changed, set ACLs, delete what left the spec.
    let ownership: Promise<unknown> | undefined;
    const makePublic = async (key: string) => {
      // Buckets made since April 2023 refuse ACLs (BucketOwnerEnforced) until ownership allows them.
      ownership ??= s3.send(
        new PutBucketOwnershipControlsCommand({ Bucket: bucket, OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerPreferred' }] } }),
      );
      await ownership;
      await s3.send(new PutObjectAclCommand({ Bucket: bucket, Key: key, ACL: 'public-read' }));
      ctx.emit({ type: 'warning', address: d.address, message: `objects[${key}] is now readable by anyone on the internet (public: true)` });
    };
    const wanted = new Set(s.objects.map((x) => x.key));
    let inventoryChanged = false;
    await mapLimit(s.objects, async (obj) => {
      const path = `objects[${obj.key}]`;
      const content = changes.find((c) => c.path === path);
      if (content || changes.some((c) => c.path === `${path}.contentType`)) {
        if (content && content.before === undefined) inventoryChanged = true;
        await upload(ctx, d, bucket, obj);
        // A new upload is private: set the ACL again if it should be public.
        if (wantsPublic(s, obj)) await makePublic(obj.key);
      } else if (changes.some((c) => c.path === `${path}.public`)) {
        if (wantsPublic(s, obj)) await makePublic(obj.key);
        else await s3.send(new PutObjectAclCommand({ Bucket: bucket, Key: obj.key, ACL: 'private' }));
      }
    });
    for (const c of changes) {
      const key = /^objects\[(.*)\]$/.exec(c.path)?.[1];
      if (key === undefined || wanted.has(key) || c.after !== undefined) continue;
      inventoryChanged = true;
      await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
    }

    if (inventoryChanged || has('forceDestroy') || changes.some((c) => c.path.startsWith('tags.')))
      await s3.send(new PutBucketTaggingCommand({ Bucket: bucket, Tagging: { TagSet: tagsToList(tags) } }));
    return readBucket(ctx, bucket, tags, { name: d.name, management: 'owned' }, d);
  },

  async delete(ctx, o) {
    const s3 = await ctx.aws.s3();
    const live = o.live;
    const bucket = live.bucketName;
    const ours = new Set(Object.keys(live.objects));
    const keep: { Key: string; VersionId?: string }[] = [];
    try {
      await allPages(async (token) => {
        const [KeyMarker, VersionIdMarker] = token ? (JSON.parse(token) as [string, string | undefined]) : [undefined, undefined];
        const r = await s3.send(new ListObjectVersionsCommand({ Bucket: bucket, KeyMarker, VersionIdMarker }));
        const entries = [...(r.Versions ?? []), ...(r.DeleteMarkers ?? [])].map((v) => ({ Key: v.Key!, VersionId: v.VersionId ?? undefined }));
        if (live.forceDestroy) {
          ctx.emit({ type: 'progress', address: `s3-bucket.${o.name}`, message: `emptying the bucket (forceDestroy): ${entries.length} object version(s)` });
          await deleteVersions(s3, bucket, entries);
        } else {
          const foreign = entries.find((e) => !ours.has(e.Key));
          if (foreign) throw new Error(notEmptyMessage(o, foreign.Key));
          keep.push(...entries);
        }
        return { items: [], next: r.IsTruncated ? JSON.stringify([r.NextKeyMarker, r.NextVersionIdMarker]) : undefined };
      });
      // Only the stack's own objects are left: they go with the bucket.
      await deleteVersions(s3, bucket, keep);
      await s3.send(new DeleteBucketCommand({ Bucket: bucket }));
    } catch (e) {
      if (isError(e, 'NoSuchBucket')) return;
      if (isError(e, 'BucketNotEmpty')) throw new Error(notEmptyMessage(o, '(written while deleting)'));
      throw e;
    }
  },

  permissions: {
    observe: [
      'tag:GetResources',
      's3:ListAllMyBuckets',
      // Without it, HeadObject of a missing key answers 403 instead of 404.
      's3:ListBucket',
      's3:GetBucketTagging',
      's3:GetBucketVersioning',
      's3:GetEncryptionConfiguration',
      's3:GetBucketPublicAccessBlock',
      's3:GetLifecycleConfiguration',
      's3:GetBucketPolicy',
      's3:GetObject',
      's3:GetObjectAcl',
    ],
    create: [
      's3:CreateBucket',
      's3:TagResource',
      's3:GetBucketTagging',
      's3:PutBucketTagging',
      's3:GetBucketVersioning',
      's3:PutBucketVersioning',
      's3:GetEncryptionConfiguration',
      's3:PutEncryptionConfiguration',
      's3:GetBucketPublicAccessBlock',
      's3:PutBucketPublicAccessBlock',
      's3:GetLifecycleConfiguration',
      's3:PutLifecycleConfiguration',
      's3:GetBucketPolicy',
      's3:PutBucketPolicy',
      's3:PutBucketOwnershipControls',
      's3:GetObject',
      's3:GetObjectAcl',
      's3:PutObject',
      's3:PutObjectAcl',
    ],
    update: [
      's3:PutBucketTagging',
      's3:PutBucketVersioning',
      's3:PutEncryptionConfiguration',
      's3:PutBucketPublicAccessBlock',
      's3:PutLifecycleConfiguration',
      's3:PutBucketPolicy',
      's3:DeleteBucketPolicy',
      's3:PutBucketOwnershipControls',
      's3:PutObject',
      's3:PutObjectAcl',
      's3:DeleteObject',
      's3:GetBucketVersioning',
      's3:GetEncryptionConfiguration',
      's3:GetBucketPublicAccessBlock',
      's3:GetLifecycleConfiguration',
      's3:GetBucketPolicy',
      's3:GetObject',
      's3:GetObjectAcl',
    ],
    delete: ['s3:ListBucketVersions', 's3:DeleteObject', 's3:DeleteObjectVersion', 's3:DeleteBucket'],
  },
};

export default reconciler;
