// The alert state machine on a fake clock: M of N, missing data, flapping, repeat, failed
// publishes, targets that go away. Time is plain numbers; nothing here waits.
import { describe, expect, it } from 'vitest';
import { acknowledge, breachSummary, due, evaluate, gone, step, type NotificationKind, type RuleParams, type TargetRecord } from '../../src/watch/alerts.js';

const MIN = 60_000;
const base: RuleParams = { threshold: 50, comparison: '>', datapoints: 1, evaluationPeriods: 1, missingData: 'missing' };

/**
 * Feeds one datapoint per period (undefined: none) and evaluates at the end of each period, as
 * watch does with a 5-minute rule. Returns every notification with the minute it went out.
 * `delivered(kind, minute)` says whether a publish succeeds (default: always).
 */
function simulate(p: RuleParams, values: (number | undefined)[], delivered: (k: NotificationKind, minute: number) => boolean = () => true, periodMin = 5) {
  let rec: TargetRecord | undefined;
  const sent: { minute: number; kind: NotificationKind }[] = [];
  const states: string[] = [];
  for (let i = 0; i < values.length; i++) {
    const now = (i + 1) * periodMin * MIN;
    const s = step(p, rec, values.slice(0, i + 1), now);
    rec = s.record;
    states.push(rec.state);
    if (s.notify && delivered(s.notify, now / MIN)) {
      sent.push({ minute: now / MIN, kind: s.notify });
      rec = acknowledge(rec, s.notify, now);
    }
  }
  return { sent, states, record: rec! };
}

describe('what an evaluation says it saw', () => {
  it('names the breaching values, oldest first, apart from the latest datapoint (M of N)', () => {
    const e = evaluate({ ...base, datapoints: 2, evaluationPeriods: 3 }, [60, 70, 10]);
    expect(e).toMatchObject({ state: 'ALARM', breaching: 2, present: 3, missing: 0, value: 10, breachingValues: [60, 70] });
  });

  it.each([
    ['breaching', [undefined], '1 of the last 1 datapoint breaching (1 missing, counted as breaching)'],
    ['notBreaching', [undefined, 60], '1 of the last 2 datapoints breaching (1 missing, counted as not breaching)'],
    ['missing', [undefined, undefined, 10], '0 of the last 3 datapoints breaching (2 missing)'],
    ['missing', [60, 70], '2 of the last 2 datapoints breaching'],
  ] as const)('missingData %s over %j: "%s" (never "1 of 0")', (missingData, slots, text) => {
    const p = { ...base, missingData, evaluationPeriods: slots.length };
    const e = evaluate(p, [...slots]);
    expect(e.missing + e.present).toBe(slots.length);
    expect(breachSummary(e, missingData)).toBe(text);
  });
});

describe('evaluate: one look at the last N datapoints', () => {
  it.each([
    ['>', 50, 50.1, 'ALARM'],
    ['>', 50, 50, 'OK'],
    ['>=', 50, 50, 'ALARM'],
    ['<', 1, 0.5, 'ALARM'],
    ['<', 1, 1, 'OK'],
    ['<=', 1, 1, 'ALARM'],
  ] as const)('%s %s with %s is %s', (comparison, threshold, value, state) => {
    expect(evaluate({ ...base, comparison, threshold }, [value]).state).toBe(state);
  });

  it.each([
    // M of N, oldest first
    [2, 3, [60, 10, 60], 'ALARM', 2],
    [2, 3, [60, 10, 10], 'OK', 1],
    [3, 5, [60, 60, 10, 60, 10], 'ALARM', 3],
    [3, 5, [10, 60, 10, 60, 10], 'OK', 2],
    // only the last N count
    [1, 2, [99, 10, 10], 'OK', 0],
  ])('%i of %i over %j is %s (%i breaching)', (m, n, slots, state, breaching) => {
    const e = evaluate({ ...base, datapoints: m, evaluationPeriods: n }, slots);
    expect(e.state).toBe(state);
    expect(e.breaching).toBe(breaching);
    expect(e.value).toBe(slots[slots.length - 1]);
  });

  it.each([
    ['missing', [undefined, undefined], undefined, 'INSUFFICIENT_DATA'],
    ['missing', [undefined, undefined], 'ALARM', 'INSUFFICIENT_DATA'],
    ['missing', [undefined, 70], undefined, 'ALARM'],
    ['missing', [undefined, 10], undefined, 'OK'],
    ['ignore', [undefined, undefined], 'ALARM', 'ALARM'],
    ['ignore', [undefined, undefined], 'OK', 'OK'],
    ['ignore', [undefined, undefined], undefined, 'INSUFFICIENT_DATA'],
    ['breaching', [undefined, undefined], 'OK', 'ALARM'],
    ['breaching', [undefined, 10], undefined, 'ALARM'],
    ['notBreaching', [undefined, undefined], 'ALARM', 'OK'],
    ['notBreaching', [70, undefined], undefined, 'ALARM'],
  ] as const)('missingData %s with %j (was %s) is %s', (missingData, slots, previous, state) => {
    // 1 of 2: one breaching datapoint is enough
    expect(evaluate({ ...base, missingData, evaluationPeriods: 2 }, slots as unknown as (number | undefined)[], previous).state).toBe(state);
  });

  it('a short history counts as missing datapoints', () => {
    expect(evaluate({ ...base, datapoints: 2, evaluationPeriods: 3, missingData: 'breaching' }, [70]).state).toBe('ALARM');
    expect(evaluate({ ...base, datapoints: 2, evaluationPeriods: 3 }, [70]).state).toBe('OK');
  });
});

describe('notifications on a fake clock', () => {
  it('the scenario-1 rule: one ALERT entering ALARM, one on recovery, nothing per cycle in between', () => {
    const cpu = [10, 20, 80, 90, 95, 85, 30, 20, 10, 15];
    const r = simulate(base, cpu);
    expect(r.sent).toEqual([
      { minute: 15, kind: 'ALARM' },
      { minute: 35, kind: 'OK' },
    ]);
    expect(r.states).toEqual(['OK', 'OK', 'ALARM', 'ALARM', 'ALARM', 'ALARM', 'OK', 'OK', 'OK', 'OK']);
  });

  it('no notification for OK <-> INSUFFICIENT_DATA, nor for the first OK', () => {
    const r = simulate(base, [undefined, 10, undefined, 20, undefined]);
    expect(r.sent).toEqual([]);
    expect(r.states).toEqual(['INSUFFICIENT_DATA', 'OK', 'INSUFFICIENT_DATA', 'OK', 'INSUFFICIENT_DATA']);
  });

  it('repeat: again every `repeat` while in ALARM, counted from the last notification', () => {
    const r = simulate({ ...base, repeatMs: 15 * MIN }, [80, 80, 80, 80, 80, 80, 80, 10, 80]);
    expect(r.sent).toEqual([
      { minute: 5, kind: 'ALARM' },
      { minute: 20, kind: 'REPEAT' },
      { minute: 35, kind: 'REPEAT' },
      { minute: 40, kind: 'OK' },
      { minute: 45, kind: 'ALARM' },
    ]);
  });

  it('repeat shorter than the evaluation interval: at most once per evaluation, never more', () => {
    const r = simulate({ ...base, repeatMs: 1 * MIN }, [80, 80, 80]);
    expect(r.sent.map((s) => s.kind)).toEqual(['ALARM', 'REPEAT', 'REPEAT']);
  });

  it('flapping around the threshold: 1 of 1 notifies each real transition exactly once', () => {
    const r = simulate(base, [60, 40, 60, 40, 60, 60, 40]);
    expect(r.sent.map((s) => s.kind)).toEqual(['ALARM', 'OK', 'ALARM', 'OK', 'ALARM', 'OK']);
    expect(r.sent.map((s) => s.minute)).toEqual([5, 10, 15, 20, 25, 35]);
  });

  it('flapping: 3 of 5 holds one state through the noise (one ALERT, one recovery)', () => {
    const p = { ...base, datapoints: 3, evaluationPeriods: 5 };
    // breaching 2 of every 3 periods for a while, then mostly quiet with a stray spike
    const cpu = [10, 10, 60, 60, 40, 60, 60, 40, 60, 60, 40, 10, 10, 60, 10, 10, 10];
    const r = simulate(p, cpu);
    expect(r.sent.map((s) => s.kind)).toEqual(['ALARM', 'OK']);
    expect(r.sent[0].minute).toBe(30); // the third breach within five periods
    const ok = r.sent[1].minute;
    expect(r.states.slice(5, ok / 5 - 1).every((s) => s === 'ALARM')).toBe(true);
  });

  it('noise that never reaches M of N never notifies', () => {
    const r = simulate({ ...base, datapoints: 3, evaluationPeriods: 5 }, [60, 10, 10, 60, 10, 10, 60, 10, 60, 10, 10, 10]);
    expect(r.sent).toEqual([]);
    expect(r.states.every((s) => s === 'OK')).toBe(true);
  });

  it('missing data while in ALARM: one NO_DATA (missing), nothing and still ALARM (ignore), one OK (notBreaching)', () => {
    const values = [80, 80, undefined, undefined, undefined];
    expect(simulate(base, values).sent.map((s) => s.kind)).toEqual(['ALARM', 'NO_DATA']);
    const ignore = simulate({ ...base, missingData: 'ignore' }, values);
    expect(ignore.sent.map((s) => s.kind)).toEqual(['ALARM']);
    expect(ignore.record.state).toBe('ALARM');
    expect(simulate({ ...base, missingData: 'notBreaching' }, values).sent.map((s) => s.kind)).toEqual(['ALARM', 'OK']);
  });

  it('missingData breaching: an instance that stops reporting enters ALARM once', () => {
    const r = simulate({ ...base, missingData: 'breaching', datapoints: 2, evaluationPeriods: 2 }, [10, 10, undefined, undefined, undefined, 10, 10]);
    expect(r.sent).toEqual([
      { minute: 20, kind: 'ALARM' },
      { minute: 30, kind: 'OK' },
    ]);
  });

  it('a failed publish is due again at the next evaluation; one that became moot is never sent', () => {
    // ALARM fails twice, then goes out; later the recovery goes out at once.
    const failures = new Set([15, 20]);
    const r = simulate(base, [10, 10, 80, 80, 80, 80, 10], (k, m) => !failures.has(m));
    expect(r.sent).toEqual([
      { minute: 25, kind: 'ALARM' },
      { minute: 35, kind: 'OK' },
    ]);
    // ALARM never announced (every publish failed), then recovered: no recovery message either.
    const never = simulate(base, [80, 80, 10, 10], (k) => k !== 'ALARM');
    expect(never.sent).toEqual([]);
  });

  it('the state change is reported once, with the time it happened', () => {
    let rec: TargetRecord | undefined;
    const changes: number[] = [];
    for (const [i, v] of [10, 80, 80, 10].entries()) {
      const s = step(base, rec, [v], i * MIN);
      if (s.changed) changes.push(i);
      rec = s.record;
    }
    expect(changes).toEqual([1, 3]);
    expect(rec!.since).toBe(3 * MIN);
  });

  it('due() follows the announced state, not the evaluations', () => {
    const p = { ...base, repeatMs: 10 * MIN };
    expect(due(p, { state: 'ALARM', since: 0 }, 0)).toBe('ALARM');
    expect(due(p, { state: 'ALARM', since: 0, announced: 'ALARM', announcedAt: 0 }, 9 * MIN)).toBeUndefined();
    expect(due(p, { state: 'ALARM', since: 0, announced: 'ALARM', announcedAt: 0 }, 10 * MIN)).toBe('REPEAT');
    expect(due(p, { state: 'OK', since: 0, announced: 'ALARM', announcedAt: 0 }, 1)).toBe('OK');
    expect(due(p, { state: 'INSUFFICIENT_DATA', since: 0, announced: 'ALARM', announcedAt: 0 }, 1)).toBe('NO_DATA');
    expect(due(p, { state: 'OK', since: 0, announced: 'OK', announcedAt: 0 }, 1)).toBeUndefined();
    expect(due(p, { state: 'INSUFFICIENT_DATA', since: 0 }, 1)).toBeUndefined();
  });

  it('a target that goes away while its ALARM was announced gets one GONE; otherwise it is dropped quietly', () => {
    expect(gone({ state: 'ALARM', since: 0, announced: 'ALARM', announcedAt: 0 })).toBe('GONE');
    expect(gone({ state: 'ALARM', since: 0 })).toBeUndefined();
    expect(gone({ state: 'OK', since: 0, announced: 'OK', announcedAt: 0 })).toBeUndefined();
    const after = acknowledge({ state: 'ALARM', since: 0, announced: 'ALARM', announcedAt: 0 }, 'GONE', 5);
    expect(after.announced).toBe('OK');
  });

  it('a restart with the kept record neither repeats the ALARM nor forgets the recovery', () => {
    const first = simulate(base, [10, 80, 80]);
    expect(first.sent.map((s) => s.kind)).toEqual(['ALARM']);
    // A new process starts from the stored record and sees the same datapoints, then lower ones.
    const kept: TargetRecord = JSON.parse(JSON.stringify(first.record));
    const again = step(base, kept, [80], 20 * MIN);
    expect(again.notify).toBeUndefined();
    const recovered = step(base, again.record, [10], 25 * MIN);
    expect(recovered.notify).toBe('OK');
  });
});
