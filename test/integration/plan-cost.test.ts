// What a plan costs in AWS calls, exactly (issue 7; timings are in bench/RESULTS.md, never here).
// A converged plan reads each EC2 kind once, whatever the number of EC2 resources and instances;
// only reads AWS has no bulk form of grow with the stack (S3 bucket settings, SNS topic attributes,
// listeners per load balancer, VPC DNS attributes); tags come from one tag index. A re-apply of a
// converged stack makes no write call.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startMoto, type Moto } from '../helpers/moto.js';
import { Aws } from '../../src/aws/clients.js';
import { resetLimiters } from '../../src/aws/limiter.js';
import { loadSpec } from '../../src/spec/load.js';
import { applyPlan, makePlan } from '../helpers/engine.js';
import type { Ctx } from '../../src/engine/types.js';
import type { LoadedSpec } from '../../src/spec/types.js';
// @ts-expect-error -- a plain .mjs module of the benchmark (no types): the same N-copy spec it measures
import { clockAppHaCopies } from '../../bench/gen-spec.mjs';

let moto: Moto;
let dir: string;

beforeAll(async () => {
  // Call counts do not depend on the client-side rate limiter; it only slows the applies down.
  process.env.RECONCILE_RATE_SCALE = 'off';
  resetLimiters();
  moto = await startMoto();
  dir = mkdtempSync(join(tmpdir(), 'reconcile-plan-cost-'));
  cpSync('examples', dir, { recursive: true });
});
afterAll(async () => {
  delete process.env.RECONCILE_RATE_SCALE;
  resetLimiters();
  await moto?.stop();
});

function ctx(stack: string): Ctx {
  return { stack, region: 'us-east-1', aws: new Aws({ region: 'us-east-1', endpoint: moto.endpoint }), emit: () => {} };
}

function load(file: string): LoadedSpec {
  const r = loadSpec(file);
  if (!r.ok) throw new Error(JSON.stringify(r.diagnostics, null, 2));
  return r.loaded;
}

/** Applies the spec from wherever AWS is, then plans it again: the second plan's calls. */
async function converge(loaded: LoadedSpec) {
  const c1 = ctx(loaded.spec.stack);
  const first = await makePlan(loaded, c1);
  await applyPlan(first.plan, first.state, c1);
  c1.aws.destroy();
  const c2 = ctx(loaded.spec.stack);
  const again = await makePlan(loaded, c2);
  const counts = c2.aws.counts();
  return { again, counts, ctx: c2 };
}

async function destroy(loaded: LoadedSpec) {
  const c = ctx(loaded.spec.stack);
  const d = await makePlan(loaded, c, { destroy: true });
  await applyPlan(d.plan, d.state, c);
  c.aws.destroy();
}

const total = (byOperation: Record<string, number>) => Object.values(byOperation).reduce((a, b) => a + b, 0);
const ec2Reads = (byOperation: Record<string, number>) => Object.fromEntries(Object.entries(byOperation).filter(([k]) => k.startsWith('ec2:')));

/** The calls of a converged plan of examples/clock-app-ha.yaml (one copy). */
const ONE_COPY: Record<string, number> = {
  'autoscaling:DescribeAutoScalingGroups': 1,
  'autoscaling:DescribeNotificationConfigurations': 1,
  'autoscaling:DescribePolicies': 1,
  'cloudwatch:DescribeAlarms': 1,
  // The stack's dashboards (<stack>-* and the spec's names): the plan reads every kind of the services
  // the spec uses, so a dashboard that left the spec is still found and listed as kept.
  'cloudwatch:ListDashboards': 1,
  'ec2:DescribeImages': 1, // the launch template's AMI lookup
  'ec2:DescribeInternetGateways': 1,
  'ec2:DescribeLaunchTemplateVersions': 1,
  'ec2:DescribeLaunchTemplates': 1,
  'ec2:DescribeRouteTables': 1,
  'ec2:DescribeSecurityGroups': 1,
  'ec2:DescribeSubnets': 1,
  'ec2:DescribeTags': 2, // the stack's EC2 inventory, and the launch templates' tags
  'ec2:DescribeVpcAttribute': 2, // DNS support and hostnames: per VPC, one attribute a call
  'ec2:DescribeVpcs': 1,
  'elbv2:DescribeListeners': 1, // per load balancer
  'elbv2:DescribeLoadBalancers': 1,
  'elbv2:DescribeTags': 1, // the listeners' (the tag index has no listeners)
  'elbv2:DescribeTargetGroups': 1,
  'iam:GetAccountAuthorizationDetails': 1, // every role, with its policies and tags (IAM has no tag filter)
  'iam:ListInstanceProfiles': 1, // with their tags on moto (AWS leaves them out: a GetInstanceProfile for the stack's)
  's3:GetBucketEncryption': 1,
  's3:GetBucketLifecycleConfiguration': 1,
  's3:GetBucketPolicy': 1,
  's3:GetBucketVersioning': 1,
  's3:GetPublicAccessBlock': 1,
  's3:HeadObject': 1, // no GetObjectAcl: the bucket blocks public ACLs
  's3:ListBuckets': 1,
  'sns:GetTopicAttributes': 1,
  'sns:ListSubscriptionsByTopic': 1, // one topic: read by topic (the account-wide listing takes 2 or more)
  // The tags of the alarms, topic, bucket, load balancer and target group, in one call (tag-index.ts);
  // it also shows the stack has no instance of its own (the group's carry no reconcile:id), so no
  // DescribeInstances though the group's instances carry the stack tag.
  'tagging:GetResources': 1,
};

/** Calls per copy of the stack, where AWS has no bulk read: everything else is the same for 1 or 5 copies. */
const PER_COPY: Record<string, number> = {
  'ec2:DescribeVpcAttribute': 2,
  'elbv2:DescribeListeners': 1,
  's3:GetBucketEncryption': 1,
  's3:GetBucketLifecycleConfiguration': 1,
  's3:GetBucketPolicy': 1,
  's3:GetBucketVersioning': 1,
  's3:GetPublicAccessBlock': 1,
  's3:HeadObject': 1,
  'sns:GetTopicAttributes': 1,
};

describe('a converged plan of clock-app-ha', () => {
  it('makes exactly these calls, reads only, and a re-apply writes nothing', async () => {
    const loaded = load(join(dir, 'clock-app-ha.yaml'));
    const { again, counts, ctx: c } = await converge(loaded);
    expect(again.plan.changes.filter((x) => !['noop', 'read'].includes(x.action))).toEqual([]);
    expect(counts.byOperation).toEqual(ONE_COPY);
    expect(counts.writes).toBe(0);
    expect(total(counts.byOperation)).toBe(33);

    await applyPlan(again.plan, again.state, c);
    expect(c.aws.counts().writes, JSON.stringify(c.aws.counts().byOperation)).toBe(0);
    c.aws.destroy();
  });

  it('still finds (and keeps) a resource of a kind the spec no longer uses', async () => {
    // The EC2 inventory (one DescribeTags) stands in for the describes of unused kinds: an Elastic IP
    // left by an earlier version of the spec must still show, so its kind is described.
    const loaded = load(join(dir, 'clock-app-ha.yaml'));
    const withIp = join(dir, 'clock-app-ha-with-ip.yaml');
    writeFileSync(
      withIp,
      `${readFileSync(join(dir, 'clock-app-ha.yaml'), 'utf8')}\n  spare-ip:\n    kind: elastic-ip\n  spare-vm:\n    kind: instance\n    ami: { owner: amazon, name: al2023-ami-2023.*-x86_64 }\n    instanceType: t3.micro\n    subnet: public-a\n`,
    );
    await converge(load(withIp)); // the stack as the first test left it, plus the Elastic IP
    const c = ctx(loaded.spec.stack);
    const { plan } = await makePlan(loaded, c);
    expect(plan.changes.filter((x) => x.action === 'keep').map((x) => x.address).sort()).toEqual(['elastic-ip.spare-ip', 'instance.spare-vm']);
    expect(c.aws.counts().byOperation['ec2:DescribeAddresses']).toBe(1);
    // The tag index lists the instance (it has a reconcile:id), so instances are described.
    expect(c.aws.counts().byOperation['ec2:DescribeInstances']).toBe(1);
    expect(c.aws.counts().byOperation['ec2:DescribeNatGateways']).toBeUndefined();
    c.aws.destroy();
    await destroy(load(withIp));
  });
});

describe('a converged plan of 5 copies of clock-app-ha in one spec', () => {
  it('reads each EC2 kind once; only per-resource reads AWS has no bulk form of grow; at most 100 calls', async () => {
    const file = join(dir, 'five.yaml');
    writeFileSync(file, clockAppHaCopies(5, { stack: 'plan-cost-5' }) as string);
    const loaded = load(file);
    const { again, counts, ctx: c } = await converge(loaded);
    expect(again.plan.changes.filter((x) => !['noop', 'read'].includes(x.action))).toEqual([]);
    const expected: Record<string, number> = Object.fromEntries(Object.entries(ONE_COPY).map(([op, n]) => [op, n + 4 * (PER_COPY[op] ?? 0)]));
    // 5 topics: their subscriptions from one page of the account's (ListSubscriptions), none by topic.
    delete expected['sns:ListSubscriptionsByTopic'];
    expected['sns:ListSubscriptions'] = 1;
    expect(counts.byOperation).toEqual(expected);
    // Same EC2 reads as one copy, but the DNS attributes of the 4 more VPCs.
    expect(ec2Reads(counts.byOperation)).toEqual({ ...ec2Reads(ONE_COPY), 'ec2:DescribeVpcAttribute': 10 });
    expect(total(counts.byOperation)).toBe(73); // 33 + 4 x 10, one ListSubscriptions for 5 ListSubscriptionsByTopic
    expect(total(counts.byOperation)).toBeLessThanOrEqual(100);
    expect(counts.writes).toBe(0);

    await applyPlan(again.plan, again.state, c);
    expect(c.aws.counts().writes, JSON.stringify(c.aws.counts().byOperation)).toBe(0);
    c.aws.destroy();
    await destroy(loaded);
  });
});

describe('S3 object ACLs', () => {
  it('are read only where an ACL can make the object public', async () => {
    // webserver-s3-image's bucket lets its image be public: its ACL matters and is read.
    const loaded = load(join(dir, 'webserver-s3-image.yaml'));
    const { counts } = await converge(loaded);
    const objects = (loaded.resources.find((r) => r.kind === 's3-bucket')!.body as { objects: unknown[] }).objects.length;
    expect(counts.byOperation['s3:HeadObject']).toBe(objects);
    expect(counts.byOperation['s3:GetObjectAcl']).toBe(objects);
    await destroy(loaded);
  });
});
