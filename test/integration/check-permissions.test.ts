// Missing permissions, the Lambda's usual failures, against moto enforcing IAM
// (INITIAL_NO_AUTH_ACTION_COUNT: the first requests create the users, every later one is checked
// against their policies): without sns:Publish the notification fails loudly, naming the permission
// and the topic, is counted in a metric and is tried again at the next evaluation until it goes
// out; without ec2:DescribeInstances `check` exits 1 naming that permission. The alert state lives
// in an S3 object here (stateBucket), which the restricted user may read and write.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { specYaml } from '../helpers/specs.js';
import { runCli } from '../helpers/cli.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeImagesCommand, EC2Client, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { CreateTopicCommand, SNSClient } from '@aws-sdk/client-sns';
import { CreateBucketCommand, GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { startMoto, type Moto } from '../helpers/moto.js';
import { Aws } from '../../src/aws/clients.js';
import { loadSpec } from '../../src/spec/load.js';
import { AlertEvaluator } from '../../src/watch/evaluate.js';
import { makeLogger } from '../../src/watch/logger.js';
import { WatchMetrics } from '../../src/watch/metrics.js';
import { LogCapture, putMetric } from './watch-helpers.js';

const IAM_AUTH = 'AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=none';
type Keys = { id: string; secret: string };

let moto: Moto;
let dir: string;
let admin: Keys;
let watcher: Keys;
let blind: Keys;
let topicArn: string;
let spec: string;
let server: string;

/** One user with an inline policy, made with unauthenticated IAM calls (3 of them). */
async function user(endpoint: string, name: string, actions: string[]): Promise<Keys> {
  const iam = async (params: Record<string, string>) => {
    const r = await fetch(`${endpoint}/`, {
      method: 'POST',
      headers: { Authorization: IAM_AUTH, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ ...params, Version: '2010-05-08' }).toString(),
    });
    const text = await r.text();
    if (!r.ok) throw new Error(`IAM ${params.Action}: ${text}`);
    return text;
  };
  await iam({ Action: 'CreateUser', UserName: name });
  const key = await iam({ Action: 'CreateAccessKey', UserName: name });
  const policy = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: actions, Resource: '*' }] };
  await iam({ Action: 'PutUserPolicy', UserName: name, PolicyName: 'p', PolicyDocument: JSON.stringify(policy) });
  return { id: /<AccessKeyId>(.*?)</.exec(key)![1], secret: /<SecretAccessKey>(.*?)</.exec(key)![1] };
}

const credentials = (k: Keys) => ({ accessKeyId: k.id, secretAccessKey: k.secret });

beforeAll(async () => {
  moto = await startMoto({ INITIAL_NO_AUTH_ACTION_COUNT: '9' });
  admin = await user(moto.endpoint, 'admin', ['*']);
  // moto names CloudWatch's JSON-protocol actions by the signing name: monitoring:GetMetricData.
  const evaluate = ['ec2:DescribeInstances', 'cloudwatch:GetMetricData', 'monitoring:GetMetricData', 'sts:GetCallerIdentity', 's3:GetObject', 's3:PutObject'];
  watcher = await user(moto.endpoint, 'watcher', evaluate); // everything but sns:Publish
  blind = await user(moto.endpoint, 'blind', evaluate.filter((a) => a !== 'ec2:DescribeInstances'));

  const c = { region: 'us-east-1', endpoint: moto.endpoint, credentials: credentials(admin) };
  const ec2 = new EC2Client(c);
  const image = (await ec2.send(new DescribeImagesCommand({ Owners: ['amazon'] }))).Images![0].ImageId!;
  const run = await ec2.send(
    new RunInstancesCommand({ ImageId: image, MinCount: 1, MaxCount: 1, TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'Name', Value: 'PermServer' }] }] }),
  );
  topicArn = (await new SNSClient(c).send(new CreateTopicCommand({ Name: 'perm-alerts' }))).TopicArn!;
  await new S3Client({ ...c, forcePathStyle: true }).send(new CreateBucketCommand({ Bucket: 'perm-state' }));
  process.env.AWS_ACCESS_KEY_ID = admin.id;
  process.env.AWS_SECRET_ACCESS_KEY = admin.secret;
  server = run.Instances![0].InstanceId!;
  await putMetric(moto.endpoint, server, 90, new Date(Date.now() - 120_000)); // in the last complete period
  ec2.destroy();

  dir = mkdtempSync(join(tmpdir(), 'reconcile-perms-'));
  spec = join(dir, 'perms.yaml');
  writeFileSync(
    spec,
    specYaml('perms', `  high-cpu:
    kind: alert-rule
    targets: { tags: { Name: PermServer } }
    threshold: 50
    notify: { topic: ${topicArn} }
    stateBucket: arn:aws:s3:::perm-state
`),
  );
});
afterAll(async () => {
  process.env.AWS_ACCESS_KEY_ID = 'testing';
  process.env.AWS_SECRET_ACCESS_KEY = 'testing';
  await moto?.stop();
});

const cli = (args: string[], k: Keys) => runCli(args, { ...process.env, ...moto.env, AWS_ACCESS_KEY_ID: k.id, AWS_SECRET_ACCESS_KEY: k.secret });

async function storedState(): Promise<Record<string, { state: string; announced?: string }>> {
  const s3 = new S3Client({ region: 'us-east-1', endpoint: moto.endpoint, forcePathStyle: true, credentials: credentials(admin) });
  const o = await s3.send(new GetObjectCommand({ Bucket: 'perm-state', Key: 'reconcile-state/perms/alerts/high-cpu.json' }));
  return JSON.parse(await o.Body!.transformToString()).targets;
}

describe('missing permissions', () => {
  it('check without ec2:DescribeInstances: exit 1 naming the permission', () => {
    const r = cli(['check', spec], blind);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/error: alert rules: cannot list the target instances: AWS refused ec2:DescribeInstances/);
    expect(r.err).toContain('hint: grant ec2:DescribeInstances');
    expect(r.err).not.toMatch(/\n\s+at /);
  });

  it('check without sns:Publish: exit 1, the permission and the topic named; the ALARM stays due', async () => {
    const r = cli(['check', spec], watcher);
    expect(r.code).toBe(1);
    expect(r.out).toContain(`notification failed (ALARM): cannot publish to ${topicArn}: AWS refused sns:Publish`);
    expect(r.out).toContain(`hint: grant sns:Publish on ${topicArn}`);
    expect(r.out).toContain('1 notification(s) failed');
    const state = Object.values(await storedState());
    expect(state).toHaveLength(1);
    expect(state[0].state).toBe('ALARM');
    expect(state[0].announced).toBeUndefined();
  });

  it('watch counts each failed publish, says it loudly, and sends the ALARM once publishing works', async () => {
    const r = loadSpec(spec);
    if (!r.ok) throw new Error(JSON.stringify(r.diagnostics));
    const logs = new LogCapture();
    const metrics = new WatchMetrics({ defaultMetrics: false });
    const evaluator = new AlertEvaluator({ logger: makeLogger({ destination: logs }), metrics });
    const evaluate = async (k: Keys, at: number) => {
      await putMetric(moto.endpoint, server, 90, new Date(at - 120_000)); // still high, in the window of `at` (complete periods)
      // The SDK reads credentials from the environment when a client is made.
      process.env.AWS_ACCESS_KEY_ID = k.id;
      process.env.AWS_SECRET_ACCESS_KEY = k.secret;
      const aws = new Aws({ region: 'us-east-1', endpoint: moto.endpoint });
      try {
        return await evaluator.run(r.loaded, aws, { now: at, notify: true, persist: true });
      } finally {
        aws.destroy();
        process.env.AWS_ACCESS_KEY_ID = admin.id;
        process.env.AWS_SECRET_ACCESS_KEY = admin.secret;
      }
    };
    const t0 = Date.now();
    const failed = await evaluate(watcher, t0);
    expect(failed.rules[0].targets[0].notification).toMatchObject({ kind: 'ALARM', sent: false });
    const failure = logs.lines.find((l) => String(l.msg).startsWith('NOTIFICATION FAILED'));
    expect(failure?.level).toBe(50);
    expect(String(failure?.msg)).toContain('AWS refused sns:Publish');
    expect(failure?.reason).toBe('AccessDenied');
    expect(await metrics.registry.getSingleMetricAsString('reconcile_notification_failures_total')).toContain(
      'reconcile_notification_failures_total{rule="high-cpu",reason="AccessDenied"} 1',
    );
    // Not yet due again (every: 5m); then due, and failing again.
    expect((await evaluate(watcher, t0 + 60_000)).rules).toEqual([]);
    await evaluate(watcher, t0 + 5 * 60_000);
    expect(await metrics.registry.getSingleMetricAsString('reconcile_notification_failures_total')).toContain('reason="AccessDenied"} 2');
    // With the permission (here: another identity), the ALARM goes out once, and is kept as announced.
    const sent = await evaluate(admin, t0 + 10 * 60_000);
    expect(sent.rules[0].targets[0].notification).toMatchObject({ kind: 'ALARM', sent: true, topicArn });
    await evaluate(admin, t0 + 15 * 60_000);
    expect(await metrics.registry.getSingleMetricAsString('reconcile_notifications_total')).toContain('reconcile_notifications_total{rule="high-cpu",kind="ALARM"} 1');
    expect(Object.values(await storedState())[0]).toMatchObject({ state: 'ALARM', announced: 'ALARM' });
  });
});
