// Compute kinds: key-pair, instance, launch-template, auto-scaling-group.
import { z } from '../zod.cjs';
import { ami, commonFields, ref, tags, userData, type RefUse } from '../common.js';
import { defineKind, refsOf, refsOfArray, type CheckContext } from './define.js';
import type { vpc } from './network.js';

/** A userData file must be there (instance, launch-template). */
function checkUserData({ body, err, fileProblem }: CheckContext<{ userData?: z.output<typeof userData> }>): void {
  if (body.userData && typeof body.userData === 'object' && 'file' in body.userData) {
    const p = fileProblem(body.userData.file);
    if (p) err(['userData', 'file'], `userData ${p}`, 'paths are relative to the spec file');
  }
}

export const keyPair = defineKind(
  'key-pair',
  z
    .object({
      kind: z.literal('key-pair'),
      keyName: z.string().optional().describe('The AWS key pair name; defaults to <stack>-<name>.'),
      publicKey: z.string().optional().describe('Import this public key (OpenSSH format) instead of creating a key.'),
      privateKeyFile: z
        .string()
        .optional()
        .describe('Where to write the private key of a created key pair (mode 0600). Never printed.'),
      existing: z.boolean().optional().describe('Reuse the key pair of this keyName that already exists; never create or delete it.'),
      ...commonFields,
    })
    .strict()
    .superRefine((k, ctx) => {
      if (k.existing && !k.keyName) ctx.addIssue({ code: 'custom', path: ['keyName'], message: 'existing: true needs the keyName to reuse' });
      if (k.publicKey && k.privateKeyFile)
        ctx.addIssue({ code: 'custom', path: ['privateKeyFile'], message: 'an imported key (publicKey) has no private key to write: remove privateKeyFile' });
    }),
  () => [],
  { service: 'ec2', ec2TagTypes: ['key-pair'], nameField: 'keyName', nameScope: (k) => (k.existing ? undefined : '') },
);

/** iamInstanceProfile: a profile of the spec, or (a name not in it) an existing one. */
const profileRef = (p: string | undefined): RefUse[] => (p ? [{ path: ['iamInstanceProfile'], name: p, kinds: ['instance-profile'], outside: true }] : []);

const instanceType = z.string().regex(/^[a-z][a-z0-9-]*\.[a-z0-9]+$/, 'an instance type looks like t3.micro');

export const instance = defineKind(
  'instance',
  z
    .object({
      kind: z.literal('instance'),
      ami,
      instanceType,
      subnet: ref('subnet').optional().describe('Subnet to launch in; omitted: the default VPC\'s default subnet.'),
      securityGroups: z.array(ref('security-group')).default([]),
      keyPair: ref('key-pair').optional(),
      userData: userData.optional(),
      monitoring: z.boolean().default(false).describe('Detailed (1-minute) CloudWatch monitoring.'),
      publicIp: z.boolean().optional().describe('Associate a public IP; omitted: the subnet\'s setting.'),
      iamInstanceProfile: ref('instance-profile').optional().describe('An instance-profile of this spec, or the name or ARN of an existing one.'),
      ...commonFields,
    })
    .strict(),
  (s) => [
    ...refsOf([
      ['subnet', s.subnet, ['subnet']],
      ['keyPair', s.keyPair, ['key-pair']],
    ]),
    ...refsOfArray('securityGroups', s.securityGroups, ['security-group']),
    ...profileRef(s.iamInstanceProfile),
  ],
  {
    service: 'ec2',
    ec2TagTypes: ['instance'],
    tagIndexType: 'ec2:instance',
    check: (c) => {
      checkUserData(c);
      const { body: inst, bodies, err, inVpcOfSubnet, vpcOf } = c;
      if (inst.subnet) inVpcOfSubnet(inst.subnet, 'securityGroups', inst.securityGroups, 'security-group');
      else
        inst.securityGroups.forEach((sg, i) => {
          const v = vpcOf(sg, 'security-group');
          const vb = v ? bodies.get(v) : undefined;
          if (vb?.kind === 'vpc' && (vb.body as z.output<typeof vpc.schema>).lookup !== 'default')
            err(['securityGroups', i], `security-group "${sg}" is in vpc "${v}", but an instance without subnet launches in the default VPC`, `set subnet: to a subnet of vpc "${v}"`);
        });
    },
  },
);

export const launchTemplate = defineKind(
  'launch-template',
  z
    .object({
      kind: z.literal('launch-template'),
      templateName: z.string().optional().describe('The AWS name; defaults to <stack>-<name>.'),
      ami,
      instanceType,
      securityGroups: z.array(ref('security-group')).default([]),
      keyPair: ref('key-pair').optional(),
      userData: userData.optional(),
      monitoring: z.boolean().default(false),
      publicIp: z.boolean().optional(),
      iamInstanceProfile: ref('instance-profile').optional().describe('An instance-profile of this spec, or the name or ARN of an existing one.'),
      instanceTags: tags
        .optional()
        .describe("Tags of the instances it launches, next to the stack's (Name defaults to <stack>-<name>). Omitted: the template's own tags."),
      volumeTags: tags.optional().describe("Tags of those instances' volumes, next to the stack's. Omitted: the instance tags."),
      keepVersions: z
        .number()
        .int()
        .min(1)
        .optional()
        .describe('Each time apply makes a new version, delete the versions older than the newest N (never the default one). Omitted: every version stays.'),
      ...commonFields,
    })
    .strict(),
  (s) => [...refsOf([['keyPair', s.keyPair, ['key-pair']]]), ...refsOfArray('securityGroups', s.securityGroups, ['security-group']), ...profileRef(s.iamInstanceProfile)],
  { service: 'ec2', ec2TagTypes: ['launch-template'], nameField: 'templateName', check: checkUserData },
);

export const ASG_EVENTS = ['launch', 'terminate', 'launch-error', 'terminate-error'] as const;

export const autoScalingGroup = defineKind(
  'auto-scaling-group',
  z
    .object({
      kind: z.literal('auto-scaling-group'),
      groupName: z.string().optional().describe('The AWS name; defaults to <stack>-<name>.'),
      launchTemplate: ref('launch-template'),
      launchTemplateVersion: z
        .union([z.enum(['$Latest', '$Default']), z.number().int().min(1)])
        .optional()
        .describe(
          "The template version the group launches: $Latest or $Default (AWS resolves it at each launch; when the template's latest or default version moves, apply refreshes the running instances), or a number. Omitted: the template's latest version number, so each new version is a visible change of the group.",
        ),
      minSize: z.number().int().min(0),
      maxSize: z.number().int().min(0),
      desiredCapacity: z.number().int().min(0).optional(),
      subnets: z.array(ref('subnet')).min(1),
      healthCheckType: z.enum(['EC2', 'ELB']).default('EC2'),
      healthCheckGracePeriod: z.number().int().min(0).default(300).describe('Seconds.'),
      targetGroups: z.array(ref('target-group')).default([]),
      notifications: z
        .object({
          topic: ref('sns-topic'),
          events: z.array(z.enum(ASG_EVENTS)).min(1).default(['launch', 'terminate']),
        })
        .strict()
        .optional(),
      targetCpu: z
        .number()
        .min(1)
        .max(100)
        .optional()
        .describe('Target-tracking scaling policy: keep average CPU near this percentage.'),
      ...commonFields,
    })
    .strict()
    .superRefine((g, ctx) => {
      if (g.minSize > g.maxSize)
        ctx.addIssue({ code: 'custom', path: ['minSize'], message: `minSize (${g.minSize}) is above maxSize (${g.maxSize})`, params: { hint: `lower minSize to ${g.maxSize} or raise maxSize to ${g.minSize}` } });
      if (g.desiredCapacity !== undefined && (g.desiredCapacity < g.minSize || g.desiredCapacity > g.maxSize))
        ctx.addIssue({
          code: 'custom',
          path: ['desiredCapacity'],
          message: `desiredCapacity must be between minSize (${g.minSize}) and maxSize (${g.maxSize})`,
          params: { hint: 'change desiredCapacity, or leave it out to start at minSize' },
        });
    }),
  (s) => {
    const out: RefUse[] = [
      ...refsOf([['launchTemplate', s.launchTemplate, ['launch-template']]]),
      ...refsOfArray('subnets', s.subnets, ['subnet']),
      ...refsOfArray('targetGroups', s.targetGroups, ['target-group']),
    ];
    if (s.notifications) out.push({ path: ['notifications', 'topic'], name: s.notifications.topic, kinds: ['sns-topic'] });
    return out;
  },
  {
    service: 'autoscaling',
    nameField: 'groupName',
    check: ({ body: g, bodies, err, sameVpc, inVpcOfSubnet }) => {
      const first = g.subnets[0];
      inVpcOfSubnet(first, 'subnets', g.subnets, 'subnet', 1);
      inVpcOfSubnet(first, 'targetGroups', g.targetGroups, 'target-group');
      const lt = bodies.get(g.launchTemplate);
      if (lt?.kind === 'launch-template')
        for (const sg of (lt.body as z.output<typeof launchTemplate.schema>).securityGroups)
          sameVpc(['launchTemplate'], first, 'subnet', `of subnet "${first}" (launch template "${g.launchTemplate}")`, sg, 'security-group');
      if (g.healthCheckType === 'ELB' && g.targetGroups.length === 0)
        err(['healthCheckType'], 'healthCheckType ELB needs a load balancer: the group has no targetGroups', 'add targetGroups: [<target-group>] or use healthCheckType: EC2');
    },
  },
);
