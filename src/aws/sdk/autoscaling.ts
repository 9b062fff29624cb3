// @aws-sdk/client-auto-scaling through require() (see ./load.ts): the commands the tool sends, and every type of the package.
// A command not listed here is added to this list.
import type * as Sdk from '@aws-sdk/client-auto-scaling';
import { requireSdk } from './load.js';

export type * from '@aws-sdk/client-auto-scaling';
export const {
  AttachLoadBalancerTargetGroupsCommand,
  CreateAutoScalingGroupCommand,
  CreateOrUpdateTagsCommand,
  DeleteAutoScalingGroupCommand,
  DeleteNotificationConfigurationCommand,
  DeletePolicyCommand,
  DeleteTagsCommand,
  DescribeAutoScalingGroupsCommand,
  DescribeNotificationConfigurationsCommand,
  DescribePoliciesCommand,
  DetachLoadBalancerTargetGroupsCommand,
  PutNotificationConfigurationCommand,
  PutScalingPolicyCommand,
  StartInstanceRefreshCommand,
  UpdateAutoScalingGroupCommand,
} = requireSdk<typeof Sdk>('@aws-sdk/client-auto-scaling');
