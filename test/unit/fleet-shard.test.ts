// Sharding a fleet: the stable hash of a stack to its shard, the shard of a process from its flags or
// StatefulSet pod name, and the scan of a spec directory (what is a spec, duplicates, shards, edits).
import { describe, expect, it } from 'vitest';
import { mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FleetSpecs } from '../../src/watch/fleet-specs.js';
import { jumpHash, resolveShard, shardOf } from '../../src/watch/shard.js';

const stacks = Array.from({ length: 1000 }, (_, i) => `app-${i}-prod`);

describe('shardOf: stack -> shard', () => {
  it.each([
    [1n, 1, 0],
    [42n, 57, 43],
    [0xdead10ccn, 1, 0],
    [0xdead10ccn, 666, 361],
    [256n, 1024, 520],
  ])('is Jump Consistent Hash: key %s in %s buckets -> %s, as the reference implementation says', (key, n, want) => {
    expect(jumpHash(key, n)).toBe(want);
  });

  it('is stable: the same stack always lands in the same shard', () => {
    const a = stacks.map((s) => shardOf(s, 3));
    expect(stacks.map((s) => shardOf(s, 3))).toEqual(a);
    expect(shardOf('anything', 1)).toBe(0);
  });

  it('spreads stacks evenly', () => {
    const counts = [0, 0, 0];
    for (const s of stacks) counts[shardOf(s, 3)]++;
    for (const c of counts) expect(Math.abs(c - 1000 / 3)).toBeLessThan(60);
  });

  it('moves only the stacks of the new shard when n grows by one', () => {
    for (const n of [1, 2, 3, 5]) {
      const moved = stacks.filter((s) => shardOf(s, n) !== shardOf(s, n + 1));
      for (const s of moved) expect(shardOf(s, n + 1)).toBe(n);
      expect(moved.length).toBeLessThan((1000 / (n + 1)) * 1.3);
    }
  });
});

describe('resolveShard', () => {
  it.each([
    ['no flags', undefined, undefined, 'host-7', { index: 0, count: 1 }],
    ['a number', '3', '2', 'x', { index: 2, count: 3 }],
    ['a pod name', '3', 'reconcile-1', 'x', { index: 1, count: 3 }],
    ['the host name of a StatefulSet pod', '4', undefined, 'reconcile-fleet-3', { index: 3, count: 4 }],
  ])('%s', (_, shards, shard, host, want) => {
    expect(resolveShard(shards, shard, host)).toEqual(want);
  });

  it.each([
    ['--shards 0', '0', '0', 'x', /--shards 0 is not a whole number/],
    ['a shard past the count', '3', '3', 'x', /shard 3 .* is not below --shards 3/],
    ['a pod ordinal past the count', '2', undefined, 'reconcile-2', /replicas and --shards must agree/],
    ['a host name without ordinal', '3', undefined, 'laptop', /does not end in -<ordinal>/],
    ['a --shard that is not a number', '3', 'first', 'x', /neither a number nor a StatefulSet pod name/],
  ])('refuses %s', (_, shards, shard, host, message) => {
    expect(() => resolveShard(shards, shard, host)).toThrow(message);
  });
});

const spec = (stack: string, extra = '') => `apiVersion: reconcile/v1
stack: ${stack}
region: us-east-1
${extra}resources:
  default-vpc: { kind: vpc, lookup: default }
`;

describe('FleetSpecs: the specs of a directory', () => {
  it('finds specs, skips other YAML and dot-directories, follows edits, reports invalid files and duplicates', () => {
    const dir = mkdtempSync(join(tmpdir(), 'reconcile-fleet-'));
    try {
      mkdirSync(join(dir, 'team-b'));
      mkdirSync(join(dir, '..data'));
      writeFileSync(join(dir, 'a.yaml'), spec('a', 'watch: { interval: 30s, mode: detect }\n'));
      writeFileSync(join(dir, 'team-b', 'b.yml'), spec('b'));
      writeFileSync(join(dir, '..data', 'c.yaml'), spec('c'));
      symlinkSync(join(dir, '..data', 'c.yaml'), join(dir, 'c.yaml')); // a ConfigMap volume's layout
      writeFileSync(join(dir, 'kustomization.yaml'), 'resources: [x.yaml]\n');
      writeFileSync(join(dir, 'broken.yaml'), 'apiVersion: reconcile/v1\nstack: Not_Valid\n');
      const f = new FleetSpecs([dir]);
      let scan = f.scan();
      expect([...scan.stacks.keys()].sort()).toEqual(['a', 'b', 'c']);
      expect(scan.stacks.get('a')).toMatchObject({ intervalMs: 30_000, mode: 'detect', region: 'us-east-1' });
      expect(scan.stacks.get('b')!.intervalMs).toBeUndefined();
      expect(scan.invalid.map((i) => i.file)).toEqual([join(dir, 'broken.yaml')]);

      // A second file naming stack b: the first by path is served.
      writeFileSync(join(dir, 'b-copy.yaml'), spec('b'));
      scan = f.scan();
      expect(scan.duplicates).toEqual([{ stack: 'b', file: join(dir, 'team-b', 'b.yml'), servedFrom: join(dir, 'b-copy.yaml') }]);
      rmSync(join(dir, 'b-copy.yaml'));

      // An edit that breaks a served spec keeps its stack (watch uses the last valid spec).
      writeFileSync(join(dir, 'a.yaml'), spec('a', 'watch: { interval: soon }\n'));
      scan = f.scan();
      expect(scan.stacks.get('a')).toMatchObject({ intervalMs: 30_000 });
      // Removed: gone from the next scan.
      rmSync(join(dir, 'team-b', 'b.yml'));
      expect([...f.scan().stacks.keys()].sort()).toEqual(['a', 'c']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('three shards serve every stack exactly once', () => {
    const dir = mkdtempSync(join(tmpdir(), 'reconcile-fleet-'));
    try {
      for (let i = 0; i < 30; i++) writeFileSync(join(dir, `s${i}.yaml`), spec(`stack-${i}`));
      const served = [0, 1, 2].map((index) => [...new FleetSpecs([dir], { index, count: 3 }).scan().stacks.keys()]);
      const all = served.flat().sort();
      expect(all).toEqual(Array.from({ length: 30 }, (_, i) => `stack-${i}`).sort());
      expect(new Set(all).size).toBe(30);
      for (const s of served) expect(s.length).toBeGreaterThan(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
