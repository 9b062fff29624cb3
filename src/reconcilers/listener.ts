// listener: a port on a load balancer, forwarding to a target group or redirecting.
//
// observe: listeners have no bulk read. The stack's load balancers (DescribeLoadBalancers and the
// tag index, shared with the load-balancer observe in a plan) plus those the desired
// listeners name by ARN; then one DescribeListeners per load balancer (concurrently, 400 a page) and
// ceil(listeners / 20) DescribeTags. An `adopt:` listener ARN not found that way: one more
// DescribeListeners by ARN.
// In place: port, protocol, certificateArn, forward / redirect (ModifyListener), tags.
// Replace: loadBalancer.
import {
  CreateListenerCommand,
  DeleteListenerCommand,
  DescribeListenersCommand,
  ModifyListenerCommand,
  type Action,
  type Listener,
} from '../aws/sdk/elbv2.js';
import { tagsToList } from '../aws/tags.js';
import { field } from '../engine/diffutil.js';
import type { Ctx, Desired, Observed, Outputs, Reconciler } from '../engine/types.js';
import { elbPageSize, elbTags, stackLoadBalancers, syncElbTags } from './elbv2-shared.js';
import { adoptions, allPages, assertKnown, identify, ignoreNotFound, known, mapLimit, readOrAbsent, tryRef } from './services-shared.js';

export type RedirectLive = { protocol: string; port: number; statusCode: string };

export type ListenerLive = {
  loadBalancer: string;
  protocol: string;
  port: number;
  certificateArn?: string;
  forward?: string;
  redirect?: RedirectLive;
};

function actionLive(actions: Action[] | undefined): Pick<ListenerLive, 'forward' | 'redirect'> {
  const a = (actions ?? []).slice().sort((x, y) => (x.Order ?? 0) - (y.Order ?? 0))[0];
  if (!a) return {};
  if (a.Type === 'forward') return { forward: a.TargetGroupArn ?? a.ForwardConfig?.TargetGroups?.[0]?.TargetGroupArn };
  if (a.Type === 'redirect' && a.RedirectConfig)
    return {
      redirect: {
        protocol: a.RedirectConfig.Protocol ?? '#{protocol}',
        port: Number(a.RedirectConfig.Port ?? 443),
        statusCode: a.RedirectConfig.StatusCode ?? 'HTTP_301',
      },
    };
  return {};
}

function toObserved(l: Listener, tags: Record<string, string>, who: { name: string; management: Observed['management'] }): Observed<ListenerLive> {
  const arn = l.ListenerArn!;
  const live: ListenerLive = { loadBalancer: l.LoadBalancerArn!, protocol: l.Protocol!, port: l.Port!, ...actionLive(l.DefaultActions) };
  const cert = l.Certificates?.[0]?.CertificateArn;
  if (cert) live.certificateArn = cert;
  const outputs: Outputs = { id: arn, arn };
  return { id: arn, name: who.name, management: who.management, live, tags, outputs };
}

/** The load balancer ARN a desired listener belongs to (UNKNOWN while it is to be created). */
const lbArn = (d: Desired<'listener'>): string => {
  const r = d.ref(d.spec.loadBalancer);
  return r.arn ?? r.id;
};

/** The target group ARN a forward goes to. */
const tgArn = (d: Desired<'listener'>, name: string): string => {
  const r = d.ref(name);
  return r.arn ?? r.id;
};

function desiredActions(d: Desired<'listener'>): Action[] {
  if (d.spec.forward) return [{ Type: 'forward', TargetGroupArn: tgArn(d, d.spec.forward) }];
  const r = d.spec.redirect!;
  return [
    {
      Type: 'redirect',
      RedirectConfig: { Protocol: r.protocol, Port: String(r.port), Host: '#{host}', Path: '/#{path}', Query: '#{query}', StatusCode: r.statusCode },
    },
  ];
}

const certificates = (d: Desired<'listener'>) => (d.spec.protocol === 'HTTPS' && d.spec.certificateArn ? [{ CertificateArn: d.spec.certificateArn }] : undefined);

async function listenersOf(ctx: Ctx, lb: string): Promise<Listener[]> {
  const elb = await ctx.aws.elbv2();
  return (
    (await readOrAbsent(() =>
      allPages(async (Marker) => {
        const r = await elb.send(new DescribeListenersCommand({ LoadBalancerArn: lb, Marker, PageSize: elbPageSize.value }));
        return { items: r.Listeners, next: r.NextMarker };
      }),
    )) ?? []
  );
}

async function readOne(ctx: Ctx, arn: string): Promise<Listener | undefined> {
  const elb = await ctx.aws.elbv2();
  return (await readOrAbsent(() => elb.send(new DescribeListenersCommand({ ListenerArns: [arn] }))))?.Listeners?.[0];
}

const reconciler: Reconciler<'listener', ListenerLive> = {
  kind: 'listener',

  async observe(ctx, desired) {
    const adopted = adoptions(desired);
    const lbs = new Set((await stackLoadBalancers(ctx)).map((t) => t.lb.LoadBalancerArn!));
    // Listeners of the stack may sit on a load balancer it does not own (an ARN in the spec, or
    // one adopted and already observed).
    for (const d of desired) {
      const r = tryRef(d, d.spec.loadBalancer);
      const arn = r?.arn ?? r?.id;
      if (known(arn) && arn.startsWith('arn:')) lbs.add(arn);
    }
    const listeners = (await mapLimit([...lbs], (lb) => listenersOf(ctx, lb))).flat();
    const seen = new Set(listeners.map((l) => l.ListenerArn!));
    for (const arn of adopted.keys()) {
      if (seen.has(arn) || !arn.startsWith('arn:')) continue;
      const l = await readOne(ctx, arn);
      if (l) listeners.push(l);
    }
    const tags = await elbTags(
      ctx.aws,
      listeners.map((l) => l.ListenerArn!),
    );
    const out: Observed<ListenerLive>[] = [];
    for (const l of listeners) {
      const t = tags.get(l.ListenerArn!);
      if (!t) continue;
      const who = identify(t, ctx.stack, adopted, [l.ListenerArn]);
      if (who) out.push(toObserved(l, t, who));
    }
    return out;
  },

  diff(d, o) {
    const live = o.live;
    return [
      ...field('loadBalancer', live.loadBalancer, lbArn(d), true),
      ...field('protocol', live.protocol, d.spec.protocol),
      ...field('port', live.port, d.spec.port),
      ...field('certificateArn', live.certificateArn, d.spec.protocol === 'HTTPS' ? d.spec.certificateArn : undefined),
      ...field('forward', live.forward, d.spec.forward ? tgArn(d, d.spec.forward) : undefined),
      ...field('redirect', live.redirect, d.spec.redirect ? { ...d.spec.redirect } : undefined),
    ];
  },

  async create(ctx, d) {
    // One attempt: a retried create makes a second listener on moto; the engine looks first.
    const elb = await ctx.aws.elbv2({ retries: false });
    const input = {
      LoadBalancerArn: lbArn(d),
      Protocol: d.spec.protocol,
      Port: d.spec.port,
      Certificates: certificates(d),
      DefaultActions: desiredActions(d),
    };
    assertKnown(d.address, 'loadBalancer / forward', input);
    const r = await elb.send(new CreateListenerCommand({ ...input, Tags: tagsToList(d.tags) }));
    return toObserved(r.Listeners![0], { ...d.tags }, { name: d.name, management: 'owned' });
  },

  async update(ctx, d, o, changes) {
    const elb = await ctx.aws.elbv2();
    if (changes.some((c) => !c.path.startsWith('tags.'))) {
      // Every setting at once: a protocol change from HTTPS to HTTP drops the certificate with it.
      await elb.send(
        new ModifyListenerCommand({
          ListenerArn: o.id,
          Protocol: d.spec.protocol,
          Port: d.spec.port,
          Certificates: certificates(d),
          DefaultActions: desiredActions(d),
        }),
      );
    }
    await syncElbTags(ctx, o.id, changes);
    const l = await readOne(ctx, o.id);
    if (!l) throw new Error(`listener ${o.id} is gone`);
    return toObserved(l, (await elbTags(ctx.aws, [o.id])).get(o.id) ?? {}, { name: d.name, management: 'owned' });
  },

  async delete(ctx, o) {
    const elb = await ctx.aws.elbv2();
    // Deleting its load balancer deletes the listener too: then it is already gone.
    await ignoreNotFound(() => elb.send(new DeleteListenerCommand({ ListenerArn: o.id })));
  },

  permissions: {
    observe: ['tag:GetResources', 'elasticloadbalancing:DescribeLoadBalancers', 'elasticloadbalancing:DescribeListeners', 'elasticloadbalancing:DescribeTags'],
    create: ['elasticloadbalancing:CreateListener', 'elasticloadbalancing:AddTags'],
    update: [
      'elasticloadbalancing:ModifyListener',
      'elasticloadbalancing:AddTags',
      'elasticloadbalancing:RemoveTags',
      'elasticloadbalancing:DescribeListeners',
      'elasticloadbalancing:DescribeTags',
    ],
    delete: ['elasticloadbalancing:DeleteListener'],
  },
};

export default reconciler;
