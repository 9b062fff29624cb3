// Which shard serves a stack: replica i of n serves the stacks whose stable hash falls in shard i.
//
// The hash is Jump Consistent Hash (Lamping and Veach, 2014) over the first 64 bits of the
// stack name's SHA-256: the same on every machine and Node version, and when n grows to n + 1 only
// about 1/(n + 1) of the stacks move (to the new shard), so resizing a StatefulSet moves few stacks.
// Sharding only spreads the work: the S3 stack lock stays the fence, so two replicas that both
// believe they own a stack (while n changes, or a partitioned pod) still never write at once.
import { createHash } from 'node:crypto';

const MASK = (1n << 64n) - 1n;
const LCG = 2862933555777941757n;

/** The shard (0 .. shards-1) of a key, for `shards` buckets. Pure. */
export function jumpHash(key: bigint, shards: number): number {
  let b = -1;
  let j = 0;
  let k = key & MASK;
  while (j < shards) {
    b = j;
    k = (k * LCG + 1n) & MASK;
    j = Math.floor((b + 1) * (2 ** 31 / Number((k >> 33n) + 1n)));
  }
  return b;
}

/** The shard of a stack, out of `shards`. */
export function shardOf(stack: string, shards: number): number {
  if (shards <= 1) return 0;
  const key = createHash('sha256').update(stack).digest().readBigUInt64BE(0);
  return jumpHash(key, shards);
}

export interface ShardChoice {
  /** This process's shard, 0-based. */
  index: number;
  /** How many shards the fleet is cut into. */
  count: number;
}

/**
 * The shard of this process from --shards / --shard (or RECONCILE_SHARDS / RECONCILE_SHARD): a
 * number, or a StatefulSet pod name such as `reconcile-2`, whose ordinal is the shard. With more than
 * one shard and no --shard, the host name (a StatefulSet pod's is its name) gives it. Throws an Error
 * whose message says what is wrong (the command turns it into a user error).
 */
export function resolveShard(shards: string | number | undefined, shard: string | undefined, hostname: string | undefined): ShardChoice {
  const count = shards === undefined || shards === '' ? 1 : Number(shards);
  if (!Number.isInteger(count) || count < 1 || count > 10_000) throw new Error(`--shards ${shards} is not a whole number from 1 to 10000`);
  const from = shard !== undefined && shard !== '' ? shard : count > 1 ? hostname : '0';
  if (from === undefined || from === '') throw new Error(`--shards ${count} needs --shard (or RECONCILE_SHARD): which of the ${count} shards this process serves`);
  const m = /^(?:.*-)?(\d+)$/.exec(from.trim());
  if (!m)
    throw new Error(
      shard !== undefined && shard !== ''
        ? `--shard ${shard} is neither a number nor a StatefulSet pod name ending in -<ordinal>`
        : `--shards ${count} without --shard: the host name ${from} does not end in -<ordinal> (run as a StatefulSet, or pass --shard)`,
    );
  const index = Number(m[1]);
  if (index >= count) throw new Error(`shard ${index} (from ${from}) is not below --shards ${count}: the StatefulSet's replicas and --shards must agree`);
  return { index, count };
}
