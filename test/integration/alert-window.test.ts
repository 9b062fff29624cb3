// Alert rules say exactly what happened (issue 12 items 7 and 8), on moto with PutMetricData:
// - only complete periods are read, with a step's allowance for late delivery, so a rule with
//   missingData: breaching does not flap to ALARM at the start of every period (the period in
//   progress has no datapoint yet);
// - an M-of-N ALERT names the breaching values, not the latest datapoint, and its Window line is
//   the window that was queried.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { specYaml } from '../helpers/specs.js';
import { DescribeImagesCommand, EC2Client, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { CreateTopicCommand, SNSClient, SubscribeCommand } from '@aws-sdk/client-sns';
import { startMoto, type Moto } from '../helpers/moto.js';
import { Aws } from '../../src/aws/clients.js';
import { loadSpecText } from '../../src/spec/load.js';
import { AlertEvaluator } from '../../src/watch/evaluate.js';
import { putMetric, SqsQueue } from './watch-helpers.js';

const MIN = 60_000;
let moto: Moto;
let aws: Aws;
let topicArn: string;
let queue: SqsQueue;

async function instance(name: string): Promise<string> {
  const c = { region: 'us-east-1', endpoint: moto.endpoint };
  const ec2 = new EC2Client(c);
  try {
    const image = (await ec2.send(new DescribeImagesCommand({ Owners: ['amazon'] }))).Images![0].ImageId!;
    const r = await ec2.send(new RunInstancesCommand({ ImageId: image, MinCount: 1, MaxCount: 1, TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'Name', Value: name }] }] }));
    return r.Instances![0].InstanceId!;
  } finally {
    ec2.destroy();
  }
}

const rule = (name: string, body: string) => {
  const r = loadSpecText(
    specYaml('window', `  ${name}:
    kind: alert-rule
    targets: { tags: { Name: ${name} } }
    metric: CPUUtilization
    statistic: Average
    period: 1m
    threshold: 50
${body}    notify: { topic: ${topicArn} }
`),
    'spec.yaml',
  );
  if (!r.ok) throw new Error(JSON.stringify(r.diagnostics));
  return r.loaded;
};

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.000Z$/, 'Z');
/** A minute boundary an hour ago: every datapoint of the test is in the past. */
const T = Math.floor(Date.now() / MIN) * MIN - 60 * MIN;

beforeAll(async () => {
  moto = await startMoto();
  aws = new Aws({ region: 'us-east-1', endpoint: moto.endpoint });
  const sns = new SNSClient({ region: 'us-east-1', endpoint: moto.endpoint });
  topicArn = (await sns.send(new CreateTopicCommand({ Name: 'window-alerts' }))).TopicArn!;
  queue = await SqsQueue.create(moto.endpoint, 'window-alerts');
  await sns.send(new SubscribeCommand({ TopicArn: topicArn, Protocol: 'sqs', Endpoint: queue.arn }));
  sns.destroy();
});
afterAll(async () => {
  aws?.destroy();
  await moto?.stop();
});

describe('alert rule windows', () => {
  it('missingData: breaching does not flap: a check just after a minute starts reads the last complete minutes', async () => {
    const id = await instance('steady');
    const loaded = rule('steady', '    missingData: breaching\n');
    const ev = new AlertEvaluator();
    const states: string[] = [];
    for (let k = 1; k <= 4; k++) {
      // A low datapoint in the middle of every minute; the check comes 1 s after the next minute starts.
      await putMetric(moto.endpoint, id, 10, new Date(T + k * MIN - 30_000));
      const run = await ev.run(loaded, aws, { now: T + k * MIN + 1_000, force: true, notify: false, persist: false });
      states.push(run.rules[0].targets[0].state);
    }
    // The first check's window (T-2m..T-1m) has no datapoint: breaching, as the rule says. From then
    // on every window holds a complete minute with its datapoint: OK, never a flap to ALARM.
    expect(states).toEqual(['ALARM', 'OK', 'OK', 'OK']);
  });

  it('an M-of-N ALERT names the breaching values (the latest is below the threshold) and the queried window', async () => {
    const id = await instance('spiky');
    const loaded = rule('spiky', '    datapoints: 2\n    evaluationPeriods: 3\n');
    for (const [minute, v] of [[1, 60], [2, 70], [3, 10]] as const) await putMetric(moto.endpoint, id, v, new Date(T + minute * MIN + 30_000));
    // At T+5m the window is the 3 complete minutes T+1m..T+4m (T+4m..T+5m is left to arrive).
    const now = T + 5 * MIN + 5_000;
    const run = await new AlertEvaluator().run(loaded, aws, { now, force: true, notify: true, persist: false });
    const t = run.rules[0].targets[0];
    expect(t.state).toBe('ALARM');
    expect(t.evaluation).toMatchObject({ breaching: 2, present: 3, value: 10, breachingValues: [60, 70] });
    expect(t.notification).toMatchObject({ kind: 'ALARM', sent: true });
    const [m] = await queue.drain();
    expect(m.Subject).toBe('ALERT window/spiky: spiky CPUUtilization 60, 70 (> 50)');
    expect(m.Message).toContain(`ALERT: CPUUtilization of spiky (${id}) was 60, 70, > 50, in 2 of the last 3 periods.`);
    expect(m.Message).toContain('Value:      10 (latest datapoint); breaching: 60, 70');
    expect(m.Message).toContain('(2 of the last 3 datapoints breaching)');
    expect(m.Message).toContain(`Window:     the last 3 complete periods (3m), ${iso(T + MIN)} to ${iso(T + 4 * MIN)}`);
  });
});
