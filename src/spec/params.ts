// The spec's `parameters:` and the values a run gives them (--set name=value, --values FILE).
// One spec then serves several environments or copies: `stack: web-${param:env}`.
import { readFileSync } from 'node:fs';
import type { Document } from 'yaml';
import { isMap, isScalar, parse } from './yaml.js';
import { expandEnv, type ParamValues } from './interpolate.js';
import { closest } from './suggest.js';

export interface ParamError {
  /** Character offset in the spec's source text. */
  offset: number;
  message: string;
  hint?: string;
  path: (string | number)[];
}

/**
 * Each declared parameter's value: the given one, else its default (with ${env:...} expanded), else
 * undefined (an error where it is used). A given name the spec does not declare is an error at
 * `parameters:` (or the top of the file).
 */
export function resolveParams(doc: Document, given: Readonly<Record<string, string>>, env: NodeJS.ProcessEnv): { values: ParamValues; errors: ParamError[] } {
  const values = new Map<string, string | undefined>();
  const errors: ParamError[] = [];
  const pair = isMap(doc.contents) ? doc.contents.items.find((p) => isScalar(p.key) && p.key.value === 'parameters') : undefined;
  const block = pair?.value;
  if (isMap(block))
    for (const p of block.items) {
      if (!isScalar(p.key)) continue;
      const name = String(p.key.value);
      const d = isMap(p.value) ? p.value.get('default', true) : undefined;
      const dflt = isScalar(d) && d.value !== null ? String(d.value) : undefined;
      values.set(name, dflt === undefined ? undefined : expandEnv(dflt, env).value);
    }
  const offset = isScalar(pair?.key) ? (pair.key.range?.[0] ?? 0) : 0;
  for (const [name, value] of Object.entries(given)) {
    if (values.has(name)) {
      values.set(name, value);
      continue;
    }
    const near = closest(name, values.keys());
    errors.push({
      offset,
      path: pair ? ['parameters'] : [],
      message: `parameter "${name}" is given a value (--set / --values) but the spec declares no such parameter`,
      hint: near ? `did you mean ${near}?` : values.size ? `declared: ${[...values.keys()].join(', ')}` : `declare it: parameters: { ${name}: { default: ... } }`,
    });
  }
  return { values, errors };
}

const HINT = 'write --set name=value, and in a --values file one `name: value` per line';

/** A bad --set or --values: the CLI prints it as one line with its hint (exit 1), like a UserError. */
export class ParamsError extends Error {
  readonly hint = HINT;
  readonly exitCode = 1;
}

/** The values a run gives: `--set name=value` (repeatable) over a `--values FILE`. A bad flag is a ParamsError. */
export function specParams(g: { set?: readonly string[]; values?: string }): Record<string, string> {
  const out: Record<string, string> = {};
  const valuesFile = g.values;
  if (valuesFile) {
    let data: unknown;
    try {
      data = parse(readFileSync(valuesFile, 'utf8'));
    } catch (e) {
      throw new ParamsError(`cannot read the values file ${valuesFile}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message.split('\n')[0]}`);
    }
    if (data !== null && data !== undefined) {
      if (typeof data !== 'object' || Array.isArray(data)) throw new ParamsError(`the values file ${valuesFile} must be a mapping of parameter: value`);
      for (const [k, v] of Object.entries(data)) {
        if (v !== null && typeof v === 'object') throw new ParamsError(`the values file ${valuesFile}: ${k} must be a single value (text, number or true/false)`);
        out[k] = v === null ? '' : String(v);
      }
    }
  }
  for (const s of g.set ?? []) {
    const eq = s.indexOf('=');
    if (eq <= 0) throw new ParamsError(`--set ${s}: expected name=value`);
    out[s.slice(0, eq)] = s.slice(eq + 1);
  }
  return out;
}
