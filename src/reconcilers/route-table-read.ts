// Reading route tables for the route-table reconciler (route-table.ts): the describes and the live
// state in the spec's vocabulary.
import { DescribeRouteTablesCommand, type Filter, type RouteTable } from '../aws/sdk/ec2.js';
import type { Ctx } from '../engine/types.js';
import { routeFromAws, type RouteValue } from './route-table-routes.js';
import { allPages, describeSettings } from './ec2-shared.js';

export type RouteTableLive = {
  vpc: string;
  main: boolean;
  routes: RouteValue[];
  /** Subnets explicitly associated. */
  subnets: string[];
  /** Association id of each explicitly associated subnet. */
  associations: Record<string, string>;
};

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

export async function describeTables(ctx: Ctx, filters: Filter[]): Promise<RouteTable[]> {
  const ec2 = await ctx.aws.ec2();
  return allPages(async (NextToken) => {
    const r = await ec2.send(new DescribeRouteTablesCommand({ Filters: filters, NextToken, MaxResults: describeSettings.pageSize }));
    return { items: r.RouteTables, next: r.NextToken };
  });
}

/** The main route tables of these VPCs. */
export async function findMainTable(ctx: Ctx, vpcIds: string[]): Promise<RouteTable[]> {
  return describeTables(ctx, [
    { Name: 'association.main', Values: ['true'] },
    { Name: 'vpc-id', Values: vpcIds },
  ]);
}
