// @aws-sdk/client-sts through require() (see ./load.ts): the commands the tool sends, and every type of the package.
// A command not listed here is added to this list.
import type * as Sdk from '@aws-sdk/client-sts';
import { requireSdk } from './load.js';

export type * from '@aws-sdk/client-sts';
export const {
  AssumeRoleCommand,
  GetCallerIdentityCommand,
} = requireSdk<typeof Sdk>('@aws-sdk/client-sts');
