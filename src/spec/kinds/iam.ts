// IAM kinds: iam-role, instance-profile. IAM is global: their names are unique in the account.
import { z } from '../zod.cjs';
import { commonFields, ref } from '../common.js';
import { defineKind, refsOf } from './define.js';

/** An IAM policy document, written as YAML (or JSON): compared as JSON, key order aside. */
export const policyDocument = z
  .object({
    Version: z.string().default('2012-10-17'),
    Statement: z.array(z.record(z.string(), z.unknown())).min(1),
  })
  .loose()
  .describe('An IAM policy document: Version and Statement, as AWS documents them.');

const iamName = (max: number) =>
  z
    .string()
    .regex(/^[\w+=,.@-]+$/, 'an IAM name has letters, digits and + = , . @ _ -')
    .max(max);

const iamPath = z.string().regex(/^\/([\w+=,.@-]+\/)*$/, 'a path starts and ends with "/"').default('/');

export const iamRole = defineKind(
  'iam-role',
  z
    .object({
      kind: z.literal('iam-role'),
      roleName: iamName(64).optional().describe('The AWS name; defaults to <stack>-<name>. Unique in the account.'),
      path: iamPath.describe('Changing it replaces the role.'),
      assumeRolePolicy: policyDocument.describe('Who may assume the role (its trust policy), e.g. Principal: { Service: ec2.amazonaws.com }.'),
      managedPolicies: z.array(z.string().startsWith('arn:')).default([]).describe('ARNs of managed policies attached to the role.'),
      inlinePolicies: z.record(iamName(128), policyDocument).default({}).describe('Inline policies, by name.'),
      ...commonFields,
    })
    .strict(),
  () => [],
  { service: 'iam', nameField: 'roleName', nameScope: () => '' },
);

export const instanceProfile = defineKind(
  'instance-profile',
  z
    .object({
      kind: z.literal('instance-profile'),
      instanceProfileName: iamName(128).optional().describe('The AWS name; defaults to <stack>-<name>. Unique in the account.'),
      path: iamPath.describe('Changing it replaces the profile.'),
      role: ref('iam-role').describe('The iam-role of this spec the instances act as (or the name of an existing role).'),
      ...commonFields,
    })
    .strict(),
  (s) => refsOf([['role', s.role, ['iam-role']]]).map((r) => ({ ...r, outside: true })),
  { service: 'iam', nameField: 'instanceProfileName', nameScope: () => '' },
);
