// What YAML parsing made of a spec's text, kept between runs of the CLI: parsing is most of what
// loading a spec costs, and it grows with the spec (the `yaml` library, with the positions every
// diagnostic needs, takes about 2 ms per KB in a fresh process: ~175 ms of CPU for the 82 KB spec
// of 20 copies of clock-app-ha, the bench's largest). A run on text already parsed -- validate,
// then plan, then apply in CI, or every watch cycle -- reads its values back from a JSON file
// instead (about 1 ms), keyed by the SHA-256 of the text; the document with positions is parsed only
// when a diagnostic must be placed.
//
// Only what the text alone decides is kept: the values as written (before ${env:...}), where each
// ${env:...} is (the value's path, and whether it is a plain scalar, which takes a number's or a
// boolean's type after expansion) and where each resource's name is. Never an environment
// variable's value: they are expanded again at every load (expandEnv, as for the document), and a
// load whose expansion fails parses the document to place the error. The schema, references and
// the checks that read files run on every load as before. No entry is made for text with
// ${param:...} or `parameters:`, with YAML warnings, with a ${env:...} reached through an alias or a
// merge key, or whose values do not survive JSON unchanged (.inf, .nan, -0). Entries are files in
// $XDG_CACHE_HOME/reconcile/specs (else ~/.cache/reconcile/specs), the MAX_ENTRIES most recently
// used kept. The CLI turns it on (enableSpecCache); library callers and tests parse every time.
// Never fails a load: an entry that cannot be read, written or trusted is parsed again.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, renameSync, statSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type { Document } from 'yaml';
import { isScalar } from './yaml.js';
import { expandEnv, retype } from './interpolate.js';
import type { Position } from './types.js';
import { makeDir } from '../make-dir.js';

/** A string value holding ${env:...}: where it is, and whether it is a plain scalar (retyped after expansion). */
export interface EnvSite {
  path: (string | number)[];
  plain: boolean;
}

/** What a parse of a spec's text decides: its values as written, its ${env:...}, where each resource's name is. */
export interface ParsedText {
  data: unknown;
  sites: EnvSite[];
  /** Line and column of each resource's name (its key under `resources`). */
  names: Record<string, Position>;
}

/** Bump when what is stored (or how the text is parsed) changes: older entries are then never read. */
const FORMAT = 'reconcile-spec-parse-2';
export const MAX_ENTRIES = 64;

let dir: string | undefined;

/** The folder of the cache for this process (the CLI's); undefined turns it off. */
export function enableSpecCache(folder: string | undefined): void {
  dir = folder;
}

/** $XDG_CACHE_HOME/reconcile/specs, else ~/.cache/reconcile/specs; none without either. */
export function defaultSpecCacheDir(env: NodeJS.ProcessEnv): string | undefined {
  const base = env.XDG_CACHE_HOME || (env.HOME ? join(env.HOME, '.cache') : undefined);
  return base && join(base, 'reconcile', 'specs');
}

/** Whether this process keeps what parsing `text` gives (the cache is on and may hold it). */
export const keeping = (text: string): boolean => !!dir && cacheable(text);

/** Whether a cache entry may be made or used for `text`: no parameters. */
export const cacheable = (text: string): boolean => !text.includes('${param:') && !/^parameters\s*:/m.test(text);

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

/** The string values (not keys) of `data` that hold ${env:...}, with their paths. */
function envPaths(data: unknown, path: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  if (typeof data === 'string') {
    if (data.includes('${env:')) out.push(path);
  } else if (Array.isArray(data)) data.forEach((v, i) => envPaths(v, [...path, i], out));
  else if (isObj(data)) for (const [k, v] of Object.entries(data)) envPaths(v, [...path, k], out);
  return out;
}

/**
 * The ${env:...} sites of `data` (the document's values before interpolation), each found as a
 * scalar of `doc` at its path; undefined when one is not (reached through an alias or a merge key).
 */
export function envSites(doc: Document, data: unknown): EnvSite[] | undefined {
  const sites: EnvSite[] = [];
  for (const path of envPaths(data)) {
    const node = doc.getIn(path, true);
    if (!isScalar(node) || typeof node.value !== 'string') return undefined;
    sites.push({ path, plain: node.type === 'PLAIN' });
  }
  return sites;
}

/**
 * The entry's values with ${env:...} expanded from `env`, as interpolateDocument does it; undefined
 * when an expansion fails (the caller parses the document to place the error).
 */
export function expandedData(entry: ParsedText, env: NodeJS.ProcessEnv): unknown {
  for (const { path, plain } of entry.sites) {
    const parent = path.slice(0, -1).reduce<unknown>((o, k) => (isObj(o) ? (o as Record<string | number, unknown>)[k] : undefined), entry.data);
    const last = path[path.length - 1];
    if (!isObj(parent) || typeof (parent as Record<string | number, unknown>)[last] !== 'string') return undefined;
    const r = expandEnv((parent as Record<string | number, unknown>)[last] as string, env);
    if (r.errors.length) return undefined;
    (parent as Record<string | number, unknown>)[last] = plain ? retype(r.value) : r.value;
  }
  return entry.data;
}

const keyOf = (text: string, yamlVersion: string) => createHash('sha256').update(`${FORMAT}\0${yamlVersion}\0`).update(text).digest('hex');

/** The entry for `text`, if the cache is on and holds a sound one. */
export function readParsed(text: string, yamlVersion: string): ParsedText | undefined {
  if (!dir || !cacheable(text)) return undefined;
  const key = keyOf(text, yamlVersion);
  const file = join(dir, `${key}.json`);
  try {
    const entry = JSON.parse(readFileSync(file, 'utf8')) as { key?: unknown } & Partial<ParsedText>;
    if (entry.key !== key || !isObj(entry.names) || !Array.isArray(entry.sites) || !('data' in entry)) return undefined;
    const now = new Date();
    utimesSync(file, now, now); // most recently used: kept when the folder is pruned
    return { data: entry.data, sites: entry.sites, names: entry.names };
  } catch {
    return undefined;
  }
}

/** Keeps what parsing `text` gave (when the cache is on and the values survive JSON). */
export function writeParsed(text: string, yamlVersion: string, parsed: ParsedText): void {
  if (!dir || !cacheable(text)) return;
  try {
    const json = JSON.stringify({ key: keyOf(text, yamlVersion), ...parsed });
    if (!isDeepStrictEqual((JSON.parse(json) as ParsedText).data, parsed.data)) return;
    makeDir(dir, 0o700);
    const file = join(dir, `${keyOf(text, yamlVersion)}.json`);
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, json, { mode: 0o600 });
    renameSync(tmp, file); // whole or not at all, for a run reading it meanwhile
    prune(dir);
  } catch {
    // not kept (read-only folder, disk full): the next run parses again
  }
}

/** Deletes all but the MAX_ENTRIES most recently used entries. */
function prune(folder: string): void {
  const entries = readdirSync(folder).filter((f) => f.endsWith('.json'));
  if (entries.length <= MAX_ENTRIES) return;
  const used = entries.map((f) => ({ f, t: statSync(join(folder, f)).mtimeMs })).sort((a, b) => b.t - a.t);
  for (const { f } of used.slice(MAX_ENTRIES)) unlinkSync(join(folder, f));
}
