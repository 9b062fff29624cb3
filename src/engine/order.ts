// Which kinds depend on which, independent of any one spec: used to order deletes of resources
// that are no longer in the spec (so their references are unknown) and to pick which kinds to read.
import type { KindName } from '../spec/schema.js';

/** Creation order of kinds: a kind only ever refers to kinds before it. Deletes go in reverse. */
export const KIND_ORDER: readonly KindName[] = [
  'vpc',
  'elastic-ip',
  'key-pair',
  's3-bucket',
  'sns-topic',
  'subnet',
  'internet-gateway',
  'vpc-peering',
  'security-group',
  'nat-gateway',
  'route-table',
  'target-group',
  'load-balancer',
  'listener',
  'launch-template',
  'instance',
  'auto-scaling-group',
  'cloudwatch-alarm',
  'alert-rule',
];

export const kindRank = (k: KindName): number => KIND_ORDER.indexOf(k);

/** The AWS service each kind's reconciler talks to (so a plan reads every kind of the services it uses). */
export const KIND_SERVICE: Record<KindName, string> = {
  vpc: 'ec2',
  subnet: 'ec2',
  'internet-gateway': 'ec2',
  'elastic-ip': 'ec2',
  'nat-gateway': 'ec2',
  'route-table': 'ec2',
  'vpc-peering': 'ec2',
  'security-group': 'ec2',
  'key-pair': 'ec2',
  instance: 'ec2',
  'launch-template': 'ec2',
  'auto-scaling-group': 'autoscaling',
  'load-balancer': 'elbv2',
  'target-group': 'elbv2',
  listener: 'elbv2',
  's3-bucket': 's3',
  'sns-topic': 'sns',
  'cloudwatch-alarm': 'cloudwatch',
  'alert-rule': 'none',
};

/**
 * What loading each service's SDK package costs, relatively: the size in KB of the CommonJS bundle
 * Node compiles on require() (@aws-sdk/client-<service>/dist-cjs/index.js, SDK 3.11xx). client-ec2
 * is 2 MB, about 120 ms to load; every other one is under 300 KB, about 6-20 ms once the first has
 * loaded the modules they share (about 35 ms). Only the order matters (observeWaves).
 */
export const SERVICE_LOAD_COST: Record<string, number> = {
  none: 0,
  sns: 84,
  cloudwatch: 108,
  autoscaling: 132,
  elbv2: 145,
  s3: 269,
  ec2: 2096,
};

/**
 * The kinds to observe, one group per AWS service, in the order observeAll starts them: loading an
 * SDK package blocks the event loop, so the requests of the groups started before it are on their
 * way while it loads. First the service whose SDK loads fastest, for a first request as soon as can
 * be; then the others, the slowest to load first: its requests would otherwise wait the longest,
 * and it is ec2's, whose kinds wait on each other's reads (observeAfter, the unused-kind check).
 * An unknown service counts as the slowest. Kinds keep their order within a group.
 */
export function observeWaves(kinds: readonly KindName[]): KindName[][] {
  const cost = (s: string) => SERVICE_LOAD_COST[s] ?? Number.MAX_SAFE_INTEGER;
  const byService = new Map<string, KindName[]>();
  for (const k of kinds) {
    const s = KIND_SERVICE[k];
    byService.set(s, [...(byService.get(s) ?? []), k]);
  }
  const [first, ...rest] = [...byService.entries()].sort(([a], [b]) => cost(a) - cost(b));
  return first ? [first, ...rest.reverse()].map(([, ks]) => ks) : [];
}
