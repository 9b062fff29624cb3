// The grace period after a create (src/engine/recent.ts): a resource created a moment ago that a plan
// does not list yet counts as there, for at most the grace; RECONCILE_CREATE_GRACE_MS=0 turns it off.
import { afterEach, describe, expect, it } from 'vitest';
import { forgetCreated, recentlyCreated, rememberCreated, setClock } from '../../src/engine/recent.js';
import type { Observed } from '../../src/engine/types.js';

const made = { id: 'vpc-1', name: 'main', management: 'owned', live: {}, tags: {}, outputs: {} } as unknown as Observed;

describe('recentlyCreated', () => {
  afterEach(() => setClock(() => Date.now()));

  it('holds a create for the grace period, then forgets it', () => {
    let t = 1_000;
    setClock(() => t);
    rememberCreated('s', 'vpc.main', made);
    expect(recentlyCreated('s', 'vpc.main', 30_000)).toMatchObject({ ageMs: 0, observed: made });
    t += 30_000;
    expect(recentlyCreated('s', 'vpc.main', 30_000)).toMatchObject({ ageMs: 30_000 });
    t += 1;
    expect(recentlyCreated('s', 'vpc.main', 30_000)).toBeUndefined();
    expect(recentlyCreated('s', 'vpc.main', 30_000)).toBeUndefined();
  });

  it('a grace of 0 is none, even within the millisecond of the create (a plan made at once after it)', () => {
    setClock(() => 5_000);
    rememberCreated('s', 'vpc.main', made);
    expect(recentlyCreated('s', 'vpc.main', 0)).toBeUndefined();
  });

  it('is per stack, and forgotten once listed', () => {
    setClock(() => 1);
    rememberCreated('a', 'vpc.main', made);
    expect(recentlyCreated('b', 'vpc.main', 30_000)).toBeUndefined();
    forgetCreated('a', 'vpc.main');
    expect(recentlyCreated('a', 'vpc.main', 30_000)).toBeUndefined();
  });
});
