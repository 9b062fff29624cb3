// key-pair: an EC2 key pair, created (its private key written to privateKeyFile, mode 0600, never
// printed), imported from a public key, or reused by name (existing: true: read only, never changed
// or deleted).
//
// observe: one DescribeKeyPairs by stack tag; one more (every key pair of the region, matched here)
// when a desired key pair is `existing: true` or `adopt:`s one. DescribeKeyPairs has no pagination.
import { constants } from 'node:fs';
import { createHash, createPrivateKey, createPublicKey } from 'node:crypto';
import { access, chmod, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import {
  CreateKeyPairCommand,
  DeleteKeyPairCommand,
  DescribeKeyPairsCommand,
  ImportKeyPairCommand,
  type Filter,
  type KeyPairInfo,
} from '../aws/sdk/ec2.js';
import { isRetryable } from '../aws/errors.js';
import { syncEc2Tags } from '../aws/ec2-tags.js';
import { TAG_ID, TAG_STACK, tagsFromList } from '../aws/tags.js';
import { field } from '../engine/diffutil.js';
import { holdersByName } from '../engine/ownership.js';
import { type Ctx, type Desired, type FieldChange, type Observed, type Reconciler } from '../engine/types.js';
import { applyTagChanges, errorCode, identify, isNotFound, stackFilter, tagSpec } from './ec2-shared.js';
import { makeDir } from '../make-dir.js';

export type KeyPairLive = {
  keyName: string;
  keyPairId: string;
  keyType?: string;
  fingerprint?: string;
  /** OpenSSH public key, "type base64" (comment dropped), when AWS returns it. */
  publicKey?: string;
};

/** The AWS name of a key pair: keyName, or <stack>-<name>. */
export const keyNameOf = (d: Desired<'key-pair'>): string => d.spec.keyName ?? `${d.stack}-${d.name}`;

/** "ssh-ed25519 AAAA... comment" -> "ssh-ed25519 AAAA...": AWS may return another comment. */
export const normalizePublicKey = (k: string | undefined): string | undefined => {
  if (k === undefined) return undefined;
  const parts = k.trim().split(/\s+/);
  return parts.slice(0, 2).join(' ');
};

/** Tags as the create call answered them, or as sent when the answer has none. */
const tagsOr = (list: { Key?: string; Value?: string }[] | undefined, sent: Record<string, string>) => (list?.length ? tagsFromList(list) : { ...sent });

const outputsOf = (live: KeyPairLive) => ({ id: live.keyName, keyName: live.keyName, keyPairId: live.keyPairId });

function liveOf(k: KeyPairInfo): KeyPairLive {
  return {
    keyName: k.KeyName!,
    keyPairId: k.KeyPairId!,
    keyType: k.KeyType,
    fingerprint: k.KeyFingerprint,
    publicKey: normalizePublicKey(k.PublicKey),
  };
}

function observedOf(k: KeyPairInfo, name: string, management: Observed['management']): Observed<KeyPairLive> {
  const live = liveOf(k);
  return { id: live.keyName, name, management, live, tags: tagsFromList(k.Tags), outputs: outputsOf(live) };
}

export async function describeKeyPairs(ctx: Ctx, filters?: Filter[]): Promise<KeyPairInfo[]> {
  const ec2 = await ctx.aws.ec2();
  const r = await ec2.send(new DescribeKeyPairsCommand({ Filters: filters, IncludePublicKey: true }));
  return r.KeyPairs ?? [];
}

async function describeByName(ctx: Ctx, keyName: string): Promise<KeyPairInfo | undefined> {
  return (await describeKeyPairs(ctx, [{ Name: 'key-name', Values: [keyName] }]))[0];
}

const privateKeyPath = (d: Desired<'key-pair'>): string | undefined => {
  const f = d.spec.privateKeyFile;
  if (!f) return undefined;
  return isAbsolute(f) ? f : resolve(d.specDir, f);
};

/**
 * Whether the PEM file at `path` is the private key of a key pair with this fingerprint. AWS's
 * fingerprint of a key pair it created is the SHA-1 of the private key as PKCS#8 DER; moto's is the
 * SHA-1 of the public key: either matches.
 */
export async function fileHoldsKey(path: string, fingerprint: string | undefined): Promise<boolean> {
  if (!fingerprint) return false;
  let pem: string;
  try {
    pem = await readFile(path, 'utf8');
  } catch {
    return false;
  }
  try {
    const key = createPrivateKey(pem);
    const sha1 = (der: Buffer) => createHash('sha1').update(der).digest('hex').replace(/(..)(?!$)/g, '$1:');
    const mine = [sha1(key.export({ type: 'pkcs8', format: 'der' })), sha1(createPublicKey(key).export({ type: 'spki', format: 'der' }))];
    return mine.includes(fingerprint.trim().toLowerCase());
  } catch {
    return false;
  }
}

const exists = (p: string) =>
  access(p, constants.F_OK).then(
    () => true,
    () => false,
  );

/**
 * Writes the private key with mode 0600 (folder created with 0700 if missing): to a temporary file
 * opened 0600 from the start, then renamed over the target, so no reader ever sees it with wider
 * permissions and an old key at that path is replaced whole.
 */
export async function writePrivateKey(path: string, material: string): Promise<void> {
  makeDir(dirname(path), 0o700);
  const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
  try {
    await writeFile(tmp, material.endsWith('\n') ? material : `${material}\n`, { mode: 0o600, flag: 'wx' });
    await chmod(tmp, 0o600);
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

const reconciler: Reconciler<'key-pair', KeyPairLive> = {
  kind: 'key-pair',

  lookupOf: (d) => (d.spec.existing ? `key pair "${keyNameOf(d)}" (existing: true)` : undefined),

  async observe(ctx, desired) {
    const lookups = desired.filter((d) => d.spec.existing || d.spec.adopt);
    const [owned, all] = await Promise.all([
      describeKeyPairs(ctx, stackFilter(ctx.stack)),
      lookups.length ? describeKeyPairs(ctx) : Promise.resolve([] as KeyPairInfo[]),
    ]);
    const out: Observed<KeyPairLive>[] = [];
    const taken = new Set<string>();
    // Reused (existing: true) key pairs first: read only, whatever their tags say.
    for (const d of desired.filter((x) => x.spec.existing)) {
      const k = all.find((x) => x.KeyName === keyNameOf(d));
      if (!k) {
        ctx.emit({ type: 'warning', address: d.address, message: `key pair "${keyNameOf(d)}" (existing: true) does not exist in ${ctx.region}: apply will stop here` });
        continue;
      }
      out.push(observedOf(k, d.name, 'lookup'));
      taken.add(k.KeyPairId!);
    }
    // adopt: names a key pair by its name or its id (key-0123...).
    const adopted = new Map<string, string>();
    for (const d of desired) {
      if (!d.spec.adopt || d.spec.existing) continue;
      const k = all.find((x) => x.KeyPairId === d.spec.adopt || x.KeyName === d.spec.adopt);
      if (k) adopted.set(k.KeyPairId!, d.name);
    }
    const seen = new Map<string, KeyPairInfo>();
    for (const k of [...owned, ...all.filter((x) => adopted.has(x.KeyPairId!))]) seen.set(k.KeyPairId!, k);
    for (const [id, k] of seen) {
      if (taken.has(id)) continue;
      const who = identify(tagsFromList(k.Tags), ctx.stack, adopted, [id]);
      if (who) out.push(observedOf(k, who.name, who.management));
    }
    // A created key pair whose private key file is gone cannot be downloaded again: say so.
    for (const d of desired) {
      const path = privateKeyPath(d);
      const o = out.find((x) => x.name === d.name && x.management === 'owned');
      if (path && o && !d.spec.publicKey && !(await exists(path)))
        ctx.emit({
          type: 'warning',
          address: d.address,
          message: `the private key file ${path} of key pair ${o.id} is missing; AWS cannot return it again. To get a new key, change keyName (the key pair is then replaced).`,
        });
    }
    return out;
  },

  // One DescribeKeyPairs by key-name filter (`existing: true` ones are read, never created).
  async nameHolders(ctx, desired) {
    const created = desired.filter((d) => !d.spec.existing);
    if (!created.length) return [];
    const found = await describeKeyPairs(ctx, [{ Name: 'key-name', Values: [...new Set(created.map(keyNameOf))] }]);
    const held = found.map((k) => ({ awsName: k.KeyName!, adoptId: k.KeyName!, tags: tagsFromList(k.Tags) }));
    return holdersByName(created, keyNameOf, 'keyName', held);
  },

  diff(desired, observed) {
    if (observed.management === 'lookup') return [];
    const live = observed.live;
    const s = desired.spec;
    const out: FieldChange[] = [];
    // A key pair the stack owns that the spec now says to reuse: the stack's one goes, the named one is read.
    if (s.existing) out.push(...field('existing', false, true, true));
    out.push(...field('keyName', live.keyName, keyNameOf(desired), true));
    if (s.publicKey) out.push(...field('publicKey', live.publicKey, normalizePublicKey(s.publicKey), true));
    return out;
  },

  async create(ctx, desired) {
    const s = desired.spec;
    const keyName = keyNameOf(desired);
    if (s.existing)
      throw new Error(
        `${desired.address}: key pair "${keyName}" does not exist in ${ctx.region}; existing: true only reuses a key pair (create it, import it, or remove existing: to let the stack create one)`,
      );
    // One attempt: a created key pair's private key comes only in the create's answer. When that answer
    // is lost, the key pair made is deleted again (deleteUnusable) and created anew.
    const ec2 = await ctx.aws.ec2({ retries: false });
    const TagSpecifications = tagSpec('key-pair', desired.tags);
    const path = privateKeyPath(desired);
    /**
     * Deletes our key pair of this name when its private key was to be written to a file that does not
     * hold it: an attempt whose answer (the only copy of the private key) was lost made it. Nobody can
     * use it.
     */
    const deleteUnusable = async (): Promise<boolean> => {
      if (s.publicKey || !path) return false;
      const k = await describeByName(ctx, keyName);
      const tags = tagsFromList(k?.Tags);
      if (!k || tags[TAG_STACK] !== ctx.stack || tags[TAG_ID] !== desired.name || (await fileHoldsKey(path, k.KeyFingerprint))) return false;
      await (await ctx.aws.ec2()).send(new DeleteKeyPairCommand({ KeyName: keyName }));
      ctx.emit({ type: 'info', address: desired.address, message: `deleted key pair ${keyName} again: the answer with its private key was lost` });
      return true;
    };
    const make = async (): Promise<Observed<KeyPairLive>> => {
      if (s.publicKey) {
        const r = await ec2.send(
          new ImportKeyPairCommand({ KeyName: keyName, PublicKeyMaterial: Buffer.from(s.publicKey.trim(), 'utf8'), TagSpecifications }),
        );
        const live: KeyPairLive = { keyName, keyPairId: r.KeyPairId!, fingerprint: r.KeyFingerprint, publicKey: normalizePublicKey(s.publicKey) };
        return { id: keyName, name: desired.name, management: 'owned', live, tags: tagsOr(r.Tags, desired.tags), outputs: outputsOf(live) };
      }
      let r;
      try {
        r = await ec2.send(new CreateKeyPairCommand({ KeyName: keyName, KeyType: 'rsa', KeyFormat: 'pem', TagSpecifications }));
      } catch (e) {
        // Made, perhaps, but its private key is lost with the answer: then it must not stay.
        if (isRetryable(e)) await deleteUnusable();
        throw e;
      }
      const live: KeyPairLive = { keyName, keyPairId: r.KeyPairId!, keyType: 'rsa', fingerprint: r.KeyFingerprint };
      if (path) {
        try {
          await writePrivateKey(path, r.KeyMaterial ?? '');
        } catch (e) {
          // A key nobody can use: take it back, so the next apply creates it again.
          await (await ctx.aws.ec2()).send(new DeleteKeyPairCommand({ KeyName: keyName }));
          throw new Error(`${desired.address}: cannot write the private key to ${path} (${(e as Error).message}); the key pair was deleted again`);
        }
        ctx.emit({ type: 'info', address: desired.address, message: `private key of ${keyName} written to ${path} (mode 0600)` });
      } else {
        ctx.emit({
          type: 'warning',
          address: desired.address,
          message: `key pair ${keyName} created without privateKeyFile: its private key is discarded and cannot be downloaded later`,
        });
      }
      return { id: keyName, name: desired.name, management: 'owned', live, tags: tagsOr(r.Tags, desired.tags), outputs: outputsOf(live) };
    };
    try {
      return await make();
    } catch (e) {
      if (errorCode(e) !== 'InvalidKeyPair.Duplicate') throw e;
      // The name is taken. Ours, when its private key was to be written: deleted, and made once more.
      if (await deleteUnusable()) return make();
      // Ours otherwise (an earlier create whose answer was lost) is reused, anything else is refused.
      const k = await describeByName(ctx, keyName);
      const tags = tagsFromList(k?.Tags);
      if (k && tags[TAG_STACK] === ctx.stack && tags[TAG_ID] === desired.name) return observedOf(k, desired.name, 'owned');
      throw new Error(
        `${desired.address}: a key pair named "${keyName}" already exists and does not belong to this stack; reuse it with existing: true, or choose another keyName`,
      );
    }
  },

  async update(ctx, desired, observed, changes) {
    const live = observed.live;
    await syncEc2Tags(ctx, live.keyPairId, changes);
    const tags = applyTagChanges(observed.tags, changes);
    return { ...observed, management: tags[TAG_STACK] === ctx.stack ? 'owned' : observed.management, tags };
  },

  async delete(ctx, observed) {
    if (observed.management === 'lookup') return;
    const live = observed.live;
    const ec2 = await ctx.aws.ec2();
    try {
      // By name: unique in a region, and accepted by every implementation of the API.
      await ec2.send(new DeleteKeyPairCommand({ KeyName: live.keyName }));
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  },

  permissions: {
    observe: ['ec2:DescribeKeyPairs'],
    create: ['ec2:CreateKeyPair', 'ec2:ImportKeyPair', 'ec2:CreateTags', 'ec2:DescribeKeyPairs', 'ec2:DeleteKeyPair'],
    update: ['ec2:CreateTags', 'ec2:DeleteTags'],
    delete: ['ec2:DeleteKeyPair'],
  },
};

export default reconciler;
