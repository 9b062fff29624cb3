// A route table's subnet associations, for the route-table reconciler: compared one by one
// (`subnets[<subnet id>]`, the spec name while the subnet is still to be created) and written one by
// one. A subnet explicitly associated with another table is moved to this one. The VPC's main
// association is not a subnet association: never compared, never written.
import { AssociateRouteTableCommand, DisassociateRouteTableCommand, ReplaceRouteTableAssociationCommand } from '../aws/sdk/ec2.js';
import { UNKNOWN, type Ctx, type Desired, type FieldChange } from '../engine/types.js';
import { describeTables } from './route-table-read.js';
import { changesUnder, errorCode, ignoreNotFound } from './ec2-shared.js';

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

export async function disassociate(ctx: Ctx, associationId: string | undefined): Promise<void> {
  if (!associationId) return;
  const ec2 = await ctx.aws.ec2();
  await ignoreNotFound(() => ec2.send(new DisassociateRouteTableCommand({ AssociationId: associationId })));
}

/**
 * Applies the association changes (`subnets[...]`) to a table, given its associations by subnet id;
 * returns them after.
 */
export async function applySubnetChanges(ctx: Ctx, tableId: string, live: Record<string, string>, changes: FieldChange[]): Promise<Record<string, string>> {
  const associations = { ...live };
  for (const c of changesUnder(changes, 'subnets')) {
    if (typeof c.after === 'string') {
      associations[c.after] = await associate(ctx, tableId, c.after);
    } else if (typeof c.before === 'string') {
      await disassociate(ctx, live[c.before]);
      delete associations[c.before];
    }
  }
  return associations;
}
