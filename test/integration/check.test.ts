// `reconcile check` and `reconcile status` as a user runs them from cron or a shell (the compiled
// CLI in a child process) against moto: exit codes 0 / 2 / 1, one notification per transition
// across separate runs (the state file carries what was announced), --no-notify, a wrong tag
// reported loudly, and the status table with CPU and network of the last 5 minutes from one
// GetMetricData.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { specYaml } from '../helpers/specs.js';
import { runCli } from '../helpers/cli.js';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeImagesCommand, DescribeInstancesCommand, EC2Client, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { startMoto, type Moto } from '../helpers/moto.js';
import { putMetric, SqsQueue } from './watch-helpers.js';

let moto: Moto;
let dir: string;
let ec2: EC2Client;
let queue: SqsQueue;
let spec: string;
let server: string;

const SPEC = (queueArn: string, tag = 'CheckServer') => specYaml('checks', `  alerts:
    kind: sns-topic
    subscriptions: [{ protocol: sqs, endpoint: ${queueArn} }]
  high-cpu:
    kind: alert-rule
    description: CheckServer CPU above 50 %
    targets: { tags: { Name: ${tag} } }
    threshold: 50
    notify: { topic: alerts }
`);

const cli = (args: string[], extraEnv: Record<string, string> = {}) => runCli(args, { ...process.env, ...moto.env, ...extraEnv });

beforeAll(async () => {
  moto = await startMoto();
  dir = mkdtempSync(join(tmpdir(), 'reconcile-check-'));
  ec2 = new EC2Client({ region: 'us-east-1', endpoint: moto.endpoint });
  queue = await SqsQueue.create(moto.endpoint, 'check-alerts');
  spec = join(dir, 'checks.yaml');
  writeFileSync(spec, SPEC(queue.arn));
  const image = (await ec2.send(new DescribeImagesCommand({ Owners: ['amazon'] }))).Images![0].ImageId!;
  const run = await ec2.send(
    new RunInstancesCommand({ ImageId: image, MinCount: 1, MaxCount: 1, TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'Name', Value: 'CheckServer' }] }] }),
  );
  server = run.Instances![0].InstanceId!;
  const applied = cli(['apply', spec, '--yes']);
  expect(applied.code, applied.err).toBe(0);
});
afterAll(async () => {
  ec2?.destroy();
  await moto?.stop();
});

/** A datapoint time in the window a check reads now: complete periods, a minute old (metrics-query.ts). */
const twoMinutesAgo = () => new Date(Date.now() - 120_000);

describe('reconcile check', () => {
  it('exits 0 / 2 / 0 and notifies once entering ALARM and once on recovery, across separate runs', async () => {
    const state = join(dir, 'state.json');
    const check = (...extra: string[]) => cli(['check', spec, '--state-file', state, ...extra]);

    const none = check();
    expect(none.code, none.err).toBe(0);
    expect(none.out).toContain(`${server} (CheckServer)  INSUFFICIENT_DATA`);
    expect(await queue.drain()).toEqual([]);

    await putMetric(moto.endpoint, server, 80, twoMinutesAgo()); // in the last complete period, a minute old
    const alarm = check();
    expect(alarm.code, alarm.err).toBe(2);
    expect(alarm.out).toContain(`${server} (CheckServer)  ALARM  CPUUtilization Average 80, alarm when > 50`);
    expect(alarm.out).toMatch(/-> notified \(ALARM\) arn:aws:sns:us-east-1:\d+:checks-alerts/);
    expect(alarm.out).toContain('1 of 1 target(s) in ALARM.');
    const sent = await queue.drain();
    expect(sent.map((m) => m.Subject)).toEqual(['ALERT checks/high-cpu: CheckServer CPUUtilization 80 (> 50)']);
    expect(sent[0].Message).toContain(`Instance:   ${server} (Name: CheckServer, running)`);

    // The next run from cron: still in ALARM, nothing new is sent.
    const again = check();
    expect(again.code).toBe(2);
    expect(again.out).not.toContain('notified');
    expect(await queue.drain()).toEqual([]);

    // --no-notify: evaluates, publishes nothing, keeps no state.
    const before = readFileSync(state, 'utf8');
    const quiet = check('--no-notify');
    expect(quiet.code).toBe(2);
    expect(readFileSync(state, 'utf8')).toBe(before);

    // Two low datapoints bring the 5-minute average under 50: one recovery message.
    await putMetric(moto.endpoint, server, 0, twoMinutesAgo());
    await putMetric(moto.endpoint, server, 0, twoMinutesAgo());
    const ok = check('--json');
    expect(ok.code, ok.err).toBe(0);
    const report = JSON.parse(ok.out);
    expect(report.exitCode).toBe(0);
    expect(report.rules[0].targets[0]).toMatchObject({ id: server, name: 'CheckServer', state: 'OK', previous: 'ALARM', notification: { kind: 'OK', sent: true } });
    expect(report.rules[0].targets[0].evaluation.value).toBeCloseTo(26.67, 1);
    expect((await queue.drain()).map((m) => m.Subject)).toEqual(['RECOVERED checks/high-cpu: CheckServer CPUUtilization 26.67 (> 50)']);
    expect(JSON.parse(readFileSync(state, 'utf8')).rules['high-cpu'][server]).toMatchObject({ state: 'OK', announced: 'OK' });
  });

  it('a rule that matches no instance (a wrong tag value) is an error, said loudly', () => {
    const wrong = join(dir, 'wrong-tag.yaml');
    writeFileSync(wrong, SPEC(queue.arn, 'FlaskAppServr'));
    const r = cli(['check', wrong, '--state-file', join(dir, 'wrong-state.json')]);
    expect(r.code).toBe(1);
    expect(r.err).toContain('error: alert rule high-cpu matched no instance (instances tagged Name=FlaskAppServr');
    expect(r.err).toContain('hint: check the tag values');
  });

  it('a spec without alert rules has nothing to check', () => {
    const plain = join(dir, 'plain.yaml');
    writeFileSync(plain, specYaml('plain', '  t: { kind: sns-topic }\n'));
    const r = cli(['check', plain]);
    expect(r.code).toBe(0);
    expect(r.err).toContain('has no alert-rule');
  });
});

describe('reconcile status', () => {
  it('shows each resource and, for instances, CPU and network of the last 5 minutes from one GetMetricData', async () => {
    const s = join(dir, 'status.yaml');
    writeFileSync(
      s,
      specYaml('status', `  web:
    kind: instance
    ami: { owner: amazon, name: al2023-ami-2023.*-x86_64 }
    instanceType: t3.micro
  idle:
    kind: instance
    ami: { owner: amazon, name: al2023-ami-2023.*-x86_64 }
    instanceType: t3.micro
  topic:
    kind: sns-topic
  web-cpu:
    kind: alert-rule
    targets: { instances: [web, idle] }
    threshold: 40
`),
    );
    expect(cli(['apply', s, '--yes']).code).toBe(0);
    const ids = Object.fromEntries(
      ((await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'tag:reconcile:stack', Values: ['status'] }] }))).Reservations ?? [])
        .flatMap((r) => r.Instances ?? [])
        .map((i) => [i.Tags!.find((t) => t.Key === 'reconcile:id')!.Value!, i.InstanceId!]),
    );
    const now = twoMinutesAgo();
    await putMetric(moto.endpoint, ids.web, 42.5, now);
    await putMetric(moto.endpoint, ids.web, 1_500_000, now, 'NetworkIn');
    await putMetric(moto.endpoint, ids.web, 2_000, now, 'NetworkOut');
    writeFileSync(s, readFileSync(s, 'utf8').replace('  topic:\n    kind: sns-topic\n', '  topic:\n    kind: sns-topic\n    displayName: changed\n'));

    const callLog = join(dir, 'status-calls.json');
    const r = cli(['status', s], { RECONCILE_CALL_LOG: callLog });
    expect(r.code, r.err).toBe(0);
    const lines = r.out.split('\n');
    expect(lines[0]).toMatch(/^RESOURCE\s+ID\s+STATE\s+CPU \(5m avg\)\s+NET IN \(5m\)\s+NET OUT \(5m\)$/);
    expect(lines.find((l) => l.startsWith('instance.web '))).toMatch(new RegExp(`${ids.web}\\s+running, in sync\\s+42\\.5 %\\s+1\\.5 MB\\s+2\\.0 kB$`));
    expect(lines.find((l) => l.startsWith('instance.idle '))).toMatch(/running, in sync\s+no data\s+-\s+-$/);
    expect(lines.find((l) => l.startsWith('sns-topic.topic '))).toMatch(/drift: displayName$/);
    expect(lines.find((l) => l.startsWith('web-cpu ') && l.includes(ids.web))).toMatch(new RegExp(`${ids.web} \\(status-web\\)\\s+ALARM\\s+42\\.5\\s+CPUUtilization Average > 40 \\(5m\\)`));
    expect(lines.find((l) => l.startsWith('web-cpu ') && l.includes(ids.idle))).toContain('INSUFFICIENT_DATA');
    expect(existsSync(callLog)).toBe(true);
    const calls = JSON.parse(readFileSync(callLog, 'utf8')) as { writes: number; byOperation: Record<string, number> };
    expect(calls.byOperation['cloudwatch:GetMetricData']).toBe(1);
    expect(calls.writes).toBe(0);
    const j = JSON.parse(cli(['status', s, '--json']).out);
    expect(j.resources.find((x: { address: string }) => x.address === 'instance.web').metrics).toEqual({ cpu: 42.5, networkIn: 1_500_000, networkOut: 2_000 });
  });
});
