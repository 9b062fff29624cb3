// The JSON Schema of the spec, generated from the zod schema (the one source of truth).
// `npm run build && npm run schema` writes schemas/reconcile-v1.json; a unit test fails when the
// committed file is stale. Editors use it through the modeline at the top of every example:
//   # yaml-language-server: $schema=../schemas/reconcile-v1.json
import { existsSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { z } from './zod.cjs';
import { specSchema } from './schema.js';

export const SCHEMA_ID = 'urn:reconcile:schema:reconcile-v1';
export const SCHEMA_FILE = 'schemas/reconcile-v1.json';

/** The JSON Schema (draft 2020-12) of what a spec file may contain. */
export function jsonSchema(): Record<string, unknown> {
  const generated = z.toJSONSchema(specSchema, { io: 'input' }) as Record<string, unknown>;
  const { $schema, ...rest } = generated;
  const body = allowInterpolation(rest) as Record<string, unknown>;
  return {
    $schema,
    $id: SCHEMA_ID,
    title: 'reconcile spec, version 1 (apiVersion: reconcile/v1)',
    ...body,
    $defs: { ...((body.$defs as object) ?? {}), interpolated: INTERPOLATED },
  };
}

/**
 * `${env:NAME}`, `${env:NAME:-default}` and `${param:NAME}` may stand in any string value of a spec (src/spec/interpolate.ts),
 * and a plain scalar becomes a number or true/false after expansion. The schema describes the file as
 * written, before expansion, so every constrained value (a pattern, an enum, a number, a boolean) also
 * accepts a string holding such a reference. Constants (`apiVersion`, each resource's `kind`) do not:
 * `kind` tells the resource branches apart.
 */
const INTERPOLATED = {
  type: 'string',
  pattern: '\\$\\{(env:[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?|param:[A-Za-z_][A-Za-z0-9_-]*)\\}',
  description: 'Filled when the spec is loaded: ${env:NAME} or ${env:NAME:-default} from the environment, ${param:NAME} from the spec\'s parameters.',
};

function constrained(node: Record<string, unknown>): boolean {
  if ('const' in node) return false;
  if ('enum' in node) return true;
  if (node.type === 'string') return ['pattern', 'format', 'minLength', 'maxLength'].some((k) => k in node);
  return node.type === 'number' || node.type === 'integer' || node.type === 'boolean';
}

/** `properties` and `$defs` map names to schemas: a field named `enum` is not a keyword. */
const SCHEMA_MAPS = new Set(['properties', 'patternProperties', '$defs']);

function allowInterpolation(node: unknown, isMap = false): unknown {
  if (Array.isArray(node)) return node.map((n) => allowInterpolation(n));
  if (!node || typeof node !== 'object') return node;
  const out = Object.fromEntries(Object.entries(node).map(([k, v]) => [k, allowInterpolation(v, !isMap && SCHEMA_MAPS.has(k))]));
  if (isMap || !constrained(out)) return out;
  const { description, default: dflt, ...value } = out;
  return {
    ...(description === undefined ? {} : { description }),
    ...(dflt === undefined ? {} : { default: dflt }),
    anyOf: [value, { $ref: '#/$defs/interpolated' }],
  };
}

/** The file's text: pretty JSON with a trailing newline. */
export function jsonSchemaText(): string {
  return `${JSON.stringify(jsonSchema(), null, 2)}\n`;
}

/** The repository root: the nearest folder above this module that has a package.json. */
export function repoRoot(from: string = dirname(fileURLToPath(import.meta.url))): string {
  let dir = resolve(from);
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${from}`);
    dir = up;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const out = join(repoRoot(), SCHEMA_FILE);
  writeFileSync(out, jsonSchemaText());
  process.stdout.write(`wrote ${out}\n`);
}
