// `reconcile status SPEC`: a table of each resource's state (in sync, drifted, missing...) and, for
// instances, CPUUtilization (average), NetworkIn and NetworkOut (bytes) over the last 5 minutes,
// plus the current state of each alert rule's targets. One plan's reads, then ONE GetMetricData for
// every instance metric and every alert rule together (more only past 500 queries).
import { registry } from '../reconcilers/index.js';
import { makePlan, type Change } from '../engine/plan.js';
import { colors } from '../engine/render.js';
import { AlertEvaluator, type RuleReport } from '../watch/evaluate.js';
import { AlertStepError } from '../watch/step-error.js';
import type { MetricQuery } from '../watch/metrics-query.js';
import { formatNumber } from '../watch/notifier.js';
import { UserError } from '../engine/errors.js';
import { loadOrThrow, makeCtx, type GlobalOptions, type Io } from './common.js';

const WINDOW_SEC = 300;
const INSTANCE_METRICS = [
  { metric: 'CPUUtilization', stat: 'Average', column: 'cpu' },
  { metric: 'NetworkIn', stat: 'Sum', column: 'networkIn' },
  { metric: 'NetworkOut', stat: 'Sum', column: 'networkOut' },
] as const;

export interface StatusRow {
  address: string;
  kind: string;
  id?: string;
  /** in sync, drift (fields), missing, looked up, ... */
  state: string;
  instanceState?: string;
  metrics?: { cpu?: number; networkIn?: number; networkOut?: number };
}

export function humanBytes(n: number | undefined): string {
  if (n === undefined) return '-';
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${i ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

export function describeChange(c: Change): string {
  switch (c.action) {
    case 'noop':
      return 'in sync';
    case 'read':
      return 'looked up';
    case 'create':
      return 'missing (not created yet)';
    case 'update':
      return `drift: ${c.fields.map((f) => f.path).join(', ')}`;
    case 'replace':
      return `drift, needs replacement: ${(c.forcedBy ?? []).join(', ')}`;
    case 'adopt':
      return 'to adopt';
    case 'delete':
      return 'not in the spec: to delete';
    case 'keep':
      return 'not in the spec (kept)';
  }
}

/** Plain columns, padded to the widest cell. */
export function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]))).join('  ').trimEnd()).join('\n');
}

export async function statusCommand(file: string, opts: { json?: boolean }, g: GlobalOptions, io: Io): Promise<number> {
  const loaded = loadOrThrow(file, g);
  const ctx = makeCtx(loaded, g, () => {});
  try {
    const { plan, state } = await makePlan(registry, loaded, ctx);
    const rows: StatusRow[] = plan.changes.map((c) => {
      const live = state.live.get(c.address);
      const row: StatusRow = { address: c.address, kind: c.kind, id: c.id, state: describeChange(c) };
      if (c.kind === 'instance' && live) row.instanceState = String((live.live as { state?: string }).state ?? '');
      return row;
    });
    const instances = rows.filter((r) => r.kind === 'instance' && r.id && r.instanceState);
    const queries: MetricQuery[] = instances.flatMap((r) =>
      INSTANCE_METRICS.map((m) => ({
        key: `status\0${r.id}\0${m.column}`,
        namespace: 'AWS/EC2',
        metric: m.metric,
        dimensions: { InstanceId: r.id! },
        stat: m.stat,
        periodSec: WINDOW_SEC,
        periods: 1,
      })),
    );
    const run = await new AlertEvaluator()
      .run(loaded, ctx.aws, { now: Date.now(), force: true, notify: false, persist: false, extraQueries: queries })
      .catch((e: unknown) => {
        throw e instanceof AlertStepError ? new UserError(e.message, e.hint) : e;
      });
    for (const r of instances) {
      r.metrics = {};
      for (const m of INSTANCE_METRICS) {
        const s = run.series.get(`status\0${r.id}\0${m.column}`);
        r.metrics[m.column] = s?.points.get(s.end - WINDOW_SEC * 1000);
      }
    }
    if (opts.json) {
      io.out(JSON.stringify({ formatVersion: 1, stack: loaded.spec.stack, region: ctx.region, at: new Date().toISOString(), resources: rows, alerts: run.rules }, null, 2));
      return 0;
    }
    const c = colors(io.color);
    const paint = (s: string) => (s === 'in sync' || s === 'looked up' ? c.green(s) : s.startsWith('missing') || s.startsWith('drift') ? c.yellow(s) : s);
    const body: string[][] = [['RESOURCE', 'ID', 'STATE', 'CPU (5m avg)', 'NET IN (5m)', 'NET OUT (5m)']];
    for (const r of rows) {
      const st = r.instanceState ? `${r.instanceState}, ${r.state}` : r.state;
      const m = r.metrics;
      body.push([r.address, r.id ?? '-', st, m ? (m.cpu === undefined ? 'no data' : `${formatNumber(m.cpu)} %`) : '', m ? humanBytes(m.networkIn) : '', m ? humanBytes(m.networkOut) : '']);
    }
    const colored = table(body)
      .split('\n')
      .map((line, i) => (i === 0 ? c.bold(line) : line.replace(rows[i - 1].instanceState ? `${rows[i - 1].instanceState}, ${rows[i - 1].state}` : rows[i - 1].state, (s) => paint(s))))
      .join('\n');
    io.out(colored);
    io.out(renderAlerts(run.rules, loaded.resources, c));
    return 0;
  } finally {
    ctx.aws.destroy();
  }
}

function renderAlerts(rules: RuleReport[], resources: { name: string; kind: string; body: unknown }[], c: ReturnType<typeof colors>): string {
  if (!rules.length) return '';
  const rows: string[][] = [['ALERT RULE', 'TARGET', 'STATE', 'VALUE', 'CONDITION']];
  for (const r of rules) {
    const b = resources.find((x) => x.name === r.rule && x.kind === 'alert-rule')!.body as { metric: string; statistic: string; comparison: string; threshold: number; period: string };
    const cond = `${b.metric} ${b.statistic} ${b.comparison} ${formatNumber(b.threshold)} (${b.period})`;
    if (!r.targets.length) rows.push([r.rule, `no match (${r.selection})`, '-', '-', cond]);
    for (const t of r.targets) rows.push([r.rule, t.name ? `${t.id} (${t.name})` : t.id, t.state, formatNumber(t.evaluation.value), cond]);
  }
  const text = table(rows).split('\n');
  return '\n' + [c.bold(text[0]), ...text.slice(1).map((l) => l.replace(/\bALARM\b/, (s) => c.red(s)))].join('\n');
}
