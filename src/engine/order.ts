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
