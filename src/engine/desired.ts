// Builds the Desired view of a spec resource that reconcilers work from.
import { isExternalId } from '../spec/common.js';
import type { KindName, SpecOf } from '../spec/schema.js';
import { TAG_ID, TAG_PROTECT, TAG_STACK } from '../aws/tags.js';
import type { Desired, Outputs } from './types.js';

export interface DesiredInput<K extends KindName = KindName> {
  stack: string;
  defaultTags: Record<string, string>;
  name: string;
  kind: K;
  spec: SpecOf<K>;
  specDir: string;
  /** Outputs of other resources of the spec, by name (UNKNOWN values while not created). */
  lookup: (name: string) => Outputs | undefined;
}

export function desiredTags(stack: string, defaultTags: Record<string, string>, name: string, spec: { tags?: Record<string, string>; protect?: boolean }): Record<string, string> {
  const tags: Record<string, string> = { Name: `${stack}-${name}`, ...defaultTags, ...(spec.tags ?? {}) };
  tags[TAG_STACK] = stack;
  tags[TAG_ID] = name;
  if (spec.protect) tags[TAG_PROTECT] = 'true';
  return tags;
}

export function makeDesired<K extends KindName>(input: DesiredInput<K>): Desired<K> {
  const { stack, name, kind, spec } = input;
  return {
    name,
    address: `${kind}.${name}`,
    kind,
    spec,
    stack,
    specDir: input.specDir,
    stackTags: input.defaultTags,
    tags: desiredTags(stack, input.defaultTags, name, spec as { tags?: Record<string, string>; protect?: boolean }),
    ref(n: string): Outputs {
      if (isExternalId(n)) return { id: n, arn: n.startsWith('arn:') ? n : undefined };
      const o = input.lookup(n);
      if (!o) throw new Error(`${kind}.${name} refers to "${n}", which the engine has not resolved`);
      return o;
    },
  };
}

/** The `adopt:` values among desired views, mapped to the spec name that adopts each. */
export function adoptIds(desired: Desired[]): Map<string, string> {
  const m = new Map<string, string>();
  for (const d of desired) {
    const a = (d.spec as { adopt?: string }).adopt;
    if (a) m.set(a, d.name);
  }
  return m;
}
