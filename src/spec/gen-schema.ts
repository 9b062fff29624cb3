// The JSON Schema of the spec, generated from the zod schema (the one source of truth).
// `npm run build && npm run schema` writes schemas/reconcile-v1.json; a unit test fails when the
// committed file is stale. Editors use it through the modeline at the top of every example:
//   # yaml-language-server: $schema=../schemas/reconcile-v1.json
import { existsSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { z } from 'zod';
import { specSchema } from './schema.js';

export const SCHEMA_ID = 'urn:reconcile:schema:reconcile-v1';
export const SCHEMA_FILE = 'schemas/reconcile-v1.json';

/** The JSON Schema (draft 2020-12) of what a spec file may contain. */
export function jsonSchema(): Record<string, unknown> {
  const generated = z.toJSONSchema(specSchema, { io: 'input' }) as Record<string, unknown>;
  const { $schema, ...rest } = generated;
  return {
    $schema,
    $id: SCHEMA_ID,
    title: 'reconcile spec, version 1 (apiVersion: reconcile/v1)',
    ...rest,
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
