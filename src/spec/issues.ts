// From zod issues to plain-language diagnostics (still without positions: load.ts adds them): one
// message and hint per kind of zod issue, worded from the schema at the issue's path (schema-walk.ts).
import type { z } from 'zod';
import type { SpecPath } from './common.js';
import { allowedKeys, innerDescriptions, placeholder, schemaAt, unwrap, valueAt } from './schema-walk.js';
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
