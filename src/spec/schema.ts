// The spec, version 1: the one source of truth for types and for schemas/reconcile-v1.json.
import { z } from './zod.cjs';
import { duration, MIN_WATCH_INTERVAL_MS, parseDuration, resourceName, tags } from './common.js';
import * as network from './kinds/network.js';
import * as compute from './kinds/compute.js';
import * as services from './kinds/services.js';
import * as iam from './kinds/iam.js';
import * as dashboard from './kinds/dashboard.js';
import type { KindDef } from './kinds/define.js';

/** Every kind, in the order a reader meets them. Adding a kind: define it in kinds/, list it here. */
export const KIND_DEFS = [
  network.vpc,
  network.subnet,
  network.internetGateway,
  network.elasticIp,
  network.natGateway,
  network.routeTable,
  network.vpcPeering,
  network.securityGroup,
  iam.iamRole,
  iam.instanceProfile,
  compute.keyPair,
  compute.instance,
  compute.launchTemplate,
  compute.autoScalingGroup,
  services.loadBalancer,
  services.targetGroup,
  services.listener,
  services.s3Bucket,
  services.snsTopic,
  services.cloudwatchAlarm,
  dashboard.cloudwatchDashboard,
  services.alertRule,
] as const;

export type KindName = (typeof KIND_DEFS)[number]['kind'];
export const KIND_NAMES = KIND_DEFS.map((k) => k.kind) as KindName[];
export const kindDef = (k: string): KindDef | undefined => KIND_DEFS.find((d) => d.kind === k) as KindDef | undefined;

type Bodies = { [D in (typeof KIND_DEFS)[number] as D['kind']]: z.output<D['schema']> };
/** The validated body of a resource of kind K. */
export type SpecOf<K extends KindName> = Bodies[K];
export type AnyResourceSpec = Bodies[KindName];

export const resourceSchema = z.discriminatedUnion(
  'kind',
  KIND_DEFS.map((d) => d.schema) as unknown as [z.ZodObject, ...z.ZodObject[]],
);

export const API_VERSION = 'reconcile/v1';

const REGION = /^[a-z]{2}(-gov)?-[a-z]+-\d$/;

/** Where the stack lock lives (src/lock): an S3 object reconcile-locks/<stack>.json in this bucket. */
export const lockSchema = z
  .object({
    bucket: z
      .string()
      .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'an S3 bucket name has 3 to 63 lowercase letters, digits, dots and hyphens')
      .describe('An existing S3 bucket that holds the stack lock (object reconcile-locks/<stack>.json). The tool never creates or deletes the bucket.'),
    region: z.string().regex(REGION, 'a region looks like us-east-1').optional().describe("The bucket's region (default: the stack's region)."),
    timeout: duration
      .optional()
      .describe('How long apply and destroy wait while another run holds the lock, then fail naming it (default 5m; --lock-timeout overrides).'),
  })
  .strict()
  .describe('The stack lock: apply and destroy take it, so two runs never change this stack at once. Without it they run unlocked, with a warning.');

/** How `reconcile watch` serves this stack; the command's flags are the defaults. */
export const watchSettingsSchema = z
  .object({
    // At least 1s, as --interval: 0s ran cycle after cycle without a pause, every one calling AWS.
    interval: duration
      .refine((d) => parseDuration(d) >= MIN_WATCH_INTERVAL_MS, 'watch.interval: at least 1s (as --interval)')
      .optional()
      .describe('Time between watch cycles of this stack, at least 1s (default: watch --interval).'),
    mode: z.enum(['apply', 'detect']).optional().describe('apply: heal drift; detect: only report it (default: watch --mode).'),
  })
  .strict()
  .describe('How `reconcile watch` serves this stack, over its --interval and --mode: in a fleet each stack keeps its own.');

/** An IAM role ARN: arn:aws:iam::<12-digit account>:role/<path/name>. */
export const ROLE_ARN = /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/;

export const specSchema = z
  .object({
    $schema: z.string().optional(),
    apiVersion: z.literal(API_VERSION).describe('Always reconcile/v1 for this version of the spec.'),
    stack: resourceName.describe('The stack name: written as the reconcile:stack tag on everything the stack owns.'),
    region: z.string().regex(REGION, 'a region looks like us-east-1').describe('AWS region, e.g. us-east-1.'),
    tags: tags.default({}).describe('Tags put on every resource of the stack.'),
    prune: z
      .boolean()
      .default(false)
      .describe('Delete resources the stack owns that are no longer in the spec. Off: they are listed and kept.'),
    lock: lockSchema.optional(),
    parameters: z
      .record(
        z.string().regex(/^[A-Za-z_][A-Za-z0-9_-]*$/, 'a parameter name has letters, digits, "_" and "-"'),
        z
          .object({
            default: z.union([z.string(), z.number(), z.boolean()]).optional().describe('The value when the run gives none; without it, a value must be given.'),
            description: z.string().optional(),
          })
          .strict(),
      )
      .optional()
      .describe('Values a run sets with --set name=value or --values FILE, used as ${param:name} in any string: one spec for several environments or copies.'),
    roleArn: z
      .string()
      .regex(ROLE_ARN, 'a role ARN looks like arn:aws:iam::123456789012:role/reconcile')
      .optional()
      .describe("An IAM role to assume (STS AssumeRole, session name reconcile-<stack>) for every AWS call of this stack: the stack's account. Default: the caller's own credentials."),
    watch: watchSettingsSchema.optional(),
    resources: z.record(resourceName, resourceSchema).describe('The resources, by name. Other resources refer to them by this name.'),
  })
  .strict();

export type Spec = z.output<typeof specSchema>;
