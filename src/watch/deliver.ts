// Delivering the notifications an alert evaluation found due (evaluate.ts decides which): each is
// worded (notifier.ts formatAlert), then published to its rule's topic -- or only logged, when the
// rule names no topic or notifications are off (--no-notify). A topic named without an ARN is
// resolved with the account, looked up once per process. A failed publish is reported on the
// target and in the metrics, and is not acknowledged: the next evaluation tries it again.
import type { Aws } from '../aws/clients.js';
import { explainAwsError } from '../aws/errors.js';
import { parseDuration } from '../spec/common.js';
import type { SpecOf } from '../spec/schema.js';
import type { LoadedSpec } from '../spec/types.js';
import type { Evaluation, NotificationKind } from './alerts.js';
import type { Logger } from './logger.js';
import type { WatchMetrics } from './metrics.js';
import { callerAccount, formatAlert, PublishError, publish, topicArnOf } from './notifier.js';
import { AlertStepError, stepError } from './step-error.js';
import type { Target } from './targets.js';

export interface NotificationReport {
  kind: NotificationKind;
  /** Published to this topic. */
  sent: boolean;
  /** Not published on purpose: --no-notify, or the rule has no notify topic (logged only). */
  suppressed?: 'no-notify' | 'no-topic';
  topicArn?: string;
  error?: string;
  hint?: string;
}

/** A notification due for one target of a rule. */
export interface Pending {
  rule: string;
  body: SpecOf<'alert-rule'>;
  target: Target | { id: string; name?: string; state?: string };
  kind: NotificationKind;
  evaluation?: Evaluation;
  /** End of the window queried for the target. */
  windowEnd?: number;
  since: number;
  /** Where the outcome is reported. */
  report: { notification?: NotificationReport };
}

/** The account topic ARNs are built with; kept by the caller across evaluations. */
export interface AccountCache {
  value?: { id: string; partition: string };
}

export interface DeliverOptions {
  aws: Aws;
  loaded: LoadedSpec;
  now: number;
  /** Publish (false: --no-notify, logged only). */
  notify: boolean;
  /** Topic ARNs by spec name, when the caller has just observed them (watch). */
  knownTopics?: Map<string, string>;
  logger?: Logger;
  metrics?: WatchMetrics;
  account: AccountCache;
  /** A notification was published, or was not meant to be: acknowledge it (not called when publishing failed). */
  handled(p: Pending): void;
}

/** Runs at most `n` of the tasks at once. */
async function mapLimit<T, R>(items: T[], n: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]);
      }
    }),
  );
  return out;
}

/** Publishes (or logs) every pending notification, eight at a time. Never throws. */
export async function deliver(pending: Pending[], o: DeliverOptions): Promise<void> {
  const { aws, loaded, logger: log, metrics, account } = o;
  const stack = loaded.spec.stack;
  const region = aws.options.region;
  const needsAccount = o.notify && pending.some((p) => p.body.notify && !p.body.notify.topic.startsWith('arn:') && !o.knownTopics?.has(p.body.notify.topic));
  let accountError: unknown;
  if (needsAccount && !account.value) account.value = await callerAccount(aws).catch((e: unknown) => ((accountError = e), undefined));
  await mapLimit(pending, 8, async (p) => {
    const text = formatAlert({
      stack,
      region,
      rule: p.rule,
      description: p.body.description,
      kind: p.kind,
      target: { id: p.target.id, name: p.target.name, state: p.target.state },
      namespace: p.body.namespace,
      metric: p.body.metric,
      statistic: p.body.statistic,
      periodSec: parseDuration(p.body.period) / 1000,
      datapoints: p.body.datapoints,
      evaluationPeriods: p.body.evaluationPeriods,
      threshold: p.body.threshold,
      comparison: p.body.comparison,
      missingData: p.body.missingData,
      windowEnd: p.windowEnd,
      evaluation: p.evaluation,
      since: p.since,
      now: o.now,
    });
    const fields = { rule: p.rule, target: p.target.id, name: p.target.name, kind: p.kind, subject: text.subject };
    if (!p.body.notify || !o.notify) {
      p.report.notification = { kind: p.kind, sent: false, suppressed: !p.body.notify ? 'no-topic' : 'no-notify' };
      log?.info(fields, `${text.subject} (${!p.body.notify ? 'the rule has no notify topic: logged only' : 'not sent: --no-notify'})`);
      o.handled(p);
      return;
    }
    let arn: string | undefined;
    try {
      if (!account.value && !p.body.notify.topic.startsWith('arn:') && !o.knownTopics?.has(p.body.notify.topic))
        throw stepError('cannot find the account id for the topic ARN', 'sts:GetCallerIdentity', accountError);
      arn = topicArnOf(loaded, p.body.notify.topic, account.value ?? { id: '', partition: 'aws' }, region, o.knownTopics);
      const id = await publish(aws, arn, text);
      p.report.notification = { kind: p.kind, sent: true, topicArn: arn };
      metrics?.notifications.inc({ rule: p.rule, kind: p.kind });
      log?.info({ ...fields, topic: arn, messageId: id }, `notified ${arn}: ${text.subject}`);
      o.handled(p);
    } catch (e) {
      const pe = e instanceof PublishError || e instanceof AlertStepError ? e : undefined;
      const message = pe?.message ?? explainAwsError(e).message;
      const hint = pe?.hint ?? explainAwsError(e).hint;
      const reason = e instanceof PublishError ? e.reason : ((e as Error)?.name ?? 'Error');
      p.report.notification = { kind: p.kind, sent: false, topicArn: arn, error: message, hint };
      metrics?.notificationFailures.inc({ rule: p.rule, reason });
      log?.error({ ...fields, topic: arn, reason, hint }, `NOTIFICATION FAILED for ${p.rule} (${p.kind}): ${message}${hint ? ` -- ${hint}` : ''}; tried again at the next evaluation`);
    }
  });
}
