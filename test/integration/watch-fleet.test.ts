// `reconcile watch DIR`: a fleet of stacks in one process, against moto. Specs added, changed and
// removed are followed without a restart (a removed stack is no longer healed, nothing is deleted),
// each stack keeps its own interval and mode, a stack stuck on its lock never holds up another, and
// /readyz and /metrics speak per stack.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeSecurityGroupsCommand, EC2Client, RevokeSecurityGroupIngressCommand } from '@aws-sdk/client-ec2';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Fleet, type FleetOptions } from '../../src/watch/fleet.js';
import { makeLogger } from '../../src/watch/logger.js';
import { lockKey } from '../../src/lock/object.js';
import { Aws } from '../../src/aws/clients.js';
import { REFRESH_BEFORE_MS, roleCredentials, sessionNameFor } from '../../src/aws/assume-role.js';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { runCli } from '../helpers/cli.js';
import { startMoto, type Moto } from '../helpers/moto.js';
import { specYaml, webSg } from '../helpers/specs.js';
import { LogCapture, parsePrometheus, waitFor } from './watch-helpers.js';

let moto: Moto;
let ec2: EC2Client;

beforeAll(async () => {
  moto = await startMoto();
  ec2 = new EC2Client({ region: 'us-east-1', endpoint: moto.endpoint, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
});
afterAll(async () => {
  ec2?.destroy();
  await moto?.stop();
});

const spec = (stack: string, o: { port?: number; interval?: string; mode?: string; lock?: string; role?: string } = {}) =>
  specYaml(
    stack,
    webSg(o.port),
    `${o.role ? `roleArn: ${o.role}\n` : ''}watch: { interval: ${o.interval ?? '1s'}${o.mode ? `, mode: ${o.mode}` : ''} }\n${o.lock ? `lock: { bucket: ${o.lock} }\n` : ''}`,
  );

async function group(stack: string, client = ec2): Promise<{ id: string; ports: number[] } | undefined> {
  const r = await client.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'tag:reconcile:stack', Values: [stack] }] }));
  const g = r.SecurityGroups?.[0];
  return g ? { id: g.GroupId!, ports: (g.IpPermissions ?? []).map((p) => p.FromPort!).sort() } : undefined;
}

function fleetOf(dir: string, logs: LogCapture, extra: Partial<FleetOptions> = {}): Fleet {
  return new Fleet({
    paths: [dir],
    shard: { index: 0, count: 1 },
    mode: 'apply',
    intervalMs: 60_000,
    maxConcurrentStacks: 2,
    notify: false,
    endpointUrl: moto.endpoint,
    logger: makeLogger({ destination: logs }),
    rescanMs: 200,
    spreadMs: 300,
    ...extra,
  });
}

const cyclesOf = async (fleet: Fleet, stack: string) => parsePrometheus(await fleet.metricsText()).get('reconcile_cycles_total', { stack, outcome: 'ok' }) ?? 0;

describe('watch DIR: a fleet in one process', () => {
  it('serves each stack on its own schedule and mode; follows added, changed and removed specs; a removed stack is left as it is', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'reconcile-fleet-'));
    const logs = new LogCapture();
    writeFileSync(join(dir, 'a.yaml'), spec('fleet-a'));
    writeFileSync(join(dir, 'b.yaml'), spec('fleet-b'));
    writeFileSync(join(dir, 'c.yaml'), spec('fleet-c', { mode: 'detect' }));
    const fleet = fleetOf(dir, logs);
    const running = fleet.run();
    try {
      await waitFor('stacks a and b healed', async () => (await group('fleet-a'))?.ports[0] === 443 && (await group('fleet-b'))?.ports[0] === 443);
      // c is in detect mode: its drift is reported, never applied.
      await waitFor('c cycled twice', async () => (await cyclesOf(fleet, 'fleet-c')) >= 2);
      expect(await group('fleet-c')).toBeUndefined();
      expect(parsePrometheus(await fleet.metricsText()).get('reconcile_drift_resources', { stack: 'fleet-c' })).toBe(1);

      // Added and changed without a restart.
      writeFileSync(join(dir, 'd.yaml'), spec('fleet-d'));
      writeFileSync(join(dir, 'a.yaml'), spec('fleet-a', { port: 8443 }));
      await waitFor('d healed and a changed', async () => (await group('fleet-d'))?.ports[0] === 443 && (await group('fleet-a'))?.ports[0] === 8443);

      // Removed: no longer served; its drift stays, its group is not deleted.
      rmSync(join(dir, 'b.yaml'));
      await waitFor('b dropped', async () => !fleet.stackNames().includes('fleet-b'));
      const b = (await group('fleet-b'))!;
      await ec2.send(new RevokeSecurityGroupIngressCommand({ GroupId: b.id, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 443, ToPort: 443, IpRanges: [{ CidrIp: '0.0.0.0/0' }] }] }));
      const before = await cyclesOf(fleet, 'fleet-a');
      await waitFor('a cycled twice more', async () => (await cyclesOf(fleet, 'fleet-a')) >= before + 2);
      expect(await group('fleet-b')).toEqual({ id: b.id, ports: [] });
      expect(logs.messages()).toContain('stack fleet-b: its spec is gone (or now falls in another shard): no longer served; nothing in AWS was changed or deleted');

      const h = fleet.health();
      expect(h).toMatchObject({ ready: true, shard: '0/1', stacks: 3, stacksReady: 3 });
      const m = parsePrometheus(await fleet.metricsText());
      expect(m.get('reconcile_shard_stacks')).toBe(3);
      expect(m.get('reconcile_cycles_total', { stack: 'fleet-b' })).toBeUndefined();
      expect(m.get('reconcile_aws_calls_total', { stack: 'fleet-d', operation: 'CreateSecurityGroup' })).toBe(1);
    } finally {
      fleet.stop();
      await running;
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a stack stuck waiting for its lock never holds up another; /readyz names it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'reconcile-fleet-'));
    const logs = new LogCapture();
    const s3 = new S3Client({ region: 'us-east-1', endpoint: moto.endpoint, forcePathStyle: true, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
    await s3.send(new CreateBucketCommand({ Bucket: 'fleet-locks' }));
    // Another run holds stack stuck's lock for an hour: each healing cycle waits for it (2 s here) and fails.
    const now = Date.now();
    await s3.send(
      new PutObjectCommand({
        Bucket: 'fleet-locks',
        Key: lockKey('fleet-stuck'),
        Body: JSON.stringify({ formatVersion: 1, stack: 'fleet-stuck', holder: { id: 'ci:1:x', host: 'ci', pid: 1 }, command: 'apply', started: new Date(now).toISOString(), renewed: new Date(now).toISOString(), expires: new Date(now + 3_600_000).toISOString(), leaseSeconds: 3600 }),
      }),
    );
    s3.destroy();
    writeFileSync(join(dir, 'stuck.yaml'), spec('fleet-stuck', { lock: 'fleet-locks' }));
    writeFileSync(join(dir, 'free.yaml'), spec('fleet-free'));
    const fleet = fleetOf(dir, logs, { lockTimeout: '2s', maxConcurrentStacks: 2 });
    const running = fleet.run();
    try {
      await waitFor('stuck timed out on its lock', async () => parsePrometheus(await fleet.metricsText()).get('reconcile_lock_events_total', { stack: 'fleet-stuck', event: 'timed_out' }));
      // While stuck waited 2 s for its lock, free went on every second.
      const freeDone = logs.lines.filter((l) => l.stack === 'fleet-free' && l.msg === 'cycle done').map((l) => Date.parse(String(l.time)));
      expect(freeDone.length).toBeGreaterThanOrEqual(2);
      for (let i = 1; i < freeDone.length; i++) expect(freeDone[i] - freeDone[i - 1]).toBeLessThan(1_800);
      const h = fleet.health() as { ready: boolean; reason: string; notReady: { stack: string }[] };
      expect(h.ready).toBe(false);
      expect(h.notReady.map((x) => x.stack)).toEqual(['fleet-stuck']);
      expect(h.reason).toMatch(/^1 of 2 stacks not ready \(fleet-stuck: the last cycle failed: stack "fleet-stuck" is locked by ci/);
    } finally {
      fleet.stop();
      await running;
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('two processes that both serve a stack (n changing, a partitioned pod): the lock lets one write at a time, each drift healed once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'reconcile-fleet-'));
    const s3 = new S3Client({ region: 'us-east-1', endpoint: moto.endpoint, forcePathStyle: true, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
    await s3.send(new CreateBucketCommand({ Bucket: 'fleet-fence' }));
    s3.destroy();
    writeFileSync(join(dir, 'twice.yaml'), spec('fleet-twice', { lock: 'fleet-fence' }));
    const logs = [new LogCapture(), new LogCapture()];
    const fleets = logs.map((l) => fleetOf(dir, l, { lockTimeout: '5s' }));
    const running = fleets.map((f) => f.run());
    const calls = async (operation: string) => {
      let n = 0;
      for (const f of fleets) n += parsePrometheus(await f.metricsText()).get('reconcile_aws_calls_total', { stack: 'fleet-twice', operation }) ?? 0;
      return n;
    };
    try {
      await waitFor('the group made', async () => (await group('fleet-twice'))?.ports[0] === 443);
      for (let round = 1; round <= 3; round++) {
        const g = (await group('fleet-twice'))!;
        await ec2.send(new RevokeSecurityGroupIngressCommand({ GroupId: g.id, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 443, ToPort: 443, IpRanges: [{ CidrIp: '0.0.0.0/0' }] }] }));
        await waitFor(`drift ${round} healed`, async () => (await group('fleet-twice'))?.ports[0] === 443, 30_000);
        // Both saw the drift; whoever took the lock second planned again under it and found nothing to do.
        await waitFor('both fleets cycled after the heal', async () => {
          const since = Date.now() - 500;
          return logs.every((l) => l.lines.some((x) => x.msg === 'cycle done' && Date.parse(String(x.time)) > since));
        });
      }
      expect(await calls('CreateSecurityGroup')).toBe(1);
      expect(await calls('AuthorizeSecurityGroupIngress')).toBe(1 + 3); // the create's rule, then one per drift
      // Their heal spans (lock held -> healed) never overlap.
      const spans = logs.flatMap((l, i) => {
        const out: { i: number; from: number; to: number }[] = [];
        let from: number | undefined;
        for (const x of l.lines) {
          if (x.msg === 'healing drift: applying the plan') from = Date.parse(String(x.time));
          else if (from !== undefined && String(x.msg).startsWith('healed:')) (out.push({ i, from, to: Date.parse(String(x.time)) }), (from = undefined));
        }
        return out;
      });
      expect(spans.length).toBeGreaterThanOrEqual(4);
      for (const a of spans) for (const b of spans) if (a.i < b.i) expect(a.from >= b.to || b.from >= a.to).toBe(true);
    } finally {
      for (const f of fleets) f.stop();
      await Promise.all(running);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the CLI: --once serves every stack of a directory once; one file stays single-stack; bad flags are one line, exit 1', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'reconcile-fleet-'));
    try {
      writeFileSync(join(dir, 'x.yaml'), spec('fleet-x'));
      writeFileSync(join(dir, 'y.yaml'), spec('fleet-y'));
      const env = { ...process.env, ...moto.env };
      const r = runCli(['watch', dir, '--once', '--no-notify', '--log-format', 'json'], env);
      expect(r.code).toBe(0);
      const last = JSON.parse(r.out.trim().split('\n').pop()!) as { msg: string; stacks: number };
      expect(last).toMatchObject({ stacks: 2, msg: 'one cycle of 2 stack(s) (shard 0 of 1): all succeeded' });
      const bad = runCli(['watch', dir, '--shards', '3', '--shard', '3'], env, 30_000);
      expect(bad.code).toBe(1);
      expect(bad.err).toMatch(/shard 3 \(from 3\) is not below --shards 3/);
      expect(bad.err).not.toMatch(/\n\s+at /);
      // One spec: the single-stack controller, whose spec's watch: block wins over --mode.
      writeFileSync(join(dir, 'z.yaml'), spec('fleet-z', { mode: 'detect' }));
      const one = runCli(['watch', join(dir, 'z.yaml'), '--once', '--mode', 'apply', '--no-notify', '--log-format', 'json'], env);
      expect(one.code).toBe(0);
      expect(one.out).toMatch(/"msg":"watching [^"]*z\.yaml \(stack fleet-z, detect mode, every 1s/);
      const set = runCli(['watch', dir, '--set', 'size=2'], env, 30_000);
      expect(set.code).toBe(1);
      expect(set.err).toMatch(/--set and --values give one spec its parameters, not a fleet/);
      const ec2z = await group('fleet-z');
      expect(ec2z).toBeUndefined(); // detect mode: reported, not created
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('serves stacks in two accounts from one identity: each spec roleArn assumed once, its resources in its own account', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'reconcile-fleet-'));
    const logs = new LogCapture();
    const roleIn = (account: string) => `arn:aws:iam::${account}:role/reconcile`;
    writeFileSync(join(dir, 'one.yaml'), spec('fleet-acct-one', { role: roleIn('111111111111') }));
    writeFileSync(join(dir, 'two.yaml'), spec('fleet-acct-two', { role: roleIn('222222222222') }));
    const fleet = fleetOf(dir, logs);
    const running = fleet.run();
    const ec2In: EC2Client[] = [];
    try {
      await waitFor('both stacks cycled twice', async () => (await cyclesOf(fleet, 'fleet-acct-one')) >= 2 && (await cyclesOf(fleet, 'fleet-acct-two')) >= 2);
      const m = parsePrometheus(await fleet.metricsText());
      // Credentials are cached across cycles: one AssumeRole per stack.
      for (const stack of ['fleet-acct-one', 'fleet-acct-two']) expect(m.get('reconcile_aws_calls_total', { stack, service: 'sts', operation: 'AssumeRole' })).toBe(1);
      // Each group lives in its stack's account, and only there.
      const inAccount = async (account: string) => {
        const creds = await roleCredentials(roleIn(account), 'test', () => new Aws({ region: 'us-east-1', endpoint: moto.endpoint }))();
        const c = new EC2Client({ region: 'us-east-1', endpoint: moto.endpoint, credentials: creds });
        ec2In.push(c);
        return c;
      };
      const one = await inAccount('111111111111');
      const two = await inAccount('222222222222');
      expect((await group('fleet-acct-one', one))?.ports).toEqual([443]);
      expect(await group('fleet-acct-two', one)).toBeUndefined();
      expect((await group('fleet-acct-two', two))?.ports).toEqual([443]);
      expect(await group('fleet-acct-one', two)).toBeUndefined();
      expect(await group('fleet-acct-one')).toBeUndefined(); // not in the caller's own account
    } finally {
      fleet.stop();
      await running;
      for (const c of ec2In) c.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('role credentials: the session names reconcile and the stack; cached, and assumed again shortly before they expire', async () => {
    let clock = Date.now();
    const calls: string[] = [];
    const base = () => {
      const a = new Aws({ region: 'us-east-1', endpoint: moto.endpoint });
      a.onCall((c) => calls.push(c.operation));
      return a;
    };
    const role = 'arn:aws:iam::333333333333:role/deploy/reconcile';
    const provider = roleCredentials(role, sessionNameFor('shop-prod'), base, () => clock);
    const [first, again] = await Promise.all([provider(), provider()]);
    expect(again).toBe(first);
    expect(calls).toEqual(['AssumeRole']);
    const sts = new STSClient({ region: 'us-east-1', endpoint: moto.endpoint, credentials: first });
    try {
      const me = await sts.send(new GetCallerIdentityCommand({}));
      expect(me.Account).toBe('333333333333');
      expect(me.Arn).toBe('arn:aws:sts::333333333333:assumed-role/reconcile/reconcile-shop-prod');
    } finally {
      sts.destroy();
    }
    clock = first.expiration.getTime() - REFRESH_BEFORE_MS - 1_000;
    expect(await provider()).toBe(first);
    clock += 2_000;
    const renewed = await provider();
    expect(calls).toEqual(['AssumeRole', 'AssumeRole']);
    expect(renewed.accessKeyId).not.toBe(first.accessKeyId);
    expect(sessionNameFor('x'.repeat(80))).toHaveLength(64);
  });
});
