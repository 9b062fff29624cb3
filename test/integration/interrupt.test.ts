// Ctrl-C (SIGINT) during `apply`: the changes in flight finish, none starts after; the run says what
// was done, what was in flight and what did not start, and that a rerun picks up; exit 130. The
// compiled CLI in a child process (build first) against moto, through the fault proxy slowing the
// creates down so that the signal lands mid-apply.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, startCli } from '../helpers/cli.js';
import { startMoto, type Moto } from '../helpers/moto.js';
import { specYaml, vpcWithWeb, writeSpec } from '../helpers/specs.js';
import { startFaultProxy, type FaultProxy } from '../fault/proxy.js';
import { startHangServer, type HangServer } from '../helpers/hang.js';
import { createServer, request, type Server } from 'node:http';

/** Forwards to moto, except that EC2's CreateVpc is never answered: a create that hangs. */
async function hangCreateVpc(target: string): Promise<{ endpoint: string; close(): void }> {
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (/Action=CreateVpc\b/.test(body.toString())) return; // never answered
      const up = request(`${target}${req.url}`, { method: req.method, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      up.on('error', () => res.destroy());
      up.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

const SPEC = specYaml('interrupt', vpcWithWeb({ subnets: ['a', 'b'] }));

let moto: Moto;
let proxy: FaultProxy;
let hang: HangServer;
let dir: string;
let spec: string;

beforeAll(async () => {
  moto = await startMoto();
  proxy = await startFaultProxy(moto.endpoint);
  hang = await startHangServer();
  dir = mkdtempSync(join(tmpdir(), 'reconcile-interrupt-'));
  spec = writeSpec(dir, 'spec.yaml', SPEC);
});
afterAll(async () => {
  await hang?.close();
  await proxy?.stop();
  await moto?.stop();
});

const env = (endpoint: string) => ({ ...process.env, ...moto.env, AWS_ENDPOINT_URL: endpoint, XDG_STATE_HOME: dir });

/**
 * Runs the CLI and sends `signal` when `when` matches its output (and again when `again` matches,
 * if given); resolves with its exit, output and when the last signal went.
 */
function runAndSignal(args: string[], endpoint: string, when: RegExp, signal: NodeJS.Signals, again?: RegExp) {
  const run = startCli(args, env(endpoint));
  let sent = false;
  let sentAgain = false;
  let lastAt = 0;
  const maybe = () => {
    const text = run.out + run.err;
    if (!sent && when.test(text)) {
      sent = true;
      lastAt = Date.now();
      run.child.kill(signal);
    } else if (sent && again && !sentAgain && again.test(text)) {
      sentAgain = true;
      lastAt = Date.now();
      run.child.kill(signal);
    }
  };
  run.child.stdout!.on('data', maybe);
  run.child.stderr!.on('data', maybe);
  return run.exit.then(({ code }) => ({ code, out: run.out, err: run.err, sent, lastAt }));
}

describe('SIGINT during apply', () => {
  it('reports done / in flight / not started, exits 130, and a rerun finishes the job', async () => {
    proxy.setFaults({ seed: 1, rate: 1, kinds: { latency: 1 }, maxLatencyMs: 600, maxFaults: 1000, maxInARow: 1000, filter: (r) => /^Create/.test(r.operation) });
    const r = await runAndSignal(['apply', spec, '--yes', '--concurrency', '1'], proxy.endpoint, /vpc\.main: creating\.\.\./, 'SIGINT');
    proxy.setFaults(undefined);
    expect(r.sent).toBe(true);
    expect(r.code).toBe(130);
    expect(r.err).toContain('SIGINT: no new change starts; waiting for the 1 in flight to finish (vpc.main). Press Ctrl-C again to stop them too.');
    expect(r.err).toContain('Apply interrupted (SIGINT).');
    expect(r.err).toMatch(/Done: vpc\.main\n/);
    expect(r.err).toContain('In flight when stopped: vpc.main (finished)');
    expect(r.err).toMatch(/Not started: .*subnet\.a/);
    expect(r.err).toContain('run the same command again; it picks up where this run stopped');
    expect(r.out).not.toContain('Apply complete');

    const again = runCli(['apply', spec, '--yes'], env(moto.endpoint));
    expect(again.code).toBe(0);
    expect(again.out).toContain('Apply complete');
    expect(again.out).not.toMatch(/vpc\.main: creating/); // the VPC of the first run is picked up
    const plan = runCli(['plan', spec, '--detailed-exitcode'], env(moto.endpoint));
    expect(plan.code).toBe(0);
  });

  it('before any change (here: a plan that hangs) it stops at once: nothing was changed, exit 130', async () => {
    const start = Date.now();
    let sentAt = 0;
    const r = await runAndSignal(['apply', spec, '--yes'], hang.endpoint, /no lock bucket/, 'SIGINT').then((x) => ((sentAt = sentAt || Date.now()), x));
    expect(r.sent).toBe(true);
    expect(r.code).toBe(130);
    expect(r.err).toContain('error: interrupted (SIGINT): nothing was changed');
    expect(Date.now() - start).toBeLessThan(15_000);
  });

  it('a second SIGINT stops the change in flight too (here a create that never gets an answer), at once', async () => {
    const spec2 = join(dir, 'second.yaml');
    writeFileSync(spec2, SPEC.replace('stack: interrupt', 'stack: second'));
    const hung = await hangCreateVpc(moto.endpoint);
    try {
      const r = await runAndSignal(['apply', spec2, '--yes'], hung.endpoint, /vpc\.main: creating\.\.\./, 'SIGINT', /Press Ctrl-C again/);
      expect(r.code).toBe(130);
      expect(Date.now() - r.lastAt).toBeLessThan(5_000); // not the 30 s request timeout, nor its retries
      expect(r.err).toContain('Apply interrupted (SIGINT).');
      expect(r.err).toContain('Done: nothing');
      expect(r.err).toContain('In flight when stopped: vpc.main (stopped: interrupted (SIGINT))');
      expect(r.err).toMatch(/Not started: .*subnet\.a/);
      expect(r.err).toContain('run the same command again; it picks up where this run stopped');
    } finally {
      hung.close();
    }
  });

  it('with the S3 stack lock: interrupted, the run releases the lock before it exits', async () => {
    const { Aws } = await import('../../src/aws/clients.js');
    const { CreateBucketCommand, HeadObjectCommand } = await import('../../src/aws/sdk/s3.js');
    const aws = new Aws({ region: 'us-east-1', endpoint: moto.endpoint });
    try {
      const s3 = await aws.s3();
      await s3.send(new CreateBucketCommand({ Bucket: 'interrupt-locks' }));
      const spec3 = join(dir, 'locked.yaml');
      writeFileSync(spec3, SPEC.replace('stack: interrupt', 'stack: locked'));
      proxy.setFaults({ seed: 2, rate: 1, kinds: { latency: 1 }, maxLatencyMs: 600, maxFaults: 1000, maxInARow: 1000, filter: (r) => /^Create/.test(r.operation) });
      const r = await runAndSignal(['apply', spec3, '--yes', '--concurrency', '1', '--lock-bucket', 'interrupt-locks'], proxy.endpoint, /vpc\.main: creating\.\.\./, 'SIGINT');
      proxy.setFaults(undefined);
      expect(r.code, r.err).toBe(130);
      expect(r.err).toContain('Apply interrupted (SIGINT).');
      const gone = await s3.send(new HeadObjectCommand({ Bucket: 'interrupt-locks', Key: 'reconcile-locks/locked.json' })).catch((e: Error) => e);
      expect((gone as Error).name).toBe('NotFound');
    } finally {
      aws.destroy();
    }
  });
});
