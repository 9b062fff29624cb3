// The stack lock against moto's S3 (conditional writes are enforced there, as in AWS): in-process
// holders, holders in other processes (kill -9, SIGTERM), and `reconcile apply` / `unlock` as child
// processes. Lease lengths are short here; nothing asserts on how long anything took.
import { createServer, request as httpRequest, type Server } from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { CreateVpcCommand, DescribeVpcsCommand } from '@aws-sdk/client-ec2';
import { Aws } from '../../src/aws/clients.js';
import { LockTimeoutError, acquireStackLock } from '../../src/lock/lock.js';
import { LockLostError, type Lease } from '../../src/lock/lease.js';
import { breakLock, lockKey, readLock, type LockRecord } from '../../src/lock/object.js';
import { UserError } from '../../src/engine/errors.js';
import { testCtx } from '../helpers/aws.js';
import { startFaultProxy } from '../fault/proxy.js';
import { CLI, runCli, startNode } from '../helpers/cli.js';
import { startMoto, type Moto } from '../helpers/moto.js';
import { specYaml, vpcWithWeb, writeSpec } from '../helpers/specs.js';

const BUCKET = 'reconcile-test-locks';
const LOCK_MODULE = pathToFileURL(join(process.cwd(), 'dist/src/lock/lock.js')).href;
const CLIENTS_MODULE = pathToFileURL(join(process.cwd(), 'dist/src/aws/clients.js')).href;

let moto: Moto;
let aws: Aws;
let dir: string;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Polls `check` until it returns true (bounded: a hang fails the test instead of timing it). */
async function until(what: string, check: () => boolean | Promise<boolean>, maxMs = 20_000): Promise<void> {
  const end = Date.now() + maxMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`gave up waiting for ${what}`);
    await sleep(50);
  }
}

const lockOf = (stack: string) => readLock(aws, BUCKET, stack);

async function putRecord(stack: string, over: Partial<LockRecord>): Promise<string> {
  const now = Date.now();
  const record: LockRecord = {
    formatVersion: 1,
    stack,
    holder: { id: 'ci-runner-9:777:dead', host: 'ci-runner-9', pid: 777 },
    command: 'apply crashed.yaml',
    started: new Date(now - 120_000).toISOString(),
    renewed: new Date(now - 90_000).toISOString(),
    expires: new Date(now + 60_000).toISOString(),
    leaseSeconds: 60,
    ...over,
  };
  const r = await (await aws.s3()).send(new PutObjectCommand({ Bucket: BUCKET, Key: lockKey(stack), Body: JSON.stringify(record) }));
  return r.ETag!;
}

const spec = (stack: string, extra = ''): string => writeSpec(dir, `${stack}.yaml`, specYaml(stack, vpcWithWeb() + extra));
const cli = (args: string[]) => runCli(args, { ...process.env, ...moto.env });
/** Node with `args`, its output collected as it comes. */
const start = (args: string[], extraEnv: Record<string, string> = {}) => startNode(args, { ...process.env, ...moto.env, ...extraEnv });

/** A separate node process that takes the lock of `stack` (lease `leaseMs`) and holds it until killed. */
function holderProcess(stack: string, leaseMs: number) {
  const script = `
    const { acquireStackLock } = await import(${JSON.stringify(LOCK_MODULE)});
    const { Aws } = await import(${JSON.stringify(CLIENTS_MODULE)});
    const ctx = { stack: ${JSON.stringify(stack)}, region: 'us-east-1', aws: new Aws({ region: 'us-east-1' }), emit: () => {} };
    const lease = await acquireStackLock(ctx, { bucket: ${JSON.stringify(BUCKET)}, command: 'hold ${stack}', leaseMs: ${leaseMs} });
    console.log('HELD ' + lease.holder.id);
    setInterval(() => {}, 1000);`;
  return start(['--input-type=module', '-e', script]);
}

async function countVpcs(stack: string): Promise<number> {
  const r = await (await aws.ec2()).send(new DescribeVpcsCommand({ Filters: [{ Name: 'tag:reconcile:stack', Values: [stack] }] }));
  return r.Vpcs?.length ?? 0;
}

beforeAll(async () => {
  moto = await startMoto();
  aws = new Aws({ region: 'us-east-1', endpoint: moto.endpoint });
  await (await aws.s3()).send(new CreateBucketCommand({ Bucket: BUCKET }));
  dir = mkdtempSync(join(tmpdir(), 'reconcile-lock-'));
});
afterAll(async () => {
  aws?.destroy();
  await moto?.stop();
});

describe('acquireStackLock (in process)', () => {
  it('writes who holds the lock and deletes it on release', async () => {
    const ctx = testCtx(moto.endpoint, 'basic');
    const lease = await acquireStackLock(ctx, { bucket: BUCKET, command: 'apply basic.yaml', signals: false });
    const held = await lockOf('basic');
    expect(held?.record.holder).toEqual(lease.holder);
    expect(held?.record.command).toBe('apply basic.yaml');
    expect(Date.parse(held!.record.expires)).toBeGreaterThan(Date.now());
    await lease.release();
    expect(await lockOf('basic')).toBeUndefined();
    ctx.aws.destroy();
  });

  it('a second holder waits with progress, then fails naming the holder, its command and since when', async () => {
    const a = testCtx(moto.endpoint, 'busy');
    const b = testCtx(moto.endpoint, 'busy');
    const lease = await acquireStackLock(a, { bucket: BUCKET, command: 'apply first.yaml', signals: false });
    const started = (await lockOf('busy'))!.record.started;
    const err = await acquireStackLock(b, { bucket: BUCKET, command: 'apply second.yaml', timeoutMs: 500, pollMs: 100, signals: false }).catch((e) => e);
    expect(err).toBeInstanceOf(LockTimeoutError);
    expect(err.message).toContain('stack "busy" is locked by');
    expect(err.message).toContain(`pid ${process.pid}`);
    expect(err.message).toContain('"apply first.yaml"');
    expect(err.message).toContain(`since ${started}`);
    expect(err.hint).toContain('reconcile unlock');
    expect(b.events.some((e) => e.type === 'progress' && e.message.includes('waiting for the stack lock'))).toBe(true);
    // The waiter wrote nothing: the holder's lock is untouched, and released normally.
    expect((await lockOf('busy'))!.record.holder.id).toBe(lease.holder.id);
    await lease.release();
    a.aws.destroy();
    b.aws.destroy();
  });

  it('a waiter takes the lock once the holder releases it', async () => {
    const a = testCtx(moto.endpoint, 'handover');
    const b = testCtx(moto.endpoint, 'handover');
    const first = await acquireStackLock(a, { bucket: BUCKET, command: 'apply a', signals: false });
    const waiting = acquireStackLock(b, { bucket: BUCKET, command: 'apply b', timeoutMs: 30_000, pollMs: 100, signals: false });
    await until('b to wait', () => b.events.some((e) => e.message.includes('waiting for the stack lock')));
    await first.release();
    const second = await waiting;
    expect((await lockOf('handover'))!.record.holder.id).toBe(second.holder.id);
    await second.release();
    a.aws.destroy();
    b.aws.destroy();
  });

  it('renews the lease while held: expires moves forward under a new ETag', async () => {
    const ctx = testCtx(moto.endpoint, 'renew');
    const lease = await acquireStackLock(ctx, { bucket: BUCKET, command: 'watch', leaseMs: 900, signals: false });
    const before = (await lockOf('renew'))!;
    await until('a renewal', async () => (await lockOf('renew'))!.record.renewed !== before.record.renewed);
    const after = (await lockOf('renew'))!;
    expect(after.etag).not.toBe(before.etag);
    expect(Date.parse(after.record.expires)).toBeGreaterThan(Date.parse(before.record.expires));
    expect(after.record.started).toBe(before.record.started);
    expect(lease.lost).toBe(false);
    await lease.release();
    ctx.aws.destroy();
  });

  it('takes over an expired lease; the old holder can no longer renew it', async () => {
    const oldEtag = await putRecord('stale', { expires: new Date(Date.now() - 5_000).toISOString() });
    const ctx = testCtx(moto.endpoint, 'stale');
    const lease = await acquireStackLock(ctx, { bucket: BUCKET, command: 'apply after-crash', timeoutMs: 0, signals: false });
    expect((await lockOf('stale'))!.record.holder.id).toBe(lease.holder.id);
    expect(ctx.events.find((e) => e.message.startsWith('took over the stack lock'))?.message).toContain('ci-runner-9 (pid 777)');
    // The dead holder's renewal (conditional on its ETag) fails: it cannot steal the lock back.
    const renew = await (await aws.s3())
      .send(new PutObjectCommand({ Bucket: BUCKET, Key: lockKey('stale'), Body: '{}', IfMatch: oldEtag }))
      .catch((e) => e);
    expect(renew.name).toBe('PreconditionFailed');
    await lease.release();
    ctx.aws.destroy();
  });

  it('does not take over a lease that is still live', async () => {
    await putRecord('live', {});
    const ctx = testCtx(moto.endpoint, 'live');
    await expect(acquireStackLock(ctx, { bucket: BUCKET, command: 'apply', timeoutMs: 0, signals: false })).rejects.toThrow(/locked by ci-runner-9 \(pid 777\), running "apply crashed.yaml"/);
    ctx.aws.destroy();
  });

  it('is safe to retry: an acquisition whose put landed but whose answer was lost proceeds as the holder', async () => {
    // The first attempt's put reached S3 (the record is there, with our holder id), its answer did not.
    const ctx = testCtx(moto.endpoint, 'retry');
    const holder = { id: 'this-host:1234:feedbeef', host: 'this-host', pid: 1234 };
    await putRecord('retry', { holder, command: 'apply retry.yaml' });
    const lease = await acquireStackLock(ctx, { bucket: BUCKET, command: 'apply retry.yaml', holder, timeoutMs: 0, signals: false });
    expect(lease.holder.id).toBe(holder.id);
    await lease.release();
    expect(await lockOf('retry')).toBeUndefined();
    ctx.aws.destroy();
  });

  it('is safe to retry when the SDK itself retries a put whose connection was cut after S3 wrote it', async () => {
    // A proxy that forwards the first PUT of the lock object to moto, then cuts the connection
    // instead of answering: the SDK retries, its retry collides with its own first write (412).
    let puts = 0;
    const proxy: Server = createServer((req, res) => {
      const cut = req.method === 'PUT' && req.url!.includes('reconcile-locks') && ++puts === 1;
      const up = httpRequest(`${moto.endpoint}${req.url}`, { method: req.method, headers: req.headers }, (r) => {
        if (cut) {
          r.resume();
          r.on('end', () => req.socket.destroy());
          return;
        }
        res.writeHead(r.statusCode!, r.headers);
        r.pipe(res);
      });
      req.pipe(up);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', () => r()));
    const ctx = testCtx(`http://127.0.0.1:${(proxy.address() as { port: number }).port}`, 'cut');
    try {
      const lease = await acquireStackLock(ctx, { bucket: BUCKET, command: 'apply cut.yaml', timeoutMs: 0, signals: false });
      expect(puts).toBe(2);
      expect((await lockOf('cut'))!.record.holder.id).toBe(lease.holder.id);
      await lease.release();
      expect(await lockOf('cut')).toBeUndefined();
    } finally {
      ctx.aws.destroy();
      await new Promise<void>((r) => proxy.close(() => r()));
    }
  });

  it('a holder whose lock was removed notices at its next renewal and refuses every further write', async () => {
    const ctx = testCtx(moto.endpoint, 'lost');
    const lease: Lease = await acquireStackLock(ctx, { bucket: BUCKET, command: 'apply lost.yaml', leaseMs: 600, signals: false });
    const state = (await lockOf('lost'))!;
    expect(await breakLock(aws, BUCKET, 'lost', state.etag)).toBe(true); // what `reconcile unlock` does
    await until('the holder to notice', () => lease.lost);
    expect(lease.signal.aborted).toBe(true);
    expect(ctx.events.some((e) => e.type === 'warning' && e.message.includes('lost the stack lock'))).toBe(true);
    const ec2 = await ctx.aws.ec2();
    const write = await ec2.send(new CreateVpcCommand({ CidrBlock: '10.9.0.0/16' })).catch((e) => e);
    expect(write).toBeInstanceOf(LockLostError);
    expect(write.message).toContain('refusing ec2:CreateVpc');
    await expect(ec2.send(new DescribeVpcsCommand({}))).resolves.toBeDefined(); // reads still work
    // Another run takes the lock; the old holder's release leaves it alone.
    const other = testCtx(moto.endpoint, 'lost');
    const next = await acquireStackLock(other, { bucket: BUCKET, command: 'apply next', timeoutMs: 0, signals: false });
    await lease.release();
    expect((await lockOf('lost'))!.record.holder.id).toBe(next.holder.id);
    await next.release();
    ctx.aws.destroy();
    other.aws.destroy();
  });

  it('a missing bucket is one plain error with a hint', async () => {
    const ctx = testCtx(moto.endpoint, 'nobucket');
    const err = await acquireStackLock(ctx, { bucket: 'no-such-lock-bucket', command: 'apply', signals: false }).catch((e) => e);
    expect(err).toBeInstanceOf(UserError);
    expect(err.message).toBe('the lock bucket no-such-lock-bucket does not exist');
    expect(err.hint).toContain('aws s3 mb s3://no-such-lock-bucket');
    ctx.aws.destroy();
  });
});

describe('under the fault proxy (throttling, 500/503, answers lost after S3 executed the call, drops)', () => {
  const SEEDS = Number(process.env.LOCK_FAULT_SEEDS ?? 3); // 30 seeds: about a minute

  it.each(Array.from({ length: SEEDS }, (_, i) => i + 1))('seed %s: three contenders each get the lock, one at a time, and leave nothing behind', async (seed) => {
    const proxy = await startFaultProxy(moto.endpoint, {
      seed,
      rate: 0.3,
      kinds: { throttle: 1, error500: 1, error503: 1, executed500: 3, latency: 1, cut: 4, drop: 1 },
      maxFaults: 25,
      maxInARow: 2,
      maxLatencyMs: 50,
      filter: (r) => r.service === 's3',
    });
    const stack = `faults-${seed}`;
    let inside = 0;
    const overlaps: string[] = [];
    const run = async (who: string) => {
      const ctx = testCtx(proxy.endpoint, stack);
      try {
        const lease = await acquireStackLock(ctx, { bucket: BUCKET, command: who, timeoutMs: 60_000, pollMs: 50, signals: false });
        if (++inside > 1) overlaps.push(who);
        expect((await lockOf(stack))!.record.holder.id).toBe(lease.holder.id);
        await sleep(20);
        inside--;
        await lease.release();
      } finally {
        ctx.aws.destroy();
      }
    };
    try {
      await Promise.all(['a', 'b', 'c'].map(run));
      expect(overlaps).toEqual([]);
      expect(await lockOf(stack)).toBeUndefined();
      expect(Object.values(proxy.faults()).reduce((x, y) => x + y, 0)).toBeGreaterThan(0);
    } finally {
      await proxy.stop();
    }
  });
});

describe('holders in other processes', () => {
  it('a holder killed with -9 stops renewing; a waiter takes the lock over once its lease expires', async () => {
    const h = holderProcess('crash', 1_000);
    await until('the holder to take the lock', () => h.out.includes('HELD '));
    const deadId = h.out.split('HELD ')[1].trim();
    h.child.kill('SIGKILL');
    await h.exit;
    expect((await lockOf('crash'))!.record.holder.id).toBe(deadId); // a crash releases nothing
    const ctx = testCtx(moto.endpoint, 'crash');
    const lease = await acquireStackLock(ctx, { bucket: BUCKET, command: 'apply after crash', timeoutMs: 30_000, pollMs: 100, signals: false });
    expect(ctx.events.some((e) => e.message.startsWith('took over the stack lock') && e.message.includes('"hold crash"'))).toBe(true);
    expect((await lockOf('crash'))!.record.holder.id).toBe(lease.holder.id);
    await lease.release();
    ctx.aws.destroy();
  });

  it.each(['SIGTERM', 'SIGINT'] as const)('a holder stopped with %s releases the lock, then ends by the signal', async (sig) => {
    const stack = `signal-${sig.toLowerCase()}`;
    const h = holderProcess(stack, 60_000);
    await until('the holder to take the lock', () => h.out.includes('HELD '));
    expect(await lockOf(stack)).toBeDefined();
    h.child.kill(sig);
    const { signal } = await h.exit;
    expect(signal).toBe(sig);
    expect(await lockOf(stack)).toBeUndefined();
  });
});

describe('reconcile apply / destroy / unlock with the lock (child processes)', () => {
  it('two applies of one stack never write at once: the second waits for the first, then finds nothing to do', async () => {
    const f = spec('twin');
    // The test holds the lock first, so both applies are certainly waiting when it is released and
    // must take it one after the other. Without the lock both would create the VPC.
    const ctx = testCtx(moto.endpoint, 'twin');
    const held = await acquireStackLock(ctx, { bucket: BUCKET, command: 'test holds twin', signals: false });
    const args = [CLI, 'apply', f, '--yes', '--lock-bucket', BUCKET, '--lock-timeout', '60s'];
    const a = start(args);
    const b = start(args);
    await until('both applies to wait', () => a.out.includes('waiting for the stack lock') && b.out.includes('waiting for the stack lock'), 30_000);
    expect(a.out).toContain('"test holds twin"');
    await held.release();
    const [ra, rb] = await Promise.all([a.exit, b.exit]);
    expect(ra.code, a.err).toBe(0);
    expect(rb.code, b.err).toBe(0);
    const outs = [a.out, b.out];
    expect(outs.filter((o) => o.includes('Plan: 2 to add')).length).toBe(1);
    expect(outs.filter((o) => o.includes('No changes.')).length).toBe(1);
    expect(await countVpcs('twin')).toBe(1);
    expect(await lockOf('twin')).toBeUndefined();
    expect(cli(['destroy', f, '--yes', '--lock-bucket', BUCKET]).code).toBe(0);
    ctx.aws.destroy();
  });

  it('with a short --lock-timeout the second apply fails naming the holder, and changes nothing', async () => {
    const f = spec('held');
    const ctx = testCtx(moto.endpoint, 'held');
    const held = await acquireStackLock(ctx, { bucket: BUCKET, command: 'apply held.yaml (the other run)', signals: false });
    const r = cli(['apply', f, '--yes', '--lock-bucket', BUCKET, '--lock-timeout', '1s']);
    expect(r.code).toBe(1);
    expect(r.err).toContain('error: stack "held" is locked by');
    expect(r.err).toContain(`pid ${process.pid}`);
    expect(r.err).toContain('"apply held.yaml (the other run)"');
    expect(r.err).toMatch(/since \d{4}-\d\d-\d\dT/);
    expect(r.err).toContain('hint:');
    expect(r.err).not.toMatch(/\n\s+at /);
    expect(await countVpcs('held')).toBe(0);
    await held.release();
    ctx.aws.destroy();
  });

  it('the spec\'s lock: block is used without flags; an apply that fails releases the lock', async () => {
    // There is no us-east-1z: AWS (and moto) refuse the subnet, the apply fails part-way.
    const f = spec(
      'failing',
      `  sub:
    kind: subnet
    vpc: main
    cidr: 10.7.1.0/24
    availabilityZone: us-east-1z
lock:
  bucket: ${BUCKET}
  timeout: 10s
`,
    );
    const r = cli(['apply', f, '--yes']);
    expect(r.code).toBe(1);
    expect(r.err).toContain('Apply failed.');
    expect(r.err).not.toContain('no stack lock');
    expect(await lockOf('failing')).toBeUndefined();
    expect(cli(['destroy', f, '--yes']).code).toBe(0);
    expect(await lockOf('failing')).toBeUndefined();
  });

  it('without a lock bucket apply locks on this machine only and says so', () => {
    const r = cli(['plan', spec('nolock')]);
    expect(r.err).not.toContain('no stack lock'); // plan only reads: no lock, no warning
    const a = cli(['apply', spec('nolock'), '--yes']);
    expect(a.code, a.err).toBe(0);
    expect(a.err).toContain('warning: no lock bucket: stack "nolock" is locked on this machine only');
    expect(cli(['destroy', spec('nolock'), '--yes', '--no-lock']).err).toContain('--no-lock');
  });

  it('unlock shows the holder, needs --yes without a terminal, and removes the lock', async () => {
    const f = spec('stuck');
    expect(cli(['unlock', f, '--lock-bucket', BUCKET]).out).toContain('Stack "stuck" is not locked');
    await putRecord('stuck', {});
    const refused = cli(['unlock', f, '--lock-bucket', BUCKET]);
    expect(refused.code).toBe(1);
    expect(refused.out).toContain('Stack "stuck" is locked');
    expect(refused.out).toContain('ci-runner-9 (pid 777), running "apply crashed.yaml"');
    expect(refused.out).toContain('Its lease is live');
    expect(refused.err).toContain('--yes');
    expect(await lockOf('stuck')).toBeDefined();
    const done = cli(['unlock', f, '--lock-bucket', BUCKET, '--yes']);
    expect(done.code, done.err).toBe(0);
    expect(done.out).toContain('Removed the lock of stack "stuck"');
    expect(await lockOf('stuck')).toBeUndefined();
    const nobucket = cli(['unlock', f]);
    expect(nobucket.code).toBe(1);
    expect(nobucket.err).toContain('names no lock bucket');
  });
});
