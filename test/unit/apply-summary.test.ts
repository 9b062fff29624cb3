// The line apply ends with: its count is the sum of its breakdown, a replacement counted once.
import { describe, expect, it } from 'vitest';
import { doneSummary } from '../../src/commands/apply.js';
import { changesDone } from '../../src/engine/apply.js';

describe('apply summary', () => {
  it('counts a replacement (its destroy and its create) once, and a dependency-driven update as a change', () => {
    const done = [
      { address: 'vpc.main', action: 'create' },
      { address: 'instance.web', action: 'replace' }, // destroying (replace)
      { address: 'instance.web', action: 'replace' }, // creating (replace)
      { address: 'security-group.web', action: 'update' },
      { address: 'auto-scaling-group.app', action: 'noop' }, // updated: its template moved
      { address: 'subnet.old', action: 'delete' },
    ];
    const line = doneSummary(done);
    expect(line).toBe('5 changes: 1 added, 2 changed, 1 replaced, 1 destroyed');
    const [total, ...parts] = line.match(/\d+/g)!.map(Number);
    expect(parts.reduce((a, b) => a + b, 0)).toBe(total);
    // watch's "healed: N change(s)" and its reconcile_changes_applied_total count the same way
    expect(changesDone(done).size).toBe(total);
    expect([...changesDone(done).values()].filter((a) => a === 'replace')).toHaveLength(1);
  });

  it('one change', () => expect(doneSummary([{ address: 'a.b', action: 'adopt' }])).toBe('1 change: 0 added, 1 changed, 0 replaced, 0 destroyed'));
});
