// Content of S3 objects named in a spec (a local file, inline text, or a URL), and its hashes.
//
// diff is pure and synchronous, so the s3-bucket reconciler's observe loads every desired object
// first (reading files, fetching URLs) and diff reads the hashes from here. A URL is fetched again
// by every observe (its content may change over time); the bytes fetched are the bytes uploaded,
// so what apply writes is what plan compared. Content itself is never printed: only hashes.
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { extname, resolve } from 'node:path';
import { UserError } from '../errors.js';

export interface ObjectSource {
  key: string;
  file?: string;
  url?: string;
  content?: string;
}

export interface Content {
  bytes: Buffer;
  /** Hex sha256 of the bytes: stored on the object as the metadata entry `sha256`. */
  sha256: string;
  /** Hex MD5 of the bytes: the ETag S3 gives a single-part upload without KMS encryption. */
  md5: string;
}

export interface ContentHash {
  sha256: string;
  md5: string;
}

/** How long a URL fetch may take. */
export const fetchSettings = { timeoutMs: 30_000 };

export function hashBytes(bytes: Buffer): Content {
  return {
    bytes,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    md5: createHash('md5').update(bytes).digest('hex'),
  };
}

const fileCache = new Map<string, { mtimeMs: number; size: number; content: Content }>();
const urlCache = new Map<string, Content>();

async function loadFile(path: string, key: string): Promise<Content> {
  try {
    const s = await stat(path);
    const cached = fileCache.get(path);
    if (cached && cached.mtimeMs === s.mtimeMs && cached.size === s.size) return cached.content;
    const content = hashBytes(await readFile(path));
    fileCache.set(path, { mtimeMs: s.mtimeMs, size: s.size, content });
    return content;
  } catch (e) {
    throw new Error(`object ${key}: cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

async function fetchUrl(url: string, key: string): Promise<Content> {
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(fetchSettings.timeoutMs), redirect: 'follow' });
  } catch (e) {
    throw new UserError(`object ${key}: cannot fetch ${url}: ${(e as Error).message}`, 'the plan fetches every url: content before any change; check the address, or use file: for a local copy');
  }
  if (!res.ok) throw new UserError(`object ${key}: fetching ${url} answered HTTP ${res.status} ${res.statusText}`, 'the plan fetches every url: content before any change; check the address, or use file: for a local copy');
  const content = hashBytes(Buffer.from(await res.arrayBuffer()));
  urlCache.set(url, content);
  return content;
}

/**
 * Loads an object's content. `refresh` re-fetches a URL even when it was fetched before (observe
 * does, so each plan sees the URL's current content); otherwise the last fetch is reused (apply
 * uploads what plan compared).
 */
export async function loadContent(specDir: string, o: ObjectSource, refresh = false): Promise<Content> {
  if (o.content !== undefined) return hashBytes(Buffer.from(o.content, 'utf8'));
  if (o.file !== undefined) return loadFile(resolve(specDir, o.file), o.key);
  if (o.url !== undefined) return (!refresh && urlCache.get(o.url)) || fetchUrl(o.url, o.key);
  throw new Error(`object ${o.key}: needs one of file, url or content`);
}

/**
 * The hashes of an object's desired content, synchronously (for diff). Inline content is hashed
 * here; a file is read here if observe has not read it (unchanged since: the cached hash); a URL
 * is known only once observe fetched it (undefined before).
 */
export function contentHash(specDir: string, o: ObjectSource): ContentHash | undefined {
  if (o.content !== undefined) {
    const { sha256, md5 } = hashBytes(Buffer.from(o.content, 'utf8'));
    return { sha256, md5 };
  }
  if (o.file !== undefined) {
    const path = resolve(specDir, o.file);
    let s;
    try {
      s = statSync(path);
    } catch (e) {
      throw new Error(`object ${o.key}: cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    const cached = fileCache.get(path);
    if (cached && cached.mtimeMs === s.mtimeMs && cached.size === s.size) return { sha256: cached.content.sha256, md5: cached.content.md5 };
    const content = hashBytes(readFileSync(path));
    fileCache.set(path, { mtimeMs: s.mtimeMs, size: s.size, content });
    return { sha256: content.sha256, md5: content.md5 };
  }
  if (o.url !== undefined) {
    const c = urlCache.get(o.url);
    return c && { sha256: c.sha256, md5: c.md5 };
  }
  throw new Error(`object ${o.key}: needs one of file, url or content`);
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html',
  '.htm': 'text/html',
  '.css': 'text/css',
  '.js': 'text/javascript',
  '.mjs': 'text/javascript',
  '.json': 'application/json',
  '.txt': 'text/plain',
  '.md': 'text/markdown',
  '.csv': 'text/csv',
  '.xml': 'application/xml',
  '.yaml': 'application/yaml',
  '.yml': 'application/yaml',
  '.py': 'text/x-python',
  '.sh': 'text/x-shellscript',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.png': 'image/png',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
  '.pdf': 'application/pdf',
  '.zip': 'application/zip',
  '.gz': 'application/gzip',
  '.tar': 'application/x-tar',
  '.wasm': 'application/wasm',
};

/** The Content-Type of an object: the spec's, else by the key's extension (then the file's). */
export function contentTypeOf(o: ObjectSource & { contentType?: string }): string {
  if (o.contentType) return o.contentType;
  for (const name of [o.key, o.file ?? '', o.url ? new URL(o.url).pathname : '']) {
    const t = CONTENT_TYPES[extname(name).toLowerCase()];
    if (t) return t;
  }
  return 'application/octet-stream';
}
