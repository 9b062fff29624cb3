// What exists in moto, read with plain SDK calls straight against it (never through the fault proxy,
// never through our reconcilers), and the checks the fault and crash tests make on it: every spec
// resource exists exactly once, nothing extra was made, and nothing made is untagged.
import {
  DescribeAddressesCommand,
  DescribeInstancesCommand,
  DescribeInternetGatewaysCommand,
  DescribeKeyPairsCommand,
  DescribeLaunchTemplatesCommand,
  DescribeNatGatewaysCommand,
  DescribeRouteTablesCommand,
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  DescribeVpcPeeringConnectionsCommand,
  DescribeVpcsCommand,
  EC2Client,
  type Tag,
} from '@aws-sdk/client-ec2';
import { AutoScalingClient, DescribeAutoScalingGroupsCommand } from '@aws-sdk/client-auto-scaling';
import {
  DescribeListenersCommand,
  DescribeLoadBalancersCommand,
  DescribeTagsCommand,
  DescribeTargetGroupsCommand,
  ElasticLoadBalancingV2Client,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import {
  CloudWatchClient,
  DescribeAlarmsCommand,
  GetDashboardCommand,
  ListDashboardsCommand,
  ListTagsForResourceCommand as CwTags,
} from '@aws-sdk/client-cloudwatch';
import { GetInstanceProfileCommand, GetRoleCommand, IAMClient, ListInstanceProfilesCommand, ListRolesCommand } from '@aws-sdk/client-iam';
import { ListSubscriptionsByTopicCommand, ListTagsForResourceCommand as SnsTags, ListTopicsCommand, SNSClient } from '@aws-sdk/client-sns';
import { GetBucketTaggingCommand, ListBucketsCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import type { LoadedSpec } from '../../src/spec/types.js';

export interface Item {
  id: string;
  tags: Record<string, string>;
  /** Extra facts a check needs (subscriptions of a topic, objects of a bucket, instances of a group). */
  detail?: Record<string, unknown>;
}

/** Resource kinds as the spec names them, plus `asg-instance` (instances a group launched). */
export type Inventory = Record<string, Item[]>;

const tagMap = (t: Tag[] | { Key?: string; Value?: string }[] | undefined): Record<string, string> =>
  Object.fromEntries((t ?? []).filter((x) => x.Key).map((x) => [x.Key!, x.Value ?? '']));

export interface Clients {
  ec2: EC2Client;
  autoscaling: AutoScalingClient;
  elbv2: ElasticLoadBalancingV2Client;
  cloudwatch: CloudWatchClient;
  sns: SNSClient;
  s3: S3Client;
  iam: IAMClient;
  destroy(): void;
}

/** Plain SDK clients straight at moto. */
export function directClients(endpoint: string): Clients {
  const cfg = { region: 'us-east-1', endpoint, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } };
  const c = {
    ec2: new EC2Client(cfg),
    autoscaling: new AutoScalingClient(cfg),
    elbv2: new ElasticLoadBalancingV2Client(cfg),
    cloudwatch: new CloudWatchClient(cfg),
    sns: new SNSClient(cfg),
    s3: new S3Client({ ...cfg, forcePathStyle: true }),
    iam: new IAMClient(cfg),
  };
  return { ...c, destroy: () => Object.values(c).forEach((x) => x.destroy()) };
}

/** Everything in the account that a stack could have made (the default VPC's own parts excluded). */
export async function inventory(c: Clients): Promise<Inventory> {
  const inv: Inventory = {};
  const put = (kind: string, items: Item[]) => (inv[kind] = items);

  const vpcs = (await c.ec2.send(new DescribeVpcsCommand({}))).Vpcs ?? [];
  const defaultVpc = vpcs.find((v) => v.IsDefault)?.VpcId;
  put('vpc', vpcs.filter((v) => !v.IsDefault).map((v) => ({ id: v.VpcId!, tags: tagMap(v.Tags) })));
  put(
    'subnet',
    ((await c.ec2.send(new DescribeSubnetsCommand({}))).Subnets ?? []).filter((s) => !s.DefaultForAz).map((s) => ({ id: s.SubnetId!, tags: tagMap(s.Tags) })),
  );
  put(
    'security-group',
    ((await c.ec2.send(new DescribeSecurityGroupsCommand({}))).SecurityGroups ?? [])
      .filter((g) => g.GroupName !== 'default')
      .map((g) => ({ id: g.GroupId!, tags: tagMap(g.Tags) })),
  );
  put(
    'internet-gateway',
    ((await c.ec2.send(new DescribeInternetGatewaysCommand({}))).InternetGateways ?? [])
      .filter((g) => !(g.Attachments ?? []).some((a) => a.VpcId === defaultVpc))
      .map((g) => ({ id: g.InternetGatewayId!, tags: tagMap(g.Tags) })),
  );
  // A VPC's main route table comes with the VPC: only the tables made on their own count.
  put(
    'route-table',
    ((await c.ec2.send(new DescribeRouteTablesCommand({}))).RouteTables ?? [])
      .filter((t) => !(t.Associations ?? []).some((a) => a.Main))
      .map((t) => ({ id: t.RouteTableId!, tags: tagMap(t.Tags) })),
  );
  put('elastic-ip', ((await c.ec2.send(new DescribeAddressesCommand({}))).Addresses ?? []).map((a) => ({ id: a.AllocationId!, tags: tagMap(a.Tags) })));
  put(
    'nat-gateway',
    ((await c.ec2.send(new DescribeNatGatewaysCommand({}))).NatGateways ?? [])
      .filter((n) => n.State !== 'deleted' && n.State !== 'deleting')
      .map((n) => ({ id: n.NatGatewayId!, tags: tagMap(n.Tags) })),
  );
  put(
    'vpc-peering',
    ((await c.ec2.send(new DescribeVpcPeeringConnectionsCommand({}))).VpcPeeringConnections ?? [])
      .filter((p) => !['deleted', 'deleting', 'rejected', 'failed', 'expired'].includes(p.Status?.Code ?? ''))
      .map((p) => ({ id: p.VpcPeeringConnectionId!, tags: tagMap(p.Tags) })),
  );
  put('key-pair', ((await c.ec2.send(new DescribeKeyPairsCommand({}))).KeyPairs ?? []).map((k) => ({ id: k.KeyName!, tags: tagMap(k.Tags) })));
  put(
    'launch-template',
    ((await c.ec2.send(new DescribeLaunchTemplatesCommand({ MaxResults: 200 }))).LaunchTemplates ?? []).map((t) => ({ id: t.LaunchTemplateId!, tags: tagMap(t.Tags) })),
  );
  const instances = ((await c.ec2.send(new DescribeInstancesCommand({}))).Reservations ?? [])
    .flatMap((r) => r.Instances ?? [])
    .filter((i) => !['terminated', 'shutting-down'].includes(i.State?.Name ?? ''));
  const groups = (await c.autoscaling.send(new DescribeAutoScalingGroupsCommand({}))).AutoScalingGroups ?? [];
  const inGroups = new Set(groups.flatMap((g) => (g.Instances ?? []).map((i) => i.InstanceId!)));
  put('instance', instances.filter((i) => !inGroups.has(i.InstanceId!)).map((i) => ({ id: i.InstanceId!, tags: tagMap(i.Tags) })));
  put('asg-instance', instances.filter((i) => inGroups.has(i.InstanceId!)).map((i) => ({ id: i.InstanceId!, tags: tagMap(i.Tags) })));
  put(
    'auto-scaling-group',
    groups.map((g) => ({ id: g.AutoScalingGroupName!, tags: tagMap(g.Tags), detail: { instances: (g.Instances ?? []).length, desired: g.DesiredCapacity } })),
  );

  const lbs = (await c.elbv2.send(new DescribeLoadBalancersCommand({}))).LoadBalancers ?? [];
  const tgs = (await c.elbv2.send(new DescribeTargetGroupsCommand({}))).TargetGroups ?? [];
  const listeners = (await Promise.all(lbs.map(async (lb) => (await c.elbv2.send(new DescribeListenersCommand({ LoadBalancerArn: lb.LoadBalancerArn }))).Listeners ?? []))).flat();
  const arns = [...lbs.map((x) => x.LoadBalancerArn!), ...tgs.map((x) => x.TargetGroupArn!), ...listeners.map((x) => x.ListenerArn!)];
  const elbTags = new Map<string, Record<string, string>>();
  for (let i = 0; i < arns.length; i += 20) {
    const r = await c.elbv2.send(new DescribeTagsCommand({ ResourceArns: arns.slice(i, i + 20) }));
    for (const d of r.TagDescriptions ?? []) elbTags.set(d.ResourceArn!, tagMap(d.Tags));
  }
  put('load-balancer', lbs.map((x) => ({ id: x.LoadBalancerArn!, tags: elbTags.get(x.LoadBalancerArn!) ?? {} })));
  put('target-group', tgs.map((x) => ({ id: x.TargetGroupArn!, tags: elbTags.get(x.TargetGroupArn!) ?? {} })));
  put('listener', listeners.map((x) => ({ id: x.ListenerArn!, tags: elbTags.get(x.ListenerArn!) ?? {} })));

  const buckets = (await c.s3.send(new ListBucketsCommand({}))).Buckets ?? [];
  put(
    's3-bucket',
    await Promise.all(
      buckets.map(async (b) => {
        let tags: Record<string, string> = {};
        try {
          tags = tagMap((await c.s3.send(new GetBucketTaggingCommand({ Bucket: b.Name! }))).TagSet);
        } catch (e) {
          if ((e as Error).name !== 'NoSuchTagSet') throw e;
        }
        const keys = ((await c.s3.send(new ListObjectsV2Command({ Bucket: b.Name! }))).Contents ?? []).map((o) => o.Key!);
        return { id: b.Name!, tags, detail: { keys } };
      }),
    ),
  );
  const topics = (await c.sns.send(new ListTopicsCommand({}))).Topics ?? [];
  put(
    'sns-topic',
    await Promise.all(
      topics.map(async (t) => {
        const tags = tagMap((await c.sns.send(new SnsTags({ ResourceArn: t.TopicArn! }))).Tags);
        const subs = ((await c.sns.send(new ListSubscriptionsByTopicCommand({ TopicArn: t.TopicArn! }))).Subscriptions ?? []).map((s) => `${s.Protocol}:${s.Endpoint}`);
        return { id: t.TopicArn!, tags, detail: { subscriptions: subs } };
      }),
    ),
  );
  const alarms = (await c.cloudwatch.send(new DescribeAlarmsCommand({}))).MetricAlarms ?? [];
  put(
    'cloudwatch-alarm',
    await Promise.all(alarms.map(async (a) => ({ id: a.AlarmName!, tags: tagMap((await c.cloudwatch.send(new CwTags({ ResourceARN: a.AlarmArn! }))).Tags) }))),
  );
  const dashboards = (await c.cloudwatch.send(new ListDashboardsCommand({}))).DashboardEntries ?? [];
  put(
    'cloudwatch-dashboard',
    await Promise.all(
      dashboards.map(async (d) => {
        // Dashboards take no tags: the stack's marker is a text widget of the body.
        const body = (await c.cloudwatch.send(new GetDashboardCommand({ DashboardName: d.DashboardName! }))).DashboardBody ?? '';
        const m = /reconcile:stack=([^\s"\\]+) reconcile:id=([^\s"\\]+)/.exec(body);
        const tags: Record<string, string> = m ? { 'reconcile:stack': m[1]!, 'reconcile:id': m[2]! } : {};
        return { id: d.DashboardName!, tags };
      }),
    ),
  );
  const roles = (await c.iam.send(new ListRolesCommand({ MaxItems: 1000 }))).Roles ?? [];
  put(
    'iam-role',
    await Promise.all(roles.map(async (r) => ({ id: r.RoleName!, tags: tagMap((await c.iam.send(new GetRoleCommand({ RoleName: r.RoleName! }))).Role?.Tags) }))),
  );
  const profiles = (await c.iam.send(new ListInstanceProfilesCommand({ MaxItems: 1000 }))).InstanceProfiles ?? [];
  put(
    'instance-profile',
    await Promise.all(
      profiles.map(async (p) => ({
        id: p.InstanceProfileName!,
        tags: tagMap((await c.iam.send(new GetInstanceProfileCommand({ InstanceProfileName: p.InstanceProfileName! }))).InstanceProfile?.Tags),
        detail: { roles: (p.Roles ?? []).map((r) => r.RoleName) },
      })),
    ),
  );
  return inv;
}

/** What `after` has that `before` had not, per kind. */
export function added(before: Inventory, after: Inventory): Inventory {
  const out: Inventory = {};
  for (const [kind, items] of Object.entries(after)) {
    const had = new Set((before[kind] ?? []).map((i) => i.id));
    out[kind] = items.filter((i) => !had.has(i.id));
  }
  return out;
}

/** The resources a spec makes, by kind: its names (looked-up, reused and main-table resources excluded). */
export function expectedNames(loaded: LoadedSpec): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const r of loaded.resources) {
    const b = r.body as { lookup?: string; existing?: boolean; main?: boolean; adopt?: string };
    if (r.kind === 'alert-rule' || b.lookup || b.existing || b.main || b.adopt) continue;
    (out[r.kind] ??= []).push(r.name);
  }
  for (const v of Object.values(out)) v.sort();
  return out;
}

/**
 * Problems with what a stack's apply left, as readable lines ([] when none): every resource made is
 * tagged for the stack, each spec resource exists exactly once, nothing else was made; a group has as
 * many instances as it wants; a topic has each subscription once.
 */
export function problems(loaded: LoadedSpec, made: Inventory): string[] {
  const stack = loaded.spec.stack;
  const want = expectedNames(loaded);
  const out: string[] = [];
  for (const [kind, items] of Object.entries(made)) {
    for (const i of items) if (i.tags['reconcile:stack'] !== stack) out.push(`${kind} ${i.id} is not tagged reconcile:stack=${stack} (an orphan)`);
    if (kind === 'asg-instance') continue;
    const names = items.filter((i) => i.tags['reconcile:stack'] === stack).map((i) => i.tags['reconcile:id'] ?? '(no reconcile:id)').sort();
    const expected = want[kind] ?? [];
    if (JSON.stringify(names) !== JSON.stringify(expected)) out.push(`${kind}: expected exactly [${expected.join(', ')}], found [${names.join(', ')}]`);
  }
  for (const kind of Object.keys(want)) if (!(kind in made)) out.push(`${kind}: not counted by the inventory`);
  const groups = made['auto-scaling-group'] ?? [];
  const wantedInstances = groups.reduce((n, g) => n + Number(g.detail?.desired ?? 0), 0);
  if ((made['asg-instance'] ?? []).length !== wantedInstances)
    out.push(`Auto Scaling instances: expected ${wantedInstances}, found ${(made['asg-instance'] ?? []).length}`);
  for (const t of made['sns-topic'] ?? []) {
    const subs = (t.detail?.subscriptions as string[]) ?? [];
    if (new Set(subs).size !== subs.length) out.push(`sns-topic ${t.id} has a subscription twice: ${subs.join(', ')}`);
  }
  return out;
}
