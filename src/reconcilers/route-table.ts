// route-table: a route table of a VPC, its routes and its subnet associations.
//
// Routes are compared one by one, by destination: `routes[0.0.0.0/0]` with before/after the route in
// the spec's words ({ destination, internetGateway | natGateway | vpcPeering: <id> }; a target the
// spec cannot name, such as a transit gateway, shows as `other`). update creates, replaces or deletes
// exactly those routes. The local route and propagated routes are AWS's and never compared.
// Subnet associations are compared one by one: `subnets[<subnet id>]` (the spec name while the subnet
// is still to be created); update associates or disassociates exactly those. The VPC's main
// association is not a subnet association and never compared. vpc (and main) force replacement.
//
// main: true -- the VPC's main route table, which AWS creates with the VPC and deletes with it:
// - observe finds it with one DescribeRouteTables (association.main=true, vpc-id = the VPCs of the
//   desired main tables that already exist); until the first apply it is "adopted" (shown in the plan),
//   then it carries this stack's tags and is "owned". Its VPC must be observed first (observeAfter).
// - Only the routes the spec lists are managed; other routes in the table are left alone. The
//   destinations the stack manages are recorded in the tag reconcile:routes (space separated, spilling
//   into reconcile:routes.2, ... past 256 characters), so a route removed from the spec is deleted
//   on the next apply and nothing else is. Tags not set by the spec are left alone too.
// - Subnets listed are associated explicitly; explicit associations not listed are left alone (for
//   the main table they are equivalent to no association).
// - create() creates no table: it finds the VPC's main table, tags it and adds the routes.
// - delete() never deletes the table: it deletes the routes recorded in reconcile:routes and removes
//   this stack's reconcile:* tags (and the Name tag it set), handing the table back to AWS/the VPC.
//   Other tags the spec set (stack default tags such as project:) stay: they cannot be told apart
//   from tags someone else set. A route table that is the main table in AWS is treated this way
//   whatever the spec says, so a destroy never fails on (or removes) a main table.
import {
  AssociateRouteTableCommand,
  CreateRouteCommand,
  CreateRouteTableCommand,
  DeleteRouteCommand,
  DeleteRouteTableCommand,
  DeleteTagsCommand,
  DescribeRouteTablesCommand,
  DisassociateRouteTableCommand,
  ReplaceRouteCommand,
  ReplaceRouteTableAssociationCommand,
  type Filter,
  type Route,
  type RouteTable,
} from '../aws/sdk/ec2.js';
import { syncEc2Tags } from '../aws/ec2-tags.js';
import { diffFields } from '../engine/decide.js';
import { field } from '../engine/diffutil.js';
import { UNKNOWN, type Ctx, type Desired, type FieldChange, type Observed, type Reconciler } from '../engine/types.js';
import {
  afterCreate,
  assertApplicable,
  changesUnder,
  deleteIdempotent,
  allPages,
  describeSettings,
  errorCode,
  ignoreNotFound,
  isNotFound,
  knownRefId,
  observeTagged,
  refId,
  tagSpec,
  updatedObserved,
  waitFor,
} from './ec2-shared.js';

/** A route in the spec's words, targets as AWS ids. */
export type RouteValue = {
  destination: string;
  internetGateway?: string;
  natGateway?: string;
  vpcPeering?: string;
  /** A target the spec cannot express (transit gateway, ENI, instance, virtual private gateway...). */
  other?: string;
};

export type RouteTableLive = {
  vpc: string;
  main: boolean;
  routes: RouteValue[];
  /** Subnets explicitly associated. */
  subnets: string[];
  /** Association id of each explicitly associated subnet. */
  associations: Record<string, string>;
};

export const ROUTES_TAG = 'reconcile:routes';
const TAG_VALUE_MAX = 256;

const TARGETS = ['internetGateway', 'natGateway', 'vpcPeering'] as const;

/** The tags that record the destinations a main table's spec manages. */
export function routesTags(destinations: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  const key = (i: number) => (i === 0 ? ROUTES_TAG : `${ROUTES_TAG}.${i + 1}`);
  let i = 0;
  let cur = '';
  for (const d of [...new Set(destinations)].sort()) {
    if (cur && cur.length + 1 + d.length > TAG_VALUE_MAX) {
      out[key(i++)] = cur;
      cur = d;
    } else cur = cur ? `${cur} ${d}` : d;
  }
  if (cur) out[key(i)] = cur;
  return out;
}

/** Destinations recorded by routesTags. */
export function declaredRoutes(tags: Record<string, string>): string[] {
  return Object.entries(tags)
    .filter(([k]) => k === ROUTES_TAG || k.startsWith(`${ROUTES_TAG}.`))
    .flatMap(([, v]) => v.split(' ').filter(Boolean));
}

/** A live route in the spec's words; undefined for the local route, propagated and non-IPv4 routes. */
export function routeFromAws(r: Route): RouteValue | undefined {
  if (!r.DestinationCidrBlock) return undefined;
  if (r.GatewayId === 'local' || r.Origin === 'CreateRouteTable' || r.Origin === 'EnableVgwRoutePropagation') return undefined;
  const destination = r.DestinationCidrBlock;
  if (r.NatGatewayId) return { destination, natGateway: r.NatGatewayId };
  if (r.VpcPeeringConnectionId) return { destination, vpcPeering: r.VpcPeeringConnectionId };
  if (r.GatewayId?.startsWith('igw-')) return { destination, internetGateway: r.GatewayId };
  const other = r.GatewayId ?? r.TransitGatewayId ?? r.NetworkInterfaceId ?? r.InstanceId ?? r.CarrierGatewayId ?? r.LocalGatewayId ?? r.CoreNetworkArn;
  return { destination, other: other ?? 'unknown' };
}

export function liveFromAws(t: RouteTable): RouteTableLive {
  const associations: Record<string, string> = {};
  for (const a of t.Associations ?? []) {
    const state = a.AssociationState?.State;
    if (a.SubnetId && !a.Main && (!state || state === 'associated' || state === 'associating')) associations[a.SubnetId] = a.RouteTableAssociationId!;
  }
  const routes = (t.Routes ?? []).map(routeFromAws).filter((r): r is RouteValue => !!r);
  return {
    vpc: t.VpcId!,
    main: (t.Associations ?? []).some((a) => a.Main),
    routes,
    subnets: Object.keys(associations).sort(),
    associations,
  };
}

/** The spec's routes with targets resolved, by destination (the first wins on duplicates). */
export function desiredRoutes(d: Desired<'route-table'>): Map<string, RouteValue> {
  const out = new Map<string, RouteValue>();
  for (const r of d.spec.routes ?? []) {
    if (out.has(r.destination)) continue;
    const v: RouteValue = { destination: r.destination };
    for (const t of TARGETS) if (r[t]) v[t] = refId(d, r[t]);
    out.set(r.destination, v);
  }
  return out;
}

/** The tags a route table must carry: a main table also records its managed destinations. */
function wantedTags(d: Desired<'route-table'>): Record<string, string> {
  return d.spec.main ? { ...d.tags, ...routesTags([...desiredRoutes(d).keys()]) } : d.tags;
}

/** Route changes, one per destination. `only`: compare just these destinations (main tables). */
export function diffRoutes(desired: Map<string, RouteValue>, live: RouteValue[], only?: Set<string>): FieldChange[] {
  const liveMap = new Map(live.map((r) => [r.destination, r]));
  const dests = only ?? new Set([...desired.keys(), ...liveMap.keys()]);
  return [...dests].sort().flatMap((dest) => field(`routes[${dest}]`, liveMap.get(dest), desired.get(dest)));
}

/** Subnet association changes, one per subnet. `addOnly`: never disassociate (main tables). */
export function diffSubnets(d: Desired<'route-table'>, live: string[], addOnly: boolean): FieldChange[] {
  const want = new Map<string, string>(); // key -> id (UNKNOWN keyed by spec name)
  for (const n of d.spec.subnets ?? []) {
    const id = d.ref(n).id;
    want.set(id === UNKNOWN ? n : id, id);
  }
  const have = new Set(live);
  const out: FieldChange[] = [];
  for (const [key, id] of [...want].sort()) if (!have.has(id)) out.push({ path: `subnets[${key}]`, before: undefined, after: id, forcesReplace: false });
  if (!addOnly)
    for (const id of [...have].sort()) if (![...want.values()].includes(id)) out.push({ path: `subnets[${id}]`, before: id, after: undefined, forcesReplace: false });
  return out;
}

async function describeTables(ctx: Ctx, filters: Filter[]): Promise<RouteTable[]> {
  const ec2 = await ctx.aws.ec2();
  return allPages(async (NextToken) => {
    const r = await ec2.send(new DescribeRouteTablesCommand({ Filters: filters, NextToken, MaxResults: describeSettings.pageSize }));
    return { items: r.RouteTables, next: r.NextToken };
  });
}

const outputsOf = (id: string, vpc: string) => ({ id, vpcId: vpc });

function routeTarget(r: RouteValue) {
  if (r.internetGateway) return { GatewayId: r.internetGateway };
  if (r.natGateway) return { NatGatewayId: r.natGateway };
  if (r.vpcPeering) return { VpcPeeringConnectionId: r.vpcPeering };
  throw new Error(`route to ${r.destination} has no target the spec can set`);
}

async function putRoute(ctx: Ctx, tableId: string, r: RouteValue, replace: boolean): Promise<void> {
  const ec2 = await ctx.aws.ec2();
  const input = { RouteTableId: tableId, DestinationCidrBlock: r.destination, ...routeTarget(r) };
  if (replace) {
    try {
      await ec2.send(new ReplaceRouteCommand(input));
      return;
    } catch (e) {
      if (!isNotFound(e)) throw e; // the route went away meanwhile: create it
    }
  }
  try {
    await ec2.send(new CreateRouteCommand(input));
  } catch (e) {
    if (errorCode(e) !== 'RouteAlreadyExists') throw e;
    await ec2.send(new ReplaceRouteCommand(input));
  }
}

async function deleteRoute(ctx: Ctx, tableId: string, destination: string): Promise<void> {
  const ec2 = await ctx.aws.ec2();
  await ignoreNotFound(() => ec2.send(new DeleteRouteCommand({ RouteTableId: tableId, DestinationCidrBlock: destination })));
}

/** Associates a subnet; one explicitly associated with another table is moved to this one. */
async function associate(ctx: Ctx, tableId: string, subnetId: string): Promise<string> {
  const ec2 = await ctx.aws.ec2();
  try {
    return (await ec2.send(new AssociateRouteTableCommand({ RouteTableId: tableId, SubnetId: subnetId }))).AssociationId ?? '';
  } catch (e) {
    if (errorCode(e) !== 'Resource.AlreadyAssociated') throw e;
    const tables = await describeTables(ctx, [{ Name: 'association.subnet-id', Values: [subnetId] }]);
    const assoc = tables.flatMap((t) => t.Associations ?? []).find((a) => a.SubnetId === subnetId);
    if (!assoc) throw e;
    if (assoc.RouteTableId === tableId) return assoc.RouteTableAssociationId ?? '';
    const r = await ec2.send(new ReplaceRouteTableAssociationCommand({ AssociationId: assoc.RouteTableAssociationId, RouteTableId: tableId }));
    return r.NewAssociationId ?? '';
  }
}

async function disassociate(ctx: Ctx, associationId: string | undefined): Promise<void> {
  if (!associationId) return;
  const ec2 = await ctx.aws.ec2();
  await ignoreNotFound(() => ec2.send(new DisassociateRouteTableCommand({ AssociationId: associationId })));
}

/** Applies route and subnet changes; returns the live state they lead to. */
async function applyChanges(ctx: Ctx, tableId: string, live: RouteTableLive, changes: FieldChange[]): Promise<RouteTableLive> {
  const routes = new Map(live.routes.map((r) => [r.destination, r]));
  for (const c of changesUnder(changes, 'routes')) {
    const after = c.after as RouteValue | undefined;
    const before = c.before as RouteValue | undefined;
    if (after) {
      await putRoute(ctx, tableId, after, !!before);
      routes.set(after.destination, after);
    } else if (before) {
      await deleteRoute(ctx, tableId, before.destination);
      routes.delete(before.destination);
    }
  }
  const associations = { ...live.associations };
  for (const c of changesUnder(changes, 'subnets')) {
    if (typeof c.after === 'string') {
      associations[c.after] = await associate(ctx, tableId, c.after);
    } else if (typeof c.before === 'string') {
      await disassociate(ctx, live.associations[c.before]);
      delete associations[c.before];
    }
  }
  return { ...live, routes: [...routes.values()], subnets: Object.keys(associations).sort(), associations };
}

async function findMainTable(ctx: Ctx, vpcIds: string[]): Promise<RouteTable[]> {
  return describeTables(ctx, [
    { Name: 'association.main', Values: ['true'] },
    { Name: 'vpc-id', Values: vpcIds },
  ]);
}

const reconciler: Reconciler<'route-table', RouteTableLive> = {
  kind: 'route-table',
  observeAfter: ['vpc'],

  async observe(ctx, desired) {
    const found = await observeTagged(ctx, desired, (f) => describeTables(ctx, f), (t) => t.RouteTableId!, 'route-table-id');
    const out: Observed<RouteTableLive>[] = found.map(({ item, id, name, management, tags }) => {
      const live = liveFromAws(item);
      return { id, name, management, live, tags, outputs: outputsOf(id, live.vpc) };
    });
    // Main tables of VPCs that exist, for desired main tables not yet found by their tags.
    const mains = new Map<string, Desired<'route-table'>>(); // vpc id -> desired
    for (const d of desired) {
      if (!d.spec.main || out.some((o) => o.name === d.name)) continue;
      const vpc = knownRefId(d, d.spec.vpc);
      if (!vpc) continue;
      const other = mains.get(vpc);
      if (other) throw new Error(`${other.address} and ${d.address} both manage the main route table of ${vpc}: keep one`);
      mains.set(vpc, d);
    }
    if (mains.size) {
      const ids = new Set(out.map((o) => o.id));
      for (const t of await findMainTable(ctx, [...mains.keys()])) {
        const d = mains.get(t.VpcId!);
        if (!d || ids.has(t.RouteTableId!)) continue;
        const live = liveFromAws(t);
        const tags = Object.fromEntries((t.Tags ?? []).map((x) => [x.Key!, x.Value ?? '']));
        out.push({ id: t.RouteTableId!, name: d.name, management: 'adopted', live, tags, outputs: outputsOf(t.RouteTableId!, live.vpc) });
      }
    }
    return out;
  },

  diff(desired, observed) {
    const live = observed.live;
    const s = desired.spec;
    const main = !!s.main;
    const want = desiredRoutes(desired);
    // A main table: only the routes the stack declares, or declared before (its reconcile:routes tags).
    const routeChanges = main ? diffRoutes(want, live.routes, new Set([...want.keys(), ...declaredRoutes(observed.tags)])) : diffRoutes(want, live.routes);
    return [
      ...field('vpc', live.vpc, refId(desired, s.vpc), true),
      ...field('main', live.main, main, true),
      ...routeChanges,
      ...diffSubnets(desired, live.subnets, main),
    ];
  },

  // A main table (the VPC's, taken over) keeps the tags others gave it: only the stack's are compared,
  // with the reconcile:routes tags recording the routes it declares.
  tagsForDiff(desired, observed) {
    if (!desired.spec.main) return { desired: desired.tags, observed: observed.tags };
    const want = wantedTags(desired);
    return { desired: want, observed: Object.fromEntries(Object.entries(observed.tags).filter(([k]) => k in want || k.startsWith('reconcile:'))) };
  },

  async create(ctx, desired) {
    const s = desired.spec;
    const vpc = refId(desired, s.vpc)!;
    // One attempt: an SDK retry after a lost answer would make a second one (the engine looks first).
    const ec2 = await ctx.aws.ec2({ retries: false });
    let id: string;
    let before: RouteTableLive;
    let liveTags: Record<string, string>;
    if (s.main) {
      // The VPC made its main table itself: find it, take it over.
      const table = await waitFor(ctx, desired.address, `the main route table of ${vpc}`, async () => {
        const t = (await findMainTable(ctx, [vpc]))[0];
        return t ? { done: true, value: t } : { done: false, status: 'not visible yet' };
      });
      id = table.RouteTableId!;
      before = liveFromAws(table);
      liveTags = Object.fromEntries((table.Tags ?? []).map((x) => [x.Key!, x.Value ?? '']));
    } else {
      const r = await ec2.send(new CreateRouteTableCommand({ VpcId: vpc, TagSpecifications: tagSpec('route-table', desired.tags) }));
      id = r.RouteTable!.RouteTableId!;
      before = { vpc, main: false, routes: [], subnets: [], associations: {} };
      liveTags = { ...desired.tags };
    }
    const observed: Observed<RouteTableLive> = { id, name: desired.name, management: 'owned', live: before, tags: liveTags, outputs: outputsOf(id, vpc) };
    const changes = diffFields(reconciler, desired, observed).filter((c) => !c.forcesReplace);
    assertApplicable(desired.address, changes);
    const live = await afterCreate(ctx, desired.address, `routes and associations of ${id}`, () => applyChanges(ctx, id, before, changes));
    await syncEc2Tags(ctx, id, changes); // a main table gets this stack's tags here
    return updatedObserved(ctx, observed, live, changes);
  },

  async update(ctx, desired, observed, changes) {
    // A target made moments ago (an internet gateway, a peering) may not be visible yet: every step
    // is idempotent, so "not found" is retried for a short grace period.
    const live = await afterCreate(ctx, desired.address, `routes and associations of ${observed.id}`, () =>
      applyChanges(ctx, observed.id, observed.live, changes),
    );
    // Tags last: the reconcile:routes tag of a main table must not forget a route not yet deleted.
    await syncEc2Tags(ctx, observed.id, changes);
    return updatedObserved(ctx, observed, live, changes);
  },

  async delete(ctx, observed) {
    const address = `route-table.${observed.name}`;
    const ec2 = await ctx.aws.ec2();
    // Read it now: whether it is the main table, its associations and recorded routes.
    let table: RouteTable | undefined;
    try {
      table = (await describeTables(ctx, [{ Name: 'route-table-id', Values: [observed.id] }]))[0];
    } catch (e) {
      if (isNotFound(e)) return;
      throw e;
    }
    if (!table) return;
    const live = liveFromAws(table);
    const tags = Object.fromEntries((table.Tags ?? []).map((x) => [x.Key!, x.Value ?? '']));
    if (live.main) {
      for (const dest of declaredRoutes(tags)) await deleteRoute(ctx, observed.id, dest);
      const remove = Object.keys(tags).filter((k) => k.startsWith('reconcile:') || (k === 'Name' && tags[k] === `${ctx.stack}-${observed.name}`));
      if (remove.length) await ec2.send(new DeleteTagsCommand({ Resources: [observed.id], Tags: remove.map((Key) => ({ Key })) }));
      ctx.emit({ type: 'info', address, message: `${observed.id} is the main route table of ${live.vpc}: removed its managed routes and this stack's tags, kept the table` });
      return;
    }
    for (const assoc of Object.values(live.associations)) await disassociate(ctx, assoc);
    await deleteIdempotent(ctx, address, `delete route table ${observed.id}`, () => ec2.send(new DeleteRouteTableCommand({ RouteTableId: observed.id })));
  },

  permissions: {
    observe: ['ec2:DescribeRouteTables'],
    create: [
      'ec2:CreateRouteTable',
      'ec2:DescribeRouteTables',
      'ec2:CreateTags',
      'ec2:CreateRoute',
      'ec2:ReplaceRoute',
      'ec2:AssociateRouteTable',
      'ec2:ReplaceRouteTableAssociation',
    ],
    update: [
      'ec2:CreateRoute',
      'ec2:ReplaceRoute',
      'ec2:DeleteRoute',
      'ec2:AssociateRouteTable',
      'ec2:ReplaceRouteTableAssociation',
      'ec2:DisassociateRouteTable',
      'ec2:DescribeRouteTables',
      'ec2:CreateTags',
      'ec2:DeleteTags',
    ],
    delete: ['ec2:DescribeRouteTables', 'ec2:DeleteRoute', 'ec2:DeleteTags', 'ec2:DisassociateRouteTable', 'ec2:DeleteRouteTable'],
  },
};

export default reconciler;
