// Content of S3 objects named in a spec (a local file, inline text, or a URL), and its hashes.
//
// The s3-bucket reconciler's prepare loads every desired object (reading files, fetching URLs) and
// hands the content to diff (which compares hashes) and to apply (which uploads those very bytes,
// so what apply writes is what plan compared). A URL is fetched again by every plan (its content
// may change over time); a file is read again only when its size or mtime changed. Content itself
// is never printed: only hashes.
import { createHash } from 'node:crypto';
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

/** How long a URL fetch may take. */
export const fetchSettings = { timeoutMs: 30_000 };

export function hashBytes(bytes: Buffer): Content {
  return {
    bytes,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    md5: createHash('md5').update(bytes).digest('hex'),
  };
}

/** Files read before, by path: re-read when their size or mtime changed (watch plans every cycle). */
const fileCache = new Map<string, { mtimeMs: number; size: number; content: Content }>();

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

const URL_HINT = 'check the address, or use file: for a local copy';

async function fetchUrl(url: string, key: string): Promise<Content> {
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(fetchSettings.timeoutMs), redirect: 'follow' });
  } catch (e) {
    throw new UserError(`object ${key}: cannot fetch ${url}: ${(e as Error).message}`, URL_HINT);
  }
  if (!res.ok) throw new UserError(`object ${key}: fetching ${url} answered HTTP ${res.status} ${res.statusText}`, URL_HINT);
  return hashBytes(Buffer.from(await res.arrayBuffer()));
}

/** Loads an object's content: inline text, a file (relative to the spec's folder), or a URL (fetched now). */
export async function loadContent(specDir: string, o: ObjectSource): Promise<Content> {
  if (o.content !== undefined) return hashBytes(Buffer.from(o.content, 'utf8'));
  if (o.file !== undefined) return loadFile(resolve(specDir, o.file), o.key);
  if (o.url !== undefined) return fetchUrl(o.url, o.key);
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
