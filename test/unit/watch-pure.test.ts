// The pure parts of watch: batching of metric queries, target filters, notification text, stored
// state, the store choice, retry delays and readiness. No network.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { loadSpecText } from '../../src/spec/load.js';
import type { LoadedSpec } from '../../src/spec/types.js';
import type { Change } from '../../src/engine/plan.js';
import { MAX_QUERIES_PER_CALL, planBatches, rangeEnd, slotsOf, type MetricQuery } from '../../src/watch/metrics-query.js';
import { describeFilters, matches, selectorsOf, type Selector } from '../../src/watch/targets.js';
import { cleanSubject, formatAlert, topicArnOf, type AlertMessage } from '../../src/watch/notifier.js';
import { chooseStore, defaultStateFile, FileStateStore, fromStored, toStored } from '../../src/watch/state-store.js';
import { Watcher, driftFingerprint, driftMessage } from '../../src/watch/loop.js';
import { WatchMetrics } from '../../src/watch/metrics.js';
import { makeLogger } from '../../src/watch/logger.js';
import type { SpecOf } from '../../src/spec/schema.js';

const MIN = 60_000;

function spec(resources: string, extra = ''): LoadedSpec {
  const r = loadSpecText(`apiVersion: reconcile/v1\nstack: shop\nregion: eu-west-1\n${extra}resources:\n${resources}`, '/tmp/spec.yaml');
  if (!r.ok) throw new Error(JSON.stringify(r.diagnostics, null, 2));
  return r.loaded;
}
const rule = (l: LoadedSpec, name: string) => l.resources.find((r) => r.name === name)!.body as SpecOf<'alert-rule'>;

const q = (key: string, periodSec: number, periods: number): MetricQuery => ({
  key,
  namespace: 'AWS/EC2',
  metric: 'CPUUtilization',
  dimensions: { InstanceId: key },
  stat: 'Average',
  periodSec,
  periods,
});

describe('metric query batching', () => {
  const now = Date.UTC(2026, 0, 1, 12, 7, 30);

  it('holds complete periods only, less one step for CloudWatch delivering late: never the period in progress', () => {
    // 12:07:30: the minute in progress (12:07) and the one before (12:06, still arriving) are left out.
    expect(new Date(rangeEnd(now, [300])).toISOString()).toBe('2026-01-01T12:06:00.000Z');
    expect(new Date(rangeEnd(now, [300, 10])).toISOString()).toBe('2026-01-01T12:07:20.000Z');
    expect(rangeEnd(Date.UTC(2026, 0, 1, 12, 8, 0), [60])).toBe(Date.UTC(2026, 0, 1, 12, 7, 0));
    // A 10 s rule: a datapoint 1 s old is in the period in progress; it is read once that period is
    // complete and a step old, and from then on in every check of its window -- it never reads as
    // missing on the check right after it was put (the flapping of missingData: missing|breaching).
    const put = Date.UTC(2026, 0, 1, 12, 0, 9);
    const bucket = Math.floor(put / 10_000) * 10_000;
    for (let t = put + 1_000; t < put + 60_000; t += 1_000) {
      const end = rangeEnd(t, [10]);
      expect(end).toBeLessThanOrEqual(t - 10_000); // complete, and a step old
      const slots = slotsOf({ end, periodSec: 10, points: new Map([[bucket, 7]]) }, 3);
      const seen = slots.includes(7);
      // Read from the moment its period is a step old until it leaves the 3-period window.
      expect(seen).toBe(bucket + 10_000 <= end && end <= bucket + 30_000);
    }
  });

  it('500 queries a call, one time range fitting every period', () => {
    const qs = Array.from({ length: 1001 }, (_, i) => q(`i-${i}`, i % 2 ? 300 : 60, i % 2 ? 1 : 3));
    const b = planBatches(qs, now);
    expect(b.map((x) => x.queries.length)).toEqual([MAX_QUERIES_PER_CALL, MAX_QUERIES_PER_CALL, 1]);
    expect(new Set(b.map((x) => `${x.start}-${x.end}`)).size).toBe(1);
    // 5 minutes long: a whole number of both periods, and as long as the longest window.
    expect(b[0].end - b[0].start).toBe(5 * MIN);
  });

  it('a range as long as the longest window, rounded up to a multiple of every period', () => {
    const [b] = planBatches([q('a', 300, 3), q('b', 120, 1)], now);
    expect((b.end - b.start) / MIN).toBe(20); // 15 min needed; lcm(5, 2) = 10
  });

  it('periods without a small common multiple go in separate calls', () => {
    const b = planBatches([q('a', 7 * 3600, 1), q('b', 11 * 3600, 1), q('c', 7 * 3600, 2)], now);
    expect(b.map((x) => x.queries.map((y) => y.key))).toEqual([['a', 'c'], ['b']]);
  });

  it('nothing to ask, no call', () => {
    expect(planBatches([], now)).toEqual([]);
  });

  it('slots: the last N buckets before the end, oldest first, missing ones undefined', () => {
    const end = Date.UTC(2026, 0, 1, 12, 10);
    const points = new Map([
      [end - 5 * MIN, 10],
      [end - 15 * MIN, 30],
      [end - 25 * MIN, 99], // older than the window
    ]);
    expect(slotsOf({ end, periodSec: 300, points }, 3)).toEqual([30, undefined, 10]);
    expect(slotsOf(undefined, 2)).toEqual([undefined, undefined]);
  });
});

describe('targets', () => {
  const l = spec(`  web:
    kind: instance
    ami: ami-0123456789abcdef0
    instanceType: t3.micro
  old:
    kind: instance
    ami: ami-0123456789abcdef0
    instanceType: t3.micro
    adopt: i-0aaaaaaaaaaaaaaaa
  lt:
    kind: launch-template
    ami: ami-0123456789abcdef0
    instanceType: t3.micro
  asg:
    kind: auto-scaling-group
    launchTemplate: lt
    subnets: [subnet-0123456789abcdef0]
    minSize: 1
    maxSize: 2
  named-asg:
    kind: auto-scaling-group
    groupName: workers
    launchTemplate: lt
    subnets: [subnet-0123456789abcdef0]
    minSize: 1
    maxSize: 2
  by-tag:
    kind: alert-rule
    targets: { tags: { Name: FlaskAppServer } }
    threshold: 50
  by-group:
    kind: alert-rule
    targets: { autoScalingGroup: asg }
    threshold: 50
  by-named-group:
    kind: alert-rule
    targets: { autoScalingGroup: named-asg }
    threshold: 50
  by-name:
    kind: alert-rule
    targets: { instances: [web, old, i-0bbbbbbbbbbbbbbbb] }
    threshold: 50
`);

  it('each selection becomes tags or ids', () => {
    expect(selectorsOf(l, rule(l, 'by-tag'))).toEqual([{ tags: { Name: 'FlaskAppServer' } }]);
    expect(selectorsOf(l, rule(l, 'by-group'))).toEqual([{ tags: { 'aws:autoscaling:groupName': 'shop-asg' } }]);
    expect(selectorsOf(l, rule(l, 'by-named-group'))).toEqual([{ tags: { 'aws:autoscaling:groupName': 'workers' } }]);
    expect(selectorsOf(l, rule(l, 'by-name'))).toEqual([{ tags: { 'reconcile:stack': 'shop', 'reconcile:id': 'web' } }, { ids: ['i-0aaaaaaaaaaaaaaaa', 'i-0bbbbbbbbbbbbbbbb'] }]);
  });

  const state = { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped'] };
  it.each<[string, Selector[], object[]]>([
    ['a shared key: its values', [{ tags: { Name: 'A' } }, { tags: { Name: 'B', Env: 'prod' } }], [state, { Name: 'tag:Name', Values: ['A', 'B'] }]],
    ['the most selective shared key', [{ tags: { Name: 'A', Env: 'prod' } }, { tags: { Name: 'B', Env: 'prod' } }], [state, { Name: 'tag:Env', Values: ['prod'] }]],
    ['no shared key: the keys (Name last)', [{ tags: { Name: 'A' } }, { tags: { Tier: 'web', Role: 'x' } }], [state, { Name: 'tag-key', Values: ['Name', 'Role'] }]],
    ['ids only', [{ ids: ['i-2', 'i-1'] }, { ids: ['i-1'] }], [state, { Name: 'instance-id', Values: ['i-1', 'i-2'] }]],
    ['ids and tags: state only, matched in memory', [{ ids: ['i-1'] }, { tags: { Name: 'A' } }], [state]],
    ['nothing', [], [state]],
  ])('one DescribeInstances filter set: %s', (_, sels, filters) => {
    expect(describeFilters(sels)).toEqual(filters);
  });

  it('matches every tag exactly, or the id', () => {
    expect(matches({ tags: { Name: 'A', Env: 'prod' } }, 'i-1', { Name: 'A', Env: 'prod', X: '1' })).toBe(true);
    expect(matches({ tags: { Name: 'A', Env: 'prod' } }, 'i-1', { Name: 'A' })).toBe(false);
    expect(matches({ tags: { Name: 'FlaskAppServer' } }, 'i-1', { Name: 'flaskappserver' })).toBe(false);
    expect(matches({ ids: ['i-1'] }, 'i-1', {})).toBe(true);
  });
});

describe('notification text', () => {
  const base: AlertMessage = {
    stack: 'flask-cpu-alert',
    region: 'us-east-1',
    rule: 'high-cpu',
    description: 'FlaskAppServer CPU above 50 %',
    kind: 'ALARM',
    target: { id: 'i-0abc', name: 'FlaskAppServer', state: 'running' },
    namespace: 'AWS/EC2',
    metric: 'CPUUtilization',
    statistic: 'Average',
    periodSec: 300,
    datapoints: 2,
    evaluationPeriods: 3,
    threshold: 50,
    comparison: '>',
    missingData: 'missing',
    evaluation: { state: 'ALARM', breaching: 2, present: 3, value: 73.456, breachingValues: [61, 73.456], missing: 0 },
    windowEnd: Date.UTC(2026, 0, 1, 12, 3),
    since: Date.UTC(2026, 0, 1, 12, 0),
    now: Date.UTC(2026, 0, 1, 12, 5),
  };

  it('names the stack, rule, instance and Name, value, threshold, window and time', () => {
    const { subject, message } = formatAlert(base);
    expect(subject).toBe('ALERT flask-cpu-alert/high-cpu: FlaskAppServer CPUUtilization 61, 73.46 (> 50)');
    expect(message.split('\n')).toEqual([
      'ALERT: CPUUtilization of FlaskAppServer (i-0abc) was 61, 73.46, > 50, in 2 of the last 3 periods.',
      '',
      'Stack:      flask-cpu-alert (us-east-1)',
      'Rule:       high-cpu -- FlaskAppServer CPU above 50 %',
      'Instance:   i-0abc (Name: FlaskAppServer, running)',
      'Metric:     AWS/EC2 CPUUtilization, Average per 5m',
      'Value:      73.46 (latest datapoint); breaching: 61, 73.46',
      'Threshold:  > 50; alarm when 2 of the last 3 datapoints breach (2 of the last 3 datapoints breaching)',
      'Window:     the last 3 complete periods (15m), 2026-01-01T11:48:00Z to 2026-01-01T12:03:00Z',
      'State:      ALARM since 2026-01-01T12:00:00Z',
      'Time:       2026-01-01T12:05:00Z',
      '',
      'Sent by reconcile watch.',
    ]);
  });

  it.each([
    ['REPEAT', 'ALERT (still) ', 'is still in alarm'],
    ['OK', 'RECOVERED ', 'is back to'],
    ['NO_DATA', 'NO DATA ', 'reports no CPUUtilization any more'],
    ['GONE', 'GONE ', 'no longer matches the rule'],
  ] as const)('%s has its own headline', (kind, head, words) => {
    const { subject, message } = formatAlert({ ...base, kind, ...(kind === 'GONE' ? { evaluation: undefined } : {}) });
    expect(subject.startsWith(head)).toBe(true);
    expect(message).toContain(words);
  });

  it('an M-of-N ALERT whose latest datapoint is below the threshold names the breaching values, not the latest', () => {
    const e = { state: 'ALARM' as const, breaching: 2, present: 3, value: 10, breachingValues: [60, 70], missing: 0 };
    const { subject, message } = formatAlert({ ...base, metric: 'Load', evaluation: e });
    expect(subject).toBe('ALERT flask-cpu-alert/high-cpu: FlaskAppServer Load 60, 70 (> 50)');
    expect(subject).not.toContain('Load 10');
    expect(message).toContain('Value:      10 (latest datapoint); breaching: 60, 70');
  });

  it('an ALARM from missing data counted as breaching says no data, and never "1 of 0"', () => {
    const e = { state: 'ALARM' as const, breaching: 1, present: 0, value: undefined, breachingValues: [], missing: 1 };
    const { subject, message } = formatAlert({ ...base, datapoints: 1, evaluationPeriods: 1, missingData: 'breaching', evaluation: e });
    expect(subject).toBe('ALERT flask-cpu-alert/high-cpu: FlaskAppServer CPUUtilization no data (> 50)');
    expect(message).toContain('(1 of the last 1 datapoint breaching (1 missing, counted as breaching))');
    expect(message).not.toMatch(/1 of 0|0 present/);
    expect(message).toContain('Window:     the last complete period (5m), 2026-01-01T11:58:00Z to 2026-01-01T12:03:00Z');
  });

  it('the Window line defaults to the window metrics-query reads at `now`', () => {
    const { message } = formatAlert({ ...base, windowEnd: undefined, now: Date.UTC(2026, 0, 1, 12, 5, 30) });
    expect(message).toContain('2026-01-01T11:49:00Z to 2026-01-01T12:04:00Z');
  });

  it('a target without a Name tag is named by its id', () => {
    expect(formatAlert({ ...base, target: { id: 'i-0abc' } }).message).toContain('Instance:   i-0abc (Name: (none))');
  });

  it('subjects are ASCII, one line, under 100 characters', () => {
    const s = cleanSubject(`ALERT ${'é'.repeat(50)}\n${'x'.repeat(100)}`);
    expect(s.length).toBeLessThanOrEqual(99);
    expect(s).toMatch(/^[\x20-\x7e]+$/);
    expect(s.endsWith('...')).toBe(true);
  });

  it('the topic ARN: as given, from the plan, from the spec name, adopted', () => {
    const l = spec(`  alerts: { kind: sns-topic, topicName: flask-cpu-alerts }
  plain: { kind: sns-topic }
  taken: { kind: sns-topic, adopt: 'arn:aws:sns:eu-west-1:111111111111:legacy' }
`);
    const acct = { id: '123456789012', partition: 'aws' };
    expect(topicArnOf(l, 'arn:aws:sns:eu-west-1:999:x', acct, 'eu-west-1')).toBe('arn:aws:sns:eu-west-1:999:x');
    expect(topicArnOf(l, 'alerts', acct, 'eu-west-1')).toBe('arn:aws:sns:eu-west-1:123456789012:flask-cpu-alerts');
    expect(topicArnOf(l, 'plain', { id: '1', partition: 'aws-cn' }, 'cn-north-1')).toBe('arn:aws-cn:sns:cn-north-1:1:shop-plain');
    expect(topicArnOf(l, 'taken', acct, 'eu-west-1')).toBe('arn:aws:sns:eu-west-1:111111111111:legacy');
    expect(topicArnOf(l, 'alerts', acct, 'eu-west-1', new Map([['alerts', 'arn:from:plan']]))).toBe('arn:from:plan');
  });
});

describe('drift messages', () => {
  const change = (address: string, paths: string[]): Change => ({
    address,
    kind: 'security-group',
    name: address.split('.')[1],
    action: 'update',
    id: 'sg-1',
    fields: paths.map((path) => ({ path, before: 1, after: 2, forcesReplace: false })),
    reason: '',
  });
  it('the same drift has the same fingerprint, whatever the order', () => {
    const a = [change('security-group.a', ['x', 'y']), change('security-group.b', ['z'])];
    const b = [change('security-group.b', ['z']), change('security-group.a', ['y', 'x'])];
    expect(driftFingerprint(a)).toBe(driftFingerprint(b));
    expect(driftFingerprint(a)).not.toBe(driftFingerprint([change('security-group.a', ['x'])]));
  });
  it('lists what differs, and says when it is gone', () => {
    const m = driftMessage('shop', [change('security-group.web', ['ingress[tcp 22 0.0.0.0/0]'])], Date.UTC(2026, 0, 1), 'detect');
    expect(m.subject).toBe('DRIFT shop: 1 resource differ from the spec');
    expect(m.message).toContain('  update   security-group.web (sg-1): ingress[tcp 22 0.0.0.0/0]');
    expect(driftMessage('shop', [], 0, 'detect').subject).toBe('DRIFT RESOLVED shop: AWS matches the spec again');
  });
});

describe('alert state storage', () => {
  it('round-trips through JSON; malformed entries are skipped', () => {
    const recs = { 'i-1': { state: 'ALARM' as const, since: 1000, announced: 'ALARM' as const, announcedAt: 2000 }, 'i-2': { state: 'OK' as const, since: 5000 } };
    expect(fromStored(JSON.parse(JSON.stringify(toStored(recs))))).toEqual(recs);
    expect(fromStored({ 'i-3': { state: 'BOGUS', since: 'x' }, 'i-4': { state: 'OK' }, 'i-5': null })).toEqual({});
    expect(fromStored('nonsense')).toEqual({});
  });

  it('where: the rule\'s stateBucket, else the lock bucket, else a local file', () => {
    const l = spec(
      `  state: { kind: s3-bucket, bucketName: shop-state }
  a: { kind: alert-rule, targets: { tags: { Name: A } }, threshold: 1, stateBucket: state }
  b: { kind: alert-rule, targets: { tags: { Name: B } }, threshold: 1, stateBucket: 'arn:aws:s3:::other-bucket' }
  c: { kind: alert-rule, targets: { tags: { Name: C } }, threshold: 1 }
`,
    );
    expect(chooseStore(l, 'a')).toEqual({ kind: 's3', bucket: 'shop-state', key: 'reconcile-state/shop/alerts/a.json' });
    expect(chooseStore(l, 'b')).toEqual({ kind: 's3', bucket: 'other-bucket', key: 'reconcile-state/shop/alerts/b.json' });
    expect(chooseStore(l, 'c', '/var/lib/reconcile/x.json')).toEqual({ kind: 'file', file: '/var/lib/reconcile/x.json' });
    const locked = { ...l, spec: { ...l.spec, lock: { bucket: 'locks', region: 'us-west-2' } } } as LoadedSpec;
    expect(chooseStore(locked, 'c')).toEqual({ kind: 's3', bucket: 'locks', region: 'us-west-2', key: 'reconcile-state/shop/alerts/c.json' });
    expect(defaultStateFile('shop', { XDG_STATE_HOME: '/state' })).toBe('/state/reconcile/shop-alerts.json');
  });

  it('one file holds every rule; concurrent saves do not lose each other', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'reconcile-state-')), 'sub', 'state.json');
    const a = new FileStateStore(file, 'shop', 'a');
    const b = new FileStateStore(file, 'shop', 'b');
    await Promise.all([a.save({ 'i-1': { state: 'ALARM', since: 1 } }), b.save({ 'i-2': { state: 'OK', since: 2 } })]);
    expect(await a.load()).toEqual({ 'i-1': { state: 'ALARM', since: 1 } });
    expect(await b.load()).toEqual({ 'i-2': { state: 'OK', since: 2 } });
    expect(Object.keys(JSON.parse(readFileSync(file, 'utf8')).rules).sort()).toEqual(['a', 'b']);
    writeFileSync(file, '{ not json');
    expect(await a.load()).toEqual({});
  });
});

describe('the loop without AWS', () => {
  const quiet = new Writable({ write: (_c, _e, cb) => cb() });
  const make = (over: Record<string, unknown> = {}) =>
    new Watcher({
      specFile: '/nonexistent.yaml',
      mode: 'apply',
      intervalMs: 60_000,
      jitter: 0,
      notify: false,
      logger: makeLogger({ destination: quiet }),
      metrics: new WatchMetrics({ defaultMetrics: false }),
      retryBaseMs: 1000,
      retryCapMs: 8000,
      ...over,
    });

  it('transient failures back off exponentially up to the cap; terminal ones wait the interval', async () => {
    const w = make();
    const transient = { ok: false, errors: [{ step: 'plan', message: 'x', terminal: false }] };
    const delays: number[] = [];
    for (let i = 0; i < 6; i++) {
      await w.cycle(); // fails: no such spec, counts a failure
      delays.push(w.nextDelay(transient));
    }
    expect(delays).toEqual([1000, 2000, 4000, 8000, 8000, 8000]);
    expect(w.nextDelay({ ok: false, errors: [{ step: 'plan', message: 'AccessDenied', terminal: true }] })).toBe(60_000);
    expect(w.nextDelay({ ok: true, errors: [] })).toBe(60_000);
  });

  it('jitter stays within the fraction asked for', () => {
    const w = make({ jitter: 0.1 });
    for (let i = 0; i < 50; i++) {
      const d = w.nextDelay({ ok: true, errors: [] });
      expect(d).toBeGreaterThanOrEqual(54_000);
      expect(d).toBeLessThanOrEqual(66_000);
    }
  });

  it('not ready before a cycle, nor after a failed one; the reason says why', async () => {
    const w = make();
    expect(w.health()).toMatchObject({ ready: false, reason: 'starting: no cycle has finished yet' });
    const r = await w.cycle();
    expect(r.ok).toBe(false);
    expect(r.errors[0].message).toContain('is not a valid spec');
    expect(w.health()).toMatchObject({ ready: false, consecutiveFailures: 1 });
    expect(String(w.health().reason)).toContain('the last cycle failed');
  });

  it('stop() before run(): no cycle starts', async () => {
    const w = make();
    w.stop();
    expect(await w.run()).toBeUndefined();
  });
});
