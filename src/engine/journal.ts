// Creates of user-named resources started on this machine and not yet seen finished: the one case
// where a resource holding a spec's name without this stack's tags may still be the stack's own.
//
// Every kind tags in its create call, except where the endpoint ignores the tags of CreateBucket
// (S3-compatible stores, moto): a run killed between CreateBucket and PutBucketTagging leaves an
// untagged bucket that the ownership check (ownership.ts) would refuse as someone else's. Before such
// a create the engine writes its address here; a rerun on this machine takes the untagged holder of
// that address's name back; an address is struck once a plan sees the resource as the stack's.
// Another machine has no entry and refuses (safe: `adopt:` takes it back by hand).
//
// A small JSON file per stack and region in $XDG_STATE_HOME/reconcile (else ~/.local/state/reconcile).
// Best effort: a file that cannot be written only means the rerun asks for adopt:.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { makeDir } from '../make-dir.js';

function fileOf(stack: string, region: string): string {
  const base = process.env.XDG_STATE_HOME || join(homedir(), '.local', 'state');
  return join(base, 'reconcile', `${encodeURIComponent(stack)}.${encodeURIComponent(region)}.creating.json`);
}

function read(stack: string, region: string): string[] {
  try {
    const v = JSON.parse(readFileSync(fileOf(stack, region), 'utf8')) as unknown;
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
  } catch {
    return [];
  }
}

function write(stack: string, region: string, addresses: string[]): void {
  const file = fileOf(stack, region);
  try {
    makeDir(join(file, '..'));
    writeFileSync(`${file}.tmp`, JSON.stringify([...new Set(addresses)].sort()));
    renameSync(`${file}.tmp`, file);
  } catch {
    // best effort (see the header)
  }
}

/** A create of `address` is about to be sent. */
export function createStarted(stack: string, region: string, address: string): void {
  const list = read(stack, region);
  if (!list.includes(address)) write(stack, region, [...list, address]);
}

/** These addresses exist as the stack's: no create of theirs is in flight any more. */
export function createsFinished(stack: string, region: string, addresses: Iterable<string>): void {
  const list = read(stack, region);
  if (!list.length) return;
  const done = new Set(addresses);
  const left = list.filter((a) => !done.has(a));
  if (left.length !== list.length) write(stack, region, left);
}

/** Addresses whose create this machine started and no plan has seen finished. */
export const createsInFlight = (stack: string, region: string): ReadonlySet<string> => new Set(read(stack, region));
