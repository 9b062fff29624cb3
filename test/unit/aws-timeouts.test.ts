// Every AWS call is bounded: an endpoint that accepts connections and never answers makes the call
// fail with a timeout (retried as a transient error), never hang; a command's stop signal ends a
// call at once. Against a loopback server that never answers (no moto needed).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GetCallerIdentityCommand } from '../../src/aws/sdk/sts.js';
import { Aws } from '../../src/aws/clients.js';
import { explainAwsError, isRetryable } from '../../src/aws/errors.js';
import { Stopped } from '../../src/commands/stop.js';
import { startHangServer, type HangServer } from '../helpers/hang.js';

let hang: HangServer;
beforeAll(async () => {
  hang = await startHangServer();
});
afterAll(async () => {
  await hang.close();
});

describe('AWS call timeouts', () => {
  it('a request that gets no answer throws a TimeoutError after requestTimeout, and is retried like a transient error', async () => {
    const aws = new Aws({ region: 'us-east-1', endpoint: hang.endpoint, requestTimeoutMs: 300, maxAttempts: 2 });
    const before = hang.connections;
    const start = Date.now();
    const err = await (await aws.sts()).send(new GetCallerIdentityCommand({})).catch((e: unknown) => e);
    const ms = Date.now() - start;
    aws.destroy();
    expect((err as Error).name).toBe('TimeoutError');
    expect(isRetryable(err)).toBe(true);
    expect(hang.connections - before).toBe(2); // the SDK tried again
    expect(ms).toBeGreaterThanOrEqual(550);
    expect(ms).toBeLessThan(10_000);
    expect(explainAwsError(err).message).toMatch(/did not answer|cannot reach/);
    expect(aws.calls.at(-1)).toMatchObject({ service: 'sts', operation: 'GetCallerIdentity', outcome: 'error', error: 'TimeoutError' });
  });

  it('the stop signal ends a call in flight at once with its reason, and refuses later calls', async () => {
    const ac = new AbortController();
    const aws = new Aws({ region: 'us-east-1', endpoint: hang.endpoint, signal: ac.signal });
    const sts = await aws.sts();
    const call = sts.send(new GetCallerIdentityCommand({})).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 200));
    const reason = new Stopped('interrupted (SIGINT)', undefined, 130, 'signal');
    const start = Date.now();
    ac.abort(reason);
    expect(await call).toBe(reason);
    expect(Date.now() - start).toBeLessThan(1_000);
    const before = hang.connections;
    expect(await sts.send(new GetCallerIdentityCommand({})).catch((e: unknown) => e)).toBe(reason);
    expect(isRetryable(reason)).toBe(false);
    expect(hang.connections).toBe(before);
    aws.destroy();
  });

  it('many calls in flight on one stop signal are no "possible memory leak" warning (each call listens on it)', async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    const ac = new AbortController();
    const aws = new Aws({ region: 'us-east-1', endpoint: hang.endpoint, signal: ac.signal });
    try {
      const sts = await aws.sts();
      const calls = Array.from({ length: 15 }, () => sts.send(new GetCallerIdentityCommand({})).catch((e: unknown) => e));
      await new Promise((r) => setTimeout(r, 300));
      ac.abort(new Stopped('interrupted (SIGINT)', undefined, 130, 'signal'));
      await Promise.all(calls);
      await new Promise((r) => setImmediate(r));
      expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
    } finally {
      process.off('warning', onWarning);
      aws.destroy();
    }
  });
});
