// The controller's own metrics, in Prometheus format (prom-client), on one registry per watcher so
// two watchers in one process (tests) never mix their numbers. deploy/grafana-dashboard.json charts
// these names; a test checks that every name it uses is defined here.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { CallRecord } from '../aws/clients.js';
import type { AlertState } from './alerts.js';

export const ALERT_STATES: AlertState[] = ['OK', 'ALARM', 'INSUFFICIENT_DATA'];

export class WatchMetrics {
  readonly registry = new Registry();
  readonly cycles: Counter<'outcome'>;
  readonly cycleDuration: Histogram<'outcome'>;
  readonly lastSuccess: Gauge;
  readonly ready: Gauge;
  readonly driftResources: Gauge;
  readonly driftFound: Counter;
  readonly changesApplied: Counter<'action'>;
  readonly awsCalls: Counter<'service' | 'operation' | 'outcome'>;
  readonly alertState: Gauge<'rule' | 'target' | 'name' | 'state'>;
  readonly alertValue: Gauge<'rule' | 'target' | 'name'>;
  readonly alertTargets: Gauge<'rule'>;
  readonly alertEvaluations: Counter<'rule'>;
  readonly notifications: Counter<'rule' | 'kind'>;
  readonly notificationFailures: Counter<'rule' | 'reason'>;
  readonly specErrors: Counter;
  readonly specValid: Gauge;
  private readonly alertLabels = new Map<string, { rule: string; target: string; name: string }>();

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });
    this.cycles = new Counter({ name: 'reconcile_cycles_total', help: 'Watch cycles, by outcome (ok, error).', labelNames: ['outcome'], registers });
    this.cycleDuration = new Histogram({
      name: 'reconcile_cycle_duration_seconds',
      help: 'Duration of one watch cycle (load, plan, apply or detect, alert rules).',
      labelNames: ['outcome'],
      buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600],
      registers,
    });
    this.lastSuccess = new Gauge({ name: 'reconcile_last_success_timestamp_seconds', help: 'When the last successful cycle ended (Unix time).', registers });
    this.ready = new Gauge({ name: 'reconcile_ready', help: '1 when the last cycle succeeded and is recent (what /readyz says).', registers });
    this.driftResources = new Gauge({ name: 'reconcile_drift_resources', help: 'Resources that differ from the spec, as of the last plan.', registers });
    this.driftFound = new Counter({ name: 'reconcile_drift_found_total', help: 'Resources found differing from the spec, summed over cycles.', registers });
    this.changesApplied = new Counter({ name: 'reconcile_changes_applied_total', help: 'Changes applied by watch in apply mode, by action.', labelNames: ['action'], registers });
    this.awsCalls = new Counter({
      name: 'reconcile_aws_calls_total',
      help: 'AWS API calls, by service, operation and outcome (ok, error).',
      labelNames: ['service', 'operation', 'outcome'],
      registers,
    });
    this.alertState = new Gauge({
      name: 'reconcile_alert_state',
      help: 'Alert state per rule and target: 1 for the current state, 0 for the others.',
      labelNames: ['rule', 'target', 'name', 'state'],
      registers,
    });
    this.alertValue = new Gauge({ name: 'reconcile_alert_value', help: 'The latest datapoint each rule saw per target.', labelNames: ['rule', 'target', 'name'], registers });
    this.alertTargets = new Gauge({ name: 'reconcile_alert_targets', help: 'Targets each rule matched at its last evaluation.', labelNames: ['rule'], registers });
    this.alertEvaluations = new Counter({ name: 'reconcile_alert_evaluations_total', help: 'Evaluations of each alert rule.', labelNames: ['rule'], registers });
    this.notifications = new Counter({
      name: 'reconcile_notifications_total',
      help: 'Notifications published, by rule and kind (ALARM, REPEAT, OK, NO_DATA, GONE, DRIFT).',
      labelNames: ['rule', 'kind'],
      registers,
    });
    this.notificationFailures = new Counter({
      name: 'reconcile_notification_failures_total',
      help: 'Notifications that could not be published, by rule and AWS error (AccessDenied: sns:Publish is missing).',
      labelNames: ['rule', 'reason'],
      registers,
    });
    this.specErrors = new Counter({ name: 'reconcile_spec_load_errors_total', help: 'Cycles that found the spec invalid (the last valid one was used).', registers });
    this.specValid = new Gauge({ name: 'reconcile_spec_valid', help: '1 when the spec on disk is valid, 0 when the last valid one is in use.', registers });
  }

  /** A listener for Aws.onCall. */
  readonly onCall = (c: CallRecord): void => {
    this.awsCalls.inc({ service: c.service, operation: c.operation, outcome: c.outcome });
  };

  setAlert(rule: string, target: string, name: string | undefined, state: AlertState, value: number | undefined): void {
    const labels = { rule, target, name: name ?? '' };
    this.alertLabels.set(`${rule}\0${target}`, labels);
    for (const s of ALERT_STATES) this.alertState.set({ ...labels, state: s }, s === state ? 1 : 0);
    if (value !== undefined) this.alertValue.set(labels, value);
    else this.alertValue.remove(labels);
  }

  /**
   * One evaluation of a rule. Its failure count is exported from now on, at 0 (reason ""): a counter
   * series that first appears at 1 is invisible to Prometheus's increase(), and the first failed
   * notification must raise ReconcileNotificationsFailing (deploy/prometheus-rules.yml sums per rule).
   */
  ruleEvaluated(rule: string): void {
    this.alertEvaluations.inc({ rule });
    this.notificationFailures.inc({ rule, reason: '' }, 0);
  }

  /** Forgets the series of targets a rule no longer has (or of rules gone from the spec). */
  keepAlerts(rule: string, targets: Set<string> | undefined): void {
    for (const [k, labels] of this.alertLabels) {
      if (labels.rule !== rule || targets?.has(labels.target)) continue;
      for (const s of ALERT_STATES) this.alertState.remove({ ...labels, state: s });
      this.alertValue.remove(labels);
      this.alertLabels.delete(k);
    }
    if (!targets) this.alertTargets.remove({ rule });
  }

  rulesWithSeries(): string[] {
    return [...new Set([...this.alertLabels.values()].map((l) => l.rule))];
  }
}
