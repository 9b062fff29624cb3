// @aws-sdk/client-elastic-load-balancing-v2 through require() (see ./load.ts): the commands the tool sends, and every type of the package.
// A command not listed here is added to this list.
import type * as Sdk from '@aws-sdk/client-elastic-load-balancing-v2';
import { requireSdk } from './load.js';

export type * from '@aws-sdk/client-elastic-load-balancing-v2';
export const {
  AddTagsCommand,
  CreateListenerCommand,
  CreateLoadBalancerCommand,
  CreateTargetGroupCommand,
  DeleteListenerCommand,
  DeleteLoadBalancerCommand,
  DeleteTargetGroupCommand,
  DescribeListenersCommand,
  DescribeLoadBalancersCommand,
  DescribeTagsCommand,
  DescribeTargetGroupsCommand,
  ModifyListenerCommand,
  ModifyTargetGroupCommand,
  RemoveTagsCommand,
  SetSecurityGroupsCommand,
  SetSubnetsCommand,
} = requireSdk<typeof Sdk>('@aws-sdk/client-elastic-load-balancing-v2');
