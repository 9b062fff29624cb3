// `reconcile watch` as a service (the compiled CLI in a child process) against moto through a TCP
// proxy the test takes down and brings back -- moto keeps its state, so a drift made while watch
// cannot reach AWS is there to heal when it can again. It keeps running, /healthz stays up,
// /readyz fails and then recovers, the drift is healed, /metrics tells the story, and SIGTERM
// ends it with exit code 0.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, runCli } from '../helpers/cli.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { AuthorizeSecurityGroupIngressCommand, DescribeSecurityGroupsCommand, EC2Client, RevokeSecurityGroupIngressCommand } from '@aws-sdk/client-ec2';
import { startMoto, type Moto } from '../helpers/moto.js';
import { parsePrometheus, TcpProxy, waitFor } from './watch-helpers.js';
import { specYaml, WEB_SG } from '../helpers/specs.js';

const SPEC = specYaml('resilient', WEB_SG);

let moto: Moto;
let dir: string;
let ec2: EC2Client;
const children: ChildProcess[] = [];

beforeAll(async () => {
  moto = await startMoto();
  dir = mkdtempSync(join(tmpdir(), 'reconcile-watch-svc-'));
  ec2 = new EC2Client({ region: 'us-east-1', endpoint: moto.endpoint });
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  ec2?.destroy();
  await moto?.stop();
});

const env = (endpoint: string) => ({ ...process.env, ...moto.env, AWS_ENDPOINT_URL: endpoint });

async function ingressOf(stack: string): Promise<string[]> {
  const r = await ec2.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'tag:reconcile:stack', Values: [stack] }] }));
  return (r.SecurityGroups?.[0]?.IpPermissions ?? []).map((p) => `${p.IpProtocol} ${p.FromPort} ${p.IpRanges?.map((x) => x.CidrIp).join(',')}`).sort();
}

describe('reconcile watch as a service', () => {
  it('survives AWS going away: keeps serving, /readyz fails then recovers, heals drift made meanwhile, exits 0 on SIGTERM', async () => {
    const proxy = new TcpProxy(moto.port);
    await proxy.start();
    const spec = join(dir, 'spec.yaml');
    writeFileSync(spec, SPEC);
    const child = spawn(
      process.execPath,
      [CLI, 'watch', spec, '--interval', '1s', '--port', '0', '--host', '127.0.0.1', '--log-format', 'json', '--state-file', join(dir, 'state.json')],
      { env: env(`http://127.0.0.1:${proxy.port}`), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    children.push(child);
    const logs: Record<string, unknown>[] = [];
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += String(d)));
    createInterface({ input: child.stdout! }).on('line', (l) => {
      try {
        logs.push(JSON.parse(l) as Record<string, unknown>);
      } catch {
        logs.push({ msg: l, notJson: true });
      }
    });
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));

    const port = await waitFor('the http endpoint', async () => logs.find((l) => typeof l.port === 'number')?.port as number | undefined);
    const base = `http://127.0.0.1:${port}`;
    const readyz = async () => {
      const r = await fetch(`${base}/readyz`);
      return { status: r.status, body: (await r.json()) as { ready: boolean; reason: string } };
    };
    const metrics = async () => parsePrometheus(await (await fetch(`${base}/metrics`)).text());

    await waitFor('ready', async () => (await readyz()).status === 200);
    expect(await ingressOf('resilient')).toEqual(['tcp 443 0.0.0.0/0']);
    expect((await metrics()).get('reconcile_ready')).toBe(1);

    // AWS goes away.
    await proxy.stop();
    const down = await waitFor('not ready', async () => {
      const r = await readyz();
      return r.status === 503 ? r : undefined;
    });
    expect(down.body.reason).toContain('cannot reach the AWS endpoint');
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    // Meanwhile someone changes the security group by hand.
    const sg = (await ec2.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'tag:reconcile:stack', Values: ['resilient'] }] }))).SecurityGroups![0];
    await ec2.send(new RevokeSecurityGroupIngressCommand({ GroupId: sg.GroupId, IpPermissions: sg.IpPermissions }));
    await ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: sg.GroupId, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '0.0.0.0/0' }] }] }));
    // It keeps trying (and failing) without ending.
    await waitFor('a second failed cycle', async () => ((await metrics()).get('reconcile_cycles_total', { outcome: 'error' }) ?? 0) >= 2);
    expect(child.exitCode).toBeNull();
    expect((await metrics()).get('reconcile_ready')).toBe(0);

    // AWS comes back on the same address.
    await proxy.start();
    await waitFor('ready again', async () => (await readyz()).status === 200, 60_000);
    expect(await ingressOf('resilient')).toEqual(['tcp 443 0.0.0.0/0']);
    const m = await metrics();
    expect(m.get('reconcile_changes_applied_total', { action: 'update' })).toBeGreaterThanOrEqual(1);
    expect(m.get('reconcile_aws_calls_total', { service: 'ec2', operation: 'DescribeSecurityGroups', outcome: 'error' })).toBeGreaterThan(0);
    expect(m.get('reconcile_aws_calls_total', { service: 'ec2', operation: 'DescribeSecurityGroups', outcome: 'ok' })).toBeGreaterThan(0);
    expect(m.get('reconcile_last_success_timestamp_seconds')).toBeGreaterThan(0);
    expect(m.types.get('process_resident_memory_bytes')).toBe('gauge');

    const messages = logs.map((l) => String(l.msg));
    expect(messages.some((x) => x.startsWith('plan: cannot reach the AWS endpoint') || x.startsWith('reconcile: cannot reach the AWS endpoint'))).toBe(true);
    expect(messages.some((x) => /^next cycle in \d/.test(x))).toBe(true);
    expect(messages).toContain('healed: 1 change(s) applied');
    expect(logs.every((l) => !l.notJson)).toBe(true);
    // The service gives what each cycle freed back to the OS before it sleeps (src/watch/memory.ts).
    const ends = logs.filter((l) => l.msg === 'cycle done' || /^cycle failed/.test(String(l.msg)));
    expect(ends.length).toBeGreaterThan(2);
    expect(ends.every((l) => typeof l.gcMs === 'number')).toBe(true);

    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(logs.map((l) => String(l.msg))).toContain('stopped');
    expect(stderr).toBe('');
  });

  it('--once: one cycle; exit 0 when it succeeded, 1 when AWS cannot be reached', () => {
    const spec = join(dir, 'once.yaml');
    writeFileSync(spec, SPEC.replace('stack: resilient', 'stack: once'));
    const args = ['watch', spec, '--once', '--log-format', 'json', '--state-file', join(dir, 'once-state.json')];
    const ok = runCli(args, env(moto.endpoint));
    expect(ok.code, ok.out + ok.err).toBe(0);
    expect(ok.out).toContain('"msg":"cycle done"');
    expect(ok.out).not.toContain('"gcMs"'); // one cycle, then exit: nothing to give back
    const bad = runCli([...args, '--endpoint-url', 'http://127.0.0.1:1'], env(moto.endpoint));
    expect(bad.code).toBe(1);
    expect(bad.out).toContain('cannot reach the AWS endpoint');
  });

  it('refuses to start on an invalid spec or a bad flag, with the positions and a hint', () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, SPEC.replace('port: 443', 'port: 99999'));
    const r = runCli(['watch', bad], env(moto.endpoint), 30_000);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/bad\.yaml:9:23\s+error/);
    expect(r.err).not.toMatch(/\n\s+at /);
    const flag = runCli(['watch', join(dir, 'spec.yaml'), '--interval', 'soon'], env(moto.endpoint), 30_000);
    expect(flag.code).toBe(1);
    expect(flag.err).toContain("error: option '--interval <duration>' argument 'soon' is invalid. Allowed: ");
  });

  it('a --host that is not an address of this machine is said plainly (not as an AWS endpoint), exit 1', () => {
    for (const host of ['192.0.2.1', 'not-a-host.invalid']) {
      const r = runCli(['watch', join(dir, 'spec.yaml'), '--port', '0', '--host', host], env(moto.endpoint), 30_000);
      expect(r.code).toBe(1);
      expect(r.err).toContain(`error: cannot listen on --host ${host}`);
      expect(r.err).toContain('hint: pass an address of this machine');
      expect(r.err).not.toMatch(/AWS endpoint|\n\s+at /);
    }
  });

  it('a port already in use is said plainly, exit 1', async () => {
    const busy = createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', () => r()));
    const port = String((busy.address() as { port: number }).port);
    try {
      const r = runCli(['watch', join(dir, 'spec.yaml'), '--port', port, '--host', '127.0.0.1'], env(moto.endpoint), 30_000);
      expect(r.code).toBe(1);
      expect(r.err).toContain(`error: port ${port} is already in use`);
      expect(r.err).toContain('hint: pass another --port');
    } finally {
      busy.close();
    }
  });
});
