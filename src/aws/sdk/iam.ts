// @aws-sdk/client-iam through require() (see ./load.ts): the commands the tool sends, and every type of the package.
// A command not listed here is added to this list.
import type * as Sdk from '@aws-sdk/client-iam';
import { requireSdk } from './load.js';

export type * from '@aws-sdk/client-iam';
export const {
  AddRoleToInstanceProfileCommand,
  AttachRolePolicyCommand,
  CreateInstanceProfileCommand,
  CreateRoleCommand,
  DeleteInstanceProfileCommand,
  DeleteRoleCommand,
  DeleteRolePolicyCommand,
  DetachRolePolicyCommand,
  GetAccountAuthorizationDetailsCommand,
  GetInstanceProfileCommand,
  GetRoleCommand,
  ListInstanceProfilesCommand,
  PutRolePolicyCommand,
  RemoveRoleFromInstanceProfileCommand,
  TagInstanceProfileCommand,
  TagRoleCommand,
  UntagInstanceProfileCommand,
  UntagRoleCommand,
  UpdateAssumeRolePolicyCommand,
  UpdateRoleCommand,
} = requireSdk<typeof Sdk>('@aws-sdk/client-iam');
