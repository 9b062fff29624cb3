// s3-bucket: a bucket, its settings (versioning, default encryption, public access block, lifecycle,
// policy) and the objects the spec uploads into it. This file is the kind's entry; s3-settings.ts
// reads, compares and writes the settings, s3-objects.ts the objects (their content is loaded by
// prepare, from files and URLs, and handed to diff, create and update as a value).
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
// allowed), whatever else the region holds.
//
// `forceDestroy` is kept as the tag reconcile:force-destroy, so a bucket deleted after it left the
// spec still knows whether it may be emptied. It and the object inventory (reconcile:objects...,
// s3-objects.ts) are internal tags: not in Observed.tags, never diffed as tags.
// In place: every setting, objects, tags. Replace: bucketName.
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  GetBucketTaggingCommand,
  ListBucketsCommand,
  ListObjectVersionsCommand,
  PutBucketTaggingCommand,
  type S3Client,
} from '../aws/sdk/s3.js';
import { indexedOf } from './tag-index.js';
import { TAG_ID, TAG_STACK, tagsFromList, tagsToList } from '../aws/tags.js';
import { diffFields } from '../engine/decide.js';
import { field } from '../engine/diffutil.js';
import type { Ctx, Desired, Observed, Outputs, Reconciler } from '../engine/types.js';
import { adoptions, allPages, changesUnder, identify, isError, mapLimit, retryWhile } from './services-shared.js';
import { preparedNow } from './shared.js';
import {
  TAG_OBJECTS,
  deleteVersions,
  diffObjects,
  inventoryFrom,
  inventoryTags,
  prepareObjects,
  readObjects,
  writeObjects,
  type BucketInputs,
  type BucketObjectLive,
} from './s3-objects.js';
import { diffSettings, readSettings, writeSettings, type BucketSettingsLive } from './s3-settings.js';

export { type BucketObjectLive } from './s3-objects.js';
export { type LifecycleRuleLive, type PublicAccessBlockLive } from './s3-settings.js';

export const TAG_FORCE_DESTROY = 'reconcile:force-destroy';
const isInternalTag = (k: string) => k === TAG_OBJECTS || k.startsWith(`${TAG_OBJECTS}:`) || k === TAG_FORCE_DESTROY;

/** S3 allows 50 tags on a bucket. */
const MAX_TAGS = 50;

export type BucketLive = BucketSettingsLive & {
  bucketName: string;
  /** By key: objects named in the spec or uploaded by the stack before, that exist. */
  objects: Record<string, BucketObjectLive>;
  forceDestroy: boolean;
};

// ---------------------------------------------------------------------------------------------
// Tags and reading

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

async function readBucket(
  ctx: Ctx,
  bucket: string,
  rawTags: Record<string, string>,
  who: { name: string; management: Observed['management'] },
  d: Desired<'s3-bucket'> | undefined,
): Promise<Observed<BucketLive>> {
  const s3 = await ctx.aws.s3();
  const read = readSettings(s3, bucket);
  read.catch(() => {}); // its failure is reported where it is awaited, below
  const keys = [...new Set([...(d?.spec.objects.map((o) => o.key) ?? []), ...inventoryFrom(rawTags)])];
  // Object ACLs are read only where they can matter: a bucket that ignores public ACLs now and is to
  // keep doing so (the spec's publicAccessBlock: true) never makes an object public through one, and
  // a bucket no longer in the spec is never diffed. One GetObjectAcl per object saved on private buckets.
  // The objects' HeadObject go out with the settings' reads; only a GetObjectAcl waits for them.
  const readAcl = read.then(({ ignoresPublicAcls }) => !!d && !(d.spec.publicAccessBlock && ignoresPublicAcls));
  readAcl.catch(() => {}); // awaited only by objects that exist; a failure of `read` is reported below
  const [{ settings }, objects] = await Promise.all([read, readObjects(s3, bucket, keys, readAcl)]);
  const live: BucketLive = {
    bucketName: bucket,
    ...settings,
    objects,
    forceDestroy: rawTags[TAG_FORCE_DESTROY] === 'true',
  };
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

const notEmptyMessage = (o: Observed, example: string) =>
  `bucket ${o.id} is not empty: it holds objects this stack did not upload (e.g. "${example}"). Set forceDestroy: true on s3-bucket.${o.name} and apply it, then delete again: that deletes every object and version in the bucket with it`;

const reconciler: Reconciler<'s3-bucket', BucketLive, BucketInputs> = {
  kind: 's3-bucket',

  prepare: prepareObjects,

  async observe(ctx, desired) {
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

  diff(d, o, inputs) {
    const live = o.live;
    const s = d.spec;
    return [
      ...field('bucketName', live.bucketName, s.bucketName, true),
      ...diffSettings(s, live),
      ...field('forceDestroy', live.forceDestroy, s.forceDestroy),
      ...diffObjects(d, live.objects, inputs),
    ];
  },

  async create(ctx, d, prepared) {
    const inputs = await preparedNow(prepareObjects, ctx, d, prepared);
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
    return reconciler.update(ctx, d, live, diffFields(reconciler, d, live, inputs), inputs);
  },

  async update(ctx, d, o, changes, prepared) {
    const inputs = await preparedNow(prepareObjects, ctx, d, prepared);
    const s3 = await ctx.aws.s3();
    const bucket = o.live.bucketName;
    const has = (p: string) => changesUnder(changes, p).length > 0;
    const tags = allTags(d);
    await writeSettings(s3, d, bucket, has);
    const inventoryChanged = await writeObjects(ctx, d, bucket, changes, inputs);
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
