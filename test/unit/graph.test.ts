import { describe, expect, it } from 'vitest';
import { dependents, findCycle, levels } from '../../src/spec/graph.js';
import { KIND_ORDER } from '../../src/engine/order.js';
import { KIND_DEFS, KIND_NAMES } from '../../src/spec/schema.js';

describe('graph', () => {
  const nodes = [
    { name: 'rt', deps: ['vpc', 'igw', 'a'] },
    { name: 'vpc', deps: [] },
    { name: 'a', deps: ['vpc'] },
    { name: 'igw', deps: ['vpc'] },
    { name: 'eip', deps: [] },
  ];
  it('puts each node after everything it depends on, independent ones together', () => {
    expect(levels(nodes)).toEqual([['vpc', 'eip'], ['a', 'igw'], ['rt']]);
  });
  it('finds no cycle in a DAG, and the path of one when there is', () => {
    expect(findCycle(nodes)).toBeUndefined();
    expect(findCycle([{ name: 'x', deps: ['y'] }, { name: 'y', deps: ['z'] }, { name: 'z', deps: ['x'] }])).toEqual(['x', 'y', 'z', 'x']);
    expect(findCycle([{ name: 'self', deps: ['self'] }])).toEqual(['self', 'self']);
  });
  it('levels refuses a cycle', () => {
    expect(() => levels([{ name: 'x', deps: ['y'] }, { name: 'y', deps: ['x'] }])).toThrow(/cycle/);
  });
  // Late references (security group rules naming groups) wait only for the creation of what they name.
  it.each([
    ['two groups that allow each other', [{ name: 'app', deps: ['vpc'], late: ['db'] }, { name: 'db', deps: ['vpc'], late: ['app'] }, { name: 'vpc', deps: [] }], undefined],
    ['a ring of late references', [{ name: 'a', deps: [], late: ['b'] }, { name: 'b', deps: [], late: ['c'] }, { name: 'c', deps: [], late: ['a'] }], undefined],
    // vm waits for sg finished, sg's second step for vm created.
    ['a late reference to something that waits for it', [{ name: 'sg', deps: [], late: ['vm'] }, { name: 'vm', deps: ['sg'] }], ['vm', 'sg', 'vm']],
    ['a reference into a late one that waits for it', [{ name: 'a', deps: ['x'] }, { name: 'x', deps: ['b'] }, { name: 'b', deps: [], late: ['a'] }], ['a', 'x', 'b', 'a']],
    ['the same, entered from the late side', [{ name: 'b', deps: [], late: ['a'] }, { name: 'a', deps: ['x'] }, { name: 'x', deps: ['b'] }], ['a', 'x', 'b', 'a']],
    ['a plain cycle beside late references', [{ name: 'x', deps: ['y'], late: ['z'] }, { name: 'y', deps: ['x'] }, { name: 'z', deps: [], late: ['x'] }], ['x', 'y', 'x']],
    ['a reference to itself', [{ name: 'self', deps: ['self'], late: ['other'] }, { name: 'other', deps: [] }], ['self', 'self']],
  ])('%s: cycle %j', (_, graph, cycle) => {
    expect(findCycle(graph)).toEqual(cycle);
    // Creation order ignores late references.
    if (!cycle) expect(levels(graph).flat().sort()).toEqual(graph.map((n) => n.name).sort());
  });
  it('lists transitive dependents', () => {
    expect([...dependents(nodes, 'vpc')].sort()).toEqual(['a', 'igw', 'rt']);
  });
});

describe('kind order', () => {
  it('lists every kind once', () => {
    expect([...KIND_ORDER].sort()).toEqual([...KIND_NAMES].sort());
  });
  it('a kind only refers to kinds created before it', () => {
    // Probe each kind's refs() with a body naming every possible reference; the kinds it may refer to
    // must come earlier in KIND_ORDER (or be the same kind, e.g. security group to security group).
    const rank = (k: string) => KIND_ORDER.indexOf(k as never);
    for (const def of KIND_DEFS) {
      const probe: Record<string, unknown> = {
        vpc: 'x', subnet: 'x', elasticIp: 'x', peerVpc: 'x', keyPair: 'x', launchTemplate: 'x', loadBalancer: 'x', forward: 'x',
        instance: 'x', autoScalingGroup: 'x', securityGroups: ['x'], subnets: ['x'], targetGroups: ['x'],
        routes: [{ internetGateway: 'x', natGateway: 'x', vpcPeering: 'x' }], ingress: [{ securityGroup: 'x' }], egress: [{ securityGroup: 'x' }],
        notifications: { topic: 'x' }, actions: [{ topic: 'x' }, { scaleOut: 'x' }], okActions: [{ topic: 'x' }],
        targets: { autoScalingGroup: 'x', instances: ['x'] }, notify: { topic: 'x' },
      };
      for (const r of def.refs(probe as never))
        for (const k of r.kinds) expect(rank(k) <= rank(def.kind), `${def.kind} -> ${k}`).toBe(true);
    }
  });
});
