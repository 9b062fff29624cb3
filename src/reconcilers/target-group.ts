// target-group: where a load balancer sends requests (instances or IPs), with its health check.
//
// observe: every target group of the region, ceil(n / 400) DescribeTargetGroups; the stack's tag
// index (tag-index.ts: one GetResources for every indexed kind of the plan) says which are owned,
// with their tags; one named by an `adopt:` ARN or name is adopted (its tags: DescribeTags, 20 a
// call). No per-resource read. In a plan, read together with the load balancers (elbv2-shared.ts).
// In place: healthCheck.* (ModifyTargetGroup; healthCheck.protocol defaults to the group's protocol), tags. Replace: name, protocol, port, vpc, targetType.
import {
  CreateTargetGroupCommand,
  DeleteTargetGroupCommand,
  DescribeTargetGroupsCommand,
  ModifyTargetGroupCommand,
  type TargetGroup,
} from '../aws/sdk/elbv2.js';
import { tagsToList } from '../aws/tags.js';
import { field } from '../engine/diffutil.js';
import type { Ctx, Desired, FieldChange, Observed, Outputs, Reconciler } from '../engine/types.js';
import { elbNameHolders, elbTags, syncElbTags, targetGroups } from './elbv2-shared.js';
import {
  adoptions,
  assertKnown,
  changesUnder,
  defaultAwsName,
  identify,
  isError,
  readOrAbsent,
  retryWhile,
} from './services-shared.js';

export type HealthCheckLive = {
  protocol?: string;
  path: string;
  port: 'traffic-port' | number;
  interval: number;
  timeout: number;
  healthyThreshold: number;
  unhealthyThreshold: number;
  matcher: string;
};

export type TargetGroupLive = {
  targetGroupName: string;
  vpc?: string;
  protocol?: string;
  port?: number;
  targetType: string;
  healthCheck: HealthCheckLive;
};

/** The TargetGroup dimension CloudWatch uses: `targetgroup/<name>/<id>`, the end of the ARN. */
export const tgDimension = (arn: string): string => /:(targetgroup\/.*)$/.exec(arn)?.[1] ?? arn;

export function tgName(d: Desired<'target-group'>, live?: Observed<TargetGroupLive>): string {
  if (d.spec.targetGroupName) return d.spec.targetGroupName;
  if (d.spec.adopt && live) return live.live.targetGroupName;
  return defaultAwsName(d.stack, d.name, 32);
}

function toObserved(tg: TargetGroup, tags: Record<string, string>, who: { name: string; management: Observed['management'] }): Observed<TargetGroupLive> {
  const arn = tg.TargetGroupArn!;
  const port = tg.HealthCheckPort ?? 'traffic-port';
  const outputs: Outputs = { id: arn, arn, name: tg.TargetGroupName, dimension: tgDimension(arn) };
  return {
    id: arn,
    name: who.name,
    management: who.management,
    live: {
      targetGroupName: tg.TargetGroupName!,
      vpc: tg.VpcId,
      protocol: tg.Protocol,
      port: tg.Port,
      targetType: tg.TargetType ?? 'instance',
      healthCheck: {
        protocol: tg.HealthCheckProtocol ?? tg.Protocol,
        path: tg.HealthCheckPath ?? '/',
        port: port === 'traffic-port' ? port : Number(port),
        interval: tg.HealthCheckIntervalSeconds ?? 30,
        timeout: tg.HealthCheckTimeoutSeconds ?? 5,
        healthyThreshold: tg.HealthyThresholdCount ?? 5,
        unhealthyThreshold: tg.UnhealthyThresholdCount ?? 2,
        matcher: tg.Matcher?.HttpCode ?? '200',
      },
    },
    tags,
    outputs,
  };
}

async function describeOne(ctx: Ctx, input: { arn?: string; name?: string }): Promise<TargetGroup | undefined> {
  const elb = await ctx.aws.elbv2();
  const r = await readOrAbsent(() => elb.send(new DescribeTargetGroupsCommand(input.arn ? { TargetGroupArns: [input.arn] } : { Names: [input.name!] })));
  return r?.TargetGroups?.[0];
}

async function readOne(ctx: Ctx, arn: string, who: { name: string; management: Observed['management'] }): Promise<Observed<TargetGroupLive>> {
  const tg = await describeOne(ctx, { arn });
  if (!tg) throw new Error(`target group ${arn} is gone`);
  return toObserved(tg, (await elbTags(ctx.aws, [arn])).get(arn) ?? {}, who);
}

/** The health check settings as the API takes them (every field, so a modify sets them all). */
function healthCheckInput(d: Desired<'target-group'>) {
  const h = d.spec.healthCheck;
  return {
    HealthCheckEnabled: true,
    HealthCheckProtocol: healthProtocol(d),
    HealthCheckPath: h.path,
    HealthCheckPort: String(h.port),
    HealthCheckIntervalSeconds: h.interval,
    HealthCheckTimeoutSeconds: h.timeout,
    HealthyThresholdCount: h.healthyThreshold,
    UnhealthyThresholdCount: h.unhealthyThreshold,
    Matcher: { HttpCode: h.matcher },
  };
}

const healthProtocol = (d: Desired<'target-group'>): 'HTTP' | 'HTTPS' => d.spec.healthCheck.protocol ?? d.spec.protocol;

const HEALTH_FIELDS = ['path', 'port', 'interval', 'timeout', 'healthyThreshold', 'unhealthyThreshold', 'matcher'] as const;

const reconciler: Reconciler<'target-group', TargetGroupLive> = {
  kind: 'target-group',

  async observe(ctx, desired) {
    const adopted = adoptions(desired);
    const out: Observed<TargetGroupLive>[] = [];
    for (const { tg: g, tags: t } of await targetGroups(ctx, adopted)) {
      const who = identify(t, ctx.stack, adopted, [g.TargetGroupArn, g.TargetGroupName]);
      if (who) out.push(toObserved(g, t, who));
    }
    return out;
  },

  nameHolders: (ctx, desired) =>
    elbNameHolders(ctx, desired, (d) => tgName(d), (name) => describeOne(ctx, { name }), (g) => [g.TargetGroupArn!, g.TargetGroupName!], 'targetGroupName'),

  diff(d, o) {
    const live = o.live;
    const hc = d.spec.healthCheck;
    const out: FieldChange[] = [
      ...field('targetGroupName', live.targetGroupName, tgName(d, o), true),
      ...field('protocol', live.protocol, d.spec.protocol, true),
      ...field('port', live.port, d.spec.port, true),
      ...field('vpc', live.vpc, d.ref(d.spec.vpc).id, true),
      ...field('targetType', live.targetType, d.spec.targetType, true),
    ];
    out.push(...field('healthCheck.protocol', live.healthCheck.protocol, healthProtocol(d)));
    for (const k of HEALTH_FIELDS) out.push(...field(`healthCheck.${k}`, live.healthCheck[k], hc[k]));
    return out;
  },

  async create(ctx, d) {
    const name = tgName(d);
    const vpcId = d.ref(d.spec.vpc).id;
    assertKnown(d.address, 'vpc', vpcId);
    // A create with the name of an existing group returns it (AWS) or makes a second one (moto):
    // look first, and take it only if it is this one (an interrupted earlier create).
    const existing = await describeOne(ctx, { name });
    if (existing) {
      const tags = (await elbTags(ctx.aws, [existing.TargetGroupArn!])).get(existing.TargetGroupArn!) ?? {};
      if (identify(tags, ctx.stack, new Map(), [])?.name !== d.name)
        throw new Error(
          `a target group named ${name} already exists and is not ${d.address} of this stack: set adopt: ${existing.TargetGroupArn} to take it over, or choose another targetGroupName`,
        );
      return toObserved(existing, tags, { name: d.name, management: 'owned' });
    }
    // One attempt: the engine looks for the group by its tags before it tries again.
    const elb = await ctx.aws.elbv2({ retries: false });
    const r = await elb.send(
      new CreateTargetGroupCommand({
        Name: name,
        Protocol: d.spec.protocol,
        Port: d.spec.port,
        VpcId: vpcId,
        TargetType: d.spec.targetType,
        ...healthCheckInput(d),
        Tags: tagsToList(d.tags),
      }),
    );
    return toObserved(r.TargetGroups![0], { ...d.tags }, { name: d.name, management: 'owned' });
  },

  async update(ctx, d, o, changes) {
    if (changesUnder(changes, 'healthCheck').length) {
      const elb = await ctx.aws.elbv2();
      await elb.send(new ModifyTargetGroupCommand({ TargetGroupArn: o.id, ...healthCheckInput(d) }));
    }
    await syncElbTags(ctx, o.id, changes);
    return readOne(ctx, o.id, { name: d.name, management: 'owned' });
  },

  async delete(ctx, o) {
    const elb = await ctx.aws.elbv2();
    // A group stays "in use" for a moment after the listener (or rule) using it is deleted.
    try {
      await retryWhile(
        ctx,
        `target-group.${o.name}`,
        'deleting the target group',
        () => elb.send(new DeleteTargetGroupCommand({ TargetGroupArn: o.id })),
        (e) => isError(e, 'ResourceInUseException', 'ResourceInUse'),
      );
    } catch (e) {
      if (!isError(e, 'TargetGroupNotFoundException', 'TargetGroupNotFound')) throw e;
    }
  },

  permissions: {
    observe: ['tag:GetResources', 'elasticloadbalancing:DescribeTargetGroups', 'elasticloadbalancing:DescribeTags'],
    create: [
      'elasticloadbalancing:DescribeTargetGroups',
      'elasticloadbalancing:DescribeTags',
      'elasticloadbalancing:CreateTargetGroup',
      'elasticloadbalancing:AddTags',
    ],
    update: [
      'elasticloadbalancing:ModifyTargetGroup',
      'elasticloadbalancing:AddTags',
      'elasticloadbalancing:RemoveTags',
      'elasticloadbalancing:DescribeTargetGroups',
      'elasticloadbalancing:DescribeTags',
    ],
    delete: ['elasticloadbalancing:DeleteTargetGroup'],
  },
};

export default reconciler;
