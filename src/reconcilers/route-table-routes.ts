// A route table's routes, for the route-table reconciler: compared one by one, by destination, in the
// spec's words; the record a main table keeps of the destinations the stack manages (the tags
// reconcile:routes, reconcile:routes.2, ...); and writing them (create, replace, delete one route).
import { CreateRouteCommand, DeleteRouteCommand, ReplaceRouteCommand, type Route } from '../aws/sdk/ec2.js';
import { field } from '../engine/diffutil.js';
import type { Ctx, Desired, FieldChange } from '../engine/types.js';
import { changesUnder, errorCode, ignoreNotFound, isNotFound, refId } from './ec2-shared.js';

/** A route in the spec's words, targets as AWS ids. */
export type RouteValue = {
  destination: string;
  internetGateway?: string;
  natGateway?: string;
  vpcPeering?: string;
  /** A target the spec cannot express (transit gateway, ENI, instance, virtual private gateway...). */
  other?: string;
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

/** Route changes, one per destination. `only`: compare just these destinations (main tables). */
export function diffRoutes(desired: Map<string, RouteValue>, live: RouteValue[], only?: Set<string>): FieldChange[] {
  const liveMap = new Map(live.map((r) => [r.destination, r]));
  const dests = only ?? new Set([...desired.keys(), ...liveMap.keys()]);
  return [...dests].sort().flatMap((dest) => field(`routes[${dest}]`, liveMap.get(dest), desired.get(dest)));
}

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

export async function deleteRoute(ctx: Ctx, tableId: string, destination: string): Promise<void> {
  const ec2 = await ctx.aws.ec2();
  await ignoreNotFound(() => ec2.send(new DeleteRouteCommand({ RouteTableId: tableId, DestinationCidrBlock: destination })));
}

/** Applies the route changes (`routes[<destination>]`) to a table; returns its routes after them. */
export async function applyRouteChanges(ctx: Ctx, tableId: string, live: RouteValue[], changes: FieldChange[]): Promise<RouteValue[]> {
  const routes = new Map(live.map((r) => [r.destination, r]));
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
  return [...routes.values()];
}
