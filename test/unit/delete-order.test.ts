// The order of deletes (src/engine/delete-order.ts): each waits only for what must go before it.
import { describe, expect, it } from 'vitest';
import { deletePrerequisites, type DeleteItem } from '../../src/engine/delete-order.js';
import { KIND_ORDER, kindRank } from '../../src/engine/order.js';
import type { KindName } from '../../src/spec/schema.js';

const item = (kind: KindName, name: string, inSpec = true): DeleteItem => ({ kind, name, inSpec });
const waitsOf = (m: Map<DeleteItem, DeleteItem[]>) => Object.fromEntries([...m].map(([c, ws]) => [`${c.kind}.${c.name}`, ws.map((w) => `${w.kind}.${w.name}`).sort()]));

// Two copies of a small stack: alarm -> asg -> subnet -> vpc.
const graph = ['a', 'b'].flatMap((s) => [
  { name: `vpc-${s}`, deps: [] },
  { name: `subnet-${s}`, deps: [`vpc-${s}`] },
  { name: `asg-${s}`, deps: [`subnet-${s}`] },
  { name: `alarm-${s}`, deps: [`asg-${s}`] },
]);
const copies = ['a', 'b'].flatMap((s) => [
  item('vpc', `vpc-${s}`),
  item('subnet', `subnet-${s}`),
  item('auto-scaling-group', `asg-${s}`),
  item('cloudwatch-alarm', `alarm-${s}`),
]);

describe('deletePrerequisites', () => {
  it("waits only for a resource's own dependents, transitively: copies do not wait for each other", () => {
    expect(waitsOf(deletePrerequisites(copies, graph))).toEqual({
      'cloudwatch-alarm.alarm-a': [],
      'auto-scaling-group.asg-a': ['cloudwatch-alarm.alarm-a'],
      'subnet.subnet-a': ['auto-scaling-group.asg-a', 'cloudwatch-alarm.alarm-a'],
      'vpc.vpc-a': ['auto-scaling-group.asg-a', 'cloudwatch-alarm.alarm-a', 'subnet.subnet-a'],
      'cloudwatch-alarm.alarm-b': [],
      'auto-scaling-group.asg-b': ['cloudwatch-alarm.alarm-b'],
      'subnet.subnet-b': ['auto-scaling-group.asg-b', 'cloudwatch-alarm.alarm-b'],
      'vpc.vpc-b': ['auto-scaling-group.asg-b', 'cloudwatch-alarm.alarm-b', 'subnet.subnet-b'],
    });
  });

  it('orders a resource no longer in the spec by kind: every later kind goes first, earlier kinds wait for it', () => {
    const old = item('security-group', 'old', false);
    const w = waitsOf(deletePrerequisites([...copies, old], graph));
    expect(w['security-group.old']).toEqual(['auto-scaling-group.asg-a', 'auto-scaling-group.asg-b', 'cloudwatch-alarm.alarm-a', 'cloudwatch-alarm.alarm-b']);
    expect(w['subnet.subnet-a']).toContain('security-group.old');
    expect(w['vpc.vpc-b']).toContain('security-group.old');
    expect(w['auto-scaling-group.asg-a']).not.toContain('security-group.old');
  });

  it('falls back to one strict order (later kinds, then deeper levels first) when the rules would wait in a circle', () => {
    // An interpolated reference against the kind order: the security group refers to the load balancer.
    const g = [
      { name: 'lb', deps: [] },
      { name: 'sg', deps: ['lb'] },
    ];
    const lb = item('load-balancer', 'lb');
    const sg = item('security-group', 'sg');
    const between = KIND_ORDER.find((k) => kindRank(k) > kindRank('security-group') && kindRank(k) < kindRank('load-balancer'))!;
    const gone = item(between, 'gone', false);
    const w = waitsOf(deletePrerequisites([lb, sg, gone], g));
    expect(w).toEqual({ 'load-balancer.lb': [], [`${between}.gone`]: ['load-balancer.lb'], 'security-group.sg': [`${between}.gone`, 'load-balancer.lb'].sort() });
  });
});
