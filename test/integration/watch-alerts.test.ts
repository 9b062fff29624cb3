// Scenario 1 (examples/flask-cpu-alert.yaml) under watch, against moto, on a fake clock: the watch
// loop builds the stack, finds the instance by its Name tag, reads CPU datapoints put with
// PutMetricData, and publishes to the topic; what SNS delivered is read from an SQS queue
// subscribed to it. Exactly one message entering ALARM, one on recovery, none in between except at
// `repeat`; a restart in between repeats nothing. Also: detect mode announces drift once, a batch
// of rules and targets is one DescribeInstances and one GetMetricData, /metrics parses.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  AuthorizeSecurityGroupIngressCommand,
  DescribeInstancesCommand,
  DescribeSecurityGroupsCommand,
  EC2Client,
  RunInstancesCommand,
  DescribeImagesCommand,
} from '@aws-sdk/client-ec2';
import { CreateBucketCommand, DeleteObjectCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { startMoto, type Moto } from '../helpers/moto.js';
import { Aws } from '../../src/aws/clients.js';
import { loadSpec } from '../../src/spec/load.js';
import { AlertEvaluator } from '../../src/watch/evaluate.js';
import { startHttp } from '../../src/watch/http.js';
import { makeLogger } from '../../src/watch/logger.js';
import { Watcher, type WatchOptions } from '../../src/watch/loop.js';
import { WatchMetrics } from '../../src/watch/metrics.js';
import { LogCapture, parsePrometheus, putMetric, SqsQueue, type SnsEnvelope } from './watch-helpers.js';
import { specYaml, WEB_SG } from '../helpers/specs.js';

const MIN = 60_000;
let moto: Moto;
let dir: string;
let ec2: EC2Client;

beforeAll(async () => {
  moto = await startMoto({ MOTO_AMIS_PATH: resolve('test/fixtures/amis.json') });
  dir = mkdtempSync(join(tmpdir(), 'reconcile-watch-'));
  ec2 = new EC2Client({ region: 'us-east-1', endpoint: moto.endpoint });
});
afterAll(async () => {
  ec2?.destroy();
  await moto?.stop();
});

/** A clock the test moves: 4 hours ago, on a 5-minute boundary, so datapoints are in the past. */
function fakeClock() {
  let t = Math.floor(Date.now() / (5 * MIN)) * 5 * MIN - 4 * 60 * MIN;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

function watcher(specFile: string, clock: { now: () => number }, extra: Partial<WatchOptions> = {}) {
  const logs = new LogCapture();
  const metrics = new WatchMetrics({ defaultMetrics: false });
  const w = new Watcher({
    specFile,
    mode: 'apply',
    intervalMs: 5 * MIN,
    notify: true,
    endpointUrl: moto.endpoint,
    logger: makeLogger({ destination: logs, level: 'debug' }),
    metrics,
    stateFile: join(dir, 'alerts-state.json'),
    now: clock.now,
    ...extra,
  });
  return { w, logs, metrics };
}

async function instancesNamed(name: string): Promise<string[]> {
  const r = await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'tag:Name', Values: [name] }, { Name: 'instance-state-name', Values: ['running'] }] }));
  return (r.Reservations ?? []).flatMap((x) => x.Instances ?? []).map((i) => i.InstanceId!);
}

describe('scenario 1 (flask-cpu-alert) under watch', () => {
  it('fires once entering ALARM, once on recovery, repeats only at `repeat`, and a restart repeats nothing', async () => {
    const queue = await SqsQueue.create(moto.endpoint, 'flask-alerts');
    // The example as shipped, plus an SQS subscription to see what the topic delivers.
    const example = readFileSync('examples/flask-cpu-alert.yaml', 'utf8');
    const emailLine = '        endpoint: ${env:ALERT_EMAIL:-ops@example.com}\n';
    expect(example).toContain(emailLine);
    const spec = join(dir, 'flask-cpu-alert.yaml');
    writeFileSync(spec, example.replace(emailLine, `${emailLine}      - { protocol: sqs, endpoint: ${queue.arn} }\n`));

    const clock = fakeClock();
    let { w, logs } = watcher(spec, clock);
    // Cycle 1: builds the stack from nothing; the instance has no datapoints yet.
    const first = await w.cycle();
    expect(first.errors).toEqual([]);
    expect(first.applied).toBe(4); // the security group, the instance, the topic and the CPU dashboard
    const [id] = await instancesNamed('FlaskAppServer');
    expect(id).toMatch(/^i-/);
    expect(first.alerts[0].targets).toMatchObject([{ id, name: 'FlaskAppServer', state: 'INSUFFICIENT_DATA' }]);
    expect(await queue.drain()).toEqual([]);

    /**
     * One 5-minute step: a datapoint two minutes ago, one cycle, what the topic delivered. The window
     * holds complete periods that had a minute to arrive: on the 5-minute boundary T, the period
     * T-6m..T-1m (metrics-query.ts).
     */
    const tick = async (cpu: number | undefined) => {
      clock.advance(5 * MIN);
      if (cpu !== undefined) await putMetric(moto.endpoint, id, cpu, new Date(clock.now() - 2 * MIN));
      const r = await w.cycle();
      expect(r.errors).toEqual([]);
      expect(r.applied).toBe(0); // nothing drifted: the stack is left alone
      return { r, sent: await queue.drain() };
    };

    expect((await tick(20)).sent).toEqual([]);
    const alarm = await tick(80);
    expect(alarm.sent).toHaveLength(1);
    const m: SnsEnvelope = alarm.sent[0];
    const iso = (ms: number) => new Date(ms).toISOString().replace(/\.000Z$/, 'Z');
    const at = iso(clock.now());
    expect(m.Subject).toBe('ALERT flask-cpu-alert/high-cpu: FlaskAppServer CPUUtilization 80 (> 50)');
    expect(m.TopicArn).toMatch(/:flask-cpu-alerts$/);
    for (const part of [
      'Stack:      flask-cpu-alert (us-east-1)',
      'Rule:       high-cpu -- FlaskAppServer CPU above 50 %',
      `Instance:   ${id} (Name: FlaskAppServer, running)`,
      'Metric:     AWS/EC2 CPUUtilization, Average per 5m',
      'Value:      80 (latest datapoint)',
      'Threshold:  > 50',
      `Window:     the last complete period (5m), ${iso(clock.now() - 6 * MIN)} to ${iso(clock.now() - MIN)}`,
      `Time:       ${at}`,
    ])
      expect(m.Message).toContain(part);

    expect((await tick(90)).sent).toEqual([]);
    // A restart: a new process, the same state file. The ALARM is not announced again.
    ({ w, logs } = watcher(spec, clock));
    const afterRestart = await tick(95);
    expect(afterRestart.sent).toEqual([]);
    expect(afterRestart.r.alerts[0].targets[0].state).toBe('ALARM');
    expect((await tick(85)).sent).toEqual([]);
    const recovery = await tick(30);
    expect(recovery.sent).toHaveLength(1);
    expect(recovery.sent[0].Subject).toBe('RECOVERED flask-cpu-alert/high-cpu: FlaskAppServer CPUUtilization 30 (> 50)');
    expect(recovery.sent[0].Message).toContain(`Instance:   ${id} (Name: FlaskAppServer, running)`);
    expect((await tick(20)).sent).toEqual([]);
    expect((await tick(10)).sent).toEqual([]);
    // Below the threshold it only logs: one summary line per evaluation.
    expect(logs.messages().filter((l) => l.startsWith('high-cpu: 1 target(s), 1 OK'))).toHaveLength(3);

    // The spec changes under the running watch: notify again every 10 minutes while in ALARM.
    writeFileSync(spec, readFileSync(spec, 'utf8').replace('    notify:\n      topic: alerts\n', '    notify:\n      topic: alerts\n      repeat: 10m\n'));
    const kinds: (string | undefined)[] = [];
    for (const cpu of [70, 75, 80, 85, 90, 95, 10, 10]) {
      const { sent } = await tick(cpu);
      expect(sent.length).toBeLessThanOrEqual(1);
      kinds.push(sent[0]?.Subject?.split(' flask')[0]);
    }
    expect(kinds).toEqual(['ALERT', undefined, 'ALERT (still)', undefined, 'ALERT (still)', undefined, 'RECOVERED', undefined]);
    expect(logs.messages()).toContain('the spec changed: using the new one');

    // The state file names what was announced last.
    const state = JSON.parse(readFileSync(join(dir, 'alerts-state.json'), 'utf8'));
    expect(state.rules['high-cpu'][id]).toMatchObject({ state: 'OK', announced: 'OK' });
  });

  it('an invalid edit of the spec is reported and the last valid spec is kept', async () => {
    const spec = join(dir, 'keep-last-good.yaml');
    const good = specYaml('lastgood', WEB_SG);
    writeFileSync(spec, good);
    const clock = fakeClock();
    const { w, logs, metrics } = watcher(spec, clock);
    expect((await w.cycle()).applied).toBe(1);
    writeFileSync(spec, good.replace('port: 443', 'port: 99999'));
    const r = await w.cycle();
    expect(r.ok).toBe(true); // the last valid spec was used: nothing to heal
    expect(r.applied).toBe(0);
    expect(logs.messages(50).join('\n')).toMatch(/keep-last-good\.yaml|still using the last valid one/);
    expect(logs.messages(50)).toContain('the spec on disk is invalid: still using the last valid one (fix it; `reconcile validate` shows the same errors)');
    const text = await metrics.registry.metrics();
    expect(parsePrometheus(text).get('reconcile_spec_valid')).toBe(0);
    // Reported once per distinct problem, not every cycle.
    await w.cycle();
    expect(logs.messages(50).filter((l) => l.startsWith('the spec on disk is invalid'))).toHaveLength(1);
    expect(w.health().ready).toBe(true);
  });

  it('apply mode heals under the stack lock: held by another run, healing waits for the next cycle', async () => {
    const s3 = new S3Client({ region: 'us-east-1', endpoint: moto.endpoint, forcePathStyle: true });
    await s3.send(new CreateBucketCommand({ Bucket: 'watch-locks' }));
    const spec = join(dir, 'locked.yaml');
    writeFileSync(
      spec,
      specYaml('locked', WEB_SG, 'lock: { bucket: watch-locks }\n'),
    );
    const Key = 'reconcile-locks/locked.json';
    const now = Date.now();
    // A CI apply holds the lock (a live lease).
    const record = {
      formatVersion: 1,
      stack: 'locked',
      holder: { id: 'ci-runner:4242:abc', host: 'ci-runner', pid: 4242 },
      command: 'apply locked.yaml',
      started: new Date(now).toISOString(),
      renewed: new Date(now).toISOString(),
      expires: new Date(now + 3_600_000).toISOString(),
      leaseSeconds: 3600,
    };
    await s3.send(new PutObjectCommand({ Bucket: 'watch-locks', Key, Body: JSON.stringify(record) }));
    const { w } = watcher(spec, fakeClock(), { lockTimeout: '1s' });
    const blocked = await w.cycle();
    expect(blocked.ok).toBe(false);
    expect(blocked.applied).toBe(0);
    expect(blocked.errors[0]).toMatchObject({ step: 'reconcile', terminal: true });
    expect(blocked.errors[0].message).toContain('is locked by');
    expect(blocked.errors[0].message).toContain('ci-runner');
    expect(w.nextDelay(blocked)).toBeGreaterThanOrEqual(0.9 * 5 * MIN); // the normal interval, not a fast retry
    // The other run ends: the next cycle takes the lock, heals, and releases it.
    await s3.send(new DeleteObjectCommand({ Bucket: 'watch-locks', Key }));
    const healed = await w.cycle();
    expect(healed.errors).toEqual([]);
    expect(healed.applied).toBe(1);
    await expect(s3.send(new GetObjectCommand({ Bucket: 'watch-locks', Key }))).rejects.toMatchObject({ name: 'NoSuchKey' });
    // Nothing to heal: the lock is not even asked for, so a CI apply holding it does not matter.
    await s3.send(new PutObjectCommand({ Bucket: 'watch-locks', Key, Body: JSON.stringify(record) }));
    const calm = await w.cycle();
    expect(calm.errors).toEqual([]);
    expect(calm.applied).toBe(0);
    s3.destroy();
  });

  it('detect mode: drift is logged, counted and announced once per change, and once when it is gone', async () => {
    const queue = await SqsQueue.create(moto.endpoint, 'drift-alerts');
    const spec = join(dir, 'detect.yaml');
    writeFileSync(
      spec,
      specYaml(
        'detect',
        `${WEB_SG}  ops:
    kind: sns-topic
    subscriptions: [{ protocol: sqs, endpoint: ${queue.arn} }]
  drift-watch:
    kind: alert-rule
    targets: { tags: { Role: none-such } }
    threshold: 1
    notify: { topic: ops, drift: true }
`,
      ),
    );
    const clock = fakeClock();
    // Built once in apply mode, then watched in detect mode.
    expect((await watcher(spec, clock).w.cycle()).applied).toBe(2);
    expect(await queue.drain()).toEqual([]);
    const { w, metrics, logs } = watcher(spec, clock, { mode: 'detect' });
    expect((await w.cycle()).drift).toEqual([]);
    // Exported at 0 before any failure, so that Prometheus sees the first one.
    expect(parsePrometheus(await metrics.registry.metrics()).get('reconcile_notification_failures_total', { rule: '(drift)', reason: '' })).toBe(0);

    const sg = (await ec2.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'tag:reconcile:stack', Values: ['detect'] }] }))).SecurityGroups![0];
    await ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: sg.GroupId, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '0.0.0.0/0' }] }] }));
    const found = await w.cycle();
    expect(found.drift.map((c) => c.address)).toEqual(['security-group.web']);
    expect(found.applied).toBe(0);
    const sent = await queue.drain();
    expect(sent).toHaveLength(1);
    expect(sent[0].Subject).toBe('DRIFT detect: 1 resource differ from the spec');
    expect(sent[0].Message).toContain('security-group.web');
    expect(sent[0].Message).toContain('ingress[tcp 22 0.0.0.0/0]');
    expect(logs.messages(40).some((l) => l.startsWith('drift: security-group.web update'))).toBe(true);
    // Still drifted: nothing new.
    await w.cycle();
    expect(await queue.drain()).toEqual([]);
    const p = parsePrometheus(await metrics.registry.metrics());
    expect(p.get('reconcile_drift_resources')).toBe(1);
    expect(p.get('reconcile_drift_found_total')).toBe(2);
    // Put back by an apply-mode watcher: one DRIFT RESOLVED.
    expect((await watcher(spec, clock).w.cycle()).applied).toBe(1);
    await w.cycle();
    const resolved = await queue.drain();
    expect(resolved.map((x) => x.Subject)).toEqual(['DRIFT RESOLVED detect: AWS matches the spec again']);
  });

  it('every rule and target in one DescribeInstances and one GetMetricData; /metrics parses', async () => {
    const images = await ec2.send(new DescribeImagesCommand({ Owners: ['amazon'] }));
    const launch = async (tags: Record<string, string>) =>
      (
        await ec2.send(
          new RunInstancesCommand({
            ImageId: images.Images![0].ImageId!,
            MinCount: 1,
            MaxCount: 1,
            TagSpecifications: [{ ResourceType: 'instance', Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) }],
          }),
        )
      ).Instances![0].InstanceId!;
    const web = [await launch({ Name: 'Web', Tier: 'web' }), await launch({ Name: 'Web', Tier: 'web' }), await launch({ Name: 'Web', Tier: 'web' })];
    const batch = await launch({ Name: 'Batch', Tier: 'batch' });
    await launch({ Name: 'Other' });
    const clock = fakeClock();
    for (const [i, id] of web.entries()) await putMetric(moto.endpoint, id, 40 + i * 20, new Date(clock.now() - 2 * MIN));
    await putMetric(moto.endpoint, batch, 5e6, new Date(clock.now() - 2 * MIN), 'NetworkIn');
    const spec = join(dir, 'batch.yaml');
    writeFileSync(
      spec,
      specYaml('batch', `  web-cpu:
    kind: alert-rule
    targets: { tags: { Tier: web } }
    threshold: 50
  web-cpu-fast:
    kind: alert-rule
    targets: { tags: { Tier: web } }
    period: 1m
    datapoints: 2
    evaluationPeriods: 3
    threshold: 90
  batch-net:
    kind: alert-rule
    targets: { tags: { Tier: batch } }
    metric: NetworkIn
    statistic: Sum
    threshold: 1000000
`),
    );
    const r = loadSpec(spec);
    if (!r.ok) throw new Error(JSON.stringify(r.diagnostics));
    const aws = new Aws({ region: 'us-east-1', endpoint: moto.endpoint });
    const metrics = new WatchMetrics({ defaultMetrics: false });
    aws.onCall(metrics.onCall);
    try {
      const run = await new AlertEvaluator({ metrics }).run(r.loaded, aws, { now: clock.now(), force: true, notify: false, persist: false });
      expect(aws.counts().byOperation).toEqual({ 'ec2:DescribeInstances': 1, 'cloudwatch:GetMetricData': 1 });
      const states = Object.fromEntries(run.rules.map((x) => [x.rule, x.targets.map((t) => `${t.id}=${t.state}`).sort()]));
      expect(states['web-cpu']).toEqual([`${web[0]}=OK`, `${web[1]}=ALARM`, `${web[2]}=ALARM`].sort());
      expect(states['web-cpu-fast']).toEqual(web.map((id) => `${id}=OK`).sort());
      expect(states['batch-net']).toEqual([`${batch}=ALARM`]);

      const http = await startHttp({ port: 0, host: '127.0.0.1', health: () => ({ ready: true, reason: 'ok' }), registry: metrics.registry });
      try {
        const res = await fetch(`http://127.0.0.1:${http.port}/metrics`);
        expect(res.headers.get('content-type')).toContain('text/plain');
        const p = parsePrometheus(await res.text());
        expect(p.types.get('reconcile_alert_state')).toBe('gauge');
        expect(p.types.get('reconcile_aws_calls_total')).toBe('counter');
        expect(p.get('reconcile_alert_state', { rule: 'web-cpu', target: web[1], name: 'Web', state: 'ALARM' })).toBe(1);
        expect(p.get('reconcile_alert_state', { rule: 'web-cpu', target: web[1], name: 'Web', state: 'OK' })).toBe(0);
        expect(p.get('reconcile_alert_value', { rule: 'batch-net', target: batch })).toBe(5e6);
        expect(p.get('reconcile_alert_targets', { rule: 'web-cpu' })).toBe(3);
        expect(p.get('reconcile_aws_calls_total', { service: 'cloudwatch', operation: 'GetMetricData', outcome: 'ok' })).toBe(1);
        expect(p.get('reconcile_aws_calls_total', { service: 'ec2', operation: 'DescribeInstances', outcome: 'ok' })).toBe(1);
        expect((await fetch(`http://127.0.0.1:${http.port}/healthz`)).status).toBe(200);
        expect((await fetch(`http://127.0.0.1:${http.port}/nope`)).status).toBe(404);
      } finally {
        await http.close();
      }
    } finally {
      aws.destroy();
    }
  });
});
