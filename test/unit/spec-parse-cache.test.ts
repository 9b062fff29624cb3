// The spec parse cache (src/spec/parse-cache.ts): a load that reads its values from the cache gives
// exactly what a load that parses gives -- every example, the invalid ones, ${env:...} expanded from
// the environment of that load -- and it is the cache that is read.
import { cpSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { clockAppHaCopies } from '../../bench/gen-spec.mjs';
import { loadSpec, loadSpecText } from '../../src/spec/load.js';
import { enableSpecCache, MAX_ENTRIES } from '../../src/spec/parse-cache.js';
import type { LoadOptions } from '../../src/spec/load.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const EX = join(ROOT, 'examples');
let dir: string;
const entries = () => readdirSync(dir).filter((f) => f.endsWith('.json'));

/** A load without the cache, and two with it: the first may make the entry, the second reads it. */
function threeLoads(file: string, opts: LoadOptions = {}) {
  enableSpecCache(undefined);
  const parsed = loadSpec(file, opts);
  enableSpecCache(dir);
  const first = loadSpec(file, opts);
  const second = loadSpec(file, opts);
  return { parsed, first, second };
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'spec-cache-'));
});
afterEach(() => enableSpecCache(undefined));

describe('spec parse cache', () => {
  const examples = readdirSync(EX).filter((f) => f.endsWith('.yaml'));
  const invalid = readdirSync(join(EX, 'invalid')).map((f) => join('invalid', f));
  it.each([...examples, ...invalid])('%s: the same result from the cache as from parsing', (name) => {
    const { parsed, first, second } = threeLoads(join(EX, name), { env: {} });
    expect(first).toEqual(parsed);
    expect(second).toEqual(parsed);
  });

  it('is read: a valid example makes one entry, and a load after it takes its values from there', () => {
    const file = join(EX, 'clock-app-ha.yaml');
    threeLoads(file, { env: {} });
    expect(entries()).toHaveLength(1);
    const path = join(dir, entries()[0]);
    const entry = JSON.parse(readFileSync(path, 'utf8'));
    entry.data.tags.project = 'from-the-cache';
    writeFileSync(path, JSON.stringify(entry));
    const r = loadSpec(file, { env: {} });
    expect(r.ok && r.loaded.spec.tags).toEqual({ project: 'from-the-cache' });
    // No environment variable's value is kept: they are expanded at every load.
    expect(readFileSync(path, 'utf8')).toContain('${env:ALERT_EMAIL:-ops@example.com}');
  });

  it('expands ${env:...} from each load its own environment, with the type a plain scalar takes', () => {
    const text = [
      'apiVersion: reconcile/v1',
      'stack: t',
      'region: us-east-1',
      'resources:',
      '  web:',
      '    kind: security-group',
      '    vpc: main',
      '    description: ${env:DESC:-web servers}',
      '    ingress:',
      '      - port: ${env:PORT:-8080}',
      '        cidr: "${env:CIDR}"',
      '  main:',
      '    kind: vpc',
      '    cidr: 10.0.0.0/16',
      '',
    ].join('\n');
    const file = join(dir, 'spec.yaml');
    writeFileSync(file, text);
    const envs = [{ CIDR: '10.0.0.0/8' }, { CIDR: '192.168.0.0/16', PORT: '443', DESC: 'web' }, { CIDR: '10.0.0.0/8', PORT: '80' }];
    for (const env of envs) {
      const { parsed, first, second } = threeLoads(file, { env });
      expect(parsed.ok).toBe(true);
      expect(first).toEqual(parsed);
      expect(second).toEqual(parsed);
    }
    expect(entries()).toHaveLength(1);
    // An expansion that fails on a later load: the document is parsed and the error placed as without the cache.
    const { parsed, second } = threeLoads(file, { env: {} });
    expect(parsed.ok).toBe(false);
    expect(second).toEqual(parsed);
    expect(!second.ok && second.diagnostics[0]).toMatchObject({ line: 11, col: 16 });
  });

  it('20 copies of clock-app-ha (the bench spec): the same result', () => {
    const file = join(dir, 'n20.yaml');
    writeFileSync(file, clockAppHaCopies(20) as string);
    cpSync(join(EX, 'files'), join(dir, 'files'), { recursive: true });
    const { parsed, second } = threeLoads(file, { env: { ALERT_EMAIL: 'me@example.com' } });
    expect(parsed.ok).toBe(true);
    expect(second).toEqual(parsed);
  });

  it('keeps no entry for a spec with parameters, and at most MAX_ENTRIES entries', () => {
    threeLoads(join(EX, 'webserver-s3-image.yaml'), { env: {} });
    expect(readFileSync(join(EX, 'webserver-s3-image.yaml'), 'utf8')).toMatch(/^parameters:/m);
    expect(entries()).toHaveLength(0);
    enableSpecCache(dir);
    for (let i = 0; i < MAX_ENTRIES + 3; i++) loadSpecText(`apiVersion: reconcile/v1\nstack: t${i}\nregion: us-east-1\nresources: {}\n`, join(dir, 'x.yaml'));
    expect(entries()).toHaveLength(MAX_ENTRIES);
  });
});
