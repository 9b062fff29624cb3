// `reconcile policy` proven with moto's IAM enforcement (INITIAL_NO_AUTH_ACTION_COUNT): after the
// setup calls, every request is checked against the caller's IAM policies. A user holding exactly
// the printed policy applies, re-plans and destroys an example (with the stack lock); a user missing
// one action fails with a message naming it; and errors that cannot succeed on retry (AccessDenied,
// validation) are attempted once.
//
// moto checks no signatures before enforcement starts, so the setup talks to moto's IAM query API
// with plain fetch (there is no @aws-sdk/client-iam in the dependencies).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { specYaml } from '../helpers/specs.js';
import { runCli } from '../helpers/cli.js';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { PutMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { CreateSecurityGroupCommand, DescribeImagesCommand, DescribeVpcsCommand, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Aws } from '../../src/aws/clients.js';
import { explainAwsError } from '../../src/aws/errors.js';
import { limiterStats, resetLimiters } from '../../src/aws/limiter.js';
import { specPolicy, type PolicyDocument } from '../../src/commands/policy.js';
import { loadSpec } from '../../src/spec/load.js';
import { startMoto, type Moto } from '../helpers/moto.js';

const EXAMPLE = 'examples/pipeline-single-node.yaml';
const LOCK_BUCKET = 'policy-test-locks';
const REMOVED = 'ec2:RunInstances';
/**
 * The other four examples pass the same test (each applied, re-planned and destroyed by a user with
 * only its own printed policy, each on a moto of its own: moto 5.2 under IAM enforcement stops
 * answering when clock-app-ha's group is created after other examples ran on the same server).
 * They run with RECONCILE_POLICY_EXAMPLES=all (about 40 s more); flask-cpu-alert, with a dashboard,
 * always does.
 */
const MORE_EXAMPLES =
  process.env.RECONCILE_POLICY_EXAMPLES === 'all'
    ? ['flask-cpu-alert', 'microblog-vpc', 'clock-app-ha', 'webserver-s3-image']
    : ['flask-cpu-alert']; // always: its cloudwatch-dashboard (the IAM kinds have a test of their own below)
/** Requests made before enforcement starts: 3 x (CreateUser, CreateAccessKey, PutUserPolicy), then CreateBucket. */
const SETUP_CALLS = 10;

interface Key {
  id: string;
  secret: string;
}

let moto: Moto;
let policy: PolicyDocument;
let full: Key;
let missingOne: Key;
/** The test's own user: it feeds CPU datapoints (moto produces no metrics of its own). */
let metrics: Key;
let dir: string;

function cli(args: string[], key?: Key, server: Moto = moto) {
  const creds = key ? { AWS_ACCESS_KEY_ID: key.id, AWS_SECRET_ACCESS_KEY: key.secret } : {};
  return runCli(args, { ...process.env, ...server.env, ...creds }, 90_000);
}

async function iam(params: Record<string, string>, server: Moto = moto): Promise<string> {
  const r = await fetch(`${server.endpoint}/`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      // Routes the request to moto's IAM; the signature is not checked before enforcement starts.
      authorization: 'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0',
    },
    body: new URLSearchParams({ ...params, Version: '2010-05-08' }),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`IAM ${params.Action}: HTTP ${r.status} ${text}`);
  return text;
}

/**
 * moto names actions after the service's signing name -- "monitoring:DescribeAlarms" for CloudWatch,
 * "tagging:GetResources" for the Resource Groups Tagging API -- where AWS IAM uses the action prefix
 * ("cloudwatch:DescribeAlarms", "tag:GetResources"): the user gets each such action under both
 * names. Nothing else is added.
 */
const MOTO_PREFIX: Record<string, string> = { 'cloudwatch:': 'monitoring:', 'tag:': 'tagging:' };
const forMoto = (doc: PolicyDocument): PolicyDocument => ({
  ...doc,
  Statement: doc.Statement.map((s) => ({
    ...s,
    Action: [
      ...s.Action,
      ...s.Action.flatMap((a) => Object.entries(MOTO_PREFIX).flatMap(([aws, moto]) => (a.startsWith(aws) ? [a.replace(aws, moto)] : []))),
    ],
  })),
});

async function userWithPolicy(name: string, doc: PolicyDocument, server: Moto = moto): Promise<Key> {
  await iam({ Action: 'CreateUser', UserName: name }, server);
  const k = await iam({ Action: 'CreateAccessKey', UserName: name }, server);
  await iam({ Action: 'PutUserPolicy', UserName: name, PolicyName: 'reconcile', PolicyDocument: JSON.stringify(forMoto(doc)) }, server);
  return { id: /<AccessKeyId>([^<]+)/.exec(k)![1], secret: /<SecretAccessKey>([^<]+)/.exec(k)![1] };
}

/** The SDK reads credentials from the environment when a client first signs: swap them for `fn`. */
async function as<T>(key: Key, fn: (aws: Aws) => Promise<T>): Promise<T> {
  const saved = [process.env.AWS_ACCESS_KEY_ID, process.env.AWS_SECRET_ACCESS_KEY];
  process.env.AWS_ACCESS_KEY_ID = key.id;
  process.env.AWS_SECRET_ACCESS_KEY = key.secret;
  const aws = new Aws({ region: 'us-east-1', endpoint: moto.endpoint });
  try {
    return await fn(aws);
  } finally {
    aws.destroy();
    [process.env.AWS_ACCESS_KEY_ID, process.env.AWS_SECRET_ACCESS_KEY] = saved;
  }
}

beforeAll(async () => {
  // The bundled AMIs plus Ubuntu 24.04 (flask-cpu-alert looks it up), as in examples.test.ts.
  moto = await startMoto({ INITIAL_NO_AUTH_ACTION_COUNT: String(SETUP_CALLS), MOTO_AMIS_PATH: resolve('test/fixtures/amis.json') });
  dir = mkdtempSync(join(tmpdir(), 'reconcile-policy-'));
  cpSync('examples', dir, { recursive: true }); // key files and the like are written next to the spec
  // The policy comes from the CLI, as a user gets it (offline: it makes no AWS call, counts nothing).
  const printed = cli(['policy', EXAMPLE, '--json', '--lock-bucket', LOCK_BUCKET]);
  expect(printed.code, printed.err).toBe(0);
  policy = JSON.parse(printed.out) as PolicyDocument;
  const reduced: PolicyDocument = {
    ...policy,
    Statement: policy.Statement.map((s) => ({ ...s, Action: s.Action.filter((a) => a !== REMOVED) })).filter((s) => s.Action.length),
  };
  expect(JSON.stringify(reduced)).not.toContain(REMOVED);
  full = await userWithPolicy('reconcile-ci', policy);
  missingOne = await userWithPolicy('reconcile-ci-missing-one', reduced);
  metrics = await userWithPolicy('test-metrics', { Version: '2012-10-17', Statement: [{ Sid: 'Feed', Effect: 'Allow', Action: ['cloudwatch:PutMetricData'], Resource: '*' }] });
  const admin = new Aws({ region: 'us-east-1', endpoint: moto.endpoint });
  await (await admin.s3()).send(new CreateBucketCommand({ Bucket: LOCK_BUCKET }));
  admin.destroy();
});
afterAll(async () => moto?.stop());

describe('reconcile policy', () => {
  it('is derived from the kinds in the spec: every phase of theirs, reads of the rest, watch, and the lock', async () => {
    const r = loadSpec(EXAMPLE);
    if (!r.ok) throw new Error('example invalid');
    const actions = (p: PolicyDocument) => p.Statement.flatMap((s) => s.Action);
    const p = (await specPolicy(r.loaded, { lockBucket: LOCK_BUCKET })).document;
    expect(actions(p)).toEqual(expect.arrayContaining(['ec2:RunInstances', 'ec2:CreateSecurityGroup', 'sns:CreateTopic', 'sns:Subscribe', 'ec2:TerminateInstances']));
    // The default VPC is only looked up: read, never created or deleted.
    expect(actions(p)).toContain('ec2:DescribeVpcs');
    expect(actions(p)).not.toContain('ec2:CreateVpc');
    expect(actions(p)).not.toContain('ec2:DeleteVpc');
    // Kinds the spec lacks are read (destroy finds what the stack owns by tags), never written.
    expect(actions(p)).toContain('elasticloadbalancing:DescribeLoadBalancers');
    expect(actions(p)).not.toContain('elasticloadbalancing:CreateLoadBalancer');
    // watch's alert rule, and the lock object only.
    expect(actions(p)).toEqual(expect.arrayContaining(['cloudwatch:GetMetricData', 'sns:Publish']));
    expect(p.Statement.find((s) => s.Sid === 'StackLock')).toEqual({
      Sid: 'StackLock',
      Effect: 'Allow',
      Action: ['s3:DeleteObject', 's3:GetObject', 's3:PutObject'],
      Resource: `arn:aws:s3:::${LOCK_BUCKET}/reconcile-locks/pipeline-single-node.json`,
    });
    // No bucket in the spec: no S3 action on any bucket beyond listing them and the lock's.
    const s3 = p.Statement.filter((s) => s.Action.some((a) => a.startsWith('s3:')));
    expect(s3.filter((s) => s.Resource === '*').flatMap((s) => s.Action)).toEqual(['s3:ListAllMyBuckets']);
    // Sids are unique; the CLI printed the same document.
    expect(new Set(p.Statement.map((s) => s.Sid)).size).toBe(p.Statement.length);
    expect(policy).toEqual(p);
  });

  it('narrows S3 to the spec\'s buckets', async () => {
    const r = loadSpec('examples/webserver-s3-image.yaml');
    if (!r.ok) throw new Error('example invalid');
    const bucket = r.loaded.resources.find((x) => x.kind === 's3-bucket')!.body as { bucketName: string };
    const p = (await specPolicy(r.loaded)).document;
    const s = p.Statement.find((x) => x.Sid === 'S3Buckets')!;
    expect(s.Resource).toEqual([`arn:aws:s3:::${bucket.bucketName}`, `arn:aws:s3:::${bucket.bucketName}/*`]);
    expect(s.Action).toEqual(expect.arrayContaining(['s3:CreateBucket', 's3:PutObject', 's3:DeleteBucket', 's3:GetBucketTagging']));
    expect(p.Statement.find((x) => x.Sid === 'StackLock')).toBeUndefined();
  });

  it('covers where watch keeps alert state: with a lock: block, the rule\'s object in the lock bucket', async () => {
    const f = join(dir, 'with-lock.yaml');
    writeFileSync(f, readFileSync(EXAMPLE, 'utf8').replace(/^resources:/m, `lock: { bucket: ${LOCK_BUCKET} }\nresources:`));
    const r = loadSpec(f);
    if (!r.ok) throw new Error(JSON.stringify(r.diagnostics));
    const p = (await specPolicy(r.loaded)).document;
    expect(p.Statement.find((s) => s.Sid === 'WatchAlertState')).toEqual({
      Sid: 'WatchAlertState',
      Effect: 'Allow',
      Action: ['s3:GetObject', 's3:PutObject'],
      Resource: `arn:aws:s3:::${LOCK_BUCKET}/reconcile-state/pipeline-single-node/alerts/app-cpu.json`,
    });
    expect(p.Statement.find((s) => s.Sid === 'StackLock')?.Resource).toBe(`arn:aws:s3:::${LOCK_BUCKET}/reconcile-locks/pipeline-single-node.json`);
  });

  it('prints a readable summary with the document', () => {
    const r = cli(['policy', EXAMPLE]);
    expect(r.code).toBe(0);
    expect(r.out).toContain('IAM policy for stack "pipeline-single-node" (plan, apply, watch, destroy)');
    expect(r.out).toContain('No lock bucket');
    expect(r.out).toContain('"Version": "2012-10-17"');
  });
});

describe('under IAM enforcement (moto)', () => {
  it('a user with exactly the printed policy applies, re-plans clean, evaluates the alert rule and notifies, and destroys the example, with the stack lock', async () => {
    const apply = cli(['apply', EXAMPLE, '--yes', '--lock-bucket', LOCK_BUCKET], full);
    expect(apply.code, apply.err).toBe(0);
    expect(apply.out).toContain('Apply complete');
    const plan = cli(['plan', EXAMPLE, '--detailed-exitcode'], full);
    expect(plan.code, plan.out + plan.err).toBe(0);
    // What watch does for the alert rule: find the instance, read its CPU, publish the ALARM.
    const id = (JSON.parse(cli(['output', EXAMPLE, '--json'], full).out) as Record<string, { id: string }>)['instance.app'].id;
    await as(metrics, async (aws) =>
      (await aws.cloudwatch()).send(
        new PutMetricDataCommand({
          Namespace: 'AWS/EC2',
          MetricData: [2, 7].map((minutesAgo) => ({
            MetricName: 'CPUUtilization',
            Dimensions: [{ Name: 'InstanceId', Value: id }],
            Timestamp: new Date(Date.now() - minutesAgo * 60_000),
            Value: 97,
            Unit: 'Percent',
          })),
        }),
      ),
    );
    const check = cli(['check', EXAMPLE, '--state-file', join(dir, 'alerts.json')], full);
    expect(check.code, check.out + check.err).toBe(2);
    expect(check.out + check.err).toContain('ALARM');
    expect(check.err).not.toMatch(/refused|AccessDenied/);
    const destroy = cli(['destroy', EXAMPLE, '--yes', '--lock-bucket', LOCK_BUCKET], full);
    expect(destroy.code, destroy.err).toBe(0);
    expect(cli(['plan', EXAMPLE], full).out).toContain('Plan: 3 to add');
  });

  it('IAM kinds: a user with exactly the printed policy (iam:PassRole on the spec\'s role only) creates a role and its instance profile, re-plans clean and destroys them', async () => {
    const spec = join(dir, 'iam-kinds.yaml');
    writeFileSync(
      spec,
      specYaml('iam-kinds', `  app-role:
    kind: iam-role
    assumeRolePolicy:
      Statement: [{ Effect: Allow, Principal: { Service: ec2.amazonaws.com }, Action: sts:AssumeRole }]
    inlinePolicies:
      read: { Statement: [{ Effect: Allow, Action: s3:GetObject, Resource: 'arn:aws:s3:::some-bucket/*' }] }
  app-profile:
    kind: instance-profile
    role: app-role
  app-lt:
    kind: launch-template
    ami: ami-0a1b2c3d4e5f60003
    instanceType: t3.micro
    iamInstanceProfile: app-profile
`),
    );
    const p = cli(['policy', spec, '--json']);
    expect(p.code, p.err).toBe(0);
    const doc = JSON.parse(p.out) as PolicyDocument;
    expect(doc.Statement.find((st) => st.Action.includes('iam:PassRole'))?.Resource).toBe('arn:aws:iam::*:role/iam-kinds-app-role');
    const own = await startMoto({ INITIAL_NO_AUTH_ACTION_COUNT: '3' });
    try {
      const key = await userWithPolicy('reconcile-iam-kinds', doc, own);
      const apply = cli(['apply', spec, '--yes', '--no-lock'], key, own);
      expect(apply.code, apply.out + apply.err).toBe(0);
      const plan = cli(['plan', spec, '--detailed-exitcode'], key, own);
      expect(plan.code, plan.out + plan.err).toBe(0);
      const destroy = cli(['destroy', spec, '--yes', '--no-lock'], key, own);
      expect(destroy.code, destroy.out + destroy.err).toBe(0);
      expect(cli(['plan', spec], key, own).out).toContain('Plan: 3 to add');
    } finally {
      await own.stop();
    }
  });

  for (const name of MORE_EXAMPLES)
    it(`${name}: a user with exactly its printed policy applies, re-plans clean and destroys it`, async () => {
      const spec = join(dir, `${name}.yaml`);
      const p = cli(['policy', spec, '--json']);
      expect(p.code, p.err).toBe(0);
      const own = await startMoto({ INITIAL_NO_AUTH_ACTION_COUNT: '3', MOTO_AMIS_PATH: resolve('test/fixtures/amis.json') });
      try {
        const key = await userWithPolicy(`reconcile-${name}`, JSON.parse(p.out) as PolicyDocument, own);
        const apply = cli(['apply', spec, '--yes'], key, own);
        expect(apply.code, apply.err).toBe(0);
        const plan = cli(['plan', spec, '--detailed-exitcode'], key, own);
        expect(plan.code, plan.out + plan.err).toBe(0);
        const destroy = cli(['destroy', spec, '--yes'], key, own);
        expect(destroy.code, destroy.err).toBe(0);
      } finally {
        await own.stop();
      }
    });

  it(`without ${REMOVED}, apply fails with a message naming it, and the lock is released`, () => {
    const r = cli(['apply', EXAMPLE, '--yes', '--lock-bucket', LOCK_BUCKET], missingOne);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`AWS refused ${REMOVED}`);
    expect(r.err).toContain(`grant ${REMOVED} to`);
    expect(r.err).toContain('reconcile policy SPEC');
    expect(r.err).not.toMatch(/\n\s+at /);
    // The lock was released: the full user takes it at once and cleans up.
    const d = cli(['destroy', EXAMPLE, '--yes', '--lock-bucket', LOCK_BUCKET, '--lock-timeout', '0s'], full);
    expect(d.code, d.err).toBe(0);
  });

  it('never retries what cannot succeed: AccessDenied and a validation error are attempted once', async () => {
    resetLimiters();
    await as(missingOne, async (aws) => {
      const ec2 = await aws.ec2();
      const denied = await ec2.send(new RunInstancesCommand({ ImageId: 'ami-12c6146b', MinCount: 1, MaxCount: 1 })).catch((e) => e);
      expect(denied.name).toBe('AccessDenied');
      expect(denied.message).toContain(`not authorized to perform: ${REMOVED}`);
      expect(denied.$metadata.attempts).toBe(1);
      expect(explainAwsError(denied)).toMatchObject({ message: `AWS refused ${REMOVED} (AccessDenied)`, terminal: true });
      await expect(ec2.send(new DescribeVpcsCommand({}))).resolves.toBeDefined();
    });
    await as(full, async (aws) => {
      const ec2 = await aws.ec2();
      const missing = await ec2.send(new CreateSecurityGroupCommand({ GroupName: '', Description: '' })).catch((e) => e);
      expect(missing.name).toBe('MissingParameter');
      const malformed = await ec2.send(new DescribeImagesCommand({ ImageIds: ['not-an-ami'] })).catch((e) => e);
      expect(malformed.name).toBe('InvalidAMIID.Malformed');
      for (const e of [missing, malformed]) {
        expect(e.$metadata.attempts).toBe(1);
        expect(explainAwsError(e)).toMatchObject({ message: expect.stringContaining('AWS rejected a parameter'), terminal: true });
      }
    });
    // One token per attempt: the two EC2 writes went out once each.
    expect(limiterStats()['ec2:RunInstances'].taken).toBe(1);
    expect(limiterStats()['ec2:CreateSecurityGroup'].taken).toBe(1);
  });
});
