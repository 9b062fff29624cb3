import type { z } from 'zod';
import type { RefUse } from '../common.js';

/** A kind of resource as the spec sees it: its schema and where its bodies refer to others. */
export interface KindDef<K extends string = string, S extends z.ZodType = z.ZodType> {
  kind: K;
  schema: S;
  /** Every reference a (validated) body makes, with its path inside the body. */
  refs(body: z.output<S>): RefUse[];
}

export function defineKind<K extends string, S extends z.ZodType>(
  kind: K,
  schema: S,
  refs: (body: z.output<S>) => RefUse[],
): KindDef<K, S> {
  return { kind, schema, refs };
}

/** Shorthand for refs at top-level fields: [field, value|undefined, kinds]. */
export function refsOf(list: [string, string | undefined, readonly string[]][]): RefUse[] {
  return list.filter(([, v]) => v !== undefined && v !== '').map(([f, v, kinds]) => ({ path: [f], name: v!, kinds }));
}

/** refs for an array field of names. */
export function refsOfArray(field: string, values: string[] | undefined, kinds: readonly string[]): RefUse[] {
  return (values ?? []).map((name, i) => ({ path: [field, i], name, kinds }));
}
