// An Auto Scaling group's target-tracking CPU policy (the spec's targetCpu), for the
// auto-scaling-group reconciler: one policy per group, named after it, read for every group at once
// (one paginated DescribePolicies), written with PutScalingPolicy, removed with DeletePolicy.
import { DeletePolicyCommand, DescribePoliciesCommand, PutScalingPolicyCommand, type ScalingPolicy } from '../aws/sdk/autoscaling.js';
import { isAsgNotFound } from '../aws/errors.js';
import type { Ctx } from '../engine/types.js';
import { allPages } from './ec2-shared.js';

/** The target-tracking policy's name: per group (moto keys policies by name across groups). */
export const policyNameOf = (groupName: string): string => `${groupName}-target-cpu`;

/** The policy's CPU target, when it is ours and tracks average CPU. */
export const cpuTargetOf = (p: ScalingPolicy | undefined): number | undefined =>
  p?.TargetTrackingConfiguration?.PredefinedMetricSpecification?.PredefinedMetricType === 'ASGAverageCPUUtilization'
    ? p.TargetTrackingConfiguration.TargetValue
    : undefined;

/** Our target-tracking policies, by group name (one paginated call for every group). */
export async function describeCpuPolicies(ctx: Ctx, names: string[]): Promise<Map<string, ScalingPolicy>> {
  const as = await ctx.aws.autoscaling();
  const all = await allPages(async (NextToken) => {
    const r = await as.send(new DescribePoliciesCommand({ PolicyTypes: ['TargetTrackingScaling'], NextToken, MaxRecords: 100 }));
    return { items: r.ScalingPolicies, next: r.NextToken };
  });
  const wanted = new Set(names);
  const out = new Map<string, ScalingPolicy>();
  for (const p of all) if (wanted.has(p.AutoScalingGroupName!) && p.PolicyName === policyNameOf(p.AutoScalingGroupName!)) out.set(p.AutoScalingGroupName!, p);
  return out;
}

/** Sets the group's CPU target; undefined removes the policy (an absent one is fine). */
export async function syncCpuPolicy(ctx: Ctx, groupName: string, target: number | undefined): Promise<void> {
  const as = await ctx.aws.autoscaling();
  if (target === undefined) {
    try {
      await as.send(new DeletePolicyCommand({ AutoScalingGroupName: groupName, PolicyName: policyNameOf(groupName) }));
    } catch (e) {
      if (!isAsgNotFound(e)) throw e;
    }
    return;
  }
  await as.send(
    new PutScalingPolicyCommand({
      AutoScalingGroupName: groupName,
      PolicyName: policyNameOf(groupName),
      PolicyType: 'TargetTrackingScaling',
      TargetTrackingConfiguration: { PredefinedMetricSpecification: { PredefinedMetricType: 'ASGAverageCPUUtilization' }, TargetValue: target },
    }),
  );
}
