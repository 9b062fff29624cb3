// What iam-role and instance-profile share: the account's roles with everything a plan compares,
// read once per plan in one paginated GetAccountAuthorizationDetails (IAM has no tag filter, and
// otherwise needs a GetRole, a ListAttachedRolePolicies, a ListRolePolicies and a GetRolePolicy
// per inline policy for each role), and policy documents as AWS returns them.
import { GetAccountAuthorizationDetailsCommand, type RoleDetail } from '../aws/sdk/iam.js';
import type { Ctx } from '../engine/types.js';
import { allPages, onePerPlan } from './services-shared.js';

/** Every role of the account with its trust policy, inline and attached policies, profiles and tags. */
export function roleDetails(ctx: Ctx): Promise<RoleDetail[]> {
  return onePerPlan(ctx, 'iam:GetAccountAuthorizationDetails', async () => {
    const iam = await ctx.aws.iam();
    return allPages(async (Marker) => {
      const r = await iam.send(new GetAccountAuthorizationDetailsCommand({ Filter: ['Role'], Marker, MaxItems: 1000 }));
      return { items: r.RoleDetailList, next: r.IsTruncated ? r.Marker : undefined };
    });
  });
}

/** A policy document as AWS returns it: JSON, URL-encoded by AWS (not by moto for trust policies). */
export function parsePolicy(doc: string | undefined): unknown {
  if (!doc) return undefined;
  const text = doc.trimStart().startsWith('{') ? doc : decodeURIComponent(doc);
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export const IAM_NOT_FOUND = ['NoSuchEntity', 'NoSuchEntityException'];
