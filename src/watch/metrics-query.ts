// Reading CloudWatch metrics in bulk: every query of a cycle (all rules, all targets; `status` adds
// its own) goes into GetMetricData calls of up to 500 queries each -- never one call per instance.
//
// One call has one time range, so the range is chosen to suit every query in it: it is a whole
// number of every period long, so each query's buckets line up with the range's end, and it holds
// complete periods only. The end is the start of the current step (the current minute, or 1/5/10/30 s
// step when a high-resolution period is asked for) less one more step, the delivery allowance:
//   - a period still in progress is never read (its bucket is empty or partial at the start of each
//     period, so `missingData: missing|breaching` would flap);
//   - CloudWatch publishes datapoints late (EC2's a minute or so after their period), so the most
//     recent complete step is left out too, like the evaluation delay of CloudWatch's own alarms.
// So with 1-minute (and 5-minute) periods the window ends one to two minutes before now; with a 10 s
// period, 10 to 20 s before now. A query for N periods of P seconds reads the N buckets before the
// end. Queries whose periods have no small common multiple (7 min and 11 min) go in separate calls.
import { GetMetricDataCommand, type MetricDataQuery } from '../aws/sdk/cloudwatch.js';
import type { Aws } from '../aws/clients.js';

export const MAX_QUERIES_PER_CALL = 500;
/** The longest range one call covers to serve several periods at once. */
const MAX_COMMON_RANGE_SEC = 86_400;

export interface MetricQuery {
  /** The caller's name for the query (unique within one request). */
  key: string;
  namespace: string;
  metric: string;
  dimensions: Record<string, string>;
  stat: string;
  periodSec: number;
  /** How many periods before the end are wanted. */
  periods: number;
}

export interface Batch {
  /** Epoch ms. */
  start: number;
  end: number;
  queries: MetricQuery[];
}

/** Datapoints of one query: bucket start (epoch ms) -> value, and the end its buckets line up with. */
export interface Series {
  end: number;
  periodSec: number;
  points: Map<number, number>;
}

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
const lcm = (a: number, b: number): number => (a / gcd(a, b)) * b;

/** The step of a range: a minute, or the shortest high-resolution period (1/5/10/30 s). */
export const stepMsOf = (periodsSec: number[]): number => Math.min(60, ...periodsSec) * 1000;

/**
 * Where a range ends: the start of the current step, less one step for the delivery allowance (see
 * the top of this file). Every period before it is complete and has had a step's time to arrive.
 */
export function rangeEnd(now: number, periodsSec: number[]): number {
  const stepMs = stepMsOf(periodsSec);
  return Math.floor(now / stepMs) * stepMs - stepMs;
}

/** Groups queries into calls: one time range per group, at most 500 queries per call. Pure. */
export function planBatches(queries: MetricQuery[], now: number): Batch[] {
  if (!queries.length) return [];
  const groups: MetricQuery[][] = [];
  const commonRange = (qs: MetricQuery[]) => {
    const l = qs.reduce((acc, q) => lcm(acc, q.periodSec), 1);
    const longest = Math.max(...qs.map((q) => q.periodSec * q.periods));
    return Math.ceil(longest / l) * l;
  };
  if (commonRange(queries) <= MAX_COMMON_RANGE_SEC) groups.push(queries);
  else {
    const byPeriod = new Map<number, MetricQuery[]>();
    for (const q of queries) byPeriod.set(q.periodSec, [...(byPeriod.get(q.periodSec) ?? []), q]);
    groups.push(...byPeriod.values());
  }
  const out: Batch[] = [];
  for (const g of groups) {
    const end = rangeEnd(now, g.map((q) => q.periodSec));
    const start = end - commonRange(g) * 1000;
    for (let i = 0; i < g.length; i += MAX_QUERIES_PER_CALL) out.push({ start, end, queries: g.slice(i, i + MAX_QUERIES_PER_CALL) });
  }
  return out;
}

/** The last `n` datapoints of a series, oldest first; undefined where a period has none. Pure. */
export function slotsOf(series: Series | undefined, n: number): (number | undefined)[] {
  const out: (number | undefined)[] = [];
  if (!series) return Array.from({ length: n }, () => undefined);
  const p = series.periodSec * 1000;
  for (let i = n; i >= 1; i--) out.push(series.points.get(series.end - i * p));
  return out;
}

const toQuery = (q: MetricQuery, id: string): MetricDataQuery => ({
  Id: id,
  ReturnData: true,
  MetricStat: {
    Metric: {
      Namespace: q.namespace,
      MetricName: q.metric,
      Dimensions: Object.entries(q.dimensions).map(([Name, Value]) => ({ Name, Value })),
    },
    Period: q.periodSec,
    Stat: q.stat,
  },
});

/** Runs the queries: one GetMetricData call per batch (plus its NextToken pages, for huge answers). */
export async function queryMetrics(aws: Aws, queries: MetricQuery[], now: number): Promise<Map<string, Series>> {
  const out = new Map<string, Series>();
  const batches = planBatches(queries, now);
  if (!batches.length) return out;
  const cw = await aws.cloudwatch();
  await Promise.all(
    batches.map(async (b) => {
      const byId = new Map(b.queries.map((q, i) => [`q${i}`, q]));
      for (const q of b.queries) out.set(q.key, { end: b.end, periodSec: q.periodSec, points: new Map() });
      let NextToken: string | undefined;
      do {
        const r = await cw.send(
          new GetMetricDataCommand({
            StartTime: new Date(b.start),
            EndTime: new Date(b.end),
            MetricDataQueries: [...byId].map(([id, q]) => toQuery(q, id)),
            ScanBy: 'TimestampDescending',
            NextToken,
          }),
        );
        for (const res of r.MetricDataResults ?? []) {
          const q = byId.get(res.Id ?? '');
          if (!q) continue;
          const points = out.get(q.key)!.points;
          (res.Timestamps ?? []).forEach((t, i) => {
            const v = res.Values?.[i];
            if (v !== undefined && Number.isFinite(v)) points.set(t.getTime(), v);
          });
        }
        NextToken = r.NextToken;
      } while (NextToken);
    }),
  );
  return out;
}
