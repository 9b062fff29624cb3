// AMI lookup: the newest image matching a name pattern from an owner (DescribeImages), never a
// hard-coded id. One lookup per distinct query per Aws instance (a plan or an apply), shared by every
// resource that asks the same question.
//
// diff must stay pure and synchronous, so observe resolves the AMI of every desired resource first
// (resolveAmi) and diff reads the result back with resolvedAmi(desired).
import { DescribeImagesCommand, type Filter, type Image } from './sdk/ec2.js';
import type { Aws } from './clients.js';

/** The spec's `ami`: an id, or a query for the newest image matching a name from an owner. */
export type AmiSpec = string | AmiQuery;
export interface AmiQuery {
  name: string;
  owner: string;
  architecture?: 'x86_64' | 'arm64';
}

export interface AmiImage {
  id: string;
  name: string;
  creationDate: string;
  ownerId: string;
  /** Every available image the query matches (the newest is `id`). */
  matching: string[];
}

/** Raised when no available image matches: names the pattern, the owner and the region. */
export class AmiNotFoundError extends Error {
  constructor(
    readonly query: AmiQuery,
    region: string,
  ) {
    super(
      `no available AMI named "${query.name}" from owner "${query.owner}"${query.architecture ? ` for ${query.architecture}` : ''} in ${region}` +
        ' (check the name pattern, the owner account id or alias, and the region)',
    );
    this.name = 'AmiNotFoundError';
  }
}

export const amiQueryKey = (q: AmiQuery): string => JSON.stringify([q.owner, q.name, q.architecture ?? null]);

/** A printable form of the query, e.g. amazon/al2023-ami-2023.*-x86_64. */
export const describeAmiQuery = (q: AmiQuery): string => `${q.owner}/${q.name}${q.architecture ? ` (${q.architecture})` : ''}`;

const natural = new Intl.Collator('en', { numeric: true });

/**
 * The newest image: latest CreationDate; ties (AWS publishes several builds at the same instant)
 * broken by name in natural order (kernel-6.18 after kernel-6.12), then by id, so the choice is
 * stable from one plan to the next.
 */
export function newestImage(images: readonly Image[]): Image | undefined {
  const usable = images.filter((i) => i.ImageId && (i.State === undefined || i.State === 'available'));
  return [...usable].sort((a, b) => {
    const t = (Date.parse(b.CreationDate ?? '') || 0) - (Date.parse(a.CreationDate ?? '') || 0);
    return t || natural.compare(b.Name ?? '', a.Name ?? '') || natural.compare(b.ImageId!, a.ImageId!);
  })[0];
}

const lookups = new WeakMap<Aws, Map<string, Promise<AmiImage>>>();

/** The newest image for the query; one DescribeImages per distinct query per Aws instance. */
export function lookupAmi(aws: Aws, q: AmiQuery): Promise<AmiImage> {
  let cache = lookups.get(aws);
  if (!cache) lookups.set(aws, (cache = new Map()));
  const key = amiQueryKey(q);
  let p = cache.get(key);
  if (!p) {
    p = (async () => {
      const ec2 = await aws.ec2();
      const filters: Filter[] = [
        { Name: 'name', Values: [q.name] },
        { Name: 'state', Values: ['available'] },
      ];
      if (q.architecture) filters.push({ Name: 'architecture', Values: [q.architecture] });
      const images: Image[] = [];
      let NextToken: string | undefined;
      do {
        const r = await ec2.send(new DescribeImagesCommand({ Owners: [q.owner], Filters: filters, NextToken }));
        images.push(...(r.Images ?? []));
        NextToken = r.NextToken;
      } while (NextToken);
      const best = newestImage(images);
      if (!best) throw new AmiNotFoundError(q, aws.options.region);
      const matching = images.filter((i) => i.ImageId && (i.State === undefined || i.State === 'available')).map((i) => i.ImageId!);
      return { id: best.ImageId!, name: best.Name ?? '', creationDate: best.CreationDate ?? '', ownerId: best.OwnerId ?? '', matching };
    })();
    // A failed lookup (throttling, network) is not remembered: the next caller asks again.
    p.catch(() => cache!.delete(key));
    cache.set(key, p);
  }
  return p;
}

/** What a resource that has an `ami` looks like to this module. */
export interface HasAmi {
  address: string;
  stack: string;
  spec: { ami: AmiSpec };
}

type Resolved = { key: string; id: string; matching?: string[] } | { key: string; error: Error };

// By the Desired object (the engine passes the same object to observe and diff), and by stack +
// address for a Desired rebuilt between the two. Both record which query the id answers, so an
// edited pattern never reads a stale id.
const byDesired = new WeakMap<object, Resolved>();
const byAddress = new Map<string, Resolved>();
const addressKey = (d: HasAmi) => `${d.stack}\u0000${d.address}`;

const remember = (d: HasAmi, r: Resolved) => {
  byDesired.set(d, r);
  byAddress.set(addressKey(d), r);
};

/**
 * The AMI id of a resource: the id itself, or the lookup's answer. Both an answer and a failure are
 * remembered for resolvedAmi, so a diff that needs the AMI fails with the lookup's own error.
 */
export async function resolveAmi(aws: Aws, d: HasAmi): Promise<string> {
  const ami = d.spec.ami;
  if (typeof ami === 'string') return ami;
  const key = amiQueryKey(ami);
  try {
    const image = await lookupAmi(aws, ami);
    remember(d, { key, id: image.id, matching: image.matching });
    return image.id;
  } catch (e) {
    const error = e instanceof Error ? e : new Error(String(e));
    remember(d, { key, error: new Error(`${d.address}: ${error.message}`) });
    throw error;
  }
}

/**
 * Synchronous: the AMI id resolveAmi found for this resource. Throws when the lookup has not run
 * (a reconciler's observe calls resolveAmi for every desired resource before diff).
 */
export function resolvedAmi(d: HasAmi): string {
  const ami = d.spec.ami;
  if (typeof ami === 'string') return ami;
  const key = amiQueryKey(ami);
  const r = byDesired.get(d) ?? byAddress.get(addressKey(d));
  if (r && r.key === key) {
    if ('error' in r) throw r.error;
    return r.id;
  }
  throw new Error(`${d.address}: the AMI ${describeAmiQuery(ami)} has not been looked up yet (observe resolves it before diff)`);
}

/** Records an answer without AWS (pure unit tests of diff). */
export function rememberAmi(d: HasAmi, id: string, matching: string[] = [id]): void {
  const ami = d.spec.ami;
  if (typeof ami === 'string') return;
  remember(d, { key: amiQueryKey(ami), id, matching });
}

/**
 * Synchronous: whether `imageId` still answers the resource's lookup (it matches the name pattern
 * from the owner), even if a newer image has been published since. A running instance is not
 * replaced just because its vendor published a new build; a changed pattern or an AMI id does.
 */
export function amiStillMatches(d: HasAmi, imageId: string | undefined): boolean {
  const ami = d.spec.ami;
  if (typeof ami === 'string' || !imageId) return false;
  const r = byDesired.get(d) ?? byAddress.get(addressKey(d));
  return !!r && r.key === amiQueryKey(ami) && 'id' in r && !!r.matching?.includes(imageId);
}
