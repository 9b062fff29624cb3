// Building blocks shared by every kind's schema. No AWS SDK here: `validate` must stay fast.
import { z } from './zod.cjs';

/** A YAML path inside the spec, e.g. ['resources', 'web', 'ingress', 0, 'port']. */
export type SpecPath = (string | number)[];

/** A reference from one resource to another: the referring field, the name, the kinds it may be. */
export interface RefUse {
  path: SpecPath; // relative to the resource body
  name: string;
  kinds: readonly string[];
  /** A name that is not in the spec names an existing AWS resource (e.g. an instance profile by name). */
  outside?: boolean;
  /**
   * Needed only once this resource exists (a security group's rule naming a group): not an edge of the
   * creation order. The resource is created without what the reference sets, and the engine sets that
   * in a second step, once the resource referred to exists too; so two resources may refer to each
   * other this way, and a resource to itself (src/spec/graph.ts).
   */
  late?: boolean;
}

/**
 * An AWS id or ARN written where a reference is expected refers to something outside the stack
 * (an existing security group, a topic ARN). Such values are passed through, never resolved.
 */
export const EXTERNAL_ID = /^(?:vpc|subnet|sg|igw|nat|rtb|pcx|eipalloc|lt|i|ami|key|eni|tgw|pl)-[0-9a-f]{6,}$|^arn:/;
export const isExternalId = (v: string): boolean => EXTERNAL_ID.test(v);

const NAME = /^[a-zA-Z][a-zA-Z0-9_-]{0,62}$/;
export const resourceName = z
  .string()
  .regex(NAME, 'a name starts with a letter and has only letters, digits, "-" and "_" (at most 63)');

/**
 * The kinds each ref() field may name, by the field's zod definition (shared by the copies
 * `.describe()` makes; `.optional()` and `z.array()` wrap it): read by refKinds (kinds/define.ts).
 */
export const REF_KINDS = new WeakMap<object, readonly string[]>();

/** A field that names another resource of the spec (or holds an AWS id / ARN for an outside one). */
export const ref = (...kinds: string[]) => {
  const s = z.string().min(1).describe(`Name of a ${kinds.join(' or ')} in this spec (or an existing AWS id / ARN).`);
  REF_KINDS.set(s._zod.def, kinds);
  return s;
};

export const cidr = z
  .string()
  .regex(
    /^(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\/(?:3[0-2]|[12]?\d)$/,
    'expected an IPv4 CIDR block such as 10.0.0.0/16',
  )
  .describe('An IPv4 CIDR block: an address and a prefix length from 0 to 32, e.g. 10.0.0.0/16.');

export const tags = z
  .record(z.string().min(1).max(128), z.string().max(256))
  .describe('Tags as key: value. The tool adds reconcile:stack and reconcile:id itself.');

/** Fields every resource may carry, whatever its kind. */
export const commonFields = {
  tags: tags.optional(),
  protect: z
    .boolean()
    .optional()
    .describe('Refuse any plan that deletes or replaces this resource. Written to AWS as a tag, so it holds even after the resource leaves the spec.'),
  ignoreChanges: z
    .array(z.string())
    .optional()
    .describe('Fields set on create and never changed afterwards (something else owns them, e.g. desiredCapacity moved by a scaling policy).'),
  adopt: z
    .string()
    .optional()
    .describe('Take over this existing AWS resource (its id) instead of creating one. Shown in the plan.'),
  dependsOn: z.array(z.string()).optional().describe('Extra ordering: names of resources that must exist first.'),
};

/** An AMI: an id, or the newest image matching a name pattern from an owner. */
export const ami = z.union([
  z.string().regex(/^ami-[0-9a-f]{8,}$/, 'an AMI id looks like ami-0123456789abcdef0').describe('AMI id'),
  z
    .object({
      name: z.string().min(1).describe('Image name pattern, * allowed, e.g. al2023-ami-2023.*-x86_64'),
      owner: z.string().min(1).describe('Owner account id or alias (amazon, 099720109477 for Canonical)'),
      architecture: z.enum(['x86_64', 'arm64']).optional(),
    })
    .strict()
    .describe('Look up the newest AMI whose name matches, from this owner.'),
]).describe('An AMI id (ami-0123456789abcdef0), or { name, owner } to use the newest matching image.');

export const userData = z.union([
  z.string().describe('User data script, inline.'),
  z
    .object({
      file: z.string().min(1).describe('Path of a file holding the user data, relative to the spec.'),
      sensitive: z.boolean().optional().describe('Never print its content.'),
    })
    .strict(),
  z.object({ inline: z.string(), sensitive: z.boolean().optional() }).strict(),
]);

export const duration = z
  .string()
  .regex(/^\d+(ms|s|m|h|d)$/, 'a duration is a number and a unit: 30s, 5m, 1h')
  .describe('A duration: 30s, 5m, 1h.');

/** The shortest time between watch cycles, for --interval and a spec's watch.interval alike. */
export const MIN_WATCH_INTERVAL_MS = 1_000;

export function parseDuration(d: string): number {
  const m = /^(\d+)(ms|s|m|h|d)$/.exec(d);
  if (!m) throw new Error(`bad duration ${d}`);
  const n = Number(m[1]);
  return n * { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'ms'];
}
