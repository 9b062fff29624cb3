// The objects of a bucket, for the s3-bucket reconciler (s3-bucket.ts): their content resolved by
// prepare, compared by hash, read (HeadObject, GetObjectAcl), uploaded and deleted.
//
// prepare loads every desired object (files read, URLs fetched: src/inputs/content.ts) and hands
// the content to diff, which compares its hashes, and to create and update, which upload those very
// bytes: what apply writes is what plan compared. A URL that cannot be fetched, or a file that
// cannot be read, fails the plan before any write.
//
// Objects are uploaded with the metadata entry sha256 (hex sha256 of the content) and re-uploaded
// only when the hash (or the ETag, an MD5, for objects without it) differs. The keys the stack
// uploaded are kept in the bucket's tags (reconcile:objects, reconcile:objects:1, ...: base64url of
// a JSON list), so an object removed from the spec is deleted and nothing else in the bucket (logs)
// is touched.
import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectAclCommand,
  HeadObjectCommand,
  PutBucketOwnershipControlsCommand,
  PutObjectAclCommand,
  PutObjectCommand,
  type S3Client,
} from '../aws/sdk/s3.js';
import { contentTypeOf, loadContent, type Content } from '../inputs/content.js';
import { UserError } from '../errors.js';
import { field } from '../engine/diffutil.js';
import { UNKNOWN, type Ctx, type Desired, type FieldChange, type Prepared } from '../engine/types.js';
import type { SpecOf } from '../spec/schema.js';
import { isError, mapLimit } from './services-shared.js';

type BucketSpec = SpecOf<'s3-bucket'>;
type ObjectSpec = BucketSpec['objects'][number];

export type BucketObjectLive = {
  /** The metadata entry sha256, when the object has one. */
  sha256?: string;
  /** The ETag when it is the content's MD5 (single-part upload, not KMS-encrypted). */
  md5?: string;
  contentType?: string;
  /** Readable by anyone through its ACL. */
  public: boolean;
};

/** What prepare hands to diff, create and update: each desired object's content, by key. */
export interface BucketInputs {
  objects: Record<string, Content>;
}

// ---------------------------------------------------------------------------------------------
// The inventory tags

export const TAG_OBJECTS = 'reconcile:objects';
/** A tag value holds at most 256 characters. */
const TAG_VALUE_MAX = 256;

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

// ---------------------------------------------------------------------------------------------
// Prepare: the content of every desired object

/** The prepare of buckets: every object's content loaded (at most a few at once); what fails is a problem of its bucket. */
export async function prepareObjects(_ctx: Ctx, desired: Desired<'s3-bucket'>[]): Promise<Prepared<BucketInputs>[]> {
  const out = desired.map((d): Prepared<BucketInputs> & { inputs: BucketInputs } => ({ name: d.name, resolved: [], problems: [], inputs: { objects: {} } }));
  await mapLimit(
    desired.flatMap((d, i) => d.spec.objects.map((o) => ({ d, o, p: out[i] }))),
    async ({ d, o, p }) => {
      try {
        p.inputs.objects[o.key] = await loadContent(d.specDir, o);
      } catch (e) {
        p.problems.push(e instanceof UserError && e.hint ? `${e.message} (${e.hint})` : (e as Error).message);
      }
    },
  );
  return out.map(({ inputs, ...p }) => (p.problems.length ? p : { ...p, inputs }));
}

// ---------------------------------------------------------------------------------------------
// Comparing

const short = (hex: string) => hex.slice(0, 12);

/** What diff shows for an object's content: a short hash, never the content. */
export const contentLabel = (h: { sha256?: string; md5?: string } | undefined): string =>
  h === undefined ? UNKNOWN : h.sha256 ? `sha256:${short(h.sha256)}` : h.md5 ? `md5:${short(h.md5)}` : 'present (no hash)';

/** Same content when every hash the live object has matches (and it has at least one). */
export function sameContent(l: BucketObjectLive, want: { sha256: string; md5: string }): boolean {
  if (!l.sha256 && !l.md5) return false;
  return (!l.sha256 || l.sha256 === want.sha256) && (!l.md5 || l.md5 === want.md5);
}

/** An object is public only when the spec asks and the bucket's public access block is off. */
export const wantsPublic = (spec: BucketSpec, o: ObjectSpec) => o.public && !spec.publicAccessBlock;

/** Pure: the objects that differ, are missing, or are to go (uploaded by the stack, no longer in the spec). */
export function diffObjects(d: Desired<'s3-bucket'>, live: Record<string, BucketObjectLive>, inputs: BucketInputs | undefined): FieldChange[] {
  const out: FieldChange[] = [];
  const wanted = new Set<string>();
  for (const o of d.spec.objects) {
    wanted.add(o.key);
    const path = `objects[${o.key}]`;
    const want = inputs?.objects[o.key];
    if (!want) throw new Error(`${d.address}: the content of objects[${o.key}] has not been loaded (prepare loads it before diff)`);
    const l = live[o.key];
    if (!l) {
      out.push({ path, before: undefined, after: contentLabel({ sha256: want.sha256 }), forcesReplace: false });
      continue;
    }
    if (!sameContent(l, want)) {
      const before = l.sha256 && l.sha256 !== want.sha256 ? contentLabel({ sha256: l.sha256 }) : contentLabel({ md5: l.md5 });
      out.push({ path, before, after: contentLabel({ sha256: want.sha256 }), forcesReplace: false });
    }
    out.push(...field(`${path}.contentType`, l.contentType, contentTypeOf(o)));
    out.push(...field(`${path}.public`, l.public, wantsPublic(d.spec, o)));
  }
  for (const [key, l] of Object.entries(live))
    if (!wanted.has(key)) out.push({ path: `objects[${key}]`, before: contentLabel(l), after: undefined, forcesReplace: false });
  return out;
}

// ---------------------------------------------------------------------------------------------
// Reading

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
 * `readAcl` may still be in flight (it depends on the bucket's settings): HeadObject does not wait for it.
 */
async function readObject(s3: S3Client, bucket: string, key: string, readAcl: boolean | Promise<boolean>): Promise<BucketObjectLive | undefined> {
  let head;
  try {
    head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
  } catch (e) {
    if (isError(e, 'NotFound', 'NoSuchKey')) return undefined;
    throw e;
  }
  const isPublic = (await readAcl) && (await publicByAcl(s3, bucket, key));
  const etag = (head.ETag ?? '').replace(/"/g, '');
  const kms = head.ServerSideEncryption?.startsWith('aws:kms') || !!head.SSECustomerAlgorithm;
  const out: BucketObjectLive = { public: isPublic };
  if (head.Metadata?.sha256) out.sha256 = head.Metadata.sha256;
  if (!kms && /^[0-9a-f]{32}$/.test(etag)) out.md5 = etag;
  if (head.ContentType) out.contentType = head.ContentType;
  return out;
}

/** The objects among `keys` that exist, by key. */
export async function readObjects(s3: S3Client, bucket: string, keys: string[], readAcl: boolean | Promise<boolean>): Promise<Record<string, BucketObjectLive>> {
  const objects: Record<string, BucketObjectLive> = {};
  const found = await mapLimit(keys, (k) => readObject(s3, bucket, k, readAcl));
  keys.forEach((k, i) => {
    if (found[i]) objects[k] = found[i]!;
  });
  return objects;
}

// ---------------------------------------------------------------------------------------------
// Writing

/**
 * Uploads what is new or changed (the content prepare loaded), sets ACLs, deletes what left the
 * spec. Returns whether the set of keys the stack uploaded changed (the inventory tags are then
 * written again).
 */
export async function writeObjects(ctx: Ctx, d: Desired<'s3-bucket'>, bucket: string, changes: FieldChange[], inputs: BucketInputs): Promise<boolean> {
  const s3 = await ctx.aws.s3();
  const s = d.spec;
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
      const c = inputs.objects[obj.key];
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: obj.key, Body: c.bytes, ContentType: contentTypeOf(obj), Metadata: { sha256: c.sha256 } }));
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
  return inventoryChanged;
}

/** Deletes object versions, 1000 per call. */
export async function deleteVersions(s3: S3Client, bucket: string, entries: { Key: string; VersionId?: string }[]): Promise<void> {
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
