// An Auto Scaling group's SNS notification configurations, for the auto-scaling-group reconciler:
// the spec's short event names, reading them for every group at once, writing them. An endpoint that
// does not implement them (moto) is told apart from a failure: reads say "cannot tell" (undefined,
// not compared), writes warn.
import {
  DeleteNotificationConfigurationCommand,
  DescribeNotificationConfigurationsCommand,
  PutNotificationConfigurationCommand,
  type NotificationConfiguration,
} from '../aws/sdk/autoscaling.js';
import type { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { isNotImplemented, isRetryable } from '../aws/errors.js';
import type { Ctx } from '../engine/types.js';
import { ASG_EVENTS } from '../spec/kinds/compute.js';
import { allPages } from './ec2-shared.js';
import { isUnsupported, markUnsupported } from './unsupported.js';

type AsgEvent = (typeof ASG_EVENTS)[number];

/** The spec's short event names and the notification types AWS knows them by. */
export const NOTIFICATION_TYPES: Record<AsgEvent, string> = {
  launch: 'autoscaling:EC2_INSTANCE_LAUNCH',
  terminate: 'autoscaling:EC2_INSTANCE_TERMINATE',
  'launch-error': 'autoscaling:EC2_INSTANCE_LAUNCH_ERROR',
  'terminate-error': 'autoscaling:EC2_INSTANCE_TERMINATE_ERROR',
};
const SHORT_EVENT = new Map(Object.entries(NOTIFICATION_TYPES).map(([k, v]) => [v, k]));

export interface Notification {
  topic: string;
  /** Short names (launch, terminate, ...), sorted; a type the spec has no name for is kept whole. */
  events: string[];
}

export const sortEvents = (events: string[]): string[] => [...new Set(events)].sort();

/** Notification configurations of one group in the spec's vocabulary. */
export function notificationsOf(configs: NotificationConfiguration[]): Notification[] {
  const byTopic = new Map<string, string[]>();
  for (const c of configs) {
    const list = byTopic.get(c.TopicARN!) ?? [];
    list.push(SHORT_EVENT.get(c.NotificationType!) ?? c.NotificationType!);
    byTopic.set(c.TopicARN!, list);
  }
  return [...byTopic.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([topic, events]) => ({ topic, events: sortEvents(events) }));
}

/** Notification configurations by group; undefined when the endpoint does not implement the call. */
export async function describeNotifications(ctx: Ctx, names: string[]): Promise<Map<string, Notification[]> | undefined> {
  if (isUnsupported(ctx.aws, 'DescribeNotificationConfigurations')) return undefined;
  const read = (as: AutoScalingClient) =>
    allPages(async (NextToken) => {
      const r = await as.send(new DescribeNotificationConfigurationsCommand({ AutoScalingGroupNames: names, NextToken, MaxRecords: 100 }));
      return { items: r.NotificationConfigurations, next: r.NextToken };
    });
  let all: NotificationConfiguration[];
  try {
    // Asked first without SDK retries: an endpoint that does not implement the call (moto) answers a
    // bare 500, which the SDK would retry four times with backoff (~0.6 s of every plan) before we
    // could tell. Any other failure a retry can get past is asked again with retries.
    try {
      all = await read(await ctx.aws.autoscaling({ retries: false }));
    } catch (e) {
      if (isNotImplemented(e) || !isRetryable(e)) throw e;
      all = await read(await ctx.aws.autoscaling());
    }
  } catch (e) {
    if (!isNotImplemented(e)) throw e;
    markUnsupported(ctx.aws, 'DescribeNotificationConfigurations');
    return undefined;
  }
  const out = new Map<string, Notification[]>();
  for (const n of names) out.set(n, notificationsOf(all.filter((c) => c.AutoScalingGroupName === n)));
  return out;
}

/** Writes notification configurations; warns instead when the endpoint does not implement them. */
export async function syncNotifications(ctx: Ctx, address: string, groupName: string, live: Notification[] | undefined, want: Notification[]): Promise<void> {
  const warn = () =>
    ctx.emit({ type: 'warning', address, message: 'this endpoint does not implement notification configurations: the group sends no notifications' });
  if (isUnsupported(ctx.aws, 'PutNotificationConfiguration')) return warn();
  const as = await ctx.aws.autoscaling();
  try {
    for (const n of live ?? [])
      if (!want.some((w) => w.topic === n.topic)) await as.send(new DeleteNotificationConfigurationCommand({ AutoScalingGroupName: groupName, TopicARN: n.topic }));
    for (const n of want)
      await as.send(
        new PutNotificationConfigurationCommand({
          AutoScalingGroupName: groupName,
          TopicARN: n.topic,
          NotificationTypes: n.events.map((e) => NOTIFICATION_TYPES[e as AsgEvent] ?? e),
        }),
      );
  } catch (e) {
    if (!isNotImplemented(e)) throw e;
    markUnsupported(ctx.aws, 'PutNotificationConfiguration');
    warn();
  }
}
