// Ownership of user-named resources (issue 12 item 1), on moto: a resource whose AWS name the spec
// chooses and that exists without this stack's tags is never taken over -- the plan fails (exit 1)
// with the `adopt:` hint, and neither apply nor destroy touches it. One case per kind whose name is
// unique in AWS: bucket, topic, target group, load balancer, launch template, key pair, Auto Scaling
// group, alarm, security group.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { specYaml } from '../helpers/specs.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateKeyPairCommand,
  CreateLaunchTemplateCommand,
  CreateSecurityGroupCommand,
  DescribeImagesCommand,
  DescribeKeyPairsCommand,
  DescribeLaunchTemplatesCommand,
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
  EC2Client,
} from '@aws-sdk/client-ec2';
import { CreateBucketCommand, GetBucketTaggingCommand, HeadBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateTopicCommand, ListTagsForResourceCommand, ListTopicsCommand, SNSClient } from '@aws-sdk/client-sns';
import {
  CreateLoadBalancerCommand,
  CreateTargetGroupCommand,
  DescribeLoadBalancersCommand,
  DescribeTagsCommand,
  DescribeTargetGroupsCommand,
  ElasticLoadBalancingV2Client,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { AutoScalingClient, CreateAutoScalingGroupCommand, DescribeAutoScalingGroupsCommand } from '@aws-sdk/client-auto-scaling';
import { CloudWatchClient, DescribeAlarmsCommand, PutMetricAlarmCommand } from '@aws-sdk/client-cloudwatch';
import { startMoto, type Moto } from '../helpers/moto.js';
import { Aws } from '../../src/aws/clients.js';
import { loadSpec } from '../../src/spec/load.js';
import { applyPlan, makePlan } from '../helpers/engine.js';
import { PlanError } from '../../src/engine/ownership.js';
import { renderText } from '../../src/engine/render.js';
import type { Ctx } from '../../src/engine/types.js';
import type { LoadedSpec } from '../../src/spec/types.js';

let moto: Moto;
let dir: string;
const sdk = { region: 'us-east-1', credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } };
let ec2: EC2Client;
let s3: S3Client;
let sns: SNSClient;
let elb: ElasticLoadBalancingV2Client;
let as: AutoScalingClient;
let cw: CloudWatchClient;
const ids: Record<string, string> = {};

beforeAll(async () => {
  moto = await startMoto();
  dir = mkdtempSync(join(tmpdir(), 'reconcile-ownership-'));
  const c = { ...sdk, endpoint: moto.endpoint };
  ec2 = new EC2Client(c);
  s3 = new S3Client({ ...c, forcePathStyle: true });
  sns = new SNSClient(c);
  elb = new ElasticLoadBalancingV2Client(c);
  as = new AutoScalingClient(c);
  cw = new CloudWatchClient(c);

  // What someone else made by hand, with names a spec then chooses. The topic is another stack's.
  const vpc = (await ec2.send(new DescribeVpcsCommand({ Filters: [{ Name: 'is-default', Values: ['true'] }] }))).Vpcs![0].VpcId!;
  const subnets = (await ec2.send(new DescribeSubnetsCommand({ Filters: [{ Name: 'vpc-id', Values: [vpc] }] }))).Subnets!.map((s) => s.SubnetId!);
  const ami = (await ec2.send(new DescribeImagesCommand({ Owners: ['amazon'] }))).Images![0].ImageId!;
  Object.assign(ids, { vpc, subnetA: subnets[0], subnetB: subnets[1], ami });
  await s3.send(new CreateBucketCommand({ Bucket: 'someone-elses-empty-bucket' }));
  ids.topic = (await sns.send(new CreateTopicCommand({ Name: 'someone-elses-topic', Tags: [{ Key: 'reconcile:stack', Value: 'other' }, { Key: 'reconcile:id', Value: 'alerts' }] }))).TopicArn!;
  ids.tg = (await elb.send(new CreateTargetGroupCommand({ Name: 'someone-elses-tg', Protocol: 'HTTP', Port: 80, VpcId: vpc }))).TargetGroups![0].TargetGroupArn!;
  ids.alb = (await elb.send(new CreateLoadBalancerCommand({ Name: 'someone-elses-alb', Subnets: [ids.subnetA, ids.subnetB] }))).LoadBalancers![0].LoadBalancerArn!;
  ids.lt = (
    await ec2.send(new CreateLaunchTemplateCommand({ LaunchTemplateName: 'someone-elses-lt', LaunchTemplateData: { ImageId: ami, InstanceType: 't3.micro' } }))
  ).LaunchTemplate!.LaunchTemplateId!;
  await ec2.send(new CreateKeyPairCommand({ KeyName: 'someone-elses-key' }));
  await as.send(
    new CreateAutoScalingGroupCommand({ AutoScalingGroupName: 'someone-elses-asg', LaunchTemplate: { LaunchTemplateId: ids.lt }, MinSize: 0, MaxSize: 0, VPCZoneIdentifier: ids.subnetA }),
  );
  await cw.send(
    new PutMetricAlarmCommand({
      AlarmName: 'someone-elses-alarm',
      Namespace: 'AWS/EC2',
      MetricName: 'CPUUtilization',
      Statistic: 'Average',
      Period: 300,
      EvaluationPeriods: 1,
      Threshold: 90,
      ComparisonOperator: 'GreaterThanThreshold',
    }),
  );
  ids.sg = (await ec2.send(new CreateSecurityGroupCommand({ GroupName: 'someone-elses-sg', Description: 'by hand', VpcId: vpc }))).GroupId!;
});

afterAll(async () => {
  for (const c of [ec2, s3, sns, elb, as, cw]) c?.destroy();
  await moto?.stop();
});

function ctx(stack = 'own'): Ctx {
  return { stack, region: 'us-east-1', aws: new Aws({ region: 'us-east-1', endpoint: moto.endpoint }), emit: () => {} };
}

function spec(name: string, resources: string): LoadedSpec {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, specYaml('own', resources));
  const r = loadSpec(file);
  if (!r.ok) throw new Error(JSON.stringify(r.diagnostics, null, 2));
  return r.loaded;
}

async function planError(loaded: LoadedSpec): Promise<PlanError> {
  const c = ctx();
  try {
    await makePlan(loaded, c);
  } catch (e) {
    return e as PlanError;
  } finally {
    c.aws.destroy();
  }
  throw new Error('the plan did not fail');
}

/** Everything made by hand is still there, with the tags it had (none, or the other stack's). */
async function untouched(): Promise<void> {
  await expect(s3.send(new GetBucketTaggingCommand({ Bucket: 'someone-elses-empty-bucket' }))).rejects.toThrow(/TagSet does not exist/i);
  await s3.send(new HeadBucketCommand({ Bucket: 'someone-elses-empty-bucket' }));
  const topicTags = (await sns.send(new ListTagsForResourceCommand({ ResourceArn: ids.topic }))).Tags!;
  expect(Object.fromEntries(topicTags.map((t) => [t.Key, t.Value]))).toEqual({ 'reconcile:stack': 'other', 'reconcile:id': 'alerts' });
  const topics = (await sns.send(new ListTopicsCommand({}))).Topics!.map((t) => t.TopicArn);
  expect(topics).toEqual([ids.topic]);
  const elbTags = (await elb.send(new DescribeTagsCommand({ ResourceArns: [ids.tg, ids.alb] }))).TagDescriptions!;
  expect(elbTags.map((t) => t.Tags ?? [])).toEqual([[], []]);
  expect((await elb.send(new DescribeTargetGroupsCommand({}))).TargetGroups!.map((g) => g.TargetGroupName)).toEqual(['someone-elses-tg']);
  expect((await elb.send(new DescribeLoadBalancersCommand({}))).LoadBalancers!.map((l) => l.LoadBalancerName)).toEqual(['someone-elses-alb']);
  const lts = (await ec2.send(new DescribeLaunchTemplatesCommand({}))).LaunchTemplates!;
  expect(lts.map((t) => [t.LaunchTemplateName, t.Tags ?? []])).toEqual([['someone-elses-lt', []]]);
  const keys = (await ec2.send(new DescribeKeyPairsCommand({}))).KeyPairs!;
  expect(keys.map((k) => [k.KeyName, k.Tags ?? []])).toEqual([['someone-elses-key', []]]);
  const groups = (await as.send(new DescribeAutoScalingGroupsCommand({}))).AutoScalingGroups!;
  expect(groups.map((g) => [g.AutoScalingGroupName, g.MaxSize, g.Tags ?? []])).toEqual([['someone-elses-asg', 0, []]]);
  const alarms = (await cw.send(new DescribeAlarmsCommand({}))).MetricAlarms!;
  expect(alarms.map((a) => [a.AlarmName, a.Threshold])).toEqual([['someone-elses-alarm', 90]]);
  const sgs = (await ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: [ids.sg] }))).SecurityGroups!;
  expect(sgs.map((g) => [g.GroupName, g.Tags ?? [], g.IpPermissions])).toEqual([['someone-elses-sg', [], []]]);
}

describe('a user-named resource that exists and is not this stack\'s', () => {
  const all = () =>
    spec(
      'all',
      `  default-vpc: { kind: vpc, lookup: default }
  data: { kind: s3-bucket, bucketName: someone-elses-empty-bucket }
  topic: { kind: sns-topic, topicName: someone-elses-topic }
  tg: { kind: target-group, targetGroupName: someone-elses-tg, vpc: default-vpc, port: 80 }
  alb: { kind: load-balancer, loadBalancerName: someone-elses-alb, subnets: [${ids.subnetA}, ${ids.subnetB}] }
  lt: { kind: launch-template, templateName: someone-elses-lt, ami: ${ids.ami}, instanceType: t3.micro }
  key: { kind: key-pair, keyName: someone-elses-key }
  asg: { kind: auto-scaling-group, groupName: someone-elses-asg, launchTemplate: lt, minSize: 0, maxSize: 1, subnets: [${ids.subnetA}] }
  alarm: { kind: cloudwatch-alarm, alarmName: someone-elses-alarm, threshold: 50, comparison: '>' }
  sg: { kind: security-group, groupName: someone-elses-sg, vpc: default-vpc, description: web, ingress: [{ port: 80, cidr: 0.0.0.0/0 }] }
`,
    );

  it('fails the plan (exit 1) naming each one, whose it is, and the adopt: that takes it over', async () => {
    const e = await planError(all());
    expect(e).toBeInstanceOf(PlanError);
    expect(e.exitCode).toBe(1);
    const byAddress = Object.fromEntries(e.problems.map((p) => [p.address, p.message]));
    expect(Object.keys(byAddress).sort()).toEqual([
      'auto-scaling-group.asg',
      'cloudwatch-alarm.alarm',
      'key-pair.key',
      'launch-template.lt',
      'load-balancer.alb',
      's3-bucket.data',
      'security-group.sg',
      'sns-topic.topic',
      'target-group.tg',
    ]);
    expect(byAddress['s3-bucket.data']).toBe(
      's3-bucket "someone-elses-empty-bucket" already exists and is not s3-bucket.data of this stack (it carries no reconcile:stack tag): set adopt: someone-elses-empty-bucket to take it over, or choose another bucketName',
    );
    expect(byAddress['sns-topic.topic']).toContain(`(it belongs to stack other (alerts)): set adopt: ${ids.topic} to take it over, or choose another topicName`);
    expect(byAddress['target-group.tg']).toContain(`set adopt: ${ids.tg} to take it over, or choose another targetGroupName`);
    expect(byAddress['load-balancer.alb']).toContain(`set adopt: ${ids.alb} to take it over, or choose another loadBalancerName`);
    expect(byAddress['launch-template.lt']).toContain(`set adopt: ${ids.lt} to take it over, or choose another templateName`);
    expect(byAddress['key-pair.key']).toContain('set adopt: someone-elses-key to take it over, or choose another keyName');
    expect(byAddress['auto-scaling-group.asg']).toContain('set adopt: someone-elses-asg to take it over, or choose another groupName');
    expect(byAddress['cloudwatch-alarm.alarm']).toContain('set adopt: someone-elses-alarm to take it over, or choose another alarmName');
    expect(byAddress['security-group.sg']).toContain(`set adopt: ${ids.sg} to take it over, or choose another groupName`);
    await untouched();
  });

  it('the issue\'s repro: the bucket is not taken over by apply, nor deleted by destroy', async () => {
    const loaded = spec('bucket', '  data: { kind: s3-bucket, bucketName: someone-elses-empty-bucket, versioning: true }\n');
    expect((await planError(loaded)).message).toMatch(/^s3-bucket\.data: .* set adopt: someone-elses-empty-bucket to take it over/);
    const c = ctx();
    const gone = await makePlan(loaded, c, { destroy: true });
    expect(gone.plan.changes.filter((x) => x.action !== 'noop')).toEqual([]);
    await applyPlan(gone.plan, gone.state, c);
    c.aws.destroy();
    await untouched();
  });

  it('a bucket of the stack renamed in the spec to a name someone else holds is not replaced onto it', async () => {
    const mine = spec('mine', '  data: { kind: s3-bucket, bucketName: own-data-bucket }\n');
    const c = ctx();
    const first = await makePlan(mine, c);
    await applyPlan(first.plan, first.state, c);
    const renamed = spec('renamed', '  data: { kind: s3-bucket, bucketName: someone-elses-empty-bucket }\n');
    const e = await planError(renamed);
    expect(e.problems.map((p) => p.address)).toEqual(['s3-bucket.data']);
    const gone = await makePlan(mine, c, { destroy: true });
    await applyPlan(gone.plan, gone.state, c);
    c.aws.destroy();
    await untouched();
  });

  it('adopt: of something that does not exist fails the plan before any write', async () => {
    const loaded = spec(
      'adopt-nothing',
      `  default-vpc: { kind: vpc, lookup: default }
  data: { kind: s3-bucket, bucketName: own-other-bucket }
  sg: { kind: security-group, vpc: default-vpc, description: web, adopt: sg-0123456789abcdef0 }
`,
    );
    const e = await planError(loaded);
    expect(e.problems).toEqual([{ address: 'security-group.sg', message: 'adopt: sg-0123456789abcdef0 does not exist: no security-group in us-east-1 has that id or name (remove adopt: to create a new one)' }]);
    await expect(s3.send(new HeadBucketCommand({ Bucket: 'own-other-bucket' }))).rejects.toThrow();
  });
});

describe('lookups are resolved by plan (issue 12 item 5)', () => {
  it('an AMI query that matches nothing, or an existing key pair that is not there, fails the plan before any write', async () => {
    const loaded = spec(
      'lookups',
      `  data: { kind: s3-bucket, bucketName: own-lookup-bucket }
  key: { kind: key-pair, keyName: nobodys-key, existing: true }
  web: { kind: instance, ami: { owner: amazon, name: no-such-image-* }, instanceType: t3.micro, subnet: ${ids.subnetA} }
`,
    );
    const e = await planError(loaded);
    expect(e.exitCode).toBe(1);
    expect(e.problems).toEqual([
      { address: 'instance.web', message: expect.stringMatching(/^no available AMI named "no-such-image-\*" from owner "amazon" in us-east-1/) },
      { address: 'key-pair.key', message: 'key pair "nobodys-key" (existing: true) does not exist in us-east-1: nothing to look up' },
    ]);
    await expect(s3.send(new HeadBucketCommand({ Bucket: 'own-lookup-bucket' }))).rejects.toThrow();
  });

  it('the plan shows the AMI a query resolved to: its id and its name', async () => {
    const loaded = spec('ami', `  web: { kind: instance, ami: { owner: amazon, name: al2023-ami-2023.*-x86_64 }, instanceType: t3.micro, subnet: ${ids.subnetA} }\n`);
    const c = ctx();
    const { plan } = await makePlan(loaded, c);
    c.aws.destroy();
    const [web] = plan.changes;
    expect(web.action).toBe('create');
    expect(web.resolved).toEqual([{ field: 'ami', value: expect.stringMatching(/^ami-/), detail: expect.stringMatching(/^al2023-ami-2023\..*, the newest of amazon\/al2023-ami-2023\.\*-x86_64$/) }]);
    expect(renderText(plan, { color: false })).toContain(`# ami = ${web.resolved![0].value} (al2023-ami-2023.`);
  });
});

