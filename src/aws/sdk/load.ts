// The AWS SDK v3 packages are CommonJS. An ESM `import` of one makes Node read the whole bundle three
// times -- to detect its module format, to lex its named exports, then to compile it -- where
// require() compiles it once: for @aws-sdk/client-ec2 (a 2 MB bundle) that is about 320 ms against
// 160 ms of every plan's start. So the SDK is only ever loaded through the modules of this folder,
// one per client package, which require() it; import commands and types from them
// (`from '../aws/sdk/ec2.js'`), never from '@aws-sdk/client-*' directly. Types only (`import type`)
// may come from the package itself: they are erased.
import { createHash } from 'node:crypto';
import { readdirSync, statSync, unlinkSync, utimesSync } from 'node:fs';
import { Module, createRequire } from 'node:module';
import { join } from 'node:path';
import { Script } from 'node:vm';

const req = createRequire(import.meta.url);

/** require() of an SDK package, typed as its ESM namespace. */
export const requireSdk = <T>(pkg: string): T => req(pkg) as T;

/** The parts of v8-compile-cache 2.4.0 enableCompileCache uses (its __TEST__ export; the version is pinned). */
interface CompileCacheLib {
  FileSystemBlobStore: new (dir: string, prefix: string) => BlobStore;
  NativeCompileCache: new () => { setCacheStore(store: BlobStore): void; install(): void; uninstall(): void };
  supportsCachedData(): boolean;
}
interface BlobStore {
  get(key: string, invalidationKey: string): Buffer | undefined;
  set(key: string, invalidationKey: string, data: Buffer): void;
  isDirty(): boolean;
  save(): boolean;
}

/**
 * For the CLI process only (cli.ts, before it loads anything else; never in tests): keep V8's
 * compiled code of the CommonJS modules the CLI requires -- the SDK bundles above all, commander,
 * yaml -- from one run to the next, with v8-compile-cache. Compiling is most of what loading
 * @aws-sdk/client-ec2 (2 MB) costs.
 *
 * The library's own install is not used, for three reasons. From an ES module it keys its cache by
 * the working directory (a 6 MB file per folder the CLI is run in). It rewrites the whole file at
 * every exit, as V8 hands back code for every script it compiles, found in the cache or not. And V8
 * checks a cached entry's header, not its contents: a damaged file crashes every later run. Here
 * the cache is in $XDG_CACHE_HOME/reconcile (else ~/.cache/reconcile; or V8_COMPILE_CACHE_CACHE_DIR),
 * one file per installed copy of the tool (its folder's hash in the name: entries are kept by
 * module path, and the library never drops one, so one file shared by every copy -- each npx
 * version, each git worktree -- only grew, and every run read all of it: 130 MB and 70 ms per
 * run seen on a developer machine), each entry stored with its SHA-256 and given to V8 only when
 * that matches, and the file is written only when an entry was missing, stale or damaged. The
 * files of a copy not run for PRUNE_AFTER_DAYS are deleted when a cache is written. Without HOME
 * (a service) there is no cache: a folder of its own in the shared temp folder could be made first
 * by another user. DISABLE_V8_COMPILE_CACHE=1 turns it off. Never fails a run: where the cache
 * cannot be read or written, modules are compiled as they would be without it.
 */
export function enableCompileCache(): void {
  const env = process.env;
  if (env.DISABLE_V8_COMPILE_CACHE) return;
  try {
    const base = env.XDG_CACHE_HOME || (env.HOME ? join(env.HOME, '.cache') : undefined);
    const dir = env.V8_COMPILE_CACHE_CACHE_DIR || (base && join(base, 'reconcile', `v8-compile-cache-${process.arch}-${process.versions.v8}`));
    if (!dir) return;
    let lib: CompileCacheLib;
    env.DISABLE_V8_COMPILE_CACHE = '1'; // load the library without installing it
    try {
      lib = (req('v8-compile-cache') as { __TEST__: CompileCacheLib }).__TEST__;
    } finally {
      delete env.DISABLE_V8_COMPILE_CACHE;
    }
    if (!lib.supportsCachedData()) return;
    const name = `${PREFIX}-${createHash('sha256').update(import.meta.url).digest('hex').slice(0, 16)}`;
    const store = new lib.FileSystemBlobStore(dir, name);
    keepFresh(join(dir, `${name}.BLOB`));
    const sha256 = (data: Buffer) => createHash('sha256').update(data).digest();
    const get = store.get.bind(store);
    store.get = (key, invalidationKey) => {
      const stored = get(key, invalidationKey);
      if (!stored || stored.length < 32) return undefined;
      const data = stored.subarray(32);
      return sha256(data).equals(stored.subarray(0, 32)) ? data : undefined;
    };
    // Compiled here rather than by the library, which asks V8 to produce a new cache at every
    // compile, found in the cache or not (serialising @aws-sdk/client-ec2's code again costs ~17 ms a
    // run), and produces it before the module runs (so without the functions compiled on first call).
    // A module missing from the cache (or rejected by V8) is kept at exit, with what it compiled since.
    const fresh: [filename: string, key: string, script: Script][] = [];
    const cache = new lib.NativeCompileCache();
    (cache as unknown as { _moduleCompile(filename: string, content: string): unknown })._moduleCompile = (filename, content) => {
      if (content.startsWith('#!')) content = content.replace(/^#!.*/, '');
      const key = createHash('sha1').update(content, 'utf8').digest('hex');
      const cachedData = store.get(filename, key);
      const script = new Script(Module.wrap(content), { filename, cachedData });
      if (!cachedData || script.cachedDataRejected) fresh.push([filename, key, script]);
      return script.runInThisContext({ displayErrors: true });
    };
    cache.setCacheStore(store);
    const modules = Module.prototype as unknown as { _compile: (this: unknown, content: string, filename: string) => unknown };
    const nodeCompile = modules._compile;
    cache.install();
    // vm.Script's code cannot import(): a module that does (the SDK's Lambda support imports
    // node:async_hooks so) is compiled by Node, as without the cache.
    const cachedCompile = modules._compile;
    modules._compile = function (content, filename) {
      return (/\bimport\s*\(/.test(content) ? nodeCompile : cachedCompile).call(this, content, filename);
    };
    process.once('exit', () => {
      cache.uninstall();
      try {
        if (!fresh.length) return;
        for (const [filename, key, script] of fresh) {
          const data = script.createCachedData();
          store.set(filename, key, Buffer.concat([sha256(data), data]));
        }
        if (store.save()) pruneOthers(dir, name);
      } catch {
        // not saved (read-only folder, disk full): the next run compiles again
      }
    });
  } catch {
    // no cache: compiled as usual
  }
}

/** The cache files' names: `${PREFIX}-<hash of the copy's folder>.BLOB` and `.MAP`. */
const PREFIX = 'reconcile-sha256';
const PRUNE_AFTER_DAYS = 30;
const DAY_MS = 24 * 3600 * 1000;

/** Marks this copy's cache as used (at most once a day, so that it is not pruned while in use). */
function keepFresh(blob: string): void {
  try {
    if (Date.now() - statSync(blob).mtimeMs > DAY_MS) utimesSync(blob, new Date(), new Date());
  } catch {
    // no cache yet
  }
}

/**
 * Deletes the cache files of other copies not run for PRUNE_AFTER_DAYS, and the one file every copy
 * shared before (`${PREFIX}.BLOB`, no hash in the name).
 */
function pruneOthers(dir: string, own: string): void {
  const now = Date.now();
  for (const f of readdirSync(dir)) {
    const m = /^(.+)\.(BLOB|MAP)$/.exec(f);
    if (!m || m[1] === own || !(m[1] === PREFIX || m[1].startsWith(`${PREFIX}-`))) continue;
    try {
      const blob = join(dir, `${m[1]}.BLOB`);
      const stale = m[1] === PREFIX || now - statSync(blob).mtimeMs > PRUNE_AFTER_DAYS * DAY_MS;
      if (stale) unlinkSync(join(dir, f));
    } catch {
      // its BLOB is gone (deleted first): the MAP goes too
      try {
        unlinkSync(join(dir, f));
      } catch {
        // gone already
      }
    }
  }
}
