// Notifications: the text (pure), the topic's ARN, and the SNS publish -- whose failure is reported
// with the missing permission named, never swallowed.
import { PublishCommand } from '../aws/sdk/sns.js';
import { GetCallerIdentityCommand } from '../aws/sdk/sts.js';
import type { Aws } from '../aws/clients.js';
import { explainAwsError, isAccessDenied, isNotFound } from '../aws/errors.js';
import { isExternalId } from '../spec/common.js';
import type { SpecOf } from '../spec/schema.js';
import type { LoadedSpec } from '../spec/types.js';
import { breachSummary, type Evaluation, type MissingData, type NotificationKind } from './alerts.js';
import { rangeEnd } from './metrics-query.js';

export interface AlertMessage {
  stack: string;
  region: string;
  rule: string;
  description?: string;
  kind: NotificationKind;
  target: { id: string; name?: string; state?: string };
  namespace: string;
  metric: string;
  statistic: string;
  periodSec: number;
  datapoints: number;
  evaluationPeriods: number;
  threshold: number;
  comparison: string;
  missingData: MissingData;
  /** End of the window that was queried (epoch ms; default: where metrics-query.ts ends it for `now`). */
  windowEnd?: number;
  /** Absent for GONE (the target was not evaluated). */
  evaluation?: Evaluation;
  /** When the target entered its current state (epoch ms). */
  since: number;
  now: number;
}

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

export function formatNumber(v: number | undefined): string {
  if (v === undefined) return 'no data';
  return Number.isInteger(v) ? String(v) : String(Number(v.toFixed(2)));
}

export function formatDuration(sec: number): string {
  if (sec % 3600 === 0) return `${sec / 3600}h`;
  if (sec % 60 === 0) return `${sec / 60}m`;
  return `${sec}s`;
}

const HEADLINE: Record<NotificationKind, string> = {
  ALARM: 'ALERT',
  REPEAT: 'ALERT (still)',
  OK: 'RECOVERED',
  NO_DATA: 'NO DATA',
  GONE: 'GONE',
};

/** SNS subjects: ASCII, no line breaks, under 100 characters. */
export function cleanSubject(s: string): string {
  const ascii = s.replace(/[\r\n\t]+/g, ' ').replace(/[^\x20-\x7e]/g, '?');
  return ascii.length <= 99 ? ascii : `${ascii.slice(0, 96)}...`;
}

/** Up to the 3 most recent of the values, e.g. "60, 70" or "..., 55, 60, 70". */
function valuesText(values: number[]): string {
  return `${values.length > 3 ? '..., ' : ''}${values.slice(-3).map(formatNumber).join(', ')}`;
}

/**
 * Subject and body naming the stack, rule, instance and its Name, value, threshold, window and time.
 * An ALARM names the breaching value(s), not the latest datapoint (which, with M of N, may be below
 * the threshold); the Window line is the window that was queried (complete periods, see
 * metrics-query.ts).
 */
export function formatAlert(m: AlertMessage): { subject: string; message: string } {
  const who = m.target.name ? `${m.target.name} (${m.target.id})` : m.target.id;
  const e = m.evaluation;
  const latest = formatNumber(e?.value);
  const alarm = m.kind === 'ALARM' || m.kind === 'REPEAT';
  const breachingValues = e?.breachingValues ?? [];
  const value = alarm && e ? (breachingValues.length ? valuesText(breachingValues) : 'no data') : latest;
  const windowSec = m.periodSec * m.evaluationPeriods;
  const end = m.windowEnd ?? rangeEnd(m.now, [m.periodSec]);
  const cond = `${m.comparison} ${formatNumber(m.threshold)}`;
  const single = m.evaluationPeriods === 1;
  const inPeriods = e && !single ? `, in ${e.breaching} of the last ${m.evaluationPeriods} periods` : '';
  let what: string;
  switch (m.kind) {
    case 'ALARM':
      what = `${m.metric} of ${who} ${single ? 'is' : 'was'} ${value}, ${cond}${inPeriods}`;
      break;
    case 'REPEAT':
      what = `${m.metric} of ${who} is still in alarm (${value}, ${cond}${inPeriods}) since ${iso(m.since)}`;
      break;
    case 'OK':
      what = `${m.metric} of ${who} is back to ${value} (alarm when ${cond})`;
      break;
    case 'NO_DATA':
      what = `${who} was in alarm and reports no ${m.metric} any more`;
      break;
    case 'GONE':
      what = `${who} was in alarm and no longer matches the rule (terminated or re-tagged)`;
      break;
  }
  const subject = cleanSubject(`${HEADLINE[m.kind]} ${m.stack}/${m.rule}: ${m.target.name ?? m.target.id} ${m.metric} ${value} (${cond})`);
  const breachingLine = alarm && breachingValues.length && (breachingValues.length > 1 || breachingValues.at(-1) !== e?.value) ? `; breaching: ${breachingValues.map(formatNumber).join(', ')}` : '';
  const lines = [
    `${HEADLINE[m.kind]}: ${what}.`,
    '',
    `Stack:      ${m.stack} (${m.region})`,
    `Rule:       ${m.rule}${m.description ? ` -- ${m.description}` : ''}`,
    `Instance:   ${m.target.id} (Name: ${m.target.name ?? '(none)'}${m.target.state ? `, ${m.target.state}` : ''})`,
    `Metric:     ${m.namespace} ${m.metric}, ${m.statistic} per ${formatDuration(m.periodSec)}`,
    `Value:      ${latest}${e?.value !== undefined ? ' (latest datapoint)' : ''}${breachingLine}`,
    `Threshold:  ${cond}; alarm when ${m.datapoints} of the last ${m.evaluationPeriods} datapoints breach${e ? ` (${breachSummary(e, m.missingData)})` : ''}`,
    `Window:     the last ${m.evaluationPeriods === 1 ? '' : `${m.evaluationPeriods} `}complete period${single ? '' : 's'} (${formatDuration(windowSec)}), ${iso(end - windowSec * 1000)} to ${iso(end)}`,
    `State:      ${m.kind === 'GONE' ? 'removed' : e?.state ?? 'unknown'} since ${iso(m.since)}`,
    `Time:       ${iso(m.now)}`,
    '',
    'Sent by reconcile watch.',
  ];
  return { subject, message: lines.join('\n') };
}

/** The topic a rule notifies: a topic ARN as given, or the ARN of a sns-topic of the spec. */
export function topicArnOf(loaded: LoadedSpec, ref: string, account: { id: string; partition: string }, region: string, known?: Map<string, string>): string {
  if (isExternalId(ref)) return ref;
  const fromPlan = known?.get(ref);
  if (fromPlan) return fromPlan;
  const body = loaded.resources.find((r) => r.name === ref && r.kind === 'sns-topic')?.body as SpecOf<'sns-topic'> | undefined;
  if (body?.adopt?.startsWith('arn:')) return body.adopt;
  const name = body?.topicName ?? body?.adopt ?? `${loaded.spec.stack}-${ref}`;
  return `arn:${account.partition}:sns:${region}:${account.id}:${name}`;
}

/** The caller's account and partition (sts:GetCallerIdentity needs no permission). */
export async function callerAccount(aws: Aws): Promise<{ id: string; partition: string }> {
  const r = await (await aws.sts()).send(new GetCallerIdentityCommand({}));
  return { id: r.Account!, partition: r.Arn?.split(':')[1] ?? 'aws' };
}

export class PublishError extends Error {
  constructor(
    message: string,
    readonly hint: string,
    /** The AWS error name (AccessDenied, NotFound, ...). */
    readonly reason: string,
    readonly cause: unknown,
  ) {
    super(message);
    this.name = 'PublishError';
  }
}

/** Publishes one notification. Throws PublishError naming the permission or the missing topic. */
export async function publish(aws: Aws, topicArn: string, msg: { subject: string; message: string }): Promise<string | undefined> {
  try {
    const r = await (await aws.sns()).send(new PublishCommand({ TopicArn: topicArn, Subject: msg.subject, Message: msg.message }));
    return r.MessageId;
  } catch (e) {
    const name = (e as Error)?.name ?? 'Error';
    const x = explainAwsError(e);
    if (isAccessDenied(e))
      throw new PublishError(
        `cannot publish to ${topicArn}: AWS refused sns:Publish (${name})`,
        `grant sns:Publish on ${topicArn} to the identity reconcile runs as${/kms/i.test(name) ? ', and kms:GenerateDataKey + kms:Decrypt on the topic\'s key' : ''}`,
        name,
        e,
      );
    if (isNotFound(e))
      throw new PublishError(`cannot publish to ${topicArn}: the topic does not exist`, 'apply the spec (or check notify.topic / the topic ARN)', name, e);
    throw new PublishError(`cannot publish to ${topicArn}: ${x.message}`, x.hint ?? 'it is tried again at the next evaluation', name, e);
  }
}
