// Secrets never shown: user data marked sensitive (inline, from ${env:...}, and from a file) and the
// private key of a created key pair. Every command a user runs on the stack -- validate, plan in
// every format (and the saved plan file), apply, output, a change of the secret, destroy -- runs as
// a child process against moto; everything it prints and writes is searched for the secrets, their
// base64 form (what RunInstances carries) and every line of the private key.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { specYaml } from '../helpers/specs.js';
import { runCli } from '../helpers/cli.js';
import { startMoto, type Moto } from '../helpers/moto.js';

const SECRET = `db-pw-${randomBytes(12).toString('hex')}`;
const NEW_SECRET = `db-pw-${randomBytes(12).toString('hex')}`;
const FILE_SECRET = `api-token-${randomBytes(12).toString('hex')}`;

const SPEC = specYaml('secrets', `  key:
    kind: key-pair
    privateKeyFile: ./keys/secrets.pem
  app:
    kind: instance
    ami: { owner: amazon, name: al2023-ami-2023.*-x86_64 }
    instanceType: t3.micro
    keyPair: key
    userData:
      inline: |
        #!/bin/bash
        echo "DB_PASSWORD=\${env:DB_PASSWORD}" > /etc/app.env
      sensitive: true
  tmpl:
    kind: launch-template
    ami: { owner: amazon, name: al2023-ami-2023.*-x86_64 }
    instanceType: t3.micro
    keyPair: key
    userData:
      file: ./boot.sh
      sensitive: true
`);
const script = (pw: string) => `#!/bin/bash\necho "DB_PASSWORD=${pw}" > /etc/app.env\n`;
const FILE_SCRIPT = `#!/bin/bash\nexport API_TOKEN=${FILE_SECRET}\n`;

let moto: Moto;
let dir: string;
let spec: string;
/** The private key as written by apply (read before destroy, which may remove the file). */
let pemText = '';
/** Everything any command printed or wrote, by command. */
const seen: { what: string; text: string }[] = [];

function cli(args: string[], env: Record<string, string> = {}) {
  const r = runCli(args, { ...process.env, ...moto.env, DB_PASSWORD: SECRET, ...env });
  seen.push({ what: `reconcile ${args.join(' ')}`, text: `${r.out}\n${r.err}` });
  return r;
}

/** The needles: each secret as written and as base64, and each line of the private key. */
function needles(): string[] {
  const out = [SECRET, NEW_SECRET, FILE_SECRET];
  for (const s of [script(SECRET), script(NEW_SECRET), FILE_SCRIPT]) out.push(Buffer.from(s).toString('base64'));
  for (const s of [SECRET, NEW_SECRET, FILE_SECRET]) out.push(Buffer.from(s).toString('base64').replace(/=+$/, ''));
  out.push(...pemText.split('\n').filter((l) => l.length >= 16 && !l.startsWith('-----')));
  return out;
}

function leaks(): string[] {
  const found: string[] = [];
  for (const n of needles()) for (const s of seen) if (s.text.includes(n)) found.push(`${s.what} shows ${n.slice(0, 12)}...`);
  return found;
}

beforeAll(async () => {
  moto = await startMoto();
  dir = mkdtempSync(join(tmpdir(), 'reconcile-secrets-'));
  spec = join(dir, 'secrets.yaml');
  writeFileSync(spec, SPEC);
  writeFileSync(join(dir, 'boot.sh'), FILE_SCRIPT);
});
afterAll(async () => moto?.stop());

describe('sensitive values never shown', () => {
  it('plan in every format, the saved plan, apply, output, a changed secret and destroy show no secret and no private key', () => {
    expect(cli(['validate', spec]).code).toBe(0);
    const planned = cli(['plan', spec]);
    expect(planned.code, planned.err).toBe(0);
    expect(planned.out).toMatch(/\+ userData = \(sensitive\)/);
    expect(cli(['plan', spec, '--format', 'markdown']).code).toBe(0);
    const json = cli(['plan', spec, '--json']);
    expect(JSON.parse(json.out).changes.find((c: { address: string }) => c.address === 'instance.app').fields).toContainEqual(
      expect.objectContaining({ path: 'userData', after: '(sensitive)', sensitive: true }),
    );
    const planFile = join(dir, 'plan.json');
    expect(cli(['plan', spec, '--out', planFile]).code).toBe(0);
    seen.push({ what: 'the saved plan file', text: readFileSync(planFile, 'utf8') });

    const applied = cli(['apply', planFile]);
    expect(applied.code, applied.err).toBe(0);
    expect(applied.out).toContain('Apply complete');
    const pem = join(dir, 'keys/secrets.pem');
    expect(existsSync(pem)).toBe(true);
    pemText = readFileSync(pem, 'utf8');
    expect(pemText).toContain('PRIVATE KEY');

    expect(cli(['plan', spec, '--detailed-exitcode', '--verbose']).code).toBe(0);
    expect(cli(['output', spec]).code).toBe(0);
    expect(cli(['output', spec, '--json']).code).toBe(0);

    // The secret changes: the plan says user data differs without saying how.
    const changed = { DB_PASSWORD: NEW_SECRET };
    const replan = cli(['plan', spec], changed);
    expect(replan.out).toMatch(/userData.*\(sensitive\)/);
    expect(cli(['plan', spec, '--json'], changed).code).toBe(0);
    expect(cli(['plan', spec, '--format', 'markdown'], changed).code).toBe(0);
    const reapplied = cli(['apply', spec, '--yes'], changed);
    expect(reapplied.code, reapplied.err).toBe(0);
    expect(cli(['plan', spec, '--detailed-exitcode'], changed).code).toBe(0);

    expect(cli(['destroy', spec, '--yes'], changed).code).toBe(0);

    expect(seen.length).toBeGreaterThan(15);
    expect(leaks()).toEqual([]);
  });

  it('the search would find a secret that was printed', () => {
    // The needles are right: a plan of a spec without `sensitive: true` shows the script, and is caught.
    expect(pemText.split('\n').filter((l) => l.length >= 16 && !l.startsWith('-----')).length).toBeGreaterThan(5);
    const plain = join(dir, 'plain.yaml');
    writeFileSync(plain, SPEC.replace(/\n {6}sensitive: true/g, '').replace('stack: secrets', 'stack: plain'));
    const before = seen.length;
    expect(cli(['plan', plain], { DB_PASSWORD: SECRET }).code).toBe(0);
    expect(leaks().some((l) => l.startsWith(`reconcile plan ${plain}`))).toBe(true);
    seen.splice(before);
  });
});
