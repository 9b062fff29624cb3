// What the instance reconciler (instance.ts) wants of an instance and sends to launch it: the spec
// with its references and prepared inputs resolved (wanted), the RunInstances call, its idempotency
// token. Pure but for defaultSubnet.
import { DescribeSubnetsCommand, type RunInstancesCommandInput } from '../aws/sdk/ec2.js';
import { UNKNOWN, type Ctx, type Desired } from '../engine/types.js';
import { shortHash, tagSpec } from './ec2-shared.js';
import { TAG_USER_DATA } from './instance-read.js';
import { profileParam, wantedLaunch, type LaunchInputs, type WantedLaunch } from './launch-inputs.js';

/** Everything diff and create need from the spec, references and inputs resolved. */
export interface WantedInstance extends WantedLaunch {
  subnet?: string;
}

export function wanted(desired: Desired<'instance'>, inputs: LaunchInputs): WantedInstance {
  const s = desired.spec;
  return { ...wantedLaunch(desired, inputs), subnet: s.subnet !== undefined ? desired.ref(s.subnet).id : undefined };
}

/**
 * RunInstances' idempotency token: stack, name and a hash of everything the call sends. A retried
 * create of the same spec sends the same token (AWS then returns the instance the first call made,
 * instead of a second one); a replacement, or any other change, sends another. At most 64 characters.
 */
export function clientToken(desired: Desired<'instance'>, input: RunInstancesCommandInput, salt = ''): string {
  const { ClientToken: _ignored, ...rest } = input;
  const hash = shortHash(JSON.stringify([desired.stack, desired.name, rest, salt]), 16);
  const prefix = `${desired.stack}-${desired.name}`.replace(/[^A-Za-z0-9_-]/g, '').slice(0, 64 - hash.length - 1);
  return `${prefix}-${hash}`;
}

/**
 * The RunInstances call for the spec (without ClientToken). A public IP choice lives on the network
 * interface, so subnet and groups go there too; `defaultSubnet` is used then when the spec has none.
 */
export function runInstancesInput(desired: Desired<'instance'>, w: WantedInstance, inputs: LaunchInputs, defaultSubnet?: string): RunInstancesCommandInput {
  const ud = inputs.userData;
  const input: RunInstancesCommandInput = {
    ImageId: w.ami,
    InstanceType: w.instanceType as RunInstancesCommandInput['InstanceType'],
    MinCount: 1,
    MaxCount: 1,
    KeyName: w.keyPair,
    UserData: ud?.base64,
    Monitoring: { Enabled: w.monitoring },
    IamInstanceProfile: profileParam(w.iamInstanceProfile),
    TagSpecifications: [...tagSpec('instance', { ...desired.tags, [TAG_USER_DATA]: ud?.sha256 ?? 'none' }), ...tagSpec('volume', desired.tags)],
  };
  if (w.publicIp !== undefined) {
    input.NetworkInterfaces = [
      {
        DeviceIndex: 0,
        AssociatePublicIpAddress: w.publicIp,
        SubnetId: w.subnet ?? defaultSubnet,
        Groups: w.securityGroups.length ? w.securityGroups : undefined,
        DeleteOnTermination: true,
      },
    ];
  } else {
    input.SubnetId = w.subnet;
    input.SecurityGroupIds = w.securityGroups.length ? w.securityGroups : undefined;
  }
  return input;
}

/** The region's first default subnet (by AZ): where an instance with a public IP choice and no subnet goes. */
export async function defaultSubnet(ctx: Ctx): Promise<string> {
  const ec2 = await ctx.aws.ec2();
  const r = await ec2.send(new DescribeSubnetsCommand({ Filters: [{ Name: 'default-for-az', Values: ['true'] }] }));
  const s = (r.Subnets ?? []).sort((a, b) => (a.AvailabilityZone ?? '').localeCompare(b.AvailabilityZone ?? ''))[0];
  if (!s?.SubnetId) throw new Error(`there is no default subnet in ${ctx.region}: give the instance a subnet`);
  return s.SubnetId;
}

export function assertKnown(address: string, w: WantedInstance): void {
  const refs = [w.subnet, w.keyPair, ...w.securityGroups];
  if (refs.includes(UNKNOWN)) throw new Error(`${address}: a referenced resource has no id yet (create it first)`);
}
