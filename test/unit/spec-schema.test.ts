// schemas/reconcile-v1.json is generated from the zod schema; this fails when it is stale.
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { jsonSchema, jsonSchemaText, repoRoot, SCHEMA_FILE } from '../../src/spec/gen-schema.js';
import { KIND_NAMES } from '../../src/spec/schema.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

describe('JSON Schema', () => {
  it('the committed schemas/reconcile-v1.json is current', () => {
    const committed = readFileSync(join(ROOT, SCHEMA_FILE), 'utf8');
    if (committed !== jsonSchemaText())
      expect.fail(`${SCHEMA_FILE} is stale: the zod spec schema changed. Run npm run build && npm run schema, and commit the file.`);
  });

  it('has an id, a title, and one branch per kind under resources', () => {
    const s = jsonSchema() as {
      $schema: string;
      $id: string;
      title: string;
      required: string[];
      properties: { resources: { additionalProperties: { oneOf?: { properties: { kind: { const: string } } }[]; anyOf?: unknown[] } } };
    };
    expect(s.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(s.$id).toBe('urn:reconcile:schema:reconcile-v1');
    expect(s.title).toContain('reconcile/v1');
    expect(s.required).toEqual(expect.arrayContaining(['apiVersion', 'stack', 'region', 'resources']));
    const branches = s.properties.resources.additionalProperties.oneOf ?? [];
    expect(branches.map((b) => b.properties.kind.const)).toEqual(KIND_NAMES);
  });

  it('input types: fields with defaults are optional for the writer', () => {
    const s = jsonSchema() as { required: string[] };
    expect(s.required).not.toContain('tags');
    expect(s.required).not.toContain('prune');
  });

  it('finds the repository root from any folder below it', () => {
    expect(repoRoot(join(ROOT, 'src', 'spec'))).toBe(ROOT);
    expect(repoRoot(join(ROOT, 'dist', 'src', 'spec'))).toBe(ROOT);
  });
});
