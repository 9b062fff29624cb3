// load-balancer: an Application Load Balancer.
//
// observe: every load balancer of the region, ceil(n / 400) DescribeLoadBalancers; the stack's tag
// index (tag-index.ts: one GetResources for every indexed kind of the plan) says which are owned,
// with their tags; one whose ARN or name an `adopt:` gives is adopted (its tags: DescribeTags, 20 a
// call). No per-resource read. In a plan, one read serves load balancers, target groups and
// listeners (elbv2-shared.ts).
// In place: subnets (SetSubnets), security groups (SetSecurityGroups), tags. Replace: name, scheme.
// An empty securityGroups list means "AWS's choice" (the VPC's default group): not compared.
import {
  CreateLoadBalancerCommand,
  DeleteLoadBalancerCommand,
  DescribeLoadBalancersCommand,
  SetSecurityGroupsCommand,
  SetSubnetsCommand,
  type LoadBalancer,
} from '../aws/sdk/elbv2.js';
import { DescribeNetworkInterfacesCommand } from '../aws/sdk/ec2.js';
import { tagsToList } from '../aws/tags.js';
import { field, setField } from '../engine/diffutil.js';
import type { Ctx, Desired, Observed, Outputs, Reconciler } from '../engine/types.js';
import { elbNameHolders, elbTags, loadBalancers, syncElbTags } from './elbv2-shared.js';
import {
  adoptions,
  assertKnown,
  changesUnder,
  defaultAwsName,
  identify,
  ignoreNotFound,
  lbDimension,
  readOrAbsent,
  waitFor,
  timingOf,
} from './services-shared.js';

export type LoadBalancerLive = {
  loadBalancerName: string;
  scheme: string;
  type: string;
  subnets: string[];
  securityGroups: string[];
};

export { lbDimension };

/** The AWS name a desired load balancer has: loadBalancerName, the adopted one's, or <stack>-<name>. */
export function lbName(d: Desired<'load-balancer'>, live?: Observed<LoadBalancerLive>): string {
  if (d.spec.loadBalancerName) return d.spec.loadBalancerName;
  if (d.spec.adopt && live) return live.live.loadBalancerName;
  return defaultAwsName(d.stack, d.name, 32);
}

function toObserved(lb: LoadBalancer, tags: Record<string, string>, who: { name: string; management: Observed['management'] }): Observed<LoadBalancerLive> {
  const arn = lb.LoadBalancerArn!;
  const outputs: Outputs = {
    id: arn,
    arn,
    name: lb.LoadBalancerName,
    dnsName: lb.DNSName,
    dimension: lbDimension(arn),
    zoneId: lb.CanonicalHostedZoneId,
    vpcId: lb.VpcId,
  };
  return {
    id: arn,
    name: who.name,
    management: who.management,
    live: {
      loadBalancerName: lb.LoadBalancerName!,
      scheme: lb.Scheme ?? 'internet-facing',
      type: lb.Type ?? 'application',
      subnets: (lb.AvailabilityZones ?? []).map((z) => z.SubnetId!).filter(Boolean),
      securityGroups: lb.SecurityGroups ?? [],
    },
    tags,
    outputs,
  };
}

async function describeOne(ctx: Ctx, input: { arn?: string; name?: string }): Promise<LoadBalancer | undefined> {
  const elb = await ctx.aws.elbv2();
  const r = await readOrAbsent(() =>
    elb.send(new DescribeLoadBalancersCommand(input.arn ? { LoadBalancerArns: [input.arn] } : { Names: [input.name!] })),
  );
  return r?.LoadBalancers?.[0];
}

async function readOne(ctx: Ctx, arn: string, who: { name: string; management: Observed['management'] }): Promise<Observed<LoadBalancerLive>> {
  const lb = await describeOne(ctx, { arn });
  if (!lb) throw new Error(`load balancer ${arn} is gone`);
  const tags = (await elbTags(ctx.aws, [arn])).get(arn) ?? {};
  return toObserved(lb, tags, who);
}

/** Waits (bounded, with progress) until the load balancer is active, and returns it. */
async function waitActive(ctx: Ctx, address: string, arn: string): Promise<LoadBalancer> {
  return waitFor(ctx, address, 'the load balancer to become active', async () => {
    const lb = await describeOne(ctx, { arn });
    if (!lb) return { done: false, status: 'not visible yet' };
    const state = lb.State?.Code ?? 'unknown';
    if (state === 'active' || state === 'active_impaired') return { done: true, value: lb };
    if (state === 'failed') return { failed: lb.State?.Reason ?? 'AWS reports the load balancer failed' };
    return { done: false, status: state };
  }, timingOf(ctx).loadBalancerWaitMs);
}

const subnetIds = (d: Desired<'load-balancer'>) => d.spec.subnets.map((s) => d.ref(s).id);
const groupIds = (d: Desired<'load-balancer'>) => d.spec.securityGroups.map((g) => d.ref(g).id);

const reconciler: Reconciler<'load-balancer', LoadBalancerLive> = {
  kind: 'load-balancer',

  async observe(ctx, desired) {
    const adopted = adoptions(desired);
    const out: Observed<LoadBalancerLive>[] = [];
    for (const { lb, tags } of await loadBalancers(ctx, adopted)) {
      const who = identify(tags, ctx.stack, adopted, [lb.LoadBalancerArn, lb.LoadBalancerName]);
      if (who) out.push(toObserved(lb, tags, who));
    }
    return out;
  },

  nameHolders: (ctx, desired) =>
    elbNameHolders(ctx, desired, (d) => lbName(d), (name) => describeOne(ctx, { name }), (l) => [l.LoadBalancerArn!, l.LoadBalancerName!], 'loadBalancerName'),

  diff(d, o) {
    const live = o.live;
    return [
      ...field('loadBalancerName', live.loadBalancerName, lbName(d, o), true),
      ...field('type', live.type, 'application', true),
      ...field('scheme', live.scheme, d.spec.scheme, true),
      ...setField('subnets', live.subnets, subnetIds(d)),
      ...(d.spec.securityGroups.length ? setField('securityGroups', live.securityGroups, groupIds(d)) : []),
    ];
  },

  async create(ctx, d) {
    const name = lbName(d);
    // One attempt: moto makes a second load balancer of the same name on a retry (AWS returns the
    // first); the engine looks for it by its tags before it tries again.
    const elb = await ctx.aws.elbv2({ retries: false });
    // AWS returns the existing load balancer for a repeated create with the same settings: make
    // sure a load balancer of that name, if any, is this one's (an interrupted earlier create).
    const existing = await describeOne(ctx, { name });
    let arn: string;
    if (existing) {
      const tags = (await elbTags(ctx.aws, [existing.LoadBalancerArn!])).get(existing.LoadBalancerArn!) ?? {};
      const who = identify(tags, ctx.stack, new Map(), []);
      if (who?.name !== d.name)
        throw new Error(
          `a load balancer named ${name} already exists and is not ${d.address} of this stack: set adopt: ${existing.LoadBalancerArn} to take it over, or choose another loadBalancerName`,
        );
      arn = existing.LoadBalancerArn!;
    } else {
      assertKnown(d.address, 'subnets / securityGroups', [...subnetIds(d), ...groupIds(d)]);
      const r = await elb.send(
        new CreateLoadBalancerCommand({
          Name: name,
          Type: 'application',
          Scheme: d.spec.scheme,
          IpAddressType: 'ipv4',
          Subnets: subnetIds(d),
          ...(d.spec.securityGroups.length ? { SecurityGroups: groupIds(d) } : {}),
          Tags: tagsToList(d.tags),
        }),
      );
      arn = r.LoadBalancers![0].LoadBalancerArn!;
    }
    const lb = await waitActive(ctx, d.address, arn);
    return toObserved(lb, { ...d.tags }, { name: d.name, management: 'owned' });
  },

  async update(ctx, d, o, changes) {
    const elb = await ctx.aws.elbv2();
    if (changesUnder(changes, 'subnets').length) await elb.send(new SetSubnetsCommand({ LoadBalancerArn: o.id, Subnets: subnetIds(d) }));
    if (changesUnder(changes, 'securityGroups').length)
      await elb.send(new SetSecurityGroupsCommand({ LoadBalancerArn: o.id, SecurityGroups: groupIds(d) }));
    await syncElbTags(ctx, o.id, changes);
    return readOne(ctx, o.id, { name: d.name, management: 'owned' });
  },

  async delete(ctx, o) {
    const elb = await ctx.aws.elbv2();
    await ignoreNotFound(() => elb.send(new DeleteLoadBalancerCommand({ LoadBalancerArn: o.id })));
    const address = `load-balancer.${o.name}`;
    await waitFor(
      ctx,
      address,
      'the load balancer to be deleted',
      async () => ((await describeOne(ctx, { arn: o.id })) ? { done: false, status: 'still there' } : { done: true, value: undefined }),
      timingOf(ctx).loadBalancerWaitMs,
    );
    // Its network interfaces stay a while after the delete and keep subnets and security groups
    // from being deleted: wait until AWS has released them.
    const ec2 = await ctx.aws.ec2();
    const description = `ELB ${lbDimension(o.id)}`;
    await waitFor(ctx, address, 'its network interfaces to be released', async () => {
      const r = await ec2.send(new DescribeNetworkInterfacesCommand({ Filters: [{ Name: 'description', Values: [description] }] }));
      const n = r.NetworkInterfaces?.length ?? 0;
      return n ? { done: false, status: `${n} left` } : { done: true, value: undefined };
    }, timingOf(ctx).loadBalancerWaitMs);
  },

  permissions: {
    observe: ['tag:GetResources', 'elasticloadbalancing:DescribeLoadBalancers', 'elasticloadbalancing:DescribeTags'],
    create: [
      'elasticloadbalancing:DescribeLoadBalancers',
      'elasticloadbalancing:DescribeTags',
      'elasticloadbalancing:CreateLoadBalancer',
      'elasticloadbalancing:AddTags',
      // The first load balancer of an account creates the Elastic Load Balancing service-linked role.
      'iam:CreateServiceLinkedRole',
    ],
    update: [
      'elasticloadbalancing:SetSubnets',
      'elasticloadbalancing:SetSecurityGroups',
      'elasticloadbalancing:AddTags',
      'elasticloadbalancing:RemoveTags',
      'elasticloadbalancing:DescribeLoadBalancers',
      'elasticloadbalancing:DescribeTags',
    ],
    delete: ['elasticloadbalancing:DeleteLoadBalancer', 'elasticloadbalancing:DescribeLoadBalancers', 'ec2:DescribeNetworkInterfaces'],
  },
};

export default reconciler;
