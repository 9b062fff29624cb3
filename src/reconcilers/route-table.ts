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
//
// This file is the kind's entry point (the reconciler); its parts beside it: reading tables
// (route-table-read.ts), routes and the reconcile:routes record (-routes.ts), subnet associations
// (-associations.ts).
import { CreateRouteTableCommand, DeleteRouteTableCommand, DeleteTagsCommand, type RouteTable } from '../aws/sdk/ec2.js';
import { syncEc2Tags } from '../aws/ec2-tags.js';
import { tagsFromList } from '../aws/tags.js';
import { diffFields } from '../engine/decide.js';
import { field } from '../engine/diffutil.js';
import type { Ctx, Desired, FieldChange, Observed, Reconciler } from '../engine/types.js';
import { applySubnetChanges, diffSubnets, disassociate } from './route-table-associations.js';
import { describeTables, findMainTable, liveFromAws, type RouteTableLive } from './route-table-read.js';
import { applyRouteChanges, declaredRoutes, deleteRoute, desiredRoutes, diffRoutes, routesTags } from './route-table-routes.js';
import { afterCreate, assertApplicable, deleteIdempotent, isNotFound, knownRefId, observeTagged, refId, tagSpec, updatedObserved, waitFor } from './ec2-shared.js';

export { type RouteTableLive } from './route-table-read.js';

/** The tags a route table must carry: a main table also records its managed destinations. */
function wantedTags(d: Desired<'route-table'>): Record<string, string> {
  return d.spec.main ? { ...d.tags, ...routesTags([...desiredRoutes(d).keys()]) } : d.tags;
}

const outputsOf = (id: string, vpc: string) => ({ id, vpcId: vpc });

/** Applies route and subnet changes; returns the live state they lead to. */
async function applyChanges(ctx: Ctx, tableId: string, live: RouteTableLive, changes: FieldChange[]): Promise<RouteTableLive> {
  const routes = await applyRouteChanges(ctx, tableId, live.routes, changes);
  const associations = await applySubnetChanges(ctx, tableId, live.associations, changes);
  return { ...live, routes, subnets: Object.keys(associations).sort(), associations };
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
        const tags = tagsFromList(t.Tags);
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
      liveTags = tagsFromList(table.Tags);
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
    const tags = tagsFromList(table.Tags);
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
