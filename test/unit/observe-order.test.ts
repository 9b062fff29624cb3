// Plans observe one AWS service at a time, the service whose SDK loads fastest first, so the first
// requests are out while the bigger SDK packages load (issue 7: first AWS call under 0.3 s).
import { channel } from 'node:diagnostics_channel';
import { EventEmitter } from 'node:events';
import { createServer, request, type Server } from 'node:http';
import { statSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KIND_SERVICE, SERVICE_LOAD_COST, observeWaves } from '../../src/engine/order.js';
import { lettingRequestsOut, observeAll } from '../helpers/engine.js';
import { makePlan } from '../../src/engine/plan.js';
import { kindsToObserve } from '../../src/engine/observe.js';
import type { Ctx, Reconciler, Registry } from '../../src/engine/types.js';
import { loadSpecText } from '../../src/spec/load.js';
import { KIND_NAMES, type KindName } from '../../src/spec/schema.js';

describe('observeWaves', () => {
  it('groups the kinds by service: the cheapest SDK first, then the slowest to load; kinds keep their order', () => {
    expect(observeWaves(['vpc', 'subnet', 's3-bucket', 'sns-topic', 'listener', 'target-group', 'auto-scaling-group'])).toEqual([
      ['sns-topic'],
      ['vpc', 'subnet'],
      ['s3-bucket'],
      ['listener', 'target-group'],
      ['auto-scaling-group'],
    ]);
    expect(observeWaves(['vpc', 'subnet'])).toEqual([['vpc', 'subnet']]);
    expect(observeWaves([])).toEqual([]);
    const all = observeWaves(KIND_NAMES);
    expect(all.flat().sort()).toEqual([...KIND_NAMES].sort());
    expect(all[1].every((k) => KIND_SERVICE[k] === 'ec2')).toBe(true);
  });

  it('counts a service it has no cost for as the slowest', () => {
    const kinds = ['vpc', 'sns-topic', 's3-bucket'] as KindName[];
    const saved = SERVICE_LOAD_COST.ec2;
    delete SERVICE_LOAD_COST.ec2;
    try {
      expect(observeWaves(kinds)).toEqual([['sns-topic'], ['vpc'], ['s3-bucket']]);
    } finally {
      SERVICE_LOAD_COST.ec2 = saved;
    }
  });

  it('has a cost for every service a kind talks to, ordered as the SDK bundles are by size', () => {
    const packages: Record<string, string> = {
      sns: 'client-sns',
      cloudwatch: 'client-cloudwatch',
      autoscaling: 'client-auto-scaling',
      elbv2: 'client-elastic-load-balancing-v2',
      s3: 'client-s3',
      ec2: 'client-ec2',
      iam: 'client-iam',
    };
    const services = [...new Set(Object.values(KIND_SERVICE))].filter((s) => s !== 'none');
    for (const s of services) expect(SERVICE_LOAD_COST[s], s).toBeTypeOf('number');
    const require = createRequire(import.meta.url);
    const size = (s: string) => statSync(require.resolve(`@aws-sdk/${packages[s]}`)).size;
    const byCost = [...services].sort((a, b) => SERVICE_LOAD_COST[a] - SERVICE_LOAD_COST[b]);
    const bySize = [...services].sort((a, b) => size(a) - size(b));
    expect(byCost).toEqual(bySize);
  });
});

describe('lettingRequestsOut', () => {
  let server: Server;
  let port: number;
  let answer: (() => void)[] = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      req.resume();
      answer.push(() => res.end('ok'));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    for (const a of answer) a();
    await new Promise((resolve) => server.close(resolve));
  });

  it('resolves once a request started since the mark is connected, before its answer', async () => {
    const requests = lettingRequestsOut(5_000);
    try {
      const mark = requests.started();
      const answered = new Promise<string>((resolve) => {
        request({ port, host: '127.0.0.1', path: '/' }, (res) => {
          let body = '';
          res.on('data', (d) => (body += d));
          res.on('end', () => resolve(body));
        }).end();
      });
      const t = performance.now();
      await requests.out(mark);
      expect(performance.now() - t).toBeLessThan(1_000);
      expect(requests.started()).toBe(mark + 1);
      // The server has it: the request left the process while the answer is still to come.
      await expect.poll(() => answer.length).toBe(1);
      answer.shift()!();
      expect(await answered).toBe('ok');
    } finally {
      requests.close();
    }
  });

  it('does not wait longer than connectMs for a connection (a far region)', async () => {
    const requests = lettingRequestsOut(5_000, 300);
    try {
      const socket = Object.assign(new EventEmitter(), { connecting: true });
      const req = Object.assign(new EventEmitter(), { socket });
      const mark = requests.started();
      channel('http.client.request.start').publish({ request: req });
      let t = performance.now();
      await requests.out(mark);
      expect(performance.now() - t).toBeGreaterThanOrEqual(290);
      expect(performance.now() - t).toBeLessThan(2_000);
      // Connected before connectMs: out at once.
      const socket2 = Object.assign(new EventEmitter(), { connecting: true });
      channel('http.client.request.start').publish({ request: Object.assign(new EventEmitter(), { socket: socket2 }) });
      setTimeout(() => socket2.emit('connect'), 2);
      t = performance.now();
      await requests.out(mark + 1);
      expect(performance.now() - t).toBeLessThan(250);
    } finally {
      requests.close();
    }
  });

  it('without a request, resolves when the kinds waited for are done, else after maxMs', async () => {
    const requests = lettingRequestsOut(50);
    try {
      let t = performance.now();
      await requests.out(requests.started(), Promise.resolve());
      expect(performance.now() - t).toBeLessThan(40);
      t = performance.now();
      await requests.out(requests.started());
      expect(performance.now() - t).toBeGreaterThanOrEqual(45);
    } finally {
      requests.close();
    }
  });
});

describe('observeAll', () => {
  /** A context whose every AWS call is denied, and the clients it was asked for, in order. */
  function deniedCtx(): { ctx: Ctx; asked: string[] } {
    const asked: string[] = [];
    const denied = Object.assign(new Error('denied'), { name: 'AccessDenied' });
    const client = { send: async () => Promise.reject(denied), middlewareStack: { add: () => {} } };
    const aws = new Proxy({} as Record<string, unknown>, {
      get: (_, service) => async () => {
        asked.push(String(service));
        return client;
      },
    });
    return { ctx: { stack: 'order', region: 'us-east-1', aws, emit: () => {} } as unknown as Ctx, asked };
  }

  it('asks for the cheap SDK clients first, and loads no more once a kind failed', async () => {
    const { ctx, asked } = deniedCtx();
    await expect(observeAll(ctx, ['vpc', 'subnet', 'sns-topic'], new Map())).rejects.toThrow('denied');
    expect(asked.length).toBeGreaterThan(0);
    expect(asked).not.toContain('ec2');
  });

  it('starts every kind at once where their SDKs are loaded already', async () => {
    const { ctx, asked } = deniedCtx();
    const kinds: KindName[] = ['internet-gateway', 'cloudwatch-alarm'];
    // A kind `needed` says no to is not read, but its reconciler is loaded.
    expect(await observeAll(ctx, kinds, new Map(), undefined, async () => false)).toEqual(new Map(kinds.map((k) => [k, []])));
    expect(asked).toEqual([]);
    await expect(observeAll(ctx, kinds, new Map())).rejects.toThrow('denied');
    // Rejected with the first failure; the other kind was started all the same (in groups, a failed
    // group would have stopped it).
    await expect.poll(() => asked).toContain('ec2');
  });
});

describe('makePlan', () => {
  it("loads the reconcilers (so the SDKs) in observe's order: a kind's prepare waits for observe to load it", async () => {
    const text = ['apiVersion: reconcile/v1', 'stack: order', 'region: us-east-1', 'resources:', '  net: { kind: vpc, cidr: 10.0.0.0/16 }', '  site: { kind: s3-bucket, bucketName: order-site }', '  alerts: { kind: sns-topic }', ''].join('\n');
    const r = loadSpecText(text, 'order.yaml');
    if (!r.ok) throw new Error(JSON.stringify(r.diagnostics));
    const loads: KindName[] = [];
    const prepared: KindName[] = [];
    const registry: Registry = {
      reconcilerFor: async (kind) => {
        loads.push(kind);
        await new Promise((resolve) => setTimeout(resolve, 1)); // a module load takes time
        return { kind, observe: async () => [], prepare: async (_c, ds) => (prepared.push(kind), ds.map((d) => ({ name: d.name, resolved: [], problems: [] }))) } as unknown as Reconciler;
      },
    };
    const ctx = { stack: 'order', region: 'us-east-1', aws: {}, emit: () => {} } as unknown as Ctx;
    await makePlan(registry, r.loaded, ctx);
    expect([...new Set(loads)]).toEqual(observeWaves(kindsToObserve(r.loaded.resources, false)).flat());
    expect(loads[0]).toBe('sns-topic');
    expect(prepared.sort()).toEqual(['s3-bucket', 'sns-topic', 'vpc']);
  });
});
