import { describe, expect, it } from 'vitest';
import type { Change, Plan } from '../../src/engine/plan.js';
import { withoutIgnored } from '../../src/engine/plan.js';
import { renderJson, renderMarkdown, renderText, summaryLine } from '../../src/engine/render.js';
import { UNKNOWN } from '../../src/engine/types.js';

function plan(changes: Change[], blocked: Plan['blocked'] = []): Plan {
  const summary = { create: 0, update: 0, replace: 0, delete: 0, adopt: 0, keep: 0 };
  for (const c of changes) if (c.action in summary) summary[c.action as keyof typeof summary]++;
  return { formatVersion: 1, stack: 's', region: 'us-east-1', specFile: 'x.yaml', specHash: 'h', liveHash: 'l', createdAt: 'now', mode: 'apply', prune: false, changes, blocked, summary };
}

const changes: Change[] = [
  { address: 'vpc.main', kind: 'vpc', name: 'main', action: 'create', fields: [{ path: 'cidr', before: undefined, after: '10.0.0.0/16', forcesReplace: false }], reason: 'not in AWS yet' },
  {
    address: 'subnet.a', kind: 'subnet', name: 'a', action: 'replace', id: 'subnet-1', reason: 'cidr cannot change in place', forcedBy: ['cidr'],
    fields: [{ path: 'cidr', before: '10.0.1.0/24', after: '10.0.2.0/24', forcesReplace: true }, { path: 'vpc', before: 'vpc-1', after: UNKNOWN, forcesReplace: true }],
  },
  {
    address: 'security-group.web', kind: 'security-group', name: 'web', action: 'update', id: 'sg-1', reason: '2 field(s) differ',
    fields: [
      { path: 'ingress[tcp 22 0.0.0.0/0]', before: undefined, after: { port: 22 }, forcesReplace: false },
      { path: 'ingress[tcp 8080 0.0.0.0/0]', before: { port: 8080 }, after: undefined, forcesReplace: false },
    ],
  },
  { address: 'instance.secret', kind: 'instance', name: 'secret', action: 'update', id: 'i-1', reason: 'x', fields: [{ path: 'userData', before: 'old-pass', after: 'new-pass', forcesReplace: false, sensitive: true }] },
  { address: 'vpc.old', kind: 'vpc', name: 'old', action: 'keep', id: 'vpc-9', fields: [], reason: 'no longer in the spec: kept' },
  { address: 'vpc.same', kind: 'vpc', name: 'same', action: 'noop', id: 'vpc-2', fields: [], reason: 'up to date' },
];

describe('render', () => {
  it('text shows symbols, fields, forced replacements, and a summary; never sensitive values', () => {
    const t = renderText(plan(changes), { color: false });
    expect(t).toContain('  + vpc.main will be created');
    expect(t).toContain('+ cidr = "10.0.0.0/16"');
    expect(t).toContain('-/+ subnet.a (subnet-1) must be replaced');
    expect(t).toContain('~ cidr: "10.0.1.0/24" -> "10.0.2.0/24" # forces replacement');
    expect(t).toContain('~ vpc: "vpc-1" -> (known after apply) # forces replacement');
    expect(t).toContain('+ ingress[tcp 22 0.0.0.0/0] = {"port":22}');
    expect(t).toContain('- ingress[tcp 8080 0.0.0.0/0] = {"port":8080}');
    expect(t).toContain('!! vpc.old (vpc-9) is no longer in the spec and will be kept'.replace('!!', ' !'));
    expect(t).not.toContain('vpc.same');
    expect(t).not.toContain('pass');
    expect(t).toContain('Plan: 1 to add, 2 to change, 1 to replace, 0 to destroy. 1 no longer in the spec, kept (prune is off).');
  });
  it('says so when nothing changes', () => {
    expect(renderText(plan([changes[5]]), { color: false })).toContain('No changes.');
    expect(renderText(plan([changes[5]]), { color: false })).toContain('(1 resource) matches the spec.');
  });
  it('a destroy with nothing to delete says so, not that the stack matches the spec', () => {
    const t = renderText({ ...plan([]), mode: 'destroy' }, { color: false });
    expect(t).toContain('Nothing to destroy: stack s owns no resources.');
    expect(t).not.toContain('matches the spec');
  });
  it('shows blocked plans', () => {
    const p = plan(changes, [{ address: 'subnet.a', reason: 'protected' }]);
    expect(renderText(p, { color: false })).toContain('BLOCKED subnet.a: protected');
    expect(summaryLine(p)).toContain('BLOCKED by 1 safety rule(s)');
  });
  it('json is versioned and redacts sensitive values', () => {
    const j = JSON.parse(renderJson(plan(changes)));
    expect(j.formatVersion).toBe(1);
    expect(JSON.stringify(j)).not.toContain('pass');
    expect(j.changes[3].fields[0].after).toBe('(sensitive)');
  });
  it('markdown puts replacements and deletions first and stays under the cap, naming every one', () => {
    const many: Change[] = [];
    for (let i = 0; i < 3000; i++)
      many.push({ address: `security-group.g${i}`, kind: 'security-group', name: `g${i}`, action: 'update', id: `sg-${i}`, reason: 'x', fields: [{ path: 'description', before: 'a'.repeat(20), after: 'b'.repeat(20), forcesReplace: false }] });
    many.push({ address: 'vpc.gone', kind: 'vpc', name: 'gone', action: 'delete', id: 'vpc-7', fields: [], reason: 'no longer in the spec (prune)' });
    many.push(changes[1]);
    const md = renderMarkdown(plan(many));
    expect(md.length).toBeLessThan(65_536);
    expect(md.indexOf('vpc.gone')).toBeLessThan(md.indexOf('<details>'));
    expect(md.indexOf('subnet.a')).toBeLessThan(md.indexOf('<details>'));
    expect(md).toContain('too long for a comment');
  });
});

describe('ignoreChanges', () => {
  const f = (path: string) => ({ path, before: 1, after: 2, forcesReplace: false });
  it('drops the field and anything under it, only', () => {
    expect(withoutIgnored([f('desiredCapacity'), f('tags.Env'), f('tags'), f('ingress[tcp 22]'), f('minSize')], ['desiredCapacity', 'tags', 'ingress']).map((x) => x.path)).toEqual(['minSize']);
    expect(withoutIgnored([f('desiredCapacityX')], ['desiredCapacity'])).toHaveLength(1);
  });
});
