// Which instances each alert rule looks at, found again on every cycle (instances get replaced:
// never remember ids). Every rule's selection becomes a tag match or an id list:
//   targets.tags               the tags themselves
//   targets.autoScalingGroup   aws:autoscaling:groupName=<the group's AWS name>
//   targets.instances          reconcile:stack=<stack> + reconcile:id=<name> (ids/ARNs given as-is)
// and ONE paginated DescribeInstances per cycle serves every rule: filtered by the tag key all
// selections share (tag:<key> = the union of their values), else by the keys they use (tag-key),
// else by state only; each instance is then matched exactly, in memory.
import { DescribeInstancesCommand, type Filter, type Instance } from '../aws/sdk/ec2.js';
import type { Aws } from '../aws/clients.js';
import { TAG_ID, TAG_STACK, tagsFromList } from '../aws/tags.js';
import { isExternalId } from '../spec/common.js';
import type { SpecOf } from '../spec/schema.js';
import type { LoadedSpec } from '../spec/types.js';

/** Instances in these states are targets; shutting-down and terminated ones are gone. */
export const TARGET_STATES = ['pending', 'running', 'stopping', 'stopped'];
export const ASG_TAG = 'aws:autoscaling:groupName';

export type Selector = { tags: Record<string, string> } | { ids: string[] };

export interface Target {
  id: string;
  /** The Name tag, if any. */
  name?: string;
  state: string;
  tags: Record<string, string>;
}

type AlertRuleBody = SpecOf<'alert-rule'>;

/** The AWS name of a group of the spec (or the name inside a group ARN). */
function groupName(loaded: LoadedSpec, ref: string): string {
  const m = /autoScalingGroupName\/(.+)$/.exec(ref);
  if (m) return m[1];
  const r = loaded.resources.find((x) => x.name === ref && x.kind === 'auto-scaling-group');
  const body = r?.body as SpecOf<'auto-scaling-group'> | undefined;
  return body?.adopt ?? body?.groupName ?? `${loaded.spec.stack}-${ref}`;
}

/** The selections of one rule (an instance matching any of them is a target). */
export function selectorsOf(loaded: LoadedSpec, rule: AlertRuleBody): Selector[] {
  const out: Selector[] = [];
  const t = rule.targets;
  if (t.tags && Object.keys(t.tags).length) out.push({ tags: t.tags });
  if (t.autoScalingGroup) out.push({ tags: { [ASG_TAG]: groupName(loaded, t.autoScalingGroup) } });
  const ids: string[] = [];
  for (const n of t.instances ?? []) {
    if (isExternalId(n)) ids.push(n.startsWith('arn:') ? n.slice(n.lastIndexOf('/') + 1) : n);
    else {
      const adopt = (loaded.resources.find((x) => x.name === n && x.kind === 'instance')?.body as SpecOf<'instance'> | undefined)?.adopt;
      if (adopt) ids.push(adopt);
      else out.push({ tags: { [TAG_STACK]: loaded.spec.stack, [TAG_ID]: n } });
    }
  }
  if (ids.length) out.push({ ids });
  return out;
}

export function matches(s: Selector, id: string, tags: Record<string, string>): boolean {
  if ('ids' in s) return s.ids.includes(id);
  return Object.entries(s.tags).every(([k, v]) => tags[k] === v);
}

/** The filters of the one DescribeInstances that serves every selection. Pure. */
export function describeFilters(selectors: Selector[]): Filter[] {
  const state: Filter = { Name: 'instance-state-name', Values: TARGET_STATES };
  if (!selectors.length) return [state];
  const tagSels = selectors.filter((s): s is { tags: Record<string, string> } => 'tags' in s);
  const idSels = selectors.filter((s): s is { ids: string[] } => 'ids' in s);
  if (!tagSels.length) return [state, { Name: 'instance-id', Values: [...new Set(idSels.flatMap((s) => s.ids))].sort() }];
  if (idSels.length) return [state];
  const keys = tagSels.map((s) => Object.keys(s.tags));
  const common = keys[0].filter((k) => keys.every((ks) => ks.includes(k)));
  if (common.length) {
    // The shared key with the fewest distinct values is the most selective.
    const values = (k: string) => [...new Set(tagSels.map((s) => s.tags[k]))].sort();
    const best = common.sort((a, b) => values(a).length - values(b).length || a.localeCompare(b))[0];
    return [state, { Name: `tag:${best}`, Values: values(best) }];
  }
  // No shared key: instances carrying one of the keys (a rare key of each selection, not Name).
  const pick = (ks: string[]) => [...ks].sort((a, b) => Number(a === 'Name') - Number(b === 'Name') || a.localeCompare(b))[0];
  return [state, { Name: 'tag-key', Values: [...new Set(keys.map(pick))].sort() }];
}

const toTarget = (i: Instance): Target => {
  const tags = tagsFromList(i.Tags);
  return { id: i.InstanceId!, name: tags.Name, state: i.State?.Name ?? 'unknown', tags };
};

/**
 * Resolves the targets of each rule (by rule name) with one paginated DescribeInstances.
 * Targets are sorted by id, so logs and notifications come in a stable order.
 */
export async function resolveTargets(aws: Aws, selectorsByRule: Map<string, Selector[]>): Promise<Map<string, Target[]>> {
  const all = [...selectorsByRule.values()].flat();
  const out = new Map<string, Target[]>([...selectorsByRule.keys()].map((k) => [k, []]));
  if (!all.length) return out;
  const ec2 = await aws.ec2();
  const instances: Instance[] = [];
  const filters = describeFilters(all);
  let NextToken: string | undefined;
  do {
    const r = await ec2.send(new DescribeInstancesCommand({ Filters: filters, NextToken, MaxResults: 1000 }));
    for (const res of r.Reservations ?? []) instances.push(...(res.Instances ?? []));
    NextToken = r.NextToken;
  } while (NextToken);
  const targets = instances.filter((i) => TARGET_STATES.includes(i.State?.Name ?? '')).map(toTarget).sort((a, b) => a.id.localeCompare(b.id));
  for (const [rule, sels] of selectorsByRule) out.set(rule, targets.filter((t) => sels.some((s) => matches(s, t.id, t.tags))));
  return out;
}
