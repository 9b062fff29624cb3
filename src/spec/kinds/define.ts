// The kind descriptor: everything the tool knows of a kind apart from its reconciler, declared once
// (with its schema, in this folder) and listed once (KIND_DEFS in ../schema.ts). The tables the
// rest of the code keys by kind are derived from these descriptors: the creation order and each
// kind's AWS service (src/engine/order.ts), the virtual kinds (src/reconcilers/index.ts), the
// DescribeTags types of the EC2 kinds (ec2-inventory.ts), the tag index's resource types
// (tag-index.ts), the AWS names the checks compare and each kind's checks (../checks.ts). No AWS
// SDK here.
import type { z } from 'zod';
import { REF_KINDS, type RefUse, type SpecPath } from '../common.js';

/** What a kind is beyond its schema: where its resources live in AWS and how their tags are read. */
export type KindTraits = (
  | {
      /**
       * The AWS service its reconciler (src/reconcilers/<kind>.ts) talks to: a name of
       * src/aws/sdk/services.ts (not imported: `validate` loads nothing of src/aws).
       */
      service: string;
      virtual?: undefined;
    }
  | {
      /** No AWS resource and no reconciler of its own: `watch` evaluates it, plans leave it out. */
      virtual: true;
      service?: undefined;
    }
) & {
  /** EC2 kinds: the DescribeTags resource types of its resources (AWS's names, and moto's where they differ). */
  ec2TagTypes?: readonly string[];
  /** Kinds the stack's tag index lists (GetResources, src/reconcilers/tag-index.ts): its resource-type filter. */
  tagIndexType?: string;
  /** The field of an AWS name the spec may give: two resources of the kind must not give the same one. */
  nameField?: string;
};

/** What a kind's semantic check gets: its resource, the spec's other resources, and where to report. */
export interface CheckContext<B> {
  name: string;
  body: B;
  /** Every resource of the spec that is valid on its own, by name, in spec order. */
  bodies: ReadonlyMap<string, { kind: string; body: unknown }>;
  /** The stack's region, when known. */
  region?: string;
  /** An error (or a warning) at a path inside this resource. */
  err(path: SpecPath, message: string, hint?: string): void;
  warn(path: SpecPath, message: string, hint?: string): void;
  /** Errs at `field` when `b` (of kind bKind) is not in the VPC of `a` (of kind aKind). */
  sameVpc(field: SpecPath, a: string | undefined, aKind: string, aWhere: string, b: string | undefined, bKind: string): void;
  /** sameVpc at [field, i] for each of `names` (of kind `kind`) from the `from`th on, against the VPC of `subnet`. */
  inVpcOfSubnet(subnet: string | undefined, field: string, names: string[], kind: string, from?: number): void;
  /** The vpc a resource of the spec lives in, when the spec says so (see KindChecks.vpc). */
  vpcOf(name: string | undefined, kind: string): string | undefined;
  /** Why a file named in the spec (relative to it) cannot be used, or undefined. */
  fileProblem(file: string): string | undefined;
}

/** A kind's checks beyond its schema: what needs the rest of the spec, the region or local files. */
export interface KindChecks<B> {
  /**
   * Where its resources' VPC is, for the same-VPC checks: the vpc's name (or id) itself, or a
   * reference to follow ([name, kind]).
   */
  vpc?(body: B, name: string): string | [string | undefined, string] | undefined;
  /**
   * With nameField: the scope its AWS name must be unique in ('' the stack; undefined: not checked,
   * e.g. a key pair reused by name).
   */
  nameScope?(body: B): string | undefined;
  /** Errors and warnings about this resource in the context of the spec (src/spec/checks.ts runs it). */
  check?(c: CheckContext<B>): void;
}

/** A kind of resource: its schema, where its bodies refer to others, its traits and its checks. */
export type KindDef<K extends string = string, S extends z.ZodType = z.ZodType> = KindTraits &
  KindChecks<z.output<S>> & {
    kind: K;
    schema: S;
    /** Every reference a (validated) body makes, with its path inside the body. */
    refs(body: z.output<S>): RefUse[];
    /** The kinds its bodies may refer to (its schema's ref() fields), itself left out. */
    refKinds: readonly string[];
  };

export function defineKind<K extends string, S extends z.ZodType>(
  kind: K,
  schema: S,
  refs: (body: z.output<S>) => RefUse[],
  traits: KindTraits & KindChecks<z.output<S>>,
): KindDef<K, S> {
  return { kind, schema, refs, refKinds: refKinds(schema).filter((k) => k !== kind), ...traits };
}

interface Def {
  type: string;
  innerType?: z.ZodType;
  in?: z.ZodType;
  out?: z.ZodType;
  shape?: Record<string, z.ZodType>;
  element?: z.ZodType;
  valueType?: z.ZodType;
  options?: z.ZodType[];
  left?: z.ZodType;
  right?: z.ZodType;
}

/** The kinds the ref() fields anywhere inside a schema may name, in the order met. */
export function refKinds(schema: z.ZodType): string[] {
  const out = new Set<string>();
  const walk = (s: z.ZodType | undefined, depth: number) => {
    if (!s || depth > 30) return;
    const def = (s as unknown as { _zod: { def: Def } })._zod.def;
    for (const k of REF_KINDS.get(def) ?? []) out.add(k);
    const children = [def.innerType, def.in, def.out, def.element, def.valueType, def.left, def.right, ...(def.options ?? []), ...Object.values(def.shape ?? {})];
    for (const c of children) walk(c, depth + 1);
  };
  walk(schema, 0);
  return [...out];
}

/** Shorthand for refs at top-level fields: [field, value|undefined, kinds]. */
export function refsOf(list: [string, string | undefined, readonly string[]][]): RefUse[] {
  return list.filter(([, v]) => v !== undefined && v !== '').map(([f, v, kinds]) => ({ path: [f], name: v!, kinds }));
}

/** refs for an array field of names. */
export function refsOfArray(field: string, values: string[] | undefined, kinds: readonly string[]): RefUse[] {
  return (values ?? []).map((name, i) => ({ path: [field, i], name, kinds }));
}
