// The contract between the engine and the reconcilers. A reconciler observes facts and performs
// single actions; the engine decides (plan) and orders (apply).
import type { Aws } from '../aws/clients.js';
import type { KindName, SpecOf } from '../spec/schema.js';

/** Shown for values that exist only once a create has run. */
export const UNKNOWN = '(known after apply)';

/** What a resource offers to those that refer to it. `id` always; ARNs, names, IPs where they exist. */
export interface Outputs {
  id: string;
  [key: string]: string | undefined;
}

export type Management = 'owned' | 'adopted' | 'lookup';

export interface Observed<L = unknown> {
  /** The AWS id (or name / ARN, where that is how AWS names the resource). */
  id: string;
  /** The logical name: from the reconcile:id tag, or the spec name for adopted / looked-up ones. */
  name: string;
  /**
   * owned: carries this stack's tags. adopted: named by `adopt:` in the spec, tags not yet ours.
   * lookup: read-only (e.g. the default VPC); never created, changed or deleted.
   */
  management: Management;
  /** Live state, normalized to the spec's own vocabulary so diff can compare field by field. */
  live: L;
  tags: Record<string, string>;
  outputs: Outputs;
}

/**
 * A fact a reconciler reports for the engine's ownership check: a live resource already holds the AWS
 * name a desired resource would be created with. The engine, not the reconciler, decides what follows
 * (a resource not tagged for this stack is never taken over: the plan fails with the `adopt:` hint).
 */
export interface NameHolder {
  /** The spec name of the desired resource whose AWS name is held. */
  name: string;
  /** The AWS name (bucket name, topic name, ...). */
  awsName: string;
  /** What `adopt:` takes to take this resource over (its ARN, name or id). */
  adoptId: string;
  /** Its tags as AWS has them. */
  tags: Record<string, string>;
  /** The spec field that sets the AWS name (bucketName, topicName, groupName, ...). */
  nameField: string;
}

/** A value read from outside the spec (an AMI lookup, a file, a URL), as the plan shows it. */
export interface Resolution {
  /** The spec field, e.g. "ami", "userData". */
  field: string;
  /** What it resolved to, e.g. ami-0abc1234. */
  value: string;
  /** What that is, e.g. the image's name and the query it answers. */
  detail?: string;
}

/**
 * What prepare resolved for one desired resource. P: the kind's inputs, the values its diff, create
 * and update take besides the spec (an AMI id, user data bytes, object content).
 */
export interface Prepared<P = unknown> {
  /** The spec name. */
  name: string;
  resolved: Resolution[];
  /** What could not be resolved (a lookup that found nothing, an unreadable file): the plan fails. */
  problems: string[];
  /** What diff, create and update are handed; absent when there are problems. */
  inputs?: P;
}

export interface Desired<K extends KindName = KindName> {
  name: string;
  address: string;
  kind: K;
  /** The validated body, defaults applied. References are still names: resolve them with ref(). */
  spec: SpecOf<K>;
  /**
   * Every tag the resource must carry: stack default tags, its own tags, Name (defaults to
   * <stack>-<name> unless given), reconcile:stack, reconcile:id and reconcile:protect when protected.
   */
  tags: Record<string, string>;
  /** The stack's tags (`tags:` at the top of the spec): for what a resource makes besides itself. */
  stackTags: Record<string, string>;
  /**
   * Outputs of a referenced resource (by spec name), or { id: value } for an AWS id / ARN written in
   * the spec. Values are UNKNOWN while the referenced resource is still to be created or replaced.
   */
  ref(name: string): Outputs;
  /** Folder of the spec (relative file paths resolve against it). */
  specDir: string;
  stack: string;
}

/** The two sets of tags the engine compares for a resource (Reconciler.tagsForDiff). */
export interface TagsToDiff {
  desired: Record<string, string>;
  observed: Record<string, string>;
}

export interface FieldChange {
  /** Dotted path in spec vocabulary, e.g. "cidr", "ingress[tcp 22 0.0.0.0/0]", "tags.Env". */
  path: string;
  before: unknown;
  after: unknown;
  forcesReplace: boolean;
  /** Values never to print (user data marked sensitive, private keys). */
  sensitive?: boolean;
}

interface EventBase {
  type: 'progress' | 'info' | 'warning';
  address?: string;
  /** For people; what a program matches is the code and its data. */
  message: string;
  /** On apply's progress events: a change started, or ended (done). What is in flight in between. */
  phase?: 'start' | 'end';
}

/**
 * What the engine and reconcilers report while they work: the CLI prints the message, watch logs the
 * code and data as fields. The engine's own events and the waits carry a code and typed data; a
 * reconciler's free-form note (a pending subscription, a missing key file) has none.
 */
export type EngineEvent =
  | (EventBase & { code: 'change.start'; address: string; phase: 'start'; data: { verb: string } })
  | (EventBase & { code: 'change.end'; address: string; phase: 'end'; data: { verb: string; outcome: 'done' | 'failed'; id?: string; ms: number } })
  | (EventBase & { code: 'change.failed'; address: string; data: { error: string } })
  | (EventBase & { code: 'change.skipped'; address: string; data: { because: string } })
  | (EventBase & { code: 'create.retry'; address: string; data: { attempt: number; attempts: number; error: string } })
  | (EventBase & { code: 'create.found'; address: string; data: { id: string } })
  | (EventBase & { code: 'wait'; address: string; data: { what: string; status: string; elapsedMs: number } })
  | (EventBase & { code: 'retry'; address: string; data: { what: string; error: string; elapsedMs: number } })
  | (EventBase & { code?: undefined; data?: undefined });

export type EventCode = NonNullable<EngineEvent['code']>;

export interface Ctx {
  stack: string;
  region: string;
  aws: Aws;
  /** The engine emits; the CLI renders. Reconcilers report waits and warnings through it. */
  emit(e: EngineEvent): void;
  /**
   * Set by the plan for the observes of one plan only: a read that several kinds need (the region's
   * load balancers and target groups with their tags) is made once per plan (see onePerPlan).
   * Absent anywhere else, so a later observe always reads AWS again.
   */
  shared?: Map<string, Promise<unknown>>;
  /** Once aborted, apply starts no further change (those in flight go on): Ctrl-C, --timeout. */
  stop?: AbortSignal;
  /**
   * Shorter waits and retries than the defaults (waitSettings in src/reconcilers/waits.ts,
   * createRetrySettings in src/engine/apply.ts): tests against moto set them, nothing else does.
   */
  timing?: Partial<Timing>;
}

/** How long the tool waits and retries (see Ctx.timing). */
export interface Timing {
  /** Delay before the second attempt of a wait or a retry (the first is immediate); each further delay doubles. */
  minDelayMs: number;
  maxDelayMs: number;
  /** Total time a wait for a state may take before it fails with a message naming what it waited for. */
  maxWaitMs: number;
  /** A load balancer becoming active or going away, and its network interfaces released. */
  loadBalancerWaitMs: number;
  /** A write that fails while something else is still going away (a dependency, a target group still in use). */
  maxRetryMs: number;
  /** Grace period for "not found" right after a create (eventual consistency). */
  notFoundGraceMs: number;
  /** A create that failed without making anything (createOnce): attempts, and the delays between them. */
  createAttempts: number;
  createMinDelayMs: number;
  createMaxDelayMs: number;
}

export interface Permissions {
  observe: string[];
  create: string[];
  update: string[];
  delete: string[];
}

/**
 * A kind's reconciler. K: its kind (desired views carry that kind's spec); L: its live state, in the
 * spec's own vocabulary, as observe reads it and diff compares it; P: its inputs, what its prepare
 * resolves from outside the spec (kinds without prepare get undefined). The engine holds reconcilers
 * as Reconciler (any kind, live state and inputs unknown to it) and never looks inside either.
 */
export interface Reconciler<K extends KindName = KindName, L = unknown, P = unknown> {
  kind: K;
  /**
   * Read every live resource of this kind owned by the stack, in bulk: one paginated describe
   * filtered by the tag reconcile:stack=<stack> (plus one for `adopt:` ids and lookups among
   * `desired`, if any) -- never one call per resource where AWS has a bulk read.
   */
  observe(ctx: Ctx, desired: Desired<K>[]): Promise<Observed<L>[]>;
  /**
   * Kinds whose observations this observe needs through desired.ref() (e.g. a main route table is
   * found by its VPC's id). The engine observes those first; refs to anything else are UNKNOWN here.
   */
  observeAfter?: KindName[];
  /**
   * Pure: depends on its arguments only (no AWS, no file, no cache). The fields that differ between
   * desired and live; [] when up to date. `inputs`: what prepare resolved for this resource (the
   * engine hands them to diff, create and update of every kind that has a prepare).
   */
  diff(desired: Desired<K>, live: Observed<L>, inputs?: P): FieldChange[];
  /**
   * Tags are not diff's business: the engine diffs every resource's tags itself ("tags.<key>"
   * changes, after diff's), desired.tags against observed.tags, AWS's own aws:* keys aside, never
   * for a resource that is only looked up. A kind whose tags follow another rule declares it here:
   * which tags to compare (an instance leaves out its internal markers, an adopted main route table
   * compares only the stack's), or none at all (undefined: a dashboard takes no tags).
   */
  tagsForDiff?(desired: Desired<K>, live: Observed<L>): TagsToDiff | undefined;
  /** Create with every tag in the create call itself where the API allows. Idempotent where AWS lets it be. */
  create(ctx: Ctx, desired: Desired<K>, inputs?: P): Promise<Observed<L>>;
  /** Apply in-place changes (only fields with forcesReplace false). Also used to adopt (tags). */
  update(ctx: Ctx, desired: Desired<K>, live: Observed<L>, changes: FieldChange[], inputs?: P): Promise<Observed<L>>;
  /** Delete; an already-absent resource is success. Waits until AWS no longer blocks dependents. */
  delete(ctx: Ctx, live: Observed<L>): Promise<void>;
  /**
   * Resolves what the spec takes from outside (AMI lookups, key pairs named by id, user data files,
   * object content from files and URLs) before anything is decided: the inputs handed to diff,
   * create and update, and what it resolved in words (the plan shows it, a saved plan pins it). A
   * problem (a lookup that finds nothing, a URL that cannot be fetched) fails the plan before any write.
   */
  prepare?(ctx: Ctx, desired: Desired<K>[]): Promise<Prepared<P>[]>;
  /**
   * For a desired resource that is only read, never created (a VPC with lookup: default, a key pair
   * with existing: true): what it looks up, in words. The plan fails when observe did not find it.
   */
  lookupOf?(desired: Desired<K>): string | undefined;
  /**
   * For kinds whose AWS name is unique (bucket, topic, target group, ...): the live resources that
   * already hold the names these desired resources would be created with, whatever their tags. The
   * engine asks before it plans a create or a replacement. Leave it out where AWS names by id only.
   */
  nameHolders?(ctx: Ctx, desired: Desired<K>[]): Promise<NameHolder[]>;
  /**
   * Outputs an in-place update changes (e.g. a launch template's latestVersion). While a resource is
   * planned for update, its dependents see these as UNKNOWN, so their change shows in the same plan.
   */
  volatileOutputs?: string[];
  /** IAM actions each phase calls (feeds `reconcile policy`). */
  permissions: Permissions;
}

/**
 * What the engine needs from the kinds, handed to makePlan / applyPlan (src/reconcilers/index.ts has
 * the real one; tests pass small fakes). The engine imports no reconciler.
 */
export interface Registry {
  /** The reconciler of a kind (loaded on demand: a command loads only the SDKs its spec uses). */
  reconcilerFor(kind: KindName): Promise<Reconciler>;
  /**
   * Of these EC2 kinds, those the stack has anything tagged of (one DescribeTags for all): a plan
   * then describes only those among the kinds its spec does not use. Absent: every kind is described.
   */
  kindsTagged?(ctx: Ctx, kinds: KindName[]): Promise<Set<KindName>>;
}
