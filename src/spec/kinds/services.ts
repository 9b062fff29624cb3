// Load balancing, storage, notification and monitoring kinds: load-balancer, target-group,
// listener, s3-bucket, sns-topic, cloudwatch-alarm, alert-rule.
import { z } from '../zod.cjs';
import { commonFields, duration, parseDuration, ref, type RefUse } from '../common.js';
import { defineKind, refsOf, refsOfArray } from './define.js';
import type { subnet } from './network.js';

export const loadBalancer = defineKind(
  'load-balancer',
  z
    .object({
      kind: z.literal('load-balancer'),
      loadBalancerName: z.string().max(32).optional().describe('The AWS name (32 chars max); defaults to <stack>-<name>.'),
      scheme: z.enum(['internet-facing', 'internal']).default('internet-facing'),
      subnets: z.array(ref('subnet')).min(2).describe('At least two subnets in different AZs.'),
      securityGroups: z.array(ref('security-group')).default([]),
      ...commonFields,
    })
    .strict(),
  (s) => [...refsOfArray('subnets', s.subnets, ['subnet']), ...refsOfArray('securityGroups', s.securityGroups, ['security-group'])],
  {
    service: 'elbv2',
    tagIndexType: 'elasticloadbalancing:loadbalancer',
    nameField: 'loadBalancerName',
    check: ({ body: lb, bodies, err, inVpcOfSubnet }) => {
      const first = lb.subnets[0];
      inVpcOfSubnet(first, 'subnets', lb.subnets, 'subnet', 1);
      inVpcOfSubnet(first, 'securityGroups', lb.securityGroups, 'security-group');
      const azs = lb.subnets.map((s) => {
        const b = bodies.get(s);
        return b?.kind === 'subnet' ? (b.body as z.output<typeof subnet.schema>).availabilityZone : undefined;
      });
      if (azs.every((a) => a !== undefined) && new Set(azs).size < 2)
        err(['subnets'], `a load balancer needs subnets in at least two availability zones; these are all in ${azs[0]}`, 'add a subnet in another zone');
    },
  },
);

export const targetGroup = defineKind(
  'target-group',
  z
    .object({
      kind: z.literal('target-group'),
      targetGroupName: z.string().max(32).optional(),
      vpc: ref('vpc'),
      protocol: z.enum(['HTTP', 'HTTPS']).default('HTTP'),
      port: z.number().int().min(1).max(65535),
      targetType: z.enum(['instance', 'ip']).default('instance'),
      healthCheck: z
        .object({
          protocol: z.enum(['HTTP', 'HTTPS']).optional().describe("The health check's protocol; default: the target group's protocol."),
          path: z.string().default('/'),
          port: z.union([z.literal('traffic-port'), z.number().int()]).default('traffic-port'),
          interval: z.number().int().min(5).max(300).default(30),
          timeout: z.number().int().min(2).max(120).default(5),
          healthyThreshold: z.number().int().min(2).max(10).default(5),
          unhealthyThreshold: z.number().int().min(2).max(10).default(2),
          matcher: z.string().default('200'),
        })
        .strict()
        .prefault({}),
      ...commonFields,
    })
    .strict(),
  (s) => refsOf([['vpc', s.vpc, ['vpc']]]),
  { service: 'elbv2', tagIndexType: 'elasticloadbalancing:targetgroup', nameField: 'targetGroupName', vpc: (s) => s.vpc },
);

export const listener = defineKind(
  'listener',
  z
    .object({
      kind: z.literal('listener'),
      loadBalancer: ref('load-balancer'),
      protocol: z.enum(['HTTP', 'HTTPS']).default('HTTP'),
      port: z.number().int().min(1).max(65535),
      certificateArn: z.string().startsWith('arn:').optional().describe('ACM certificate, required for HTTPS.'),
      forward: ref('target-group').optional().describe('Forward every request to this target group.'),
      redirect: z
        .object({
          protocol: z.enum(['HTTP', 'HTTPS']).default('HTTPS'),
          port: z.number().int().default(443),
          statusCode: z.enum(['HTTP_301', 'HTTP_302']).default('HTTP_301'),
        })
        .strict()
        .optional(),
      ...commonFields,
    })
    .strict()
    .superRefine((l, ctx) => {
      if (!!l.forward === !!l.redirect)
        ctx.addIssue({ code: 'custom', message: 'a listener needs exactly one action: forward: <target-group> or redirect: {...}', params: { hint: 'for example forward: <name of a target-group>' } });
      if (l.protocol === 'HTTPS' && !l.certificateArn)
        ctx.addIssue({ code: 'custom', path: ['certificateArn'], message: 'an HTTPS listener needs certificateArn', params: { hint: 'add certificateArn: arn:aws:acm:<region>:<account>:certificate/<id>' } });
    }),
  (s) =>
    refsOf([
      ['loadBalancer', s.loadBalancer, ['load-balancer']],
      ['forward', s.forward, ['target-group']],
    ]),
  {
    service: 'elbv2',
    check: ({ body: l, bodies, sameVpc }) => {
      const lb = bodies.get(l.loadBalancer);
      if (l.forward && lb?.kind === 'load-balancer')
        sameVpc(['forward'], (lb.body as z.output<typeof loadBalancer.schema>).subnets[0], 'subnet', `of load balancer "${l.loadBalancer}"`, l.forward, 'target-group');
    },
  },
);

/** S3 bucket naming rules (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html). */
export function bucketNameProblem(n: string): string | undefined {
  if (n.length < 3 || n.length > 63) return 'must be 3 to 63 characters long';
  if (!/^[a-z0-9][a-z0-9.-]*[a-z0-9]$/.test(n)) return 'may hold only lowercase letters, digits, "." and "-", and must start and end with a letter or digit';
  if (n.includes('..')) return 'must not contain two adjacent periods';
  if (/^\d+\.\d+\.\d+\.\d+$/.test(n)) return 'must not look like an IP address';
  if (n.startsWith('xn--') || n.startsWith('sthree-') || n.endsWith('-s3alias') || n.endsWith('--ol-s3')) return 'uses a prefix or suffix that S3 reserves';
  return undefined;
}

/** A valid bucket name close to `n` (lowercased, other characters as "-"), for hints. */
export function suggestBucketName(n: string): string | undefined {
  const s = n
    .toLowerCase()
    .replace(/[^a-z0-9.-]+/g, '-')
    .replace(/\.{2,}/g, '.')
    .replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '')
    .slice(0, 63)
    .replace(/[^a-z0-9]+$/, '');
  if (s.startsWith('xn--') || s.startsWith('sthree-')) return undefined;
  return s !== n && bucketNameProblem(s) === undefined ? s : undefined;
}

export const s3Object = z
  .object({
    key: z.string().min(1),
    file: z.string().optional().describe('Local file, relative to the spec.'),
    url: z.string().url().optional().describe('Fetch the content from this URL at plan time.'),
    content: z.string().optional().describe('Inline content.'),
    contentType: z.string().optional(),
    public: z.boolean().default(false).describe('Make this one object readable by anyone (warned about).'),
  })
  .strict()
  .superRefine((o, ctx) => {
    if ([o.file, o.url, o.content].filter((x) => x !== undefined).length !== 1)
      ctx.addIssue({ code: 'custom', message: 'an object needs exactly one of file, url or content', params: { hint: 'for example file: files/image.jpg (relative to the spec)' } });
  });

export const s3Bucket = defineKind(
  's3-bucket',
  z
    .object({
      kind: z.literal('s3-bucket'),
      bucketName: z
        .string()
        .superRefine((n, ctx) => {
          const p = bucketNameProblem(n);
          if (p) {
            const s = suggestBucketName(n);
            ctx.addIssue({ code: 'custom', message: `bucket name "${n}" ${p}`, params: { hint: s ? `for example "${s}"` : 'see the S3 bucket naming rules' } });
          }
        })
        .describe('Globally unique bucket name (S3 naming rules are checked).'),
      versioning: z.boolean().default(false),
      encryption: z.enum(['AES256', 'aws:kms', 'none']).default('AES256'),
      publicAccessBlock: z.boolean().default(true).describe('Block all public access (the safe default).'),
      lifecycle: z
        .array(
          z
            .object({
              id: z.string(),
              prefix: z.string().default(''),
              expireDays: z.number().int().min(1).optional(),
              noncurrentExpireDays: z.number().int().min(1).optional(),
            })
            .strict(),
        )
        .default([]),
      policy: z.record(z.string(), z.unknown()).optional().describe('Bucket policy document (as YAML).'),
      objects: z.array(s3Object).default([]),
      forceDestroy: z.boolean().default(false).describe('Empty the bucket on delete; otherwise a non-empty bucket is not deleted.'),
      ...commonFields,
    })
    .strict(),
  () => [],
  {
    service: 's3',
    tagIndexType: 's3',
    nameField: 'bucketName',
    check: ({ name, body: b, err, warn, fileProblem }) => {
      const keys = new Map<string, number>();
      b.objects.forEach((o, i) => {
        const prev = keys.get(o.key);
        if (prev !== undefined) err(['objects', i, 'key'], `objects[${i}] has the same key "${o.key}" as objects[${prev}]`, 'each object needs its own key');
        else keys.set(o.key, i);
        if (o.file !== undefined) {
          const p = fileProblem(o.file);
          if (p) err(['objects', i, 'file'], p, 'paths are relative to the spec file');
        }
        if (o.public) {
          if (b.publicAccessBlock) err(['objects', i, 'public'], `object "${o.key}" is public but bucket "${name}" blocks public access`, 'set publicAccessBlock: false on the bucket');
          else warn(['objects', i, 'public'], `object "${o.key}" of bucket "${name}" is readable by anyone on the internet`, 'keep it only for content meant to be public');
        }
      });
      if (!b.publicAccessBlock) warn(['publicAccessBlock'], `bucket "${name}" does not block public access`, 'keep publicAccessBlock: true unless objects must be public');
      const st = b.policy?.Statement;
      const statements = Array.isArray(st) ? st : st !== undefined ? [st] : [];
      statements.forEach((s, i) => {
        if (!s || typeof s !== 'object') return;
        const { Effect, Principal } = s as { Effect?: unknown; Principal?: unknown };
        const aws = Principal && typeof Principal === 'object' ? (Principal as { AWS?: unknown }).AWS : undefined;
        const star = (v: unknown) => v === '*' || (Array.isArray(v) && v.includes('*'));
        if (Effect === 'Allow' && (star(Principal) || star(aws)))
          warn(['policy', 'Statement', ...(Array.isArray(st) ? [i] : []), 'Principal'], `the policy of bucket "${name}" grants access to everyone (Principal "*")`, 'name the accounts or roles that need access');
      });
    },
  },
);

export const snsTopic = defineKind(
  'sns-topic',
  z
    .object({
      kind: z.literal('sns-topic'),
      topicName: z.string().optional().describe('The AWS name; defaults to <stack>-<name>.'),
      displayName: z.string().optional(),
      subscriptions: z
        .array(
          z
            .object({
              protocol: z.enum(['email', 'email-json', 'https', 'http', 'sqs', 'lambda', 'sms']),
              endpoint: z.string().min(1),
            })
            .strict(),
        )
        .default([]),
      ...commonFields,
    })
    .strict(),
  () => [],
  { service: 'sns', tagIndexType: 'sns', nameField: 'topicName' },
);

export const COMPARISONS = {
  '>': 'GreaterThanThreshold',
  '>=': 'GreaterThanOrEqualToThreshold',
  '<': 'LessThanThreshold',
  '<=': 'LessThanOrEqualToThreshold',
} as const;

const metricTarget = {
  instance: ref('instance').optional().describe('Sets the InstanceId dimension.'),
  autoScalingGroup: ref('auto-scaling-group').optional().describe('Sets the AutoScalingGroupName dimension.'),
  loadBalancer: ref('load-balancer').optional().describe('Sets the LoadBalancer dimension.'),
};

export const cloudwatchAlarm = defineKind(
  'cloudwatch-alarm',
  z
    .object({
      kind: z.literal('cloudwatch-alarm'),
      alarmName: z.string().optional().describe('The AWS name; defaults to <stack>-<name>.'),
      description: z.string().optional(),
      namespace: z.string().default('AWS/EC2'),
      metric: z.string().default('CPUUtilization'),
      dimensions: z.record(z.string(), z.string()).default({}),
      ...metricTarget,
      statistic: z.enum(['Average', 'Sum', 'Minimum', 'Maximum', 'SampleCount']).default('Average'),
      period: z.number().int().min(10).default(300).describe('Seconds.'),
      evaluationPeriods: z.number().int().min(1).default(1),
      datapointsToAlarm: z.number().int().min(1).optional(),
      threshold: z.number(),
      comparison: z.enum(['>', '>=', '<', '<=']).describe('Alarm when the statistic is <comparison> threshold.'),
      missingData: z.enum(['missing', 'ignore', 'breaching', 'notBreaching']).default('missing'),
      actions: z
        .array(
          z.union([
            z.object({ topic: ref('sns-topic') }).strict(),
            z.object({ ec2: z.enum(['stop', 'terminate', 'reboot', 'recover']) }).strict(),
            z.object({ scaleOut: ref('auto-scaling-group') }).strict().describe('The group\'s target-tracking policy.'),
          ]),
        )
        .default([]),
      okActions: z.array(z.object({ topic: ref('sns-topic') }).strict()).default([]),
      ...commonFields,
    })
    .strict(),
  (s) => {
    const out: RefUse[] = refsOf([
      ['instance', s.instance, ['instance']],
      ['autoScalingGroup', s.autoScalingGroup, ['auto-scaling-group']],
      ['loadBalancer', s.loadBalancer, ['load-balancer']],
    ]);
    s.actions.forEach((a, i) => {
      if ('topic' in a) out.push({ path: ['actions', i, 'topic'], name: a.topic, kinds: ['sns-topic'] });
      if ('scaleOut' in a) out.push({ path: ['actions', i, 'scaleOut'], name: a.scaleOut, kinds: ['auto-scaling-group'] });
    });
    s.okActions.forEach((a, i) => out.push({ path: ['okActions', i, 'topic'], name: a.topic, kinds: ['sns-topic'] }));
    return out;
  },
  {
    service: 'cloudwatch',
    tagIndexType: 'cloudwatch:alarm',
    nameField: 'alarmName',
    check: ({ body: a, err }) => {
      const i = a.actions.findIndex((x) => 'ec2' in x);
      if (i >= 0 && !a.instance && !a.dimensions.InstanceId) err(['actions', i, 'ec2'], 'an ec2 action needs the alarm to watch one instance', 'add instance: <name of an instance>');
      if (a.datapointsToAlarm !== undefined && a.datapointsToAlarm > a.evaluationPeriods)
        err(['datapointsToAlarm'], `datapointsToAlarm (${a.datapointsToAlarm}) is above evaluationPeriods (${a.evaluationPeriods})`);
    },
  },
);

/** CloudWatch periods: 1, 5, 10 or 30 seconds (high resolution) or a whole number of minutes. */
export const isMetricPeriod = (ms: number): boolean => [1000, 5000, 10_000, 30_000].includes(ms) || (ms >= 60_000 && ms % 60_000 === 0);

export const alertRule = defineKind(
  'alert-rule',
  z
    .object({
      kind: z.literal('alert-rule'),
      description: z.string().optional(),
      every: duration.default('5m').describe('How often `watch` evaluates the rule.'),
      targets: z
        .object({
          tags: z.record(z.string(), z.string()).optional().describe('Instances whose tags match all of these (re-resolved every cycle).'),
          autoScalingGroup: ref('auto-scaling-group').optional(),
          instances: z.array(ref('instance')).optional(),
        })
        .strict()
        .refine((t) => t.tags || t.autoScalingGroup || t.instances, 'targets needs tags, autoScalingGroup or instances'),
      namespace: z.string().default('AWS/EC2'),
      metric: z.string().default('CPUUtilization'),
      dimensions: z
        .record(z.string(), z.string())
        .default({})
        .describe('Dimensions next to InstanceId, which is set per target (e.g. ImageId and InstanceType for CWAgent metrics).'),
      statistic: z.enum(['Average', 'Sum', 'Minimum', 'Maximum', 'SampleCount']).default('Average'),
      period: duration
        // zod runs this even when the format check above failed: only a well-formed duration is parsed.
        .refine((d) => !/^\d+(ms|s|m|h|d)$/.test(d) || isMetricPeriod(parseDuration(d)), {
          message: 'a CloudWatch period is 1s, 5s, 10s, 30s or a whole number of minutes',
          params: { hint: 'for example period: 5m' },
        })
        .default('5m')
        .describe('Length of one datapoint (CloudWatch period): 1s, 5s, 10s, 30s or whole minutes.'),
      threshold: z.number(),
      comparison: z.enum(['>', '>=', '<', '<=']).default('>'),
      datapoints: z.number().int().min(1).default(1).describe('Fire when this many of the last `evaluationPeriods` datapoints breach.'),
      evaluationPeriods: z.number().int().min(1).default(1),
      missingData: z.enum(['missing', 'ignore', 'breaching', 'notBreaching']).default('missing'),
      notify: z
        .object({
          topic: ref('sns-topic').describe('A topic of this spec or a topic ARN.'),
          repeat: duration.optional().describe('Notify again at this interval while still in ALARM.'),
          drift: z
            .boolean()
            .default(false)
            .describe('Also tell this topic when `watch --mode detect` finds drift (once per change of the drift, and when it is gone).'),
        })
        .strict()
        .optional(),
      stateBucket: ref('s3-bucket')
        .optional()
        .describe(
          'An s3-bucket of this spec (or arn:aws:s3:::<bucket>) where watch and check keep the state of this rule (reconcile-state/<stack>/alerts/<rule>.json), so a restart neither repeats nor loses a notification. Default: the lock bucket, else a local file (--state-file).',
        ),
      ...commonFields,
    })
    .strict(),
  (s) => {
    const out: RefUse[] = [];
    if (s.stateBucket) out.push({ path: ['stateBucket'], name: s.stateBucket, kinds: ['s3-bucket'] });
    if (s.targets.autoScalingGroup) out.push({ path: ['targets', 'autoScalingGroup'], name: s.targets.autoScalingGroup, kinds: ['auto-scaling-group'] });
    (s.targets.instances ?? []).forEach((n, i) => out.push({ path: ['targets', 'instances', i], name: n, kinds: ['instance'] }));
    if (s.notify) out.push({ path: ['notify', 'topic'], name: s.notify.topic, kinds: ['sns-topic'] });
    return out;
  },
  {
    virtual: true,
    check: ({ body: a, err }) => {
      if (a.datapoints > a.evaluationPeriods) err(['datapoints'], `datapoints (${a.datapoints}) is above evaluationPeriods (${a.evaluationPeriods})`, `set evaluationPeriods: ${a.datapoints} or more`);
    },
  },
);
