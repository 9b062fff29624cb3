// What a newcomer sees when something basic is off: a profile that does not exist, no network, "y" at
// a prompt. The CLI cases run dist/cli.js for real (no AWS is reached: credentials or DNS fail first).
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { confirmYes } from '../../src/commands/confirm.js';
import { cannotAskAws, explainAwsError } from '../../src/aws/errors.js';

const cli = (args: string[], env: Record<string, string | undefined>, nodeArgs: string[] = []) => {
  const e: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', ...env };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete e[k];
  return spawnSync(process.execPath, [...nodeArgs, 'dist/cli.js', ...args], { encoding: 'utf8', env: e, timeout: 120_000 });
};

describe('a confirmation prompt', () => {
  const asker = (answers: string[]) => {
    const prompts: string[] = [];
    return { prompts, ask: async (p: string) => (prompts.push(p), answers.shift() ?? '') };
  };
  it('goes ahead on yes, and on y only after being told to type yes in full', async () => {
    expect(await confirmYes(asker(['yes']).ask, 'Apply?')).toBe(true);
    const y = asker(['y', 'yes']);
    expect(await confirmYes(y.ask, 'Apply?')).toBe(true);
    expect(y.prompts[1]).toContain('Type "yes" in full');
    expect(await confirmYes(asker(['Y', 'y']).ask, 'Apply?')).toBe(false);
  });
  it('cancels on anything else, without asking again', async () => {
    for (const a of ['', 'no', 'n', 'yess']) {
      const x = asker([a, 'yes']);
      expect(await confirmYes(x.ask, 'Apply?')).toBe(false);
      expect(x.prompts).toHaveLength(1);
    }
  });
  it('Ctrl+D or Ctrl+C at the prompt (readline rejects with an AbortError) cancels, at either question', async () => {
    const abort = (key: string) => Object.assign(new Error(`Aborted with ${key}`), { name: 'AbortError' });
    for (const key of ['Ctrl+D', 'Ctrl+C']) {
      expect(await confirmYes(async () => Promise.reject(abort(key)), 'Apply?')).toBe(false);
      let n = 0;
      expect(await confirmYes(async () => (n++ ? Promise.reject(abort(key)) : 'y'), 'Apply?')).toBe(false);
    }
    await expect(confirmYes(async () => Promise.reject(new Error('EIO')), 'Apply?')).rejects.toThrow('EIO');
  });
});

describe('no network: a real region that does not resolve', () => {
  const dnsFailure = Object.assign(new Error('getaddrinfo ENOTFOUND ec2.us-east-1.amazonaws.com'), { code: 'ENOTFOUND', hostname: 'ec2.us-east-1.amazonaws.com' });
  it('says AWS cannot be reached, not that the region may not exist', () => {
    const x = explainAwsError(dnsFailure);
    expect(x.message).toContain('cannot reach AWS');
    expect(x.message).not.toContain('real AWS region');
    expect(cannotAskAws(dnsFailure)).toBe(true);
  });
  it('still asks about a region AWS does not have', () => {
    const typo = Object.assign(new Error('getaddrinfo ENOTFOUND ec2.us-east-7.amazonaws.com'), { code: 'ENOTFOUND', hostname: 'ec2.us-east-7.amazonaws.com' });
    expect(explainAwsError(typo).message).toContain('is "us-east-7" a real AWS region?');
  });

  it('the CLI says so once: no warning per instance', () => {
    // Every DNS look-up fails, as on a machine without network (a preload, not a mock of the SDK).
    const dir = mkdtempSync(join(tmpdir(), 'reconcile-nodns-'));
    const preload = join(dir, 'no-dns.mjs');
    writeFileSync(
      preload,
      `import dns from 'node:dns';
const fail = (host, o, cb) => { cb = typeof o === 'function' ? o : cb; const e = Object.assign(new Error('getaddrinfo ENOTFOUND ' + host), { code: 'ENOTFOUND', errno: -3008, syscall: 'getaddrinfo', hostname: host }); process.nextTick(cb, e); };
dns.lookup = fail;\n`,
    );
    const r = cli(['plan', resolve('examples/flask-cpu-alert.yaml')], { AWS_ENDPOINT_URL: undefined, AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'y' }, ['--import', preload]);
    expect(r.status).toBe(1);
    expect(r.stderr.match(/^error: /gm)).toHaveLength(1);
    expect(r.stderr).toMatch(/^error: cannot reach AWS: [a-z0-9.-]+\.us-east-1\.amazonaws\.com does not resolve/m);
    expect(r.stderr).not.toMatch(/warning: instance/);
  });
});

describe('AWS_PROFILE naming a profile that does not exist', () => {
  it('says the profile is not found, once', () => {
    const dir = mkdtempSync(join(tmpdir(), 'reconcile-profile-'));
    writeFileSync(join(dir, 'config'), '[default]\nregion = us-east-1\n[profile staging]\nregion = eu-west-1\n');
    writeFileSync(join(dir, 'credentials'), '[ci]\naws_access_key_id = x\naws_secret_access_key = y\n');
    const env = {
      AWS_PROFILE: 'nosuch',
      AWS_CONFIG_FILE: join(dir, 'config'),
      AWS_SHARED_CREDENTIALS_FILE: join(dir, 'credentials'),
      AWS_ACCESS_KEY_ID: undefined,
      AWS_SECRET_ACCESS_KEY: undefined,
      AWS_ENDPOINT_URL: undefined,
      HOME: dir,
    };
    const r = cli(['plan', resolve('examples/flask-cpu-alert.yaml')], env);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^error: the AWS profile "nosuch" is not found/m);
    expect(r.stderr.match(/^error: /gm)).toHaveLength(1);
    expect(r.stderr).not.toMatch(/warning: instance|no AWS credentials/);
    // --profile names it the same way; a profile that exists is not blamed.
    expect(cli(['plan', resolve('examples/flask-cpu-alert.yaml'), '--profile', 'nosuch2'], { ...env, AWS_PROFILE: undefined }).stderr).toContain('profile "nosuch2" is not found');
    expect(cli(['plan', resolve('examples/flask-cpu-alert.yaml')], { ...env, AWS_PROFILE: 'staging' }).stderr).not.toContain('is not found');
  });
});
