// The stack lock's pure parts: where the lock lives (flags vs spec), how a holder is named, expiry.
import { afterEach, describe, expect, it } from 'vitest';
import { UserError } from '../../src/engine/errors.js';
import { resolveLock } from '../../src/lock/config.js';
import { DEFAULT_LOCK_TIMEOUT_MS } from '../../src/lock/lock.js';
import { describeHolder, formatDuration, newHolder } from '../../src/lock/holder.js';
import { describeLock, isExpired, lockKey, type LockRecord } from '../../src/lock/object.js';
import { loadSpec } from '../../src/spec/load.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const spec = (lock?: { bucket: string; region?: string; timeout?: string }) => ({ stack: 'web', ...(lock ? { lock } : {}) });

describe('resolveLock: flags win over the spec; without a bucket the run is unlocked, with a warning', () => {
  it('runs unlocked with a warning naming how to set a bucket', () => {
    const d = resolveLock(spec(), {});
    expect(d.lock).toBeUndefined();
    expect(d.warning).toContain('no stack lock');
    expect(d.warning).toContain('lock: { bucket: NAME }');
    expect(d.warning).toContain('--lock-bucket');
  });

  it('takes the bucket and timeout from the spec', () => {
    expect(resolveLock(spec({ bucket: 'locks', timeout: '30s', region: 'eu-west-1' }), {}).lock).toEqual({ bucket: 'locks', timeoutMs: 30_000, region: 'eu-west-1' });
    expect(resolveLock(spec({ bucket: 'locks' }), {}).lock).toEqual({ bucket: 'locks', timeoutMs: DEFAULT_LOCK_TIMEOUT_MS });
  });

  it('--lock-bucket and --lock-timeout override the spec (and the spec\'s bucket region)', () => {
    expect(resolveLock(spec({ bucket: 'locks', timeout: '30s', region: 'eu-west-1' }), { lockBucket: 'ci-locks', lockTimeout: '2m' }).lock).toEqual({
      bucket: 'ci-locks',
      timeoutMs: 120_000,
    });
  });

  it('--no-lock wins over everything and says it is unsafe', () => {
    const d = resolveLock(spec({ bucket: 'locks' }), { lock: false, lockBucket: 'x-locks' });
    expect(d.lock).toBeUndefined();
    expect(d.warning).toContain('--no-lock');
  });

  it.each([
    [{ lockBucket: 'Bad_Bucket' }, /--lock-bucket Bad_Bucket is not a valid S3 bucket name/],
    [{ lockBucket: 'locks', lockTimeout: 'soon' }, /--lock-timeout soon is not a duration/],
  ])('refuses bad flags %j with a UserError', (flags, msg) => {
    expect(() => resolveLock(spec(), flags)).toThrow(UserError);
    expect(() => resolveLock(spec(), flags)).toThrow(msg);
  });

  it('the spec\'s lock: block is validated with positions', () => {
    const dir = mkdtempSync(join(tmpdir(), 'reconcile-lock-unit-'));
    const f = join(dir, 's.yaml');
    writeFileSync(f, 'apiVersion: reconcile/v1\nstack: web\nregion: us-east-1\nlock:\n  bucket: Locks!\n  timeout: soon\nresources: {}\n');
    const r = loadSpec(f);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.diagnostics.map((d) => `${d.line}:${d.col} ${d.message}`)).toEqual(
      expect.arrayContaining([expect.stringMatching(/^5:11 .*S3 bucket name/), expect.stringMatching(/^6:12 .*duration/)]),
    );
    writeFileSync(f, 'apiVersion: reconcile/v1\nstack: web\nregion: us-east-1\nlock: { bucket: ci-locks, timeout: 90s }\nresources: {}\n');
    const ok = loadSpec(f);
    expect(ok.ok && ok.loaded.spec.lock).toEqual({ bucket: 'ci-locks', timeout: '90s' });
  });
});

describe('holders and leases, in words', () => {
  const record = (over: Partial<LockRecord> = {}): LockRecord => ({
    formatVersion: 1,
    stack: 'web',
    holder: { id: 'ci-3:4242:abc', host: 'ci-3', pid: 4242, user: 'runner' },
    command: 'apply spec.yaml',
    started: '2026-01-01T10:00:00.000Z',
    renewed: '2026-01-01T10:04:00.000Z',
    expires: '2026-01-01T10:05:00.000Z',
    leaseSeconds: 60,
    ...over,
  });
  const at = (iso: string) => Date.parse(iso);

  afterEach(() => {
    delete process.env.GITHUB_SERVER_URL;
    delete process.env.GITHUB_REPOSITORY;
    delete process.env.GITHUB_RUN_ID;
  });

  it.each([
    [0, '0s'],
    [12_400, '12s'],
    [60_000, '1m'],
    [250_000, '4m 10s'],
    [3_600_000, '1h'],
    [3_720_000, '1h 2m'],
  ])('formatDuration(%s) = %s', (ms, s) => expect(formatDuration(ms)).toBe(s));

  it('names the holder, its command, since when, and the lease', () => {
    const r = record();
    expect(describeLock(r, at('2026-01-01T10:04:30.000Z'))).toBe(
      'ci-3 (pid 4242, user runner), running "apply spec.yaml" since 2026-01-01T10:00:00.000Z (4m 30s ago; lease live for 30s unless renewed)',
    );
    expect(describeLock(r, at('2026-01-01T10:07:00.000Z'))).toContain('lease expired 2m ago');
  });

  it('a lease is expired from its expires time on', () => {
    const r = record();
    expect(isExpired(r, at('2026-01-01T10:04:59.999Z'))).toBe(false);
    expect(isExpired(r, at('2026-01-01T10:05:00.000Z'))).toBe(true);
    expect(isExpired(record({ expires: 'garbage' }), at('2026-01-01T10:00:00.000Z'))).toBe(true);
  });

  it('each acquisition gets its own holder id; a GitHub Actions run is named by its URL', () => {
    const a = newHolder();
    const b = newHolder();
    expect(a.id).not.toBe(b.id);
    expect(a.id.startsWith(`${a.host}:${process.pid}:`)).toBe(true);
    expect(a.ci).toBeUndefined();
    process.env.GITHUB_SERVER_URL = 'https://github.com';
    process.env.GITHUB_REPOSITORY = 'acme/infra';
    process.env.GITHUB_RUN_ID = '77';
    const c = newHolder();
    expect(c.ci).toBe('https://github.com/acme/infra/actions/runs/77');
    expect(describeHolder(c)).toContain('https://github.com/acme/infra/actions/runs/77');
  });

  it('the lock object is reconcile-locks/<stack>.json', () => expect(lockKey('pipeline-single-node')).toBe('reconcile-locks/pipeline-single-node.json'));
});
