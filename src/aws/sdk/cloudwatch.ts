// @aws-sdk/client-cloudwatch through require() (see ./load.ts): the commands the tool sends, and every type of the package.
// A command not listed here is added to this list.
import type * as Sdk from '@aws-sdk/client-cloudwatch';
import { requireSdk } from './load.js';

export type * from '@aws-sdk/client-cloudwatch';
export const {
  DeleteAlarmsCommand,
  DeleteDashboardsCommand,
  DescribeAlarmsCommand,
  GetDashboardCommand,
  GetMetricDataCommand,
  ListDashboardsCommand,
  ListTagsForResourceCommand,
  PutDashboardCommand,
  PutMetricAlarmCommand,
  TagResourceCommand,
  UntagResourceCommand,
} = requireSdk<typeof Sdk>('@aws-sdk/client-cloudwatch');
