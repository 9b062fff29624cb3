// ${env:NAME}, ${env:NAME:-default} and ${param:NAME} in the string values of a spec.
import type { Document, Scalar } from 'yaml';
import { isScalar, visit } from './yaml.js';
import { closest } from './suggest.js';

export interface InterpolationError {
  /** Character offset in the source text. */
  offset: number;
  message: string;
  hint?: string;
  path: (string | number)[];
}

/** The spec's parameters: each declared name, and its value (undefined: declared, no default, not set). */
export type ParamValues = ReadonlyMap<string, string | undefined>;

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const OPENERS = ['${env:', '${param:'] as const;

interface ExpandError {
  message: string;
  hint?: string;
  token: string;
  index: number;
}

/**
 * Expand one string. `$${env:X}` / `$${param:X}` are written as a literal `${env:X}` / `${param:X}`;
 * anything else that starts with `${env:` must be a well-formed reference to a set variable (or have
 * a default), and `${param:` a parameter the spec declares that has a value. Like the shell's `:-`,
 * an env default also applies when the variable is set but empty. Without `params`, `${param:` is
 * left as written (the spec declares none: reported as unknown by the caller).
 */
export function expandEnv(s: string, env: NodeJS.ProcessEnv, params?: ParamValues): { value: string; errors: ExpandError[]; changed: boolean } {
  if (!OPENERS.some((o) => s.includes(o))) return { value: s, errors: [], changed: false };
  const errors: ExpandError[] = [];
  let out = '';
  let i = 0;
  while (i < s.length) {
    const escaped = OPENERS.find((o) => s.startsWith('$' + o, i));
    if (escaped) {
      out += escaped;
      i += escaped.length + 1;
      continue;
    }
    const open = OPENERS.find((o) => s.startsWith(o, i));
    if (!open) {
      out += s[i];
      i++;
      continue;
    }
    const what = open === '${env:' ? 'env' : 'param';
    const end = s.indexOf('}', i + open.length);
    if (end < 0) {
      const token = s.slice(i, Math.min(s.length, i + 40)).split('\n')[0];
      errors.push({ message: `unterminated "${open}": expected "}"`, hint: what === 'env' ? 'write ${env:NAME} or ${env:NAME:-default}' : 'write ${param:NAME}', token, index: i });
      out += s.slice(i);
      break;
    }
    const token = s.slice(i, end + 1);
    const inner = s.slice(i + open.length, end);
    i = end + 1;
    if (what === 'param') {
      const r = paramValue(inner, params);
      if ('value' in r) out += r.value;
      else {
        out += token; // kept as written, so later checks do not pile up on an emptied value
        errors.push({ ...r, token, index: i - token.length });
      }
      continue;
    }
    const sep = inner.indexOf(':-');
    const name = sep < 0 ? inner : inner.slice(0, sep);
    const dflt = sep < 0 ? undefined : inner.slice(sep + 2);
    if (!ENV_NAME.test(name)) {
      out += token;
      errors.push({
        message: `"${token}" is not a valid environment variable reference`,
        hint: 'write ${env:NAME} or ${env:NAME:-default}; NAME has letters, digits and "_"',
        token,
        index: i - token.length,
      });
    } else {
      const v = env[name];
      if (v !== undefined && (v !== '' || dflt === undefined)) out += v;
      else if (dflt !== undefined) out += dflt;
      else {
        out += token;
        errors.push({
          message: `environment variable ${name} is not set`,
          hint: `set ${name}, or give a default: \${env:${name}:-value}`,
          token,
          index: i - token.length,
        });
      }
    }
  }
  return { value: out, errors, changed: true };
}

function paramValue(name: string, params: ParamValues | undefined): { value: string } | { message: string; hint: string } {
  const declared = [...(params?.keys() ?? [])];
  if (!params?.has(name)) {
    const near = closest(name, declared);
    return {
      message: `unknown parameter "${name}"`,
      hint: near
        ? `did you mean \${param:${near}}?`
        : declared.length
          ? `declare it under parameters: (declared: ${declared.join(', ')})`
          : `declare it first: parameters: { ${name}: { default: ... } }`,
    };
  }
  const v = params.get(name);
  if (v === undefined) return { message: `parameter ${name} has no value`, hint: `pass --set ${name}=VALUE (or a --values file), or give it a default under parameters:` };
  return { value: v };
}

/** Numbers and booleans a plain (unquoted) YAML scalar would have been read as. */
export function retype(s: string): string | number | boolean {
  if (s === 'true') return true;
  if (s === 'false') return false;
  if (/^[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?$/.test(s)) {
    const n = Number(s);
    if (Number.isFinite(n)) return n;
  }
  return s;
}

/**
 * Interpolates every string value (not keys) of the document in place. A plain scalar that becomes
 * a number or true/false after expansion takes that type (`port: ${env:PORT:-8080}` is a number);
 * quote it to keep a string. Returns the errors with the source offset of the offending reference.
 */
export function interpolateDocument(doc: Document, source: string, env: NodeJS.ProcessEnv, params?: ParamValues): InterpolationError[] {
  const errors: InterpolationError[] = [];
  visit(doc, {
    Scalar(key, node: Scalar, path) {
      if (key === 'key' || typeof node.value !== 'string') return;
      const r = expandEnv(node.value, env, params);
      if (!r.changed) return;
      const [start, end] = node.range ?? [0, 0];
      const text = source.slice(start, end);
      for (const e of r.errors) {
        // Point at the reference itself when it is written the same in the source (not escaped).
        const nth = countBefore(node.value, e.token, e.index);
        const at = nthIndexOf(text, e.token, nth);
        errors.push({ offset: at < 0 ? start : start + at, message: e.message, hint: e.hint, path: yamlPath(path, node) });
      }
      node.value = node.type === 'PLAIN' ? retype(r.value) : r.value;
    },
  });
  return errors;
}

function countBefore(s: string, token: string, index: number): number {
  let n = 0;
  for (let i = s.indexOf(token); i >= 0 && i < index; i = s.indexOf(token, i + 1)) n++;
  return n;
}

function nthIndexOf(s: string, token: string, nth: number): number {
  let i = s.indexOf(token);
  for (let k = 0; k < nth && i >= 0; k++) i = s.indexOf(token, i + 1);
  return i;
}

/** The spec path of a node from the ancestors `visit` gives (maps, pairs, sequences). */
function yamlPath(ancestors: readonly unknown[], node: unknown): (string | number)[] {
  const out: (string | number)[] = [];
  const chain = [...ancestors, node];
  for (let i = 1; i < chain.length; i++) {
    const parent = chain[i - 1] as { items?: unknown[]; key?: unknown };
    const child = chain[i];
    if (Array.isArray(parent.items)) {
      const idx = parent.items.indexOf(child);
      // Items of a sequence are indexed; pairs of a map are named by the next step.
      if (idx >= 0 && !(child && typeof child === 'object' && 'key' in child && 'value' in child)) out.push(idx);
    } else if (parent && typeof parent === 'object' && 'key' in parent) {
      const k = parent.key;
      out.push(isScalar(k) ? String(k.value) : String(k));
    }
  }
  return out;
}
