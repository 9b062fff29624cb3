// From zod issues to plain-language diagnostics (still without positions: load.ts adds them).
import type { z } from 'zod';
import { cidr, duration, type SpecPath } from './common.js';
import { didYouMean } from './suggest.js';

type Issue = z.core.$ZodIssue;
type Schema = z.core.$ZodType;

/** A diagnostic before it is placed in the file: `at: 'key'` points at the key of `path`. */
export interface RawDiag {
  path: SpecPath;
  at: 'key' | 'value';
  message: string;
  hint?: string;
  /** For a missing required field: its name (dropped when an unknown key of the same object suggests it). */
  missing?: string;
  /** For an unknown key: the key it was taken for. */
  suggested?: string;
  /** An unknown key with no likely meaning (see load.ts: a stray comma in a { ... } mapping). */
  unknownKey?: boolean;
}

// ---------------------------------------------------------------------------------------------
// Schema introspection (zod 4 keeps every schema's definition in `_zod.def`).

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
function innerDescriptions(s: Schema | undefined, value: unknown): string[] {
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

// ---------------------------------------------------------------------------------------------
// Messages

export function formatPath(path: SpecPath): string {
  let out = '';
  for (const seg of path) out += typeof seg === 'number' ? `[${seg}]` : out ? `.${seg}` : seg;
  return out;
}

/** A value as it appears in a message: short, quoted strings. */
export function show(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'an empty value';
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? `${v.slice(0, 57)}...` : v);
  if (typeof v === 'number' || typeof v === 'boolean') return `${typeof v} ${String(v)}`;
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return typeof v;
}

const TYPE_WORDS: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
  object: 'a mapping (key: value)',
  record: 'a mapping (key: value)',
  array: 'a list',
  literal: 'a fixed value',
};

interface Ctx {
  root: Schema;
  data: unknown;
}

/** The field a path names, for messages: `ingress[0].port` inside a resource, else the path. */
function label(path: SpecPath): string {
  if (path[0] === 'resources' && path.length > 2) return formatPath(path.slice(2));
  if (path[0] === 'resources' && path.length === 2) return `resource "${String(path[1])}"`;
  return formatPath(path) || 'the spec';
}

/** Where an object is, for "unknown field ... in X" messages. */
function where(ctx: Ctx, objPath: SpecPath): string {
  if (objPath.length === 0) return 'at the top level';
  if (objPath[0] === 'resources' && objPath.length >= 2) {
    const kind = valueAt(ctx.data, [...objPath.slice(0, 2), 'kind']);
    const res = `${typeof kind === 'string' ? kind : 'resource'} "${String(objPath[1])}"`;
    return objPath.length === 2 ? `in ${res}` : `in ${formatPath(objPath.slice(2))} of ${res}`;
  }
  return `in ${formatPath(objPath)}`;
}

function lastKey(path: SpecPath): string {
  for (let i = path.length - 1; i >= 0; i--) if (typeof path[i] === 'string') return String(path[i]);
  return '';
}

function unionScore(issues: readonly Issue[], ctx: Ctx, base: SpecPath): number {
  let score = 0;
  for (const iss of issues) {
    if (iss.path.length === 0 && iss.code === 'invalid_type') score += 100;
    else if (iss.path.length === 0 && iss.code === 'unrecognized_keys') score += 10 * iss.keys.length;
    else if (iss.code === 'invalid_type' && valueAt(ctx.data, [...base, ...(iss.path as SpecPath)]) === undefined) score += 5;
    else score += 1;
  }
  return score;
}

function mapIssue(iss: Issue, base: SpecPath, ctx: Ctx, out: RawDiag[]): void {
  const path = [...base, ...(iss.path as (string | number)[])] as SpecPath;
  const value = valueAt(ctx.data, path);
  const lbl = label(path);
  switch (iss.code) {
    case 'unrecognized_keys': {
      const allowed = allowedKeys(schemaAt(ctx.root, ctx.data, path), value);
      for (const key of iss.keys) {
        const near = didYouMean(key, allowed);
        out.push({
          path: [...path, key],
          at: 'key',
          message: `unknown field "${key}" ${where(ctx, path)}`,
          hint: near ?? (allowed.length ? `allowed fields: ${allowed.join(', ')}` : undefined),
          suggested: near ? near.slice('did you mean "'.length, -2) : undefined,
          unknownKey: !near,
        });
      }
      return;
    }
    case 'invalid_type': {
      const s = schemaAt(ctx.root, ctx.data, path);
      if (value === undefined) {
        const key = lastKey(path);
        const parent = path.slice(0, -1);
        out.push({
          path,
          at: 'value',
          message: `missing required field "${key}" ${where(ctx, parent)}`,
          hint: `add ${key}: ${placeholder(s)}`,
          missing: key,
        });
        return;
      }
      const expected = TYPE_WORDS[iss.expected] ?? iss.expected;
      const desc = s ? unwrap(s).descriptions[0] : undefined;
      out.push({
        path,
        at: 'value',
        message: value === null ? `${lbl} has no value: expected ${expected}` : `${lbl}: expected ${expected}, got ${show(value)}`,
        hint: desc,
      });
      return;
    }
    case 'invalid_value': {
      const vals = iss.values.map((v) => String(v));
      if (vals.length === 1) {
        out.push({ path, at: 'value', message: `${lbl} must be ${JSON.stringify(iss.values[0])}, not ${show(value)}`, hint: `write ${lastKey(path)}: ${vals[0]}` });
        return;
      }
      const near = typeof value === 'string' ? didYouMean(value, vals) : undefined;
      out.push({
        path,
        at: 'value',
        message: `${lbl}: ${show(value)} is not one of the allowed values`,
        hint: `${near ? `${near} ` : ''}allowed values: ${vals.join(', ')}`,
      });
      return;
    }
    case 'invalid_union': {
      if (iss.discriminator) {
        // Discriminated union on `kind`: the resource's kind is missing or unknown.
        const kinds = ((iss as { options?: unknown[] }).options ?? []).map(String);
        const resPath = path[path.length - 1] === iss.discriminator ? path.slice(0, -1) : path;
        const kindVal = valueAt(ctx.data, [...resPath, iss.discriminator]);
        const list = `kinds: ${kinds.join(', ')}`;
        if (kindVal === undefined || kindVal === null) {
          out.push({ path: [...resPath, iss.discriminator], at: 'value', message: `${label(resPath)} has no ${iss.discriminator}`, hint: `add ${iss.discriminator}: <one of ${kinds.join(', ')}>` });
        } else {
          const near = typeof kindVal === 'string' ? didYouMean(kindVal, kinds) : undefined;
          out.push({
            path: [...resPath, iss.discriminator],
            at: 'value',
            message: `unknown ${iss.discriminator} ${show(kindVal)}${resPath.length ? ` for ${label(resPath)}` : ''}`,
            hint: near ? `${near} ${list}` : list,
          });
        }
        return;
      }
      const branches = iss.errors;
      if (branches.length === 0) {
        out.push({ path, at: 'value', message: `${lbl}: ${iss.message}` });
        return;
      }
      const scores = branches.map((b) => unionScore(b, ctx, path));
      const best = scores.indexOf(Math.min(...scores));
      const allWrongType = branches.every((b) => b.some((i) => i.path.length === 0 && i.code === 'invalid_type'));
      if (allWrongType) {
        const expected = [...new Set(branches.flatMap((b) => b.filter((i) => i.path.length === 0 && i.code === 'invalid_type').map((i) => TYPE_WORDS[(i as { expected: string }).expected] ?? (i as { expected: string }).expected)))];
        const s = schemaAt(ctx.root, ctx.data, path);
        out.push({
          path,
          at: 'value',
          message: value === undefined ? `missing required field "${lastKey(path)}" ${where(ctx, path.slice(0, -1))}` : `${lbl}: expected ${expected.join(' or ')}, got ${show(value)}`,
          hint: value === undefined ? `add ${lastKey(path)}: ${placeholder(s)}` : s ? unwrap(s).descriptions[0] ?? `for example ${placeholder(s)}` : undefined,
          missing: value === undefined ? lastKey(path) : undefined,
        });
        return;
      }
      for (const sub of branches[best]) mapIssue(sub, path, ctx, out);
      return;
    }
    case 'invalid_key': {
      const inner = iss.issues.map((i) => i.message).join('; ');
      const what = path.length === 2 && path[0] === 'resources' ? 'resource name' : 'key';
      out.push({ path, at: 'key', message: `${what} ${JSON.stringify(String(path[path.length - 1]))}: ${inner}` });
      return;
    }
    case 'too_small':
    case 'too_big': {
      const small = iss.code === 'too_small';
      const limit = Number(small ? (iss as { minimum: number }).minimum : (iss as { maximum: number }).maximum);
      const incl = iss.inclusive !== false;
      const origin = iss.origin;
      let msg: string;
      if (origin === 'array' || origin === 'set') {
        const n = Array.isArray(value) ? value.length : 0;
        msg = `${lbl} needs ${small ? 'at least' : 'at most'} ${limit} item${limit === 1 ? '' : 's'} (has ${n})`;
      } else if (origin === 'string') {
        const n = typeof value === 'string' ? value.length : 0;
        msg = limit === 1 && small ? `${lbl} must not be empty` : `${lbl} must be ${small ? 'at least' : 'at most'} ${limit} characters long (has ${n})`;
      } else {
        const rel = small ? (incl ? 'at least' : 'greater than') : incl ? 'at most' : 'less than';
        msg = `${lbl} must be ${rel} ${limit}, not ${value === undefined ? 'missing' : String(value)}`;
      }
      out.push({ path, at: 'value', message: msg });
      return;
    }
    case 'invalid_format': {
      let m = iss.message;
      if (iss.format === 'starts_with') m = `must start with "${(iss as { prefix?: string }).prefix ?? ''}"`;
      else if (iss.format === 'url') m = 'expected a URL such as https://example.com/file';
      const ds = innerDescriptions(schemaAt(ctx.root, ctx.data, path), value);
      out.push({ path, at: 'value', message: `${lbl}: ${m} (got ${show(value)})`, hint: ds[ds.length - 1] });
      return;
    }
    case 'custom': {
      // Schemas give a hint with their own checks: ctx.addIssue({ ..., params: { hint } }).
      const hint = (iss.params as { hint?: unknown } | undefined)?.hint;
      out.push({ path, at: 'value', message: iss.message, hint: typeof hint === 'string' ? hint : undefined });
      return;
    }
    default:
      out.push({ path, at: 'value', message: `${lbl}: ${iss.message}` });
  }
}

/**
 * Plain-language diagnostics for the issues of `root.safeParse(data)`. A missing field that an
 * unknown key of the same object was probably meant to be is left out (the typo is the error).
 */
export function issuesToDiags(issues: readonly Issue[], root: Schema, data: unknown): RawDiag[] {
  const out: RawDiag[] = [];
  const ctx: Ctx = { root, data };
  for (const iss of issues) mapIssue(iss, [], ctx, out);
  return out.filter((d) => {
    if (!d.missing) return true;
    const parent = formatPath(d.path.slice(0, -1));
    return !out.some((o) => o.suggested === d.missing && formatPath(o.path.slice(0, -1)) === parent);
  });
}
