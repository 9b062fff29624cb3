// Walking a zod schema alongside the data it validates (zod 4 keeps every schema's definition in
// `_zod.def`): which schema checks the value at a path (following a union to the option the data is
// meant for), which fields an object allows, what its descriptions say, and an example value to
// suggest. issues.ts words its diagnostics with these.
import type { z } from 'zod';
import { cidr, duration, type SpecPath } from './common.js';

type Schema = z.core.$ZodType;

interface Def {
  type: string;
  innerType?: Schema;
  in?: Schema;
  getter?: () => Schema;
  shape?: Record<string, Schema>;
  element?: Schema;
  valueType?: Schema;
  options?: Schema[];
  discriminator?: string;
  values?: unknown[];
  entries?: Record<string, unknown>;
}
const defOf = (s: Schema): Def => (s as unknown as { _zod: { def: Def } })._zod.def;
const WRAPPERS = new Set(['optional', 'default', 'prefault', 'nullable', 'readonly', 'catch', 'nonoptional']);

/** The schema without optional/default/... wrappers, and every description met on the way. */
export function unwrap(s: Schema): { schema: Schema; descriptions: string[] } {
  const descriptions: string[] = [];
  let cur = s;
  for (let i = 0; i < 50; i++) {
    const d = (cur as unknown as { description?: string }).description;
    if (d) descriptions.push(d);
    const def = defOf(cur);
    if (WRAPPERS.has(def.type) && def.innerType) cur = def.innerType;
    else if (def.type === 'pipe' && def.in) cur = def.in;
    else if (def.type === 'lazy' && def.getter) cur = def.getter();
    else break;
  }
  return { schema: cur, descriptions };
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function jsKind(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

/** Which option of a union the value is meant for: by discriminator, then by shape. */
function pickOption(def: Def, data: unknown, seg?: string | number): Schema | undefined {
  const options = def.options ?? [];
  if (def.discriminator && isObj(data)) {
    const want = data[def.discriminator];
    return options.find((o) => {
      const sh = defOf(unwrap(o).schema).shape;
      const lit = sh?.[def.discriminator!] ? defOf(unwrap(sh[def.discriminator!]).schema).values : undefined;
      return lit?.includes(want);
    });
  }
  const k = jsKind(data);
  const typed = options.filter((o) => {
    const t = defOf(unwrap(o).schema).type;
    return k === 'object' ? t === 'object' || t === 'record' : k === 'array' ? t === 'array' : t !== 'object' && t !== 'array' && t !== 'record';
  });
  if (seg !== undefined && k === 'object') {
    const withKey = typed.find((o) => defOf(unwrap(o).schema).shape?.[String(seg)] !== undefined);
    if (withKey) return withKey;
  }
  return typed[0];
}

function childSchema(s: Schema, seg: string | number, data: unknown): Schema | undefined {
  let cur = unwrap(s).schema;
  let def = defOf(cur);
  if (def.type === 'union') {
    const o = pickOption(def, data, seg);
    if (!o) return undefined;
    cur = unwrap(o).schema;
    def = defOf(cur);
  }
  if (def.type === 'object') return def.shape?.[String(seg)];
  if (def.type === 'array') return typeof seg === 'number' ? def.element : undefined;
  if (def.type === 'record') return def.valueType;
  return undefined;
}

export function valueAt(data: unknown, path: SpecPath): unknown {
  let cur = data;
  for (const seg of path) {
    if (Array.isArray(cur) && typeof seg === 'number') cur = cur[seg];
    else if (isObj(cur) && Object.prototype.hasOwnProperty.call(cur, String(seg))) cur = cur[String(seg)];
    else return undefined;
  }
  return cur;
}

/** The schema that validates the value at `path` of `data`, following unions by the data's shape. */
export function schemaAt(root: Schema, data: unknown, path: SpecPath): Schema | undefined {
  let s: Schema | undefined = root;
  for (let i = 0; i < path.length && s; i++) s = childSchema(s, path[i], valueAt(data, path.slice(0, i)));
  return s;
}

/** Descriptions from the outside in, following a union to the option meant for `value`. */
export function innerDescriptions(s: Schema | undefined, value: unknown): string[] {
  if (!s) return [];
  const u = unwrap(s);
  const def = defOf(u.schema);
  if (def.type !== 'union') return u.descriptions;
  const o = pickOption(def, value);
  return o ? [...u.descriptions, ...unwrap(o).descriptions] : u.descriptions;
}

/** The fields an object schema allows (after picking the union option the data is meant for). */
export function allowedKeys(s: Schema | undefined, data: unknown): string[] {
  if (!s) return [];
  let cur = unwrap(s).schema;
  let def = defOf(cur);
  if (def.type === 'union') {
    const o = pickOption(def, data);
    if (!o) return [];
    cur = unwrap(o).schema;
    def = defOf(cur);
  }
  return def.type === 'object' ? Object.keys(def.shape ?? {}) : [];
}

/** An example value to write for a schema, for `add <key>: ...` hints. */
export function placeholder(s: Schema | undefined, depth = 0): string {
  if (!s) return '...';
  const { schema, descriptions } = unwrap(s);
  if (schema === cidr) return '10.0.0.0/16';
  if (schema === duration) return '5m';
  const def = defOf(schema);
  const refDesc = descriptions.find((d) => d.startsWith('Name of a '));
  switch (def.type) {
    case 'literal':
      return String(def.values?.[0]);
    case 'enum':
      return `<one of ${Object.values(def.entries ?? {}).join(', ')}>`;
    case 'string':
      return refDesc ? `<name of ${refDesc.slice('Name of '.length).replace(/ in this spec.*$/, '')}>` : '<text>';
    case 'number':
    case 'int':
      return '<number>';
    case 'boolean':
      return 'true';
    case 'array':
      return depth > 1 ? '[...]' : `[${placeholder(def.element, depth + 1)}]`;
    case 'record':
      return '{ <key>: <value> }';
    case 'object': {
      if (depth > 1) return '{...}';
      const req = Object.entries(def.shape ?? {}).filter(([, v]) => !(v as unknown as { _zod: { optin?: string } })._zod.optin);
      return req.length ? `{ ${req.map(([k, v]) => `${k}: ${placeholder(v, depth + 1)}`).join(', ')} }` : '{}';
    }
    case 'union':
      return (def.options ?? []).map((o) => placeholder(o, depth + 1)).join(' or ');
    default:
      return '...';
  }
}
