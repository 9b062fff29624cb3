// One evaluation of a spec's alert rules, shared by `watch` (every cycle, rules when due), `check`
// (once) and `status` (once, nothing sent): resolve targets (one DescribeInstances), read every
// metric (one GetMetricData per 500 queries), step the state machine (alerts.ts), publish what is
// due (deliver.ts), keep the state (state-store.ts), update metrics and log.
import type { Aws } from '../aws/clients.js';
import { explainAwsError } from '../aws/errors.js';
import { parseDuration } from '../spec/common.js';
import type { SpecOf } from '../spec/schema.js';
import type { LoadedSpec } from '../spec/types.js';
import { acknowledge, gone, step, type AlertState, type Evaluation, type RuleParams, type TargetRecord } from './alerts.js';
import { deliver, type AccountCache, type NotificationReport, type Pending } from './deliver.js';
import type { Logger } from './logger.js';
import type { WatchMetrics } from './metrics.js';
import { queryMetrics, slotsOf, type MetricQuery, type Series } from './metrics-query.js';
import { chooseStore, FileStateStore, S3StateStore, toStored, type StateStore } from './state-store.js';
import { stepError } from './step-error.js';
import { resolveTargets, selectorsOf, type Selector, type Target } from './targets.js';

/** IAM actions alert evaluation calls (for `reconcile policy`): always, to notify, to keep state in S3. */
export const ALERT_PERMISSIONS = {
  evaluate: ['ec2:DescribeInstances', 'cloudwatch:GetMetricData'],
  notify: ['sns:Publish', 'sts:GetCallerIdentity'],
  state: ['s3:GetObject', 's3:PutObject'],
} as const;

export type AlertRuleBody = SpecOf<'alert-rule'>;

export interface TargetReport {
  id: string;
  name?: string;
  instanceState: string;
  state: AlertState;
  /** The state before this evaluation (undefined: first seen). */
  previous?: AlertState;
  since: number;
  evaluation: Evaluation;
  notification?: NotificationReport;
}

export interface RuleReport {
  rule: string;
  /** How the rule picks its targets, in words. */
  selection: string;
  evaluated: boolean;
  targets: TargetReport[];
  /** Targets that no longer match (terminated, re-tagged). */
  gone: { id: string; notification?: NotificationReport }[];
  /** Where its state is kept. */
  store?: string;
  error?: { message: string; hint?: string };
}

export interface EvaluateOptions {
  now: number;
  /** Evaluate every rule now, whatever its `every` (check, status, --once). */
  force?: boolean;
  /** Publish notifications (false: --no-notify). */
  notify: boolean;
  /** Keep the state in its store (false for --no-notify and status). */
  persist: boolean;
  /** Topic ARNs by spec name, when the caller has just observed them (watch). */
  knownTopics?: Map<string, string>;
  /** More queries for the same GetMetricData calls (status). */
  extraQueries?: MetricQuery[];
  /** An Aws for another region (the lock bucket may live elsewhere). */
  awsFor?: (region: string) => Aws;
  /** How early a rule counts as due (watch: half its interval). */
  slackMs?: number;
}

export interface AlertRun {
  rules: RuleReport[];
  /** Results of extraQueries, by key. */
  series: Map<string, Series>;
}

export function ruleParams(b: AlertRuleBody): RuleParams {
  return {
    threshold: b.threshold,
    comparison: b.comparison,
    datapoints: b.datapoints,
    evaluationPeriods: b.evaluationPeriods,
    missingData: b.missingData,
    repeatMs: b.notify?.repeat ? parseDuration(b.notify.repeat) : undefined,
  };
}

export function describeSelection(b: AlertRuleBody): string {
  const parts: string[] = [];
  const t = b.targets;
  if (t.tags) parts.push(`instances tagged ${Object.entries(t.tags).map(([k, v]) => `${k}=${v}`).join(', ')}`);
  if (t.autoScalingGroup) parts.push(`the instances of group ${t.autoScalingGroup}`);
  if (t.instances?.length) parts.push(`instance${t.instances.length > 1 ? 's' : ''} ${t.instances.join(', ')}`);
  return parts.join(' or ');
}

const queryKey = (rule: string, target: string) => `${rule}\0${target}`;

/** Keeps alert state between evaluations (in memory, and in its store across restarts). */
export class AlertEvaluator {
  private readonly records = new Map<string, Map<string, TargetRecord>>();
  private readonly lastRun = new Map<string, number>();
  /** The account of topic ARNs named without one, looked up once. */
  private readonly account: AccountCache = {};

  constructor(
    private readonly opts: {
      logger?: Logger;
      metrics?: WatchMetrics;
      /** Local state file, when no bucket is named (see state-store.ts). */
      stateFile?: string;
    } = {},
  ) {}

  /**
   * Rules due at `now`: never evaluated, or `every` has passed -- less `slackMs`, so that a loop
   * waking every minute (with jitter) evaluates a 5-minute rule every 5 minutes, not every 6.
   */
  dueRules(loaded: LoadedSpec, now: number, slackMs = 0): string[] {
    return loaded.resources
      .filter((r) => r.kind === 'alert-rule')
      .filter((r) => {
        const last = this.lastRun.get(r.name);
        const every = parseDuration((r.body as AlertRuleBody).every);
        return last === undefined || now - last >= every - Math.min(slackMs, every / 2);
      })
      .map((r) => r.name);
  }

  /** The in-memory record of a target (tests, status). */
  record(rule: string, target: string): TargetRecord | undefined {
    return this.records.get(rule)?.get(target);
  }

  private storeFor(loaded: LoadedSpec, rule: string, aws: Aws, awsFor?: (region: string) => Aws): StateStore {
    const c = chooseStore(loaded, rule, this.opts.stateFile);
    if (c.kind === 'file') return new FileStateStore(c.file!, loaded.spec.stack, rule);
    const a = c.region && c.region !== aws.options.region && awsFor ? awsFor(c.region) : aws;
    return new S3StateStore(a, c.bucket!, c.key!, loaded.spec.stack, rule);
  }

  async run(loaded: LoadedSpec, aws: Aws, o: EvaluateOptions): Promise<AlertRun> {
    const log = this.opts.logger;
    const metrics = this.opts.metrics;
    const all = loaded.resources.filter((r) => r.kind === 'alert-rule');
    const names = new Set(all.map((r) => r.name));
    // Rules gone from the spec: forget them.
    for (const rule of [...this.records.keys(), ...(metrics?.rulesWithSeries() ?? [])])
      if (!names.has(rule)) {
        this.records.delete(rule);
        this.lastRun.delete(rule);
        metrics?.keepAlerts(rule, undefined);
      }
    const due = new Set(o.force ? all.map((r) => r.name) : this.dueRules(loaded, o.now, o.slackMs));
    const rules = all.filter((r) => due.has(r.name)).map((r) => ({ name: r.name, body: r.body as AlertRuleBody }));
    const reports = new Map<string, RuleReport>(
      rules.map((r) => [r.name, { rule: r.name, selection: describeSelection(r.body), evaluated: false, targets: [], gone: [] }]),
    );
    if (!rules.length && !o.extraQueries?.length) return { rules: [], series: new Map() };

    // 1. Targets: one DescribeInstances for every rule.
    const selectors = new Map<string, Selector[]>(rules.map((r) => [r.name, selectorsOf(loaded, r.body)]));
    let targets: Map<string, Target[]>;
    try {
      targets = await resolveTargets(aws, selectors);
    } catch (e) {
      throw stepError('alert rules: cannot list the target instances', 'ec2:DescribeInstances', e);
    }

    // 2. State, loaded once per rule per process.
    const stores = new Map<string, StateStore>();
    await Promise.all(
      rules.map(async (r) => {
        const store = this.storeFor(loaded, r.name, aws, o.awsFor);
        stores.set(r.name, store);
        reports.get(r.name)!.store = store.where;
        if (this.records.has(r.name)) return;
        try {
          const loadedRecords = await store.load();
          this.records.set(r.name, new Map(Object.entries(loadedRecords)));
          if (Object.keys(loadedRecords).length) log?.debug({ rule: r.name, store: store.where, targets: Object.keys(loadedRecords).length }, 'alert state loaded');
        } catch (e) {
          const x = explainAwsError(e);
          const denied = /refused/.test(x.message);
          reports.get(r.name)!.error = {
            message: `cannot read the alert state of rule ${r.name} from ${store.where}: ${denied ? 'AWS refused s3:GetObject' : x.message}`,
            hint: denied ? `grant s3:GetObject and s3:PutObject on ${store.where}` : x.hint,
          };
        }
      }),
    );
    const ready = rules.filter((r) => !reports.get(r.name)!.error);

    // 3. Metrics: every (rule, target) query, plus the caller's, in as few calls as possible.
    const queries: MetricQuery[] = [...(o.extraQueries ?? [])];
    for (const r of ready)
      for (const t of targets.get(r.name) ?? [])
        queries.push({
          key: queryKey(r.name, t.id),
          namespace: r.body.namespace,
          metric: r.body.metric,
          dimensions: { ...r.body.dimensions, InstanceId: t.id },
          stat: r.body.statistic,
          periodSec: parseDuration(r.body.period) / 1000,
          periods: r.body.evaluationPeriods,
        });
    let series: Map<string, Series>;
    try {
      series = await queryMetrics(aws, queries, o.now);
    } catch (e) {
      throw stepError('alert rules: cannot read the metrics', 'cloudwatch:GetMetricData', e);
    }

    // 4. The state machine, per target.
    const pending: Pending[] = [];
    const before = new Map<string, string>();
    for (const r of ready) {
      const report = reports.get(r.name)!;
      const records = this.records.get(r.name) ?? new Map<string, TargetRecord>();
      this.records.set(r.name, records);
      before.set(r.name, JSON.stringify(toStored(Object.fromEntries(records))));
      const params = ruleParams(r.body);
      const list = targets.get(r.name) ?? [];
      report.evaluated = true;
      if (!list.length)
        log?.warn(
          { rule: r.name, selection: report.selection },
          `alert rule ${r.name} matched no instance (${report.selection}, in state pending/running/stopping/stopped): check the tag values and that the instance exists`,
        );
      for (const t of list) {
        const prev = records.get(t.id);
        const got = series.get(queryKey(r.name, t.id));
        const s = step(params, prev, slotsOf(got, params.evaluationPeriods), o.now);
        records.set(t.id, s.record);
        const tr: TargetReport = { id: t.id, name: t.name, instanceState: t.state, state: s.record.state, previous: prev?.state, since: s.record.since, evaluation: s.evaluation };
        report.targets.push(tr);
        metrics?.setAlert(r.name, t.id, t.name, s.record.state, s.evaluation.value);
        const fields = { rule: r.name, target: t.id, name: t.name, state: s.record.state, value: s.evaluation.value, threshold: r.body.threshold, breaching: s.evaluation.breaching, present: s.evaluation.present };
        if (s.changed) {
          const msg = `${r.name}: ${t.name ? `${t.name} (${t.id})` : t.id} ${prev!.state} -> ${s.record.state} (${r.body.metric} ${s.evaluation.value ?? 'no data'}, alarm when ${r.body.comparison} ${r.body.threshold})`;
          if (s.record.state === 'ALARM') log?.warn(fields, msg);
          else log?.info(fields, msg);
        } else log?.debug(fields, `${r.name}: ${t.id} ${s.record.state}`);
        if (s.notify) pending.push({ rule: r.name, body: r.body, target: t, kind: s.notify, evaluation: s.evaluation, windowEnd: got?.end, since: s.record.since, report: tr });
      }
      if (list.length) {
        const counts = ['ALARM', 'OK', 'INSUFFICIENT_DATA'].map((st) => [st, report.targets.filter((t) => t.state === st).length] as const).filter(([, n]) => n);
        const sample = report.targets
          .slice(0, 5)
          .map((t) => `${t.name ? `${t.name} ` : ''}${t.id} ${t.state} ${t.evaluation.value ?? 'no data'}`)
          .join('; ');
        log?.info(
          { rule: r.name, targets: list.length, alarm: report.targets.filter((t) => t.state === 'ALARM').length },
          `${r.name}: ${list.length} target(s), ${counts.map(([st, n]) => `${n} ${st}`).join(', ')} (${r.body.metric} ${r.body.statistic}, alarm when ${r.body.comparison} ${r.body.threshold}): ${sample}${list.length > 5 ? '; ...' : ''}`,
        );
      }
      const ids = new Set(list.map((t) => t.id));
      for (const [id, rec] of records) {
        if (ids.has(id)) continue;
        const kind = gone(rec);
        const g: RuleReport['gone'][number] = { id };
        report.gone.push(g);
        log?.info({ rule: r.name, target: id, state: rec.state }, `${r.name}: ${id} no longer matches the rule`);
        if (kind) pending.push({ rule: r.name, body: r.body, target: { id }, kind, since: rec.since, report: g });
        else records.delete(id);
      }
      metrics?.keepAlerts(r.name, ids);
      metrics?.alertTargets.set({ rule: r.name }, list.length);
      metrics?.ruleEvaluated(r.name);
    }

    // 5. Notifications that are due.
    await deliver(pending, {
      aws,
      loaded,
      now: o.now,
      notify: o.notify,
      knownTopics: o.knownTopics,
      logger: log,
      metrics,
      account: this.account,
      handled: (p) => {
        const records = this.records.get(p.rule)!;
        if (p.kind === 'GONE') records.delete(p.target.id);
        else records.set(p.target.id, acknowledge(records.get(p.target.id)!, p.kind, o.now));
      },
    });

    // 6. Keep the state where it survives a restart, when it changed.
    await Promise.all(
      ready.map(async (r) => {
        const records = this.records.get(r.name)!;
        const now = JSON.stringify(toStored(Object.fromEntries(records)));
        if (!o.persist || now === before.get(r.name)) return;
        const store = stores.get(r.name)!;
        try {
          await store.save(Object.fromEntries(records));
        } catch (e) {
          const x = explainAwsError(e);
          const denied = /refused/.test(x.message);
          reports.get(r.name)!.error = {
            message: `cannot save the alert state of rule ${r.name} to ${store.where}: ${denied ? 'AWS refused s3:PutObject' : x.message} (a restart may repeat a notification)`,
            hint: denied ? `grant s3:PutObject on ${store.where}` : x.hint,
          };
        }
      }),
    );
    for (const r of ready) if (!reports.get(r.name)!.error) this.lastRun.set(r.name, o.now);
    for (const rep of reports.values()) if (rep.error) log?.error({ rule: rep.rule, hint: rep.error.hint }, rep.error.message);
    return { rules: [...reports.values()], series };
  }
}
