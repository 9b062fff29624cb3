// cloudwatch-dashboard: a CloudWatch dashboard whose widgets graph metrics of spec resources by name.
import { z } from '../zod.cjs';
import { commonFields, ref, type RefUse } from '../common.js';
import { defineKind, refsOf, refsOfArray } from './define.js';

const widget = z
  .object({
    title: z.string().min(1),
    metrics: z.array(z.string().min(1)).min(1).describe('Metric names, one line each, e.g. [CPUUtilization, NetworkIn].'),
    namespace: z.string().optional().describe('Default: AWS/EC2 for instances and groups, AWS/ApplicationELB for a load balancer.'),
    statistic: z.enum(['Average', 'Sum', 'Minimum', 'Maximum', 'SampleCount']).default('Average'),
    period: z.number().int().min(1).default(300).describe('Seconds.'),
    instances: z.array(ref('instance')).optional().describe('Instances of the spec (a line per instance and metric).'),
    autoScalingGroup: ref('auto-scaling-group').optional(),
    loadBalancer: ref('load-balancer').optional(),
    width: z.number().int().min(1).max(24).default(12),
    height: z.number().int().min(1).max(1000).default(6),
  })
  .strict()
  .superRefine((w, ctx) => {
    const n = [w.instances, w.autoScalingGroup, w.loadBalancer].filter((x) => x !== undefined).length;
    if (n !== 1) ctx.addIssue({ code: 'custom', path: [], message: 'a widget graphs exactly one of instances, autoScalingGroup or loadBalancer' });
  });

export type DashboardWidget = z.output<typeof widget>;

export const cloudwatchDashboard = defineKind(
  'cloudwatch-dashboard',
  z
    .object({
      kind: z.literal('cloudwatch-dashboard'),
      dashboardName: z
        .string()
        .regex(/^[\w-]{1,255}$/, 'a dashboard name has letters, digits, "-" and "_"')
        .optional()
        .describe('The AWS name; defaults to <stack>-<name>.'),
      widgets: z.array(widget).min(1).describe('Laid out left to right, top to bottom, in this order.'),
      ...commonFields,
    })
    .strict(),
  (s) =>
    (s.widgets ?? []).flatMap((w, i): RefUse[] =>
      [
        ...refsOfArray('instances', w.instances, ['instance']),
        ...refsOf([
          ['autoScalingGroup', w.autoScalingGroup, ['auto-scaling-group']],
          ['loadBalancer', w.loadBalancer, ['load-balancer']],
        ]),
      ].map((r) => ({ ...r, path: ['widgets', i, ...r.path] })),
    ),
  { service: 'cloudwatch', nameField: 'dashboardName', nameScope: () => '' },
);
