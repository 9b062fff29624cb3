// The alert state machine: pure, no clock and no I/O (time comes in as `now`, data as slots).
//
// A rule looks at the last N datapoints (evaluationPeriods) of one metric of one target and is in
// ALARM when M of them (datapoints) breach the threshold -- CloudWatch's "M out of N". Missing
// datapoints are treated as the rule says (missingData), with CloudWatch's meanings:
//   missing       missing slots count for nothing; all N missing -> INSUFFICIENT_DATA
//   ignore        missing slots count for nothing; all N missing -> the state stays as it was
//   breaching     a missing slot breaches
//   notBreaching  a missing slot does not breach
//
// Notifications follow the *announced* state, not each evaluation: what a target last told its
// topic (ALARM, or that it cleared) is kept next to its state, so
//   - entering ALARM notifies once (ALARM), however many cycles it stays there;
//   - while still in ALARM, it notifies again every `repeat` (REPEAT), counted from the last
//     notification that went out;
//   - leaving ALARM notifies once: OK (recovered) or NO_DATA (in ALARM, then no more data);
//   - a target that stops matching the rule while in ALARM (terminated, re-tagged) notifies GONE;
//   - a notification that failed to go out is simply still due at the next evaluation, and one that
//     became moot (ALARM, publish failed, then recovered) is never sent.
// OK <-> INSUFFICIENT_DATA changes are logged and shown in metrics, never notified.

export type AlertState = 'OK' | 'ALARM' | 'INSUFFICIENT_DATA';
export type Comparison = '>' | '>=' | '<' | '<=';
export type MissingData = 'missing' | 'ignore' | 'breaching' | 'notBreaching';
export type NotificationKind = 'ALARM' | 'REPEAT' | 'OK' | 'NO_DATA' | 'GONE';

export interface RuleParams {
  threshold: number;
  comparison: Comparison;
  /** M: breaching datapoints needed to be in ALARM. */
  datapoints: number;
  /** N: how many of the most recent datapoints are looked at. */
  evaluationPeriods: number;
  missingData: MissingData;
  /** Notify again at this interval (ms) while in ALARM; undefined: never. */
  repeatMs?: number;
}

/** What is kept per rule and target (and persisted, see state-store.ts). Times are epoch ms. */
export interface TargetRecord {
  state: AlertState;
  /** When the target entered `state`. */
  since: number;
  /** The last state told to the topic: ALARM, or OK once an ALARM was cleared (or never announced). */
  announced?: 'ALARM' | 'OK';
  /** When the last notification went out. */
  announcedAt?: number;
}

export interface Evaluation {
  state: AlertState;
  /** Breaching datapoints among the N (missing ones included when missingData is breaching). */
  breaching: number;
  /** Datapoints present among the N. */
  present: number;
  /** The most recent datapoint present, if any. */
  value?: number;
  /** The present datapoints that breach, oldest first (what an ALARM names). */
  breachingValues: number[];
  /** Periods of the N with no datapoint. */
  missing: number;
}

export interface Step {
  record: TargetRecord;
  evaluation: Evaluation;
  /** Whether the state changed in this step. */
  changed: boolean;
  /** A notification that is due now (send it, then call acknowledge). */
  notify?: NotificationKind;
}

export function breaches(value: number, comparison: Comparison, threshold: number): boolean {
  switch (comparison) {
    case '>':
      return value > threshold;
    case '>=':
      return value >= threshold;
    case '<':
      return value < threshold;
    case '<=':
      return value <= threshold;
  }
}

/**
 * The state the last N datapoints say, oldest first (`undefined`: no datapoint in that period).
 * `previous` is what `ignore` keeps when every datapoint is missing.
 */
export function evaluate(p: RuleParams, slots: readonly (number | undefined)[], previous?: AlertState): Evaluation {
  const window = slots.slice(-p.evaluationPeriods);
  while (window.length < p.evaluationPeriods) window.unshift(undefined);
  let breaching = 0;
  let present = 0;
  let value: number | undefined;
  const breachingValues: number[] = [];
  for (const v of window) {
    if (v === undefined) {
      if (p.missingData === 'breaching') breaching++;
      continue;
    }
    present++;
    value = v;
    if (breaches(v, p.comparison, p.threshold)) {
      breaching++;
      breachingValues.push(v);
    }
  }
  let state: AlertState;
  if (present === 0 && (p.missingData === 'missing' || p.missingData === 'ignore'))
    state = p.missingData === 'ignore' && previous ? previous : 'INSUFFICIENT_DATA';
  else state = breaching >= p.datapoints ? 'ALARM' : 'OK';
  return { state, breaching, present, value, breachingValues, missing: window.length - present };
}

/** "2 of the last 3 datapoints breaching (1 missing, counted as breaching)": never "1 of 0". */
export function breachSummary(e: Pick<Evaluation, 'breaching' | 'present' | 'missing'>, missingData: MissingData): string {
  const n = e.present + e.missing;
  const missing = e.missing ? ` (${e.missing} missing${missingData === 'breaching' ? ', counted as breaching' : missingData === 'notBreaching' ? ', counted as not breaching' : ''})` : '';
  return `${e.breaching} of the last ${n} datapoint${n === 1 ? '' : 's'} breaching${missing}`;
}

/** The notification due for a record in its current state, if any. */
export function due(p: RuleParams, r: TargetRecord, now: number): NotificationKind | undefined {
  if (r.state === 'ALARM') {
    if (r.announced !== 'ALARM') return 'ALARM';
    if (p.repeatMs !== undefined && p.repeatMs > 0 && r.announcedAt !== undefined && now - r.announcedAt >= p.repeatMs) return 'REPEAT';
    return undefined;
  }
  if (r.announced === 'ALARM') return r.state === 'OK' ? 'OK' : 'NO_DATA';
  return undefined;
}

/** One evaluation of one target: the new record and the notification due, if any. */
export function step(p: RuleParams, prev: TargetRecord | undefined, slots: readonly (number | undefined)[], now: number): Step {
  const evaluation = evaluate(p, slots, prev?.state);
  const changed = !prev || prev.state !== evaluation.state;
  const record: TargetRecord = changed ? { ...prev, state: evaluation.state, since: now } : { ...prev! };
  return { record, evaluation, changed: !!prev && changed, notify: due(p, record, now) };
}

/** A target that no longer matches the rule: a closing notification if its ALARM was announced. */
export function gone(prev: TargetRecord): NotificationKind | undefined {
  return prev.announced === 'ALARM' ? 'GONE' : undefined;
}

/** The record after `kind` went out at `now`. */
export function acknowledge(r: TargetRecord, kind: NotificationKind, now: number): TargetRecord {
  const announced = kind === 'ALARM' || kind === 'REPEAT' ? 'ALARM' : 'OK';
  return { ...r, announced, announcedAt: now };
}
