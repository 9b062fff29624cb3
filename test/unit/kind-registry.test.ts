// A kind is declared once (its descriptor in src/spec/kinds/, listed in KIND_DEFS) and implemented
// once (src/reconcilers/<kind>.ts). These fail when a kind is registered in one place and missing
// in another: a reconciler without a descriptor, a descriptor without a reconciler, a service
// without a client or SDK module, an EC2 kind the tag inventory cannot see, a reference a kind's
// refs() reports that its schema does not declare (or the other way round).
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { Aws } from '../../src/aws/clients.js';
import { SERVICES } from '../../src/aws/sdk/services.js';
import { KIND_ORDER, KIND_SERVICE, SERVICE_LOAD_COST } from '../../src/engine/order.js';
import { EC2_RESOURCE_TYPES } from '../../src/reconcilers/ec2-inventory.js';
import { VIRTUAL_KINDS } from '../../src/reconcilers/index.js';
import { INDEXED_TYPES } from '../../src/reconcilers/tag-index.js';
import { REF_KINDS } from '../../src/spec/common.js';
import { KIND_DEFS, KIND_NAMES } from '../../src/spec/schema.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const RECONCILERS = join(ROOT, 'src/reconcilers');

/** A body that names "x" at every ref() field of the schema (every option of a list of unions). */
function probe(s: z.ZodType): unknown {
  const def = (s as unknown as { _zod: { def: Record<string, any> } })._zod.def;
  if (REF_KINDS.has(def)) return 'x';
  switch (def.type) {
    case 'object': {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(def.shape as Record<string, z.ZodType>)) {
        const p = probe(v);
        if (p !== undefined) out[k] = p;
      }
      return Object.keys(out).length ? out : undefined;
    }
    case 'array': {
      const el = def.element._zod.def;
      const items = el.type === 'union' ? el.options.map(probe) : [probe(def.element)];
      const defined = items.filter((i: unknown) => i !== undefined);
      return defined.length ? defined : undefined;
    }
    case 'union':
      return def.options.map(probe).find((p: unknown) => p !== undefined);
    case 'pipe':
      return probe(def.in);
    default:
      return def.innerType ? probe(def.innerType) : undefined;
  }
}

describe('kind registry', () => {
  it('every kind but the virtual ones has src/reconcilers/<kind>.ts, whose reconciler is of that kind', async () => {
    for (const def of KIND_DEFS) {
      const file = join(RECONCILERS, `${def.kind}.ts`);
      const exists = readdirSync(RECONCILERS).includes(`${def.kind}.ts`);
      expect(exists, `${def.kind}: ${def.virtual ? 'a virtual kind has no reconciler' : `${file} is missing`}`).toBe(!def.virtual);
      if (!exists) continue;
      const m = (await import(file)) as { default?: { kind?: string } };
      expect(m.default?.kind, file).toBe(def.kind);
    }
    expect([...VIRTUAL_KINDS]).toEqual(KIND_DEFS.filter((d) => d.virtual).map((d) => d.kind));
  });

  it('every reconciler in src/reconcilers is a registered kind', async () => {
    for (const f of readdirSync(RECONCILERS).filter((x) => x.endsWith('.ts'))) {
      const m = (await import(join(RECONCILERS, f))) as { default?: { kind?: string; observe?: unknown } };
      if (!m.default?.observe) continue;
      expect(KIND_NAMES, `src/reconcilers/${f} default-exports a reconciler of a kind KIND_DEFS (src/spec/schema.ts) does not list`).toContain(m.default.kind);
      expect(f).toBe(`${m.default.kind}.ts`);
    }
  });

  it('every kind talks to a service that has a client, an SDK module and a load cost; virtual kinds to none', () => {
    const aws = new Aws({ region: 'us-east-1' });
    for (const def of KIND_DEFS) {
      expect(KIND_SERVICE[def.kind as keyof typeof KIND_SERVICE]).toBe(def.service ?? 'none');
      if (def.virtual) {
        expect(def.service, def.kind).toBeUndefined();
        continue;
      }
      const s = def.service;
      expect(SERVICES[s], `${def.kind}: service ${s} is not in src/aws/sdk/services.ts`).toBeDefined();
      expect(typeof (aws as unknown as Record<string, unknown>)[s], `Aws.${s}()`).toBe('function');
      expect(SERVICE_LOAD_COST[s], `load cost of ${s}`).toBeTypeOf('number');
      const barrel = readFileSync(join(ROOT, 'src/aws/sdk', `${s}.ts`), 'utf8');
      expect(barrel).toContain(`requireSdk<typeof Sdk>('${SERVICES[s].package}')`);
    }
  });

  it('every EC2 kind has DescribeTags types, and only EC2 kinds; tag index types name the kind\'s ARN service', () => {
    for (const def of KIND_DEFS) {
      expect(!!def.ec2TagTypes?.length, `${def.kind}: ec2TagTypes`).toBe(def.service === 'ec2');
      expect(EC2_RESOURCE_TYPES[def.kind as keyof typeof EC2_RESOURCE_TYPES]).toEqual(def.ec2TagTypes);
      if (def.tagIndexType) {
        expect(def.tagIndexType.split(':')[0], def.kind).toBe(SERVICES[def.service as keyof typeof SERVICES].iam);
        expect(INDEXED_TYPES).toContain(def.tagIndexType);
      }
    }
    expect(INDEXED_TYPES).toHaveLength(KIND_DEFS.filter((d) => d.tagIndexType).length);
  });

  it('a kind refers to registered kinds only, and its refs() reports exactly the ref() fields of its schema', () => {
    for (const def of KIND_DEFS) {
      for (const k of def.refKinds) expect(KIND_NAMES, `${def.kind} refers to ${k}`).toContain(k);
      const body = probe(def.schema) ?? {};
      const reported = new Set(def.refs(body as never).flatMap((r) => r.kinds.filter((k) => k !== def.kind)));
      expect([...reported].sort(), def.kind).toEqual([...def.refKinds].sort());
    }
  });

  it('creation order: each kind after every kind it refers to', () => {
    expect([...KIND_ORDER].sort()).toEqual([...KIND_NAMES].sort());
    for (const def of KIND_DEFS) for (const k of def.refKinds) expect(KIND_ORDER.indexOf(k as never), `${def.kind} -> ${k}`).toBeLessThan(KIND_ORDER.indexOf(def.kind));
  });
});
