// The specs of a fleet: every spec file under the directories (and the files) `watch` was given,
// found again on every scan, so a spec added, changed or removed (a `git pull`, a ConfigMap update)
// is picked up without a restart. A file is read again only when its size, mtime or inode changed.
//
// - Under a directory, a file is a spec when it ends in .yaml / .yml and says `apiVersion:
//   reconcile/v1`; other YAML (a kustomization, CI files) is not ours and is skipped. Names starting
//   with "." are skipped (a ConfigMap volume keeps its files under ..data/ too). A file named on the
//   command line is always a spec.
// - A spec that was valid and turns invalid keeps its stack: watch goes on with the last valid spec
//   and reports the errors (spec-reload.ts). A file that was never valid is reported and not served.
// - Two files naming the same stack: the first by path is served, the other is reported.
// - Only the stacks of this process's shard are served (shard.ts).
import { readdirSync, readFileSync, statSync, type Stats } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseDuration } from '../spec/common.js';
import { loadSpec } from '../spec/load.js';
import type { Spec } from '../spec/schema.js';
import { shardOf, type ShardChoice } from './shard.js';

export interface FleetSpec {
  file: string;
  stack: string;
  region: string;
  /** The spec's `watch:` block (undefined: the command's defaults). */
  intervalMs?: number;
  mode?: 'apply' | 'detect';
  /** sha256 of the spec, as loadSpec computes it (changes when the file's content does). */
  hash: string;
}

export interface FleetScan {
  /** The stacks this shard serves, by stack name. */
  stacks: Map<string, FleetSpec>;
  /** Files that are not valid specs and never were (their errors, one line each). */
  invalid: { file: string; message: string }[];
  /** Files of stacks another shard serves. */
  otherShards: number;
  /** Files naming a stack that an earlier file (by path) names too. */
  duplicates: { stack: string; file: string; servedFrom: string }[];
}

const SPEC_MARK = /^apiVersion:\s*['"]?reconcile\/v1\b/m;

interface Cached {
  sig: string;
  /** Undefined: the file is not a spec (a directory's other YAML). */
  spec?: FleetSpec;
  problem?: string;
}

export class FleetSpecs {
  private readonly cache = new Map<string, Cached>();
  /** The last valid reading of each file: kept while an edit is invalid. */
  private readonly lastGood = new Map<string, FleetSpec>();

  constructor(
    readonly paths: string[],
    readonly shard: ShardChoice = { index: 0, count: 1 },
  ) {}

  /** Every spec file under the paths, in path order, each marked explicit (named) or found. */
  private list(): { file: string; explicit: boolean; stat?: Stats; missing?: boolean }[] {
    const out: { file: string; explicit: boolean; stat?: Stats; missing?: boolean }[] = [];
    const walk = (dir: string, depth: number) => {
      let names: string[];
      try {
        names = readdirSync(dir).sort();
      } catch {
        return;
      }
      for (const name of names) {
        if (name.startsWith('.') || name === 'node_modules') continue;
        const file = join(dir, name);
        let st: Stats;
        try {
          st = statSync(file); // follows symlinks (a ConfigMap's keys are links into ..data/)
        } catch {
          continue;
        }
        if (st.isDirectory()) {
          if (depth < 8) walk(file, depth + 1);
        } else if (st.isFile() && /\.ya?ml$/i.test(name)) out.push({ file, explicit: false, stat: st });
      }
    };
    for (const p of this.paths) {
      const abs = resolve(p);
      let st: Stats | undefined;
      try {
        st = statSync(abs);
      } catch {
        out.push({ file: abs, explicit: true, missing: true });
        continue;
      }
      if (st.isDirectory()) walk(abs, 0);
      else out.push({ file: abs, explicit: true, stat: st });
    }
    return out;
  }

  private read(file: string, explicit: boolean, st: Stats): Cached {
    const sig = `${st.size}:${st.mtimeMs}:${st.ino}`;
    const hit = this.cache.get(file);
    if (hit?.sig === sig) return hit;
    let c: Cached;
    if (!explicit && !SPEC_MARK.test(readFileSync(file, 'utf8'))) c = { sig };
    else {
      const r = loadSpec(file);
      if (r.ok) {
        const spec: Spec = r.loaded.spec;
        c = {
          sig,
          spec: {
            file,
            stack: spec.stack,
            region: spec.region,
            hash: r.loaded.hash,
            ...(spec.watch?.interval ? { intervalMs: parseDuration(spec.watch.interval) } : {}),
            ...(spec.watch?.mode ? { mode: spec.watch.mode } : {}),
          },
        };
        this.lastGood.set(file, c.spec!);
      } else {
        const first = r.diagnostics.find((d) => d.severity === 'error') ?? r.diagnostics[0];
        const n = r.diagnostics.filter((d) => d.severity === 'error').length;
        c = { sig, problem: `${first.file}:${first.line}:${first.col} ${first.message}${n > 1 ? ` (and ${n - 1} more error${n > 2 ? 's' : ''})` : ''}` };
      }
    }
    this.cache.set(file, c);
    return c;
  }

  /** Finds every spec again (reading only the files that changed). */
  scan(): FleetScan {
    const result: FleetScan = { stacks: new Map(), invalid: [], otherShards: 0, duplicates: [] };
    const seen = new Set<string>();
    for (const { file, explicit, stat, missing } of this.list()) {
      if (seen.has(file)) continue;
      seen.add(file);
      if (missing || !stat) {
        result.invalid.push({ file, message: `${file} does not exist` });
        continue;
      }
      let c: Cached;
      try {
        c = this.read(file, explicit, stat);
      } catch (e) {
        result.invalid.push({ file, message: `${file}: ${(e as Error).message}` });
        continue;
      }
      const spec = c.spec ?? (c.problem ? this.lastGood.get(file) : undefined);
      if (!spec) {
        if (c.problem) result.invalid.push({ file, message: c.problem });
        continue;
      }
      if (shardOf(spec.stack, this.shard.count) !== this.shard.index) {
        result.otherShards++;
        continue;
      }
      const first = result.stacks.get(spec.stack);
      if (first) result.duplicates.push({ stack: spec.stack, file, servedFrom: first.file });
      else result.stacks.set(spec.stack, spec);
    }
    for (const f of [...this.cache.keys()]) if (!seen.has(f)) (this.cache.delete(f), this.lastGood.delete(f));
    return result;
  }
}
