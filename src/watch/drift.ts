// Drift as watch reports it (issue 14 item 5: out of the loop): which plan changes are drift, a
// stable fingerprint so the same drift is logged and announced once, the message a topic gets, the
// topics' ARNs (from the plan, from what apply made, or built from the account), and the reporter
// that logs and notifies (detect mode: alert rules with notify.drift).
import { explainAwsError } from '../aws/errors.js';
import type { Change, PlanState } from '../engine/plan.js';
import { UNKNOWN, type Ctx, type Outputs } from '../engine/types.js';
import type { SpecOf } from '../spec/schema.js';
import type { LoadedSpec } from '../spec/types.js';
import type { Logger } from './logger.js';
import type { WatchMetrics } from './metrics.js';
import { callerAccount, cleanSubject, publish, topicArnOf } from './notifier.js';

export const DRIFT_ACTIONS = new Set(['create', 'update', 'replace', 'delete', 'adopt']);

/** A stable text of what differs, so the same drift is announced once. */
export function driftFingerprint(changes: Change[]): string {
  return JSON.stringify(changes.map((c) => [c.address, c.action, c.fields.map((f) => f.path).sort()]).sort());
}

export function driftMessage(stack: string, changes: Change[], now: number, mode: string): { subject: string; message: string } {
  const at = new Date(now).toISOString().replace(/\.\d{3}Z$/, 'Z');
  if (!changes.length)
    return { subject: cleanSubject(`DRIFT RESOLVED ${stack}: AWS matches the spec again`), message: `Stack ${stack}: every resource matches the spec again.\nTime: ${at}\n\nSent by reconcile watch (${mode} mode).` };
  const lines = changes.map((c) => `  ${c.action.padEnd(8)} ${c.address}${c.id ? ` (${c.id})` : ''}${c.fields.length ? `: ${c.fields.map((f) => f.path).join(', ')}` : ''}`);
  return {
    subject: cleanSubject(`DRIFT ${stack}: ${changes.length} resource${changes.length === 1 ? '' : 's'} differ from the spec`),
    message: [
      `Stack ${stack}: ${changes.length} resource(s) differ from the spec. watch runs in ${mode} mode: they are not changed back.`,
      '',
      ...lines,
      '',
      `Time: ${at}`,
      'Run `reconcile plan` to see every field, `reconcile apply` to put AWS back as the spec says.',
      '',
      'Sent by reconcile watch.',
    ].join('\n'),
  };
}

/** The changes of a plan that are drift (what healing changes back). */
export const driftOf = (plan: { changes: Change[] }): Change[] => plan.changes.filter((c) => DRIFT_ACTIONS.has(c.action));

/** The ARNs of the spec's topics the plan knows (observed, or adopted), by spec name. */
export function knownTopicsFromPlan(loaded: LoadedSpec, state: PlanState, known: Map<string, string>): void {
  for (const r of loaded.resources)
    if (r.kind === 'sns-topic') {
      const arn = state.outputs.get(r.name)?.arn ?? state.live.get(r.address)?.outputs.arn;
      if (arn && arn !== UNKNOWN) known.set(r.name, arn);
    }
}

/** The ARNs of the spec's topics an apply made. */
export function knownTopicsFromOutputs(loaded: LoadedSpec, outputs: Record<string, Outputs>, known: Map<string, string>): void {
  for (const [name, o] of Object.entries(outputs))
    if (o.arn && o.arn !== UNKNOWN && loaded.resources.some((x) => x.name === name && x.kind === 'sns-topic')) known.set(name, o.arn);
}

/** Logs drift once per change of it, and (detect mode) tells the drift topics when it appears, changes or clears. */
export class DriftReporter {
  private lastLogged = '[]';
  private announced = '[]';
  private account?: { id: string; partition: string };

  constructor(private readonly opts: { logger: Logger; metrics: WatchMetrics; notify: boolean; mode: string; now: () => number }) {}

  /** Healing put AWS back: the next drift is new. */
  healed(): void {
    this.lastLogged = '[]';
  }

  /** Logs each drifted resource, once per change of the drift. */
  log(drift: Change[]): void {
    const log = this.opts.logger;
    const fp = driftFingerprint(drift);
    if (fp === this.lastLogged) {
      if (drift.length) log.debug({ drift: drift.length }, 'drift unchanged');
      return;
    }
    this.lastLogged = fp;
    for (const c of drift)
      log.warn(
        { address: c.address, action: c.action, id: c.id, fields: c.fields.map((f) => f.path) },
        `drift: ${c.address} ${c.action}${c.fields.length ? ` (${c.fields.map((f) => f.path).join(', ')})` : ''}: ${c.reason}`,
      );
    if (!drift.length) log.info('no drift: AWS matches the spec');
  }

  /** detect mode: tell the topics of rules with notify.drift when the drift changes or clears. */
  async notify(loaded: LoadedSpec, ctx: Ctx, drift: Change[], knownTopics: Map<string, string>): Promise<void> {
    const fp = driftFingerprint(drift);
    const topics = loaded.resources
      .filter((r) => r.kind === 'alert-rule' && (r.body as SpecOf<'alert-rule'>).notify?.drift)
      .map((r) => ({ rule: r.name, topic: (r.body as SpecOf<'alert-rule'>).notify!.topic }));
    // The failure count of drift notifications exists at 0 from the first cycle, so Prometheus sees the
    // first failure (deploy/prometheus-rules.yml; a series first seen at 1 is invisible to increase()).
    if (topics.length && this.opts.notify) this.opts.metrics.notificationFailures.inc({ rule: '(drift)', reason: '' }, 0);
    if (fp === this.announced) return;
    if (!topics.length || !this.opts.notify) {
      this.announced = fp;
      return;
    }
    const log = this.opts.logger;
    const msg = driftMessage(loaded.spec.stack, drift, this.opts.now(), this.opts.mode);
    let allSent = true;
    const arns = new Set<string>();
    for (const t of topics) {
      try {
        if (!t.topic.startsWith('arn:') && !knownTopics.has(t.topic)) this.account ??= await callerAccount(ctx.aws);
        arns.add(topicArnOf(loaded, t.topic, this.account ?? { id: '', partition: 'aws' }, ctx.region, knownTopics));
      } catch (e) {
        allSent = false;
        log.error({ rule: t.rule }, `cannot name the drift topic of rule ${t.rule}: ${explainAwsError(e).message}`);
      }
    }
    for (const arn of arns) {
      try {
        await publish(ctx.aws, arn, msg);
        this.opts.metrics.notifications.inc({ rule: '(drift)', kind: 'DRIFT' });
        log.info({ topic: arn, drift: drift.length }, `notified ${arn}: ${msg.subject}`);
      } catch (e) {
        allSent = false;
        const pe = e as { message: string; hint?: string; reason?: string };
        this.opts.metrics.notificationFailures.inc({ rule: '(drift)', reason: pe.reason ?? 'Error' });
        log.error({ topic: arn, hint: pe.hint }, `NOTIFICATION FAILED (drift): ${pe.message}${pe.hint ? ` -- ${pe.hint}` : ''}`);
      }
    }
    if (allSent) this.announced = fp;
  }

}
