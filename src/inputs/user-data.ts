// User data of an instance or a launch template: inline text, { inline }, or { file } relative to the
// spec's folder. Resolved to the bytes AWS gets (base64) and a sha256 that diff compares, so the
// content itself never has to be shown or stored anywhere but in AWS.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';

export type UserDataSpec = string | { file: string; sensitive?: boolean } | { inline: string; sensitive?: boolean };

export interface ResolvedUserData {
  /** The content as text (for a caller that must show it; never when sensitive). */
  text: string;
  /** What RunInstances and launch template data take. */
  base64: string;
  /** sha256 of the bytes, hex: what diff compares. */
  sha256: string;
  /** Never print it (the spec says so). */
  sensitive: boolean;
  /** "inline" or the absolute file path it came from. */
  source: string;
}

/** AWS limit: 16 KB of user data before base64. */
export const USER_DATA_MAX_BYTES = 16 * 1024;

export const sha256Hex = (bytes: Buffer | string): string => createHash('sha256').update(bytes).digest('hex');

/** The hash of user data as AWS returns it (base64), comparable with ResolvedUserData.sha256. */
export const sha256OfBase64 = (b64: string): string => sha256Hex(Buffer.from(b64, 'base64'));

/**
 * Reads and encodes user data; undefined when the spec has none. A missing file or an oversized
 * script is an error naming the field, the path and the limit.
 */
export function resolveUserData(spec: UserDataSpec | undefined, specDir: string, address = 'userData'): ResolvedUserData | undefined {
  if (spec === undefined) return undefined;
  let bytes: Buffer;
  let sensitive = false;
  let source = 'inline';
  if (typeof spec === 'string') bytes = Buffer.from(spec, 'utf8');
  else if ('inline' in spec) {
    bytes = Buffer.from(spec.inline, 'utf8');
    sensitive = !!spec.sensitive;
  } else {
    source = isAbsolute(spec.file) ? spec.file : resolve(specDir, spec.file);
    sensitive = !!spec.sensitive;
    try {
      bytes = readFileSync(source);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new Error(
        `${address}: userData.file "${spec.file}" cannot be read (${code === 'ENOENT' ? 'no such file' : code ?? (e as Error).message}; resolved to ${source}, relative to the spec's folder)`,
      );
    }
  }
  if (bytes.length > USER_DATA_MAX_BYTES)
    throw new Error(
      `${address}: user data${source === 'inline' ? '' : ` from ${source}`} is ${bytes.length} bytes; AWS accepts at most ${USER_DATA_MAX_BYTES} (16 KB) before base64. Move the bulk into a file fetched at boot (e.g. from S3).`,
    );
  return { text: bytes.toString('utf8'), base64: bytes.toString('base64'), sha256: sha256Hex(bytes), sensitive, source };
}

/** Whether the spec marks its user data sensitive (without reading a file). */
export const isSensitiveUserData = (spec: UserDataSpec | undefined): boolean => typeof spec === 'object' && !!spec.sensitive;
