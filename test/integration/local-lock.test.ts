// Without a lock bucket, apply and destroy lock the stack on this machine with a file in the user's
// state directory: two applies at once never overlap (so never make a resource twice), a lock whose
// process is gone is taken over, and a live holder is named when the wait gives up. The compiled CLI
// in child processes (build first) against moto.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeSecurityGroupsCommand, DescribeVpcsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { runCli, startCli } from '../helpers/cli.js';
import { startMoto, type Moto } from '../helpers/moto.js';
import { specYaml, vpcWithWeb, writeSpec } from '../helpers/specs.js';
import { localLockFile } from '../../src/lock/local.js';

let moto: Moto;
let dir: string;
let ec2: EC2Client;

const spec = (stack: string) => writeSpec(dir, `${stack}.yaml`, specYaml(stack, vpcWithWeb({ net: 9, subnets: ['a'] })));

const lockFile = (stack: string) => localLockFile(stack, 'us-east-1', moto.endpoint, { XDG_STATE_HOME: dir });
const env = () => ({ ...process.env, ...moto.env, XDG_STATE_HOME: dir });
const cli = (args: string[]) => runCli(args, env());
const cliAsync = (args: string[]) => {
  const run = startCli(args, env());
  return run.exit.then(({ code }) => ({ code, out: run.out, err: run.err }));
};

const owned = async (stack: string) => {
  const filter = [{ Name: 'tag:reconcile:stack', Values: [stack] }];
  const vpcs = (await ec2.send(new DescribeVpcsCommand({ Filters: filter }))).Vpcs ?? [];
  const sgs = (await ec2.send(new DescribeSecurityGroupsCommand({ Filters: filter }))).SecurityGroups ?? [];
  return { vpcs: vpcs.length, sgs: sgs.length };
};

beforeAll(async () => {
  moto = await startMoto();
  dir = mkdtempSync(join(tmpdir(), 'reconcile-local-lock-'));
  ec2 = new EC2Client({ region: 'us-east-1', endpoint: moto.endpoint });
});
afterAll(async () => {
  ec2?.destroy();
  await moto?.stop();
});

describe('the local stack lock (no lock bucket)', () => {
  it('two applies at once on one machine: one waits for the other, nothing is made twice', async () => {
    const f = spec('twice');
    const [a, b] = await Promise.all([cliAsync(['apply', f, '--yes']), cliAsync(['apply', f, '--yes'])]);
    expect(a.code, a.err).toBe(0);
    expect(b.code, b.err).toBe(0);
    for (const r of [a, b]) expect(r.err).toContain('no lock bucket: stack "twice" is locked on this machine only');
    // One of them made everything; the other, once the lock was free, found nothing to do.
    expect([a.out, b.out].filter((o) => o.includes('vpc.main: creating...')).length).toBe(1);
    expect([a.out, b.out].some((o) => o.includes('No changes'))).toBe(true);
    expect(await owned('twice')).toEqual({ vpcs: 1, sgs: 1 });
    expect(existsSync(lockFile('twice'))).toBe(false); // released
  });

  it('a lock left by a process that is gone is taken over at once', () => {
    const file = lockFile('stale');
    mkdirSync(join(file, '..'), { recursive: true });
    const dead = spawnSync(process.execPath, ['-e', 'process.pid']).pid!; // exited: its pid runs no more
    writeFileSync(file, JSON.stringify({ formatVersion: 1, stack: 'stale', holder: { id: 'x', host: hostname(), pid: dead }, command: 'apply stale.yaml', started: new Date().toISOString() }));
    const r = cli(['apply', spec('stale'), '--yes']);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toContain(`took over the local stack lock of ${hostname()} (pid ${dead}), running "apply stale.yaml"`);
    expect(existsSync(file)).toBe(false);
  });

  it('a live holder is waited for up to --lock-timeout, then named; --no-lock skips the lock', () => {
    const file = lockFile('held');
    mkdirSync(join(file, '..'), { recursive: true });
    writeFileSync(file, JSON.stringify({ formatVersion: 1, stack: 'held', holder: { id: 'y', host: hostname(), pid: process.pid, user: 'ci' }, command: 'apply held.yaml', started: new Date().toISOString() }));
    const f = spec('held');
    const r = cli(['apply', f, '--yes', '--lock-timeout', '1s']);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`error: stack "held" is locked on this machine by ${hostname()} (pid ${process.pid}, user ci), running "apply held.yaml"`);
    expect(r.err).toContain('gave up after waiting 1s');
    expect(r.out).not.toContain('creating');
    const d = cli(['destroy', f, '--yes', '--no-lock']);
    expect(d.code, d.err).toBe(0);
    expect(d.err).toContain('--no-lock');
    expect(existsSync(file)).toBe(true); // not ours: left alone
  });

  it("watch's healing takes the same local lock: held by an apply on this machine, it does not heal and says who holds it", () => {
    const f = spec('healing');
    const file = lockFile('healing');
    mkdirSync(join(file, '..'), { recursive: true });
    writeFileSync(file, JSON.stringify({ formatVersion: 1, stack: 'healing', holder: { id: 'z', host: hostname(), pid: process.pid }, command: 'apply healing.yaml', started: new Date().toISOString() }));
    const held = cli(['watch', f, '--once', '--no-notify', '--lock-timeout', '1s', '--log-format', 'json']);
    expect(held.code, held.out + held.err).toBe(1);
    expect(held.out + held.err).toContain(`is locked on this machine by ${hostname()} (pid ${process.pid}), running`);
    expect(held.out + held.err).toContain('apply healing.yaml');
    expect(held.out + held.err).not.toContain('creating...');
    rmSync(file);
    const healed = cli(['watch', f, '--once', '--no-notify', '--log-format', 'json']);
    expect(healed.code, healed.out + healed.err).toBe(0);
    expect(healed.out + healed.err).toContain('on this machine only');
    expect(existsSync(file)).toBe(false);
  });
});
