// Instance refresh, for the auto-scaling-group reconciler: when a group's launch template or its
// version changes, its running instances are replaced by rolling (90% kept healthy, instances whose
// configuration already matches skipped). Where that cannot start (moto does not implement it, a
// refresh is already running) apply warns and goes on: new instances use the new version anyway.
import { StartInstanceRefreshCommand } from '../aws/sdk/autoscaling.js';
import { errorCode, isNotImplemented } from '../aws/errors.js';
import type { Ctx } from '../engine/types.js';
import { isUnsupported, markUnsupported } from './unsupported.js';

/** The group as the refresh needs it. */
export interface RefreshOf {
  groupName: string;
  launchTemplateVersion: string;
  /** Seconds a new instance warms up before it counts as healthy. */
  healthCheckGracePeriod: number;
}

/** Replaces running instances with ones from the new template version; a warning where impossible. */
export async function startRefresh(ctx: Ctx, address: string, w: RefreshOf): Promise<void> {
  const notImplemented = () =>
    ctx.emit({
      type: 'warning',
      address,
      message: `this endpoint does not implement StartInstanceRefresh: running instances keep their launch template version until they are replaced (new ones use ${w.launchTemplateVersion})`,
    });
  if (isUnsupported(ctx.aws, 'StartInstanceRefresh')) return notImplemented();
  const as = await ctx.aws.autoscaling();
  try {
    const r = await as.send(
      new StartInstanceRefreshCommand({
        AutoScalingGroupName: w.groupName,
        Strategy: 'Rolling',
        Preferences: { MinHealthyPercentage: 90, InstanceWarmup: w.healthCheckGracePeriod, SkipMatching: true },
      }),
    );
    ctx.emit({ type: 'info', address, message: `instance refresh ${r.InstanceRefreshId} started: running instances move to launch template version ${w.launchTemplateVersion}` });
  } catch (e) {
    if (isNotImplemented(e)) {
      markUnsupported(ctx.aws, 'StartInstanceRefresh');
      notImplemented();
    } else if (/InstanceRefreshInProgress/.test(errorCode(e)))
      ctx.emit({ type: 'warning', address, message: 'an instance refresh is already running; start another once it ends to move every instance to the new version' });
    else throw e;
  }
}
