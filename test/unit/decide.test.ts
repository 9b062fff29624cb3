// The engine's decisions, with small fake reconcilers: no AWS, no moto, milliseconds. Each row reads
// as a rule of the engine: what a plan does given the spec and what observe found.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decide, diffFields, diffResource, type Action, type Change } from '../../src/engine/decide.js';
import { makeDesired } from '../../src/engine/desired.js';
import { createStarted, createsFinished, createsInFlight } from '../../src/engine/journal.js';
import { makePlan } from '../../src/engine/plan.js';
import { applyPlan } from '../../src/engine/apply.js';
import { ownershipProblems, PlanError } from '../../src/engine/ownership.js';
import { partition, prune, safetyRules } from '../../src/engine/prune.js';
import { UNKNOWN, type Ctx, type Desired, type EngineEvent, type FieldChange, type Management, type NameHolder, type Observed, type Outputs, type Reconciler, type Registry } from '../../src/engine/types.js';
import { loadSpecText } from '../../src/spec/load.js';
import type { KindName } from '../../src/spec/schema.js';

const STACK = 'shop';
/** The tags a resource of the stack carries (as desiredTags makes them): the engine diffs them too. */
const own = (name: string, extra: Record<string, string> = {}) => ({ Name: `${STACK}-${name}`, 'reconcile:stack': STACK, 'reconcile:id': name, ...extra });

/** A fake observation: a live resource of `name` with these fields. */
const obs = (name: string, live: Record<string, unknown>, o: { id?: string; management?: Management; tags?: Record<string, string>; outputs?: Outputs } = {}): Observed => ({
  id: o.id ?? `id-${name}`,
  name,
  management: o.management ?? 'owned',
  live,
  tags: o.tags ?? own(name),
  outputs: o.outputs ?? { id: o.id ?? `id-${name}` },
});

/**
 * A fake reconciler: every spec field is compared with the same live field; `parent` is a reference
 * (compared by the parent's id); the fields in `forcing` cannot change in place.
 */
function fake(forcing: string[] = [], extra: Partial<Reconciler> = {}): Reconciler {
  const diff = (d: Desired, o: Observed): FieldChange[] => {
    const out: FieldChange[] = [];
    for (const [k, v] of Object.entries(d.spec as Record<string, unknown>)) {
      if (['kind', 'tags', 'ignoreChanges', 'adopt', 'protect', 'dependsOn'].includes(k)) continue;
      const want = k === 'parent' ? d.ref(v as string).id : v;
      const have = (o.live as Record<string, unknown>)[k];
      if (JSON.stringify(have) !== JSON.stringify(want)) out.push({ path: k, before: have, after: want, forcesReplace: forcing.includes(k) });
    }
    return out;
  };
  return {
    kind: 'vpc',
    observe: async () => [],
    diff: diff as Reconciler['diff'],
    create: async () => {
      throw new Error('not in a plan');
    },
    update: async () => {
      throw new Error('not in a plan');
    },
    delete: async () => {},
    permissions: { observe: [], create: [], update: [], delete: [] },
    ...extra,
  };
}

type Body = Record<string, unknown>;

/** Desired views of `spec` (name -> body), resolving references through `outputs`, in the given order. */
function desiredOf(spec: Record<string, Body>, outputs: Map<string, Outputs>, kind: KindName = 'vpc'): Desired[] {
  return Object.entries(spec).map(([name, body]) =>
    makeDesired({ stack: STACK, defaultTags: {}, name, kind, spec: { kind, ...body } as never, specDir: '.', lookup: (n) => outputs.get(n) }),
  );
}

function decideRow(spec: Record<string, Body>, live: Observed[], r: Reconciler = fake(['size']), recent?: Parameters<typeof decide>[0]['recent']): Change[] {
  const outputs = new Map<string, Outputs>();
  const order = desiredOf(spec, outputs);
  return decide({ order, live: new Map(live.map((o) => [`vpc.${o.name}`, o])), reconcilers: new Map([['vpc', r]]), outputs, recent }).changes;
}

const summary = (changes: Change[]) => changes.map((c) => [c.name, c.action, ...(c.forcedBy ? [c.forcedBy] : [])]);

describe('decide: one change per spec resource', () => {
  it.each<[string, Record<string, Body>, Observed[], (string | string[])[][]]>([
    ['not in AWS: create', { a: { size: 1 } }, [], [['a', 'create']]],
    ['equal: nothing to do', { a: { size: 1, color: 'red' } }, [obs('a', { size: 1, color: 'red' })], [['a', 'noop']]],
    ['a field that changes in place: update', { a: { size: 1, color: 'red' } }, [obs('a', { size: 1, color: 'blue' })], [['a', 'update']]],
    ['a field that cannot change in place: replace, naming it', { a: { size: 2, color: 'red' } }, [obs('a', { size: 1, color: 'blue' })], [['a', 'replace', ['size']]]],
    ['adopt: named by adopt:, not ours yet', { a: { size: 1, adopt: 'id-a' } }, [obs('a', { size: 1 }, { management: 'adopted', tags: {} })], [['a', 'adopt']]],
    ['looked up: read, never changed', { a: { size: 9 } }, [obs('a', { size: 1 }, { management: 'lookup', tags: {} })], [['a', 'read']]],
    ['ignoreChanges: a difference in an ignored field is no change', { a: { size: 1, color: 'red', ignoreChanges: ['color'] } }, [obs('a', { size: 1, color: 'blue' })], [['a', 'noop']]],
    ['ignoreChanges hides a forcing field too', { a: { size: 2, ignoreChanges: ['size'] } }, [obs('a', { size: 1 })], [['a', 'noop']]],
    [
      'unknown refs: a child of a created parent sees UNKNOWN; on a field that forces, it is replaced too',
      { p: { size: 1 }, c: { parent: 'p' } },
      [obs('c', { parent: 'id-old-p' })],
      [
        ['p', 'create'],
        ['c', 'update'],
      ],
    ],
    [
      'a child of a replaced parent is replaced when the reference forces',
      { p: { size: 2 }, c: { parent: 'p' } },
      [obs('p', { size: 1 }), obs('c', { parent: 'id-p' })],
      [
        ['p', 'replace', ['size']],
        ['c', 'replace', ['parent']],
      ],
    ],
    [
      'a child of an unchanged parent: its reference is known and equal',
      { p: { size: 1 }, c: { parent: 'p' } },
      [obs('p', { size: 1 }), obs('c', { parent: 'id-p' })],
      [
        ['p', 'noop'],
        ['c', 'noop'],
      ],
    ],
  ])('%s', (_, spec, live, expected) => {
    expect(summary(decideRow(spec, live, fake(['size', ...(_.includes('reference forces') ? ['parent'] : [])])))).toEqual(expected);
  });

  it('shows UNKNOWN where a reference is to a resource being created', () => {
    const [, child] = decideRow({ p: { size: 1 }, c: { parent: 'p' } }, [obs('c', { parent: 'id-old-p' })]);
    expect(child.fields).toEqual([{ path: 'parent', before: 'id-old-p', after: UNKNOWN, forcesReplace: false }]);
  });

  it('an update makes the volatile outputs of the resource unknown to its dependents', () => {
    const r = fake(['size'], { volatileOutputs: ['version'] });
    const outputs = new Map<string, Outputs>();
    const order = desiredOf({ p: { color: 'red' } }, outputs);
    const live = new Map([['vpc.p', obs('p', { color: 'blue' }, { outputs: { id: 'id-p', version: '1' } })]]);
    decide({ order, live, reconcilers: new Map([['vpc', r]]), outputs });
    expect(outputs.get('p')).toEqual({ id: 'id-p', version: UNKNOWN });
  });

  it('a resource this process created moments ago that AWS does not list yet is not created twice', () => {
    const just = obs('a', { size: 1 }, { id: 'id-new' });
    const changes = decideRow({ a: { size: 1 } }, [], fake(), (address) => (address === 'vpc.a' ? { observed: just, ageMs: 2_000 } : undefined));
    expect(changes).toEqual([{ address: 'vpc.a', kind: 'vpc', name: 'a', action: 'noop', id: 'id-new', fields: [], reason: 'created 2s ago; AWS does not list it yet' }]);
  });

  // Late references (a security group rule naming a group): `parent` of a and b names the other one.
  describe('late references', () => {
    const late = new Map([
      ['a', [{ field: 'parent', name: 'b' }]],
      ['b', [{ field: 'parent', name: 'a' }]],
    ]);
    const lateRow = (live: Observed[]) => {
      const outputs = new Map<string, Outputs>();
      const order = desiredOf({ a: { parent: 'b' }, b: { parent: 'a' } }, outputs);
      return decide({ order, live: new Map(live.map((o) => [`vpc.${o.name}`, o])), reconcilers: new Map([['vpc', fake()]]), outputs, late }).changes;
    };
    it('two resources naming each other, both up to date: both noop (the one decided first is diffed again)', () => {
      expect(summary(lateRow([obs('a', { parent: 'id-b' }), obs('b', { parent: 'id-a' })]))).toEqual([
        ['a', 'noop'],
        ['b', 'noop'],
      ]);
    });
    it('a drifted late reference is an update with the real id, whichever is decided first', () => {
      const [a, b] = lateRow([obs('a', { parent: 'id-x' }), obs('b', { parent: 'id-a' })]);
      expect([a.action, a.fields, b.action]).toEqual(['update', [{ path: 'parent', before: 'id-x', after: 'id-b', forcesReplace: false }], 'noop']);
      expect(a.waitsFor).toBeUndefined();
    });
    it('both created now: each create says its late reference is made once the other exists', () => {
      expect(lateRow([]).map((c) => [c.name, c.action, c.waitsFor])).toEqual([
        ['a', 'create', [{ field: 'parent', address: 'vpc.b' }]],
        ['b', 'create', [{ field: 'parent', address: 'vpc.a' }]],
      ]);
    });
    it('one created now: the other is updated once it exists, its new value unknown until then', () => {
      const [a, b] = lateRow([obs('a', { parent: 'id-old' })]);
      expect([a.action, a.fields, a.waitsFor]).toEqual(['update', [{ path: 'parent', before: 'id-old', after: UNKNOWN, forcesReplace: false }], [{ field: 'parent', address: 'vpc.b' }]]);
      expect(b.action).toBe('create');
    });
  });

  it('diffResource splits what forces a replacement from what changes in place, without ignored fields', () => {
    const [d] = desiredOf({ a: { size: 2, color: 'red', shape: 'round', ignoreChanges: ['shape'] } }, new Map());
    const r = diffResource(fake(['size']), d, obs('a', { size: 1, color: 'blue', shape: 'square' }));
    expect(r.forcedBy).toEqual(['size']);
    expect(r.inPlace.map((f) => f.path)).toEqual(['color']);
    expect(r.fields.map((f) => f.path)).toEqual(['size', 'color']);
  });
});

describe('decide: tags are diffed by the engine, for every kind', () => {
  const fields = (c: Change) => c.fields.map((f) => [f.path, f.before, f.after]);
  const internal = (tags: Record<string, string>) => Object.fromEntries(Object.entries(tags).filter(([k]) => !k.startsWith('internal:')));
  it.each<[string, Body, Observed, Partial<Reconciler>, Action, unknown[][]]>([
    ['tags as the stack sets them: nothing to do', { size: 1 }, obs('a', { size: 1 }), {}, 'noop', []],
    ['a tag added by hand is removed', { size: 1 }, obs('a', { size: 1 }, { tags: own('a', { Owner: 'bob' }) }), {}, 'update', [['tags.Owner', 'bob', undefined]]],
    ['a tag of the spec, changed by hand, is set back', { size: 1, tags: { Env: 'prod' } }, obs('a', { size: 1 }, { tags: own('a', { Env: 'dev' }) }), {}, 'update', [['tags.Env', 'dev', 'prod']]],
    ["AWS's own aws: tags are not the stack's", { size: 1 }, obs('a', { size: 1 }, { tags: own('a', { 'aws:cloudformation:stack-name': 'x' }) }), {}, 'noop', []],
    [
      "the kind's fields first, then the tags, by key",
      { size: 1, color: 'red', tags: { Env: 'prod' } },
      obs('a', { size: 1, color: 'blue' }, { tags: own('a', { Zone: 'z' }) }),
      {},
      'update',
      [
        ['color', 'blue', 'red'],
        ['tags.Env', undefined, 'prod'],
        ['tags.Zone', 'z', undefined],
      ],
    ],
    [
      'adopted: it gets the stack tags',
      { size: 1, adopt: 'id-a' },
      obs('a', { size: 1 }, { management: 'adopted', tags: { Team: 'x' } }),
      {},
      'adopt',
      [
        ['tags.Name', undefined, 'shop-a'],
        ['tags.Team', 'x', undefined],
        ['tags.reconcile:id', undefined, 'a'],
        ['tags.reconcile:stack', undefined, 'shop'],
      ],
    ],
    ['looked up: its tags are not ours', { size: 1 }, obs('a', { size: 1 }, { management: 'lookup', tags: { Team: 'x' } }), {}, 'read', []],
    ['ignoreChanges: tags', { size: 1, ignoreChanges: ['tags'] }, obs('a', { size: 1 }, { tags: own('a', { Owner: 'bob' }) }), {}, 'noop', []],
    ['ignoreChanges: one tag', { size: 1, ignoreChanges: ['tags.Owner'] }, obs('a', { size: 1 }, { tags: own('a', { Owner: 'bob', Team: 'x' }) }), {}, 'update', [['tags.Team', 'x', undefined]]],
    [
      "a kind's tagsForDiff leaves out tags that are not the spec's",
      { size: 1 },
      obs('a', { size: 1 }, { tags: own('a', { 'internal:hash': '1' }) }),
      { tagsForDiff: (d, o) => ({ desired: d.tags, observed: internal(o.tags) }) },
      'noop',
      [],
    ],
    ['a kind that takes no tags (tagsForDiff undefined): none compared', { size: 1 }, obs('a', { size: 1 }, { tags: {} }), { tagsForDiff: () => undefined }, 'noop', []],
  ])('%s', (_, body, o, kind, action, expected) => {
    const [c] = decideRow({ a: body }, [o], fake(['size'], kind));
    expect([c.action, fields(c)]).toEqual([action, expected]);
  });

  it("a reconciler's diff says nothing of tags: the engine adds them (diffFields), and diffResource applies ignoreChanges after", () => {
    const [d] = desiredOf({ a: { size: 1, tags: { Env: 'prod' } } }, new Map());
    const o = obs('a', { size: 1 }, { tags: own('a') });
    expect(fake().diff(d, o)).toEqual([]);
    expect(diffFields(fake(), d, o)).toEqual([{ path: 'tags.Env', before: undefined, after: 'prod', forcesReplace: false }]);
    expect(diffResource(fake(), d, o).inPlace.map((f) => f.path)).toEqual(['tags.Env']);
  });
});

describe('prune and the safety rules', () => {
  const spec = new Map<string, KindName>([['a', 'vpc']]);
  const split = (observed: Partial<Record<KindName, Observed[]>>) =>
    partition(Object.keys(observed) as KindName[], new Map(Object.entries(observed)) as Map<KindName, Observed[]>, spec, STACK);
  const run = (observed: Partial<Record<KindName, Observed[]>>, o: { destroy?: boolean; prune?: boolean; maxDeletes?: number; protects?: string[] } = {}) => {
    const p = split(observed);
    const changes = prune({ ...p, spec, destroy: !!o.destroy, prune: !!o.prune });
    const blocked = safetyRules(changes, { ...p, maxDeletes: o.maxDeletes, specProtects: (_k, n) => !!o.protects?.includes(n) });
    return { changes: changes.map((c) => [c.address, c.action, ...(c.duplicate ? ['duplicate'] : [])]), blocked: blocked.map((b) => b.address) };
  };

  it.each<[string, Partial<Record<KindName, Observed[]>>, Parameters<typeof run>[1], { changes: string[][]; blocked: string[] }]>([
    ['owned, no longer in the spec, prune off: kept', { vpc: [obs('a', {}), obs('old', {})] }, {}, { changes: [['vpc.old', 'keep']], blocked: [] }],
    ['owned, no longer in the spec, prune on: deleted', { vpc: [obs('a', {}), obs('old', {})] }, { prune: true }, { changes: [['vpc.old', 'delete']], blocked: [] }],
    ['not ours (no stack tags) and not in the spec: never listed', { vpc: [obs('other', {}, { tags: {} })] }, { prune: true }, { changes: [], blocked: [] }],
    [
      'destroy: everything owned, later kinds first; a looked-up one stays',
      { vpc: [obs('a', {}, { management: 'lookup', tags: {} }), obs('old', {})], subnet: [obs('s', {})] },
      { destroy: true },
      {
        changes: [
          ['subnet.s', 'delete'],
          ['vpc.old', 'delete'],
        ],
        blocked: [],
      },
    ],
    [
      'two claim one address: the one the others refer to is kept, the other deleted even with prune off',
      { vpc: [obs('a', {}, { id: 'vpc-1' }), obs('a', {}, { id: 'vpc-2' })], subnet: [obs('s', { vpc: 'vpc-2' })] },
      {},
      {
        changes: [
          ['subnet.s', 'keep'],
          ['vpc.a', 'delete', 'duplicate'],
        ],
        blocked: [],
      },
    ],
    ['the tag reconcile:protect blocks a prune, after the resource left the spec', { vpc: [obs('old', {}, { tags: own('old', { 'reconcile:protect': 'true' }) })] }, { prune: true }, { changes: [['vpc.old', 'delete']], blocked: ['vpc.old'] }],
    ['protect: true in the spec blocks a destroy', { vpc: [obs('a', {})] }, { destroy: true, protects: ['a'] }, { changes: [['vpc.a', 'delete']], blocked: ['vpc.a'] }],
    [
      'more deletes than --max-deletes: blocked as a whole',
      { vpc: [obs('old1', {}), obs('old2', {})] },
      { prune: true, maxDeletes: 1 },
      {
        changes: [
          ['vpc.old1', 'delete'],
          ['vpc.old2', 'delete'],
        ],
        blocked: ['*'],
      },
    ],
  ])('%s', (_, observed, opts, expected) => {
    expect(run(observed, opts)).toEqual(expected);
  });

  it('the kept duplicate is the spec\'s resource, the other one is what apply deletes', () => {
    const p = split({ vpc: [obs('a', {}, { id: 'vpc-1' }), obs('a', {}, { id: 'vpc-2' })], subnet: [obs('s', { vpc: 'vpc-2' })] });
    expect(p.live.get('vpc.a')!.id).toBe('vpc-2');
    expect(p.leftovers.map((l) => [l.address, l.observed.id, l.duplicate])).toEqual([
      ['vpc.a', 'vpc-1', true],
      ['subnet.s', 'id-s', false],
    ]);
  });
});

describe('ownership', () => {
  const ctx = { stack: STACK, region: 'eu-west-1' } as Ctx;
  const holders = (list: NameHolder[]) => async () => fake([], { nameHolders: async () => list });
  const [bucket] = desiredOf({ data: { bucketName: 'data' } }, new Map(), 's3-bucket');
  const held = (tags: Record<string, string>): NameHolder => ({ name: 'data', awsName: 'data', adoptId: 'data', tags, nameField: 'bucketName' });

  it.each<[string, NameHolder[], string[]]>([
    ['nobody holds the name: no problem', [], []],
    ['held by a resource with no stack tags: refused, with the adopt: hint', [held({})], ['vpc "data" already exists and is not vpc.data of this stack (it carries no reconcile:stack tag): set adopt: data to take it over, or choose another bucketName']],
    ['held by another stack: refused, naming it', [held({ 'reconcile:stack': 'other', 'reconcile:id': 'x' })], ['vpc "data" already exists and is not vpc.data of this stack (it belongs to stack other (x)): set adopt: data to take it over, or choose another bucketName']],
    ['held by this stack (an earlier create): fine', [held(own('data'))], []],
  ])('%s', async (_, list, expected) => {
    const problems = await ownershipProblems(ctx, holders(list), [{ d: { ...bucket, kind: 'vpc', address: 'vpc.data' } as Desired, action: 'create' }]);
    expect(problems.map((p) => p.message)).toEqual(expected);
  });

  it('an untagged holder is taken back only where this machine started that create and never saw it finish', async () => {
    const d = { ...bucket, kind: 'vpc', address: 'vpc.data' } as Desired;
    const inFlight = new Set(['vpc.data']);
    expect(await ownershipProblems(ctx, holders([held({})]), [{ d, action: 'create' }], inFlight)).toEqual([]);
    // Another stack's resource is never taken, journal or not.
    expect(await ownershipProblems(ctx, holders([held({ 'reconcile:stack': 'other' })]), [{ d, action: 'create' }], inFlight)).toHaveLength(1);
  });

  it('the journal of creates in flight: started, seen, struck; per stack and region', () => {
    const saved = process.env.XDG_STATE_HOME;
    process.env.XDG_STATE_HOME = mkdtempSync(join(tmpdir(), 'reconcile-journal-'));
    try {
      createStarted(STACK, 'eu-west-1', 's3-bucket.data');
      createStarted(STACK, 'eu-west-1', 's3-bucket.logs');
      expect([...createsInFlight(STACK, 'eu-west-1')]).toEqual(['s3-bucket.data', 's3-bucket.logs']);
      expect([...createsInFlight(STACK, 'us-east-1')]).toEqual([]);
      createsFinished(STACK, 'eu-west-1', ['s3-bucket.data', 'vpc.main']);
      expect([...createsInFlight(STACK, 'eu-west-1')]).toEqual(['s3-bucket.logs']);
    } finally {
      if (saved === undefined) delete process.env.XDG_STATE_HOME;
      else process.env.XDG_STATE_HOME = saved;
    }
  });

  it('adopt: of something observe did not find is a problem for a create, not for a replacement', async () => {
    const [d] = desiredOf({ a: { adopt: 'vpc-0123' } }, new Map());
    expect(await ownershipProblems(ctx, holders([]), [{ d, action: 'create' }])).toEqual([{ address: 'vpc.a', message: 'adopt: vpc-0123 does not exist: no vpc in eu-west-1 has that id or name (remove adopt: to create a new one)' }]);
    expect(await ownershipProblems(ctx, holders([]), [{ d, action: 'replace' }])).toEqual([]);
  });
});

describe('makePlan with a fake registry', () => {
  /** A registry whose vpc and subnet reconcilers observe what `live` says; every other kind has nothing. */
  function registry(live: Partial<Record<KindName, Observed[]>>, holders: NameHolder[] = []): Registry {
    return {
      reconcilerFor: async (kind) => fake(['cidr'], { kind, observe: async () => live[kind] ?? [], nameHolders: async () => holders }),
    };
  }
  const spec = loadSpecText(
    `apiVersion: reconcile/v1
stack: ${STACK}
region: eu-west-1
resources:
  main: { kind: vpc, cidr: 10.0.0.0/16 }
  public: { kind: subnet, vpc: main, cidr: 10.0.1.0/24 }
`,
    '/tmp/spec.yaml',
  );
  if (!spec.ok) throw new Error(JSON.stringify(spec.diagnostics));
  const ctx = { stack: STACK, region: 'eu-west-1', aws: {} as Ctx['aws'], emit: () => {} } as Ctx;

  it('plans from nothing: creates in dependency order, references unknown', async () => {
    const { plan } = await makePlan(registry({}), spec.loaded, ctx);
    expect(plan.changes.map((c) => [c.address, c.action])).toEqual([
      ['vpc.main', 'create'],
      ['subnet.public', 'create'],
    ]);
    expect(plan.summary).toMatchObject({ create: 2, delete: 0 });
  });

  it('a converged stack with a leftover: noops and a keep; with prune and --max-deletes 0, blocked', async () => {
    // Live exactly as the spec says (the fake compares every field of the defaulted body).
    const body = (name: string) => spec.loaded.resources.find((r) => r.name === name)!.body as Record<string, unknown>;
    const live = {
      vpc: [obs('main', body('main'), { id: 'vpc-1' })],
      subnet: [obs('public', body('public'), { id: 'subnet-1' }), obs('old', { cidr: '10.0.9.0/24' }, { id: 'subnet-9' })],
    };
    const { plan } = await makePlan(registry(live), spec.loaded, ctx);
    expect(plan.changes.map((c) => [c.address, c.action])).toEqual([
      ['vpc.main', 'noop'],
      ['subnet.public', 'noop'],
      ['subnet.old', 'keep'],
    ]);
    const pruned = await makePlan(registry(live), spec.loaded, ctx, { prune: true, maxDeletes: 0 });
    expect(pruned.plan.blocked.map((b) => b.address)).toEqual(['*']);
  });

  it('what prepare resolved is on the change and in the liveHash (a saved plan pins it); what it could not resolve fails the plan', async () => {
    const withAmi = (id: string, problems: string[] = []): Registry => ({
      reconcilerFor: async (kind) =>
        fake(['cidr'], { kind, observe: async () => [], prepare: async (_c, ds) => ds.map((d) => ({ name: d.name, resolved: [{ field: 'ami', value: id, detail: 'al2023' }], problems })) }),
    });
    const a = await makePlan(withAmi('ami-1'), spec.loaded, ctx);
    expect(a.plan.changes[0].resolved).toEqual([{ field: 'ami', value: 'ami-1', detail: 'al2023' }]);
    const again = await makePlan(withAmi('ami-1'), spec.loaded, ctx);
    const newer = await makePlan(withAmi('ami-2'), spec.loaded, ctx);
    expect(again.plan.liveHash).toBe(a.plan.liveHash);
    expect(newer.plan.liveHash).not.toBe(a.plan.liveHash);
    const e = await makePlan(withAmi('ami-1', ['no available AMI named "x"']), spec.loaded, ctx).catch((x: unknown) => x);
    expect((e as PlanError).problems).toEqual([
      { address: 'vpc.main', message: 'no available AMI named "x"' },
      { address: 'subnet.public', message: 'no available AMI named "x"' },
    ]);
  });

  it("prepare's inputs are what diff, create and update are handed; a resource prepare could not resolve is never diffed", async () => {
    const body = (name: string) => spec.loaded.resources.find((r) => r.name === name)!.body as Record<string, unknown>;
    const handed: [string, string, unknown][] = [];
    const withInputs = (live: Observed[], problems: string[] = []): Registry => ({
      reconcilerFor: async (kind) =>
        fake([], {
          kind,
          observe: async () => live.filter((o) => (kind === 'vpc') === (o.name === 'main')),
          prepare: async (_c, ds) => ds.map((d) => ({ name: d.name, resolved: [], problems, ...(problems.length ? {} : { inputs: { for: d.name } }) })),
          diff: (d, _o, inputs) => {
            if (problems.length) throw new Error('diff without inputs');
            handed.push(['diff', d.name, inputs]);
            return [{ path: 'x', before: 1, after: 2, forcesReplace: false }];
          },
          update: async (_c, d, o, _changes, inputs) => {
            handed.push(['update', d.name, inputs]);
            return o;
          },
          create: async (_c, d, inputs) => {
            handed.push(['create', d.name, inputs]);
            return obs(d.name, {});
          },
        }),
    });
    const main = obs('main', body('main'), { id: 'vpc-1' });
    const { plan, state } = await makePlan(withInputs([main]), spec.loaded, ctx);
    await applyPlan(withInputs([main]), plan, state, ctx);
    expect(plan.changes.map((c) => [c.address, c.action])).toEqual([
      ['vpc.main', 'update'],
      ['subnet.public', 'create'],
    ]);
    expect(handed).toEqual([
      ['diff', 'main', { for: 'main' }],
      ['diff', 'main', { for: 'main' }],
      ['update', 'main', { for: 'main' }],
      ['create', 'public', { for: 'public' }],
    ]);
    const e = await makePlan(withInputs([main], ['cannot read boot.sh']), spec.loaded, ctx).catch((x: unknown) => x);
    expect((e as PlanError).problems).toEqual([
      { address: 'vpc.main', message: 'cannot read boot.sh' },
      { address: 'subnet.public', message: 'cannot read boot.sh' },
    ]);
  });

  it('a resource that is only looked up and that observe did not find fails the plan', async () => {
    const lookups: Registry = { reconcilerFor: async (kind) => fake([], { kind, lookupOf: (d) => (d.kind === 'vpc' ? 'the default VPC' : undefined) }) };
    const e = await makePlan(lookups, spec.loaded, ctx).catch((x: unknown) => x);
    expect((e as PlanError).problems).toEqual([{ address: 'vpc.main', message: 'the default VPC does not exist in eu-west-1: nothing to look up' }]);
  });

  it('apply reports each change with a code and typed data (what watch logs and tests match)', async () => {
    const events: EngineEvent[] = [];
    const made = (d: Desired): Observed => obs(d.name, {}, { id: `id-${d.name}` });
    const reg: Registry = { reconcilerFor: async (kind) => fake([], { kind, create: async (_c, d) => made(d) }) };
    const c = { ...ctx, emit: (e: EngineEvent) => events.push(e) } as Ctx;
    const { plan, state } = await makePlan(reg, spec.loaded, c);
    await applyPlan(reg, plan, state, c);
    expect(events.map((e) => [e.code, e.address, e.code === 'change.end' ? e.data.outcome : e.code === 'change.start' ? e.data.verb : undefined])).toEqual([
      ['change.start', 'vpc.main', 'creating'],
      ['change.end', 'vpc.main', 'done'],
      ['change.start', 'subnet.public', 'creating'],
      ['change.end', 'subnet.public', 'done'],
    ]);
    expect(events[1]).toMatchObject({ data: { id: 'id-main', ms: expect.any(Number) } });
  });

  it('a name held by a resource not ours fails the plan (exit 1)', async () => {
    const holder: NameHolder = { name: 'main', awsName: 'main', adoptId: 'vpc-9', tags: {}, nameField: 'cidr' };
    const e = await makePlan(registry({}, [holder]), spec.loaded, ctx).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(PlanError);
    expect((e as PlanError).exitCode).toBe(1);
    expect((e as PlanError).problems.map((p) => p.address)).toEqual(['vpc.main']);
  });
});
