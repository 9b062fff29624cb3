// cloudwatch-dashboard: a CloudWatch dashboard of metric widgets over spec resources.
//
// The body is generated: widgets laid out in rows of 24 columns, each line a metric of an instance
// (InstanceId), a group (AutoScalingGroupName) or a load balancer (LoadBalancer), and a last text
// widget saying the dashboard is managed, with reconcile:stack and reconcile:id -- dashboards take no
// tags, so that line is how the stack knows its own. The body is compared as JSON (one field, `body`).
//
// observe: ListDashboards (paginated) by the prefix <stack>- and by the names the spec gives, then
// GetDashboard for each of those (CloudWatch has no bulk read of bodies). A dashboard of the stack
// with a name outside <stack>- that left the spec is not found (destroy and prune keep it).
// In place: body (PutDashboard, an upsert). Replace: dashboardName.
import { DeleteDashboardsCommand, GetDashboardCommand, ListDashboardsCommand, PutDashboardCommand } from '../aws/sdk/cloudwatch.js';
import { TAG_ID, TAG_STACK } from '../aws/tags.js';
import { field } from '../engine/diffutil.js';
import { holdersByName } from '../engine/ownership.js';
import { UNKNOWN, type Ctx, type Desired, type FieldChange, type Observed, type Reconciler } from '../engine/types.js';
import type { DashboardWidget } from '../spec/kinds/dashboard.js';
import { adoptions, allPages, defaultAwsName, ignoreNotFound, mapLimit, readOrAbsent } from './services-shared.js';

export type DashboardLive = {
  dashboardName: string;
  body: unknown;
  /** The region the dashboard's metrics are in (the stack's): the body names it. */
  region: string;
};

export const dashboardNameOf = (d: Desired<'cloudwatch-dashboard'>): string => d.spec.dashboardName ?? defaultAwsName(d.stack, d.name);

const marker = (stack: string, name: string) => `${TAG_STACK}=${stack} ${TAG_ID}=${name}`;

/** The metric lines of one widget: [namespace, metric, dimension, value] per target and metric. */
function lines(d: Desired<'cloudwatch-dashboard'>, w: DashboardWidget): string[][] {
  const targets: [string, string][] = w.instances
    ? w.instances.map((i) => ['InstanceId', d.ref(i).id])
    : w.autoScalingGroup
      ? [['AutoScalingGroupName', d.ref(w.autoScalingGroup).name ?? d.ref(w.autoScalingGroup).id]]
      : [['LoadBalancer', d.ref(w.loadBalancer!).dimension ?? d.ref(w.loadBalancer!).id]];
  const namespace = w.namespace ?? (w.loadBalancer ? 'AWS/ApplicationELB' : 'AWS/EC2');
  return w.metrics.flatMap((m) => targets.map(([dim, value]) => [namespace, m, dim, value ?? UNKNOWN]));
}

/** The dashboard body the spec describes, as CloudWatch stores it. */
export function dashboardBody(d: Desired<'cloudwatch-dashboard'>, region: string): unknown {
  let x = 0;
  let y = 0;
  let rowHeight = 0;
  const widgets: unknown[] = d.spec.widgets.map((w) => {
    if (x + w.width > 24) [x, y, rowHeight] = [0, y + rowHeight, 0];
    const out = {
      type: 'metric',
      x,
      y,
      width: w.width,
      height: w.height,
      properties: { title: w.title, view: 'timeSeries', region, stat: w.statistic, period: w.period, metrics: lines(d, w) },
    };
    x += w.width;
    rowHeight = Math.max(rowHeight, w.height);
    return out;
  });
  widgets.push({
    type: 'text',
    x: 0,
    y: y + rowHeight,
    width: 24,
    height: 1,
    properties: { markdown: `Managed by reconcile (${d.address}): edits by hand are put back. ${marker(d.stack, d.name)}` },
  });
  return { widgets };
}

/** The stack and name a body's marker names, if it has one. */
function ownerOf(body: unknown): { stack: string; name: string } | undefined {
  const widgets = (body as { widgets?: { type?: string; properties?: { markdown?: string } }[] })?.widgets ?? [];
  for (const w of widgets) {
    const m = new RegExp(`${TAG_STACK}=(\\S+) ${TAG_ID}=(\\S+)`).exec(w.properties?.markdown ?? '');
    if (w.type === 'text' && m) return { stack: m[1], name: m[2] };
  }
  return undefined;
}

async function readBodies(ctx: Ctx, names: string[]): Promise<{ name: string; body: unknown }[]> {
  const cw = await ctx.aws.cloudwatch();
  const found = await mapLimit(names, async (name) => {
    const r = await readOrAbsent(() => cw.send(new GetDashboardCommand({ DashboardName: name })), 'ResourceNotFound', 'DashboardNotFoundError');
    return r?.DashboardBody ? { name, body: JSON.parse(r.DashboardBody) as unknown } : undefined;
  });
  return found.filter((f): f is { name: string; body: unknown } => f !== undefined);
}

async function listNames(ctx: Ctx, prefix?: string): Promise<string[]> {
  const cw = await ctx.aws.cloudwatch();
  const all = await allPages(async (NextToken) => {
    const r = await cw.send(new ListDashboardsCommand({ DashboardNamePrefix: prefix, NextToken }));
    return { items: r.DashboardEntries, next: r.NextToken };
  });
  return all.map((e) => e.DashboardName!);
}

const observedOf = (name: string, body: unknown, region: string, who: { name: string; management: Observed['management'] }): Observed<DashboardLive> => ({
  id: name,
  name: who.name,
  management: who.management,
  live: { dashboardName: name, body, region },
  // Its marker, as the tags a dashboard cannot carry: what the engine checks before a change.
  tags: ownerOf(body) ? { [TAG_STACK]: ownerOf(body)!.stack, [TAG_ID]: ownerOf(body)!.name } : {},
  outputs: { id: name, name },
});

const reconciler: Reconciler<'cloudwatch-dashboard', DashboardLive> = {
  kind: 'cloudwatch-dashboard',

  async observe(ctx, desired) {
    const adopted = adoptions(desired);
    const named = new Set([...desired.map(dashboardNameOf), ...adopted.keys()]);
    const listed = await listNames(ctx);
    const candidates = listed.filter((n) => named.has(n) || n.startsWith(`${ctx.stack}-`));
    const out: Observed<DashboardLive>[] = [];
    for (const { name, body } of await readBodies(ctx, candidates)) {
      const owner = ownerOf(body);
      if (owner?.stack === ctx.stack) out.push(observedOf(name, body, ctx.region, { name: owner.name, management: 'owned' }));
      else if (adopted.has(name)) out.push(observedOf(name, body, ctx.region, { name: adopted.get(name)!, management: 'adopted' }));
    }
    return out;
  },

  // Dashboards take no tags: the marker in the body is what a holder's "tags" are.
  async nameHolders(ctx, desired) {
    const names = new Set(desired.map(dashboardNameOf));
    const held = (await readBodies(ctx, (await listNames(ctx)).filter((n) => names.has(n)))).map(({ name, body }) => {
      const owner = ownerOf(body);
      const tags: Record<string, string> = owner ? { [TAG_STACK]: owner.stack, [TAG_ID]: owner.name } : {};
      return { awsName: name, adoptId: name, tags };
    });
    return holdersByName(desired, dashboardNameOf, 'dashboardName', held);
  },

  diff(d, o) {
    const live = o.live;
    const out: FieldChange[] = [
      ...field('dashboardName', live.dashboardName, d.spec.adopt ? live.dashboardName : dashboardNameOf(d), true),
      ...field('body', live.body, dashboardBody(d, live.region)),
    ];
    return out;
  },

  // No tags to compare: its "tags" are the marker in its body, which the body's diff covers.
  tagsForDiff: () => undefined,

  async create(ctx, d) {
    const name = dashboardNameOf(d);
    const body = dashboardBody(d, ctx.region);
    if (JSON.stringify(body).includes(UNKNOWN)) throw new Error(`${d.address}: a widget refers to a resource not created yet`);
    const cw = await ctx.aws.cloudwatch();
    // PutDashboard is an upsert: a dashboard of this name that is not the stack's was refused by the plan.
    await cw.send(new PutDashboardCommand({ DashboardName: name, DashboardBody: JSON.stringify(body) }));
    return observedOf(name, body, ctx.region, { name: d.name, management: 'owned' });
  },

  async update(ctx, d, o) {
    const body = dashboardBody(d, ctx.region);
    const cw = await ctx.aws.cloudwatch();
    await cw.send(new PutDashboardCommand({ DashboardName: o.id, DashboardBody: JSON.stringify(body) }));
    return observedOf(o.id, body, ctx.region, { name: d.name, management: 'owned' });
  },

  async delete(ctx, o) {
    const cw = await ctx.aws.cloudwatch();
    await ignoreNotFound(() => cw.send(new DeleteDashboardsCommand({ DashboardNames: [o.id] })), 'ResourceNotFound', 'DashboardNotFoundError');
  },

  permissions: {
    observe: ['cloudwatch:ListDashboards', 'cloudwatch:GetDashboard'],
    create: ['cloudwatch:PutDashboard', 'cloudwatch:GetDashboard'],
    update: ['cloudwatch:PutDashboard'],
    delete: ['cloudwatch:DeleteDashboards'],
  },
};

export default reconciler;
