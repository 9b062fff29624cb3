// AMI lookup: the newest image matching a name pattern from an owner (DescribeImages), never a
// hard-coded id. One lookup per distinct query per Aws instance (a plan or an apply), shared by every
// resource that asks the same question. Called by prepare (src/reconcilers/launch-inputs.ts), whose
// answer -- the id and every image the query matches -- is handed to diff as a value.
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
