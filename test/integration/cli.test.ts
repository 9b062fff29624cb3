// The CLI as a user runs it (the compiled bin in a child process) against moto: exit codes,
// confirmation, saved plans, and clear errors without stack traces.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, runCli } from '../helpers/cli.js';
import { startMoto, type Moto } from '../helpers/moto.js';
import { specYaml, vpcWithWeb, writeSpec } from '../helpers/specs.js';

const SPEC = specYaml('clitest', vpcWithWeb({ net: 1 }));

let moto: Moto;
let dir: string;
let spec: string;

const cli = (args: string[], env: Record<string, string | undefined> = {}) => runCli(args, { ...process.env, ...moto.env, ...env });

beforeAll(async () => {
  moto = await startMoto();
  dir = mkdtempSync(join(tmpdir(), 'reconcile-cli-'));
  spec = writeSpec(dir, 'spec.yaml', SPEC);
});
afterAll(async () => moto?.stop());

describe('reconcile CLI', () => {
  it('plan exits 0, or 2 with --detailed-exitcode when there are changes', () => {
    const plain = cli(['plan', spec]);
    expect(plain.code).toBe(0);
    expect(plain.out).toContain('+ vpc.main will be created');
    expect(plain.out).toContain('Plan: 2 to add, 0 to change, 0 to replace, 0 to destroy.');
    expect(cli(['plan', spec, '--detailed-exitcode']).code).toBe(2);
  });

  it('apply without a terminal refuses unless --yes', () => {
    const r = cli(['apply', spec]);
    expect(r.code).toBe(1);
    expect(r.err).toContain('refusing to change AWS without confirmation');
    expect(r.err).toContain('--yes');
    expect(r.err).not.toMatch(/\n\s+at /); // no stack trace
  });

  it('applies, then re-plans clean; the JSON plan is versioned', () => {
    const r = cli(['apply', spec, '--yes']);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/vpc\.main: creating done \[vpc-[0-9a-f]+\]/);
    expect(r.out).toContain('Apply complete');
    expect(cli(['plan', spec, '--detailed-exitcode']).code).toBe(0);
    const j = JSON.parse(cli(['plan', spec, '--json']).out);
    expect(j.formatVersion).toBe(1);
    expect(j.changes.map((c: { action: string }) => c.action)).toEqual(['noop', 'noop']);
    expect(cli(['plan', spec, '--format', 'markdown']).out).toContain('### reconcile plan: `clitest`');
  });

  it('applies a saved plan exactly, and refuses it once the spec or live AWS changed', () => {
    const changedSpec = join(dir, 'changed.yaml');
    writeFileSync(changedSpec, SPEC.replace('port: 443', 'port: 8443'));
    const planFile = join(dir, 'plan.json');
    expect(cli(['plan', changedSpec, '--out', planFile]).code).toBe(0);
    expect(JSON.parse(readFileSync(planFile, 'utf8')).summary.update).toBe(1);

    // The spec changes after the plan was saved: refused.
    writeFileSync(changedSpec, SPEC.replace('port: 443', 'port: 9443'));
    const stale = cli(['apply', planFile]);
    expect(stale.code).toBe(1);
    expect(stale.err).toContain('changed since the plan');

    writeFileSync(changedSpec, SPEC.replace('port: 443', 'port: 8443'));
    const ok = cli(['apply', planFile]);
    expect(ok.code, ok.err).toBe(0);
    expect(cli(['plan', changedSpec, '--detailed-exitcode']).code).toBe(0);

    // Live AWS changes after the plan was saved: refused.
    expect(cli(['plan', spec, '--out', planFile]).code).toBe(0);
    writeFileSync(changedSpec, SPEC.replace('port: 443', 'port: 7443'));
    expect(cli(['apply', changedSpec, '--yes']).code).toBe(0); // someone changes AWS in between
    const drifted = cli(['apply', planFile]);
    expect(drifted.code).toBe(1);
    expect(drifted.err).toContain('live AWS changed since the plan');
  });

  it('a spec written as JSON (or as a YAML flow mapping) applies like any spec; other JSON is no plan', () => {
    const json = writeSpec(dir, 'spec.json', JSON.stringify({ apiVersion: 'reconcile/v1', stack: 'clitest-json', region: 'us-east-1', resources: { main: { kind: 'vpc', cidr: '10.32.0.0/16' } } }));
    const a = cli(['apply', json, '--yes']);
    expect(a.code, a.err).toBe(0);
    expect(a.out).toContain('vpc.main: creating done');
    const flow = writeSpec(dir, 'flow.yaml', '{apiVersion: reconcile/v1, stack: clitest-json, region: us-east-1, resources: {main: {kind: vpc, cidr: 10.32.0.0/16}}}\n');
    expect(cli(['apply', flow, '--yes']).out).toContain('No changes.');
    expect(cli(['destroy', json, '--yes']).code).toBe(0);
    const other = cli(['apply', writeSpec(dir, 'other.json', '{"formatVersion": 2}'), '--yes']);
    expect(other.code).toBe(1);
    expect(other.err).toContain('is neither a spec nor a plan saved by `reconcile plan --out`');
  });

  it('plan --out to a folder that does not exist: one plain line, exit 1', () => {
    const r = cli(['plan', spec, '--out', join(dir, 'no-such-folder', 'plan.json')]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`cannot write the plan to ${join(dir, 'no-such-folder', 'plan.json')}: its folder does not exist`);
    expect(r.err).not.toMatch(/ENOENT|\n\s+at /);
  });

  it('an invalid spec is reported with positions and exit 1, no stack trace', () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, SPEC.replace('cidr: 10.1.0.0/16', 'cidr: 10.1.0.0/33'));
    const r = cli(['plan', bad]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/bad\.yaml:7:11\s+error/);
    expect(r.err).not.toMatch(/\n\s+at /);
  });

  it('a reader that stops early (| head) gets no EPIPE crash: the command finishes with its own exit code', () => {
    // The reader (true) is gone before the CLI writes a byte; bash hands back the CLI's exit code.
    const r = spawnSync('bash', ['-c', '"$0" "$1" policy "$2" | true; exit "${PIPESTATUS[0]}"', process.execPath, CLI, spec], { encoding: 'utf8', env: { ...process.env, ...moto.env } });
    expect(r.stderr).not.toMatch(/EPIPE|\n\s+at /);
    expect(r.status).toBe(0);
  });

  it('an object URL that cannot be fetched fails the plan and the apply before any write (issue 12 item 5)', () => {
    const urlSpec = join(dir, 'url.yaml');
    writeFileSync(
      urlSpec,
      specYaml('cliurl', `  files:
    kind: s3-bucket
    bucketName: cliurl-bucket-never-made
    objects:
      - { key: a.txt, url: "http://127.0.0.1:1/nothing" }
`),
    );
    for (const args of [['plan', urlSpec], ['apply', urlSpec, '--yes']]) {
      const r = cli(args);
      expect(r.code, r.out + r.err).toBe(1);
      expect(r.err).toContain('object a.txt: cannot fetch http://127.0.0.1:1/nothing');
      expect(r.err).not.toMatch(/Error: |\n\s+at /);
    }
    // The bucket was never made:
    expect(spawnSync('curl', ['-s', `${moto.endpoint}/`], { encoding: 'utf8' }).stdout).not.toContain('cliurl-bucket-never-made');
  });

  it('an unreachable endpoint and missing credentials get one clear line and a hint', () => {
    const down = cli(['plan', spec, '--endpoint-url', 'http://127.0.0.1:1']);
    expect(down.code).toBe(1);
    expect(down.err).toContain('cannot reach the AWS endpoint');
    expect(down.err).not.toMatch(/\n\s+at /);
    const nocreds = cli(['plan', spec], { AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined, AWS_PROFILE: 'no-such-profile-here', HOME: dir });
    expect(nocreds.code).toBe(1);
    expect(nocreds.err).toMatch(/credentials|profile/i);
    expect(nocreds.err).not.toMatch(/\n\s+at /);
  });

  it('protect blocks destroy with exit 3; destroy --yes removes the stack', () => {
    const protectedSpec = join(dir, 'protected.yaml');
    writeFileSync(protectedSpec, SPEC.replace('    kind: vpc\n', '    kind: vpc\n    protect: true\n'));
    expect(cli(['apply', protectedSpec, '--yes']).code).toBe(0);
    const blocked = cli(['destroy', protectedSpec, '--yes']);
    expect(blocked.code).toBe(3);
    expect(blocked.out + blocked.err).toContain('vpc.main');
    expect(cli(['apply', spec, '--yes']).code).toBe(0); // protect removed from the spec: tag removed
    const d = cli(['destroy', spec, '--yes']);
    expect(d.code, d.err).toBe(0);
    expect(cli(['plan', spec]).out).toContain('Plan: 2 to add');
  });

  it('parameters: one spec, two copies (--set, --values), each its own stack; an unknown one is an error at parameters:', () => {
    const p = join(dir, 'params.yaml');
    writeFileSync(p, `apiVersion: reconcile/v1
parameters:
  copy: { description: which copy }
  octet: { default: 20 }
stack: clitest-\${param:copy}
region: us-east-1
resources:
  main:
    kind: vpc
    cidr: 10.\${param:octet}.0.0/16
`);
    const values = join(dir, 'b.yaml');
    writeFileSync(values, 'copy: b\noctet: 21\n');
    expect(cli(['plan', p]).err).toMatch(/params\.yaml:5:16\s+error\s+parameter copy has no value/);
    const a = cli(['apply', p, '--set', 'copy=a', '--yes']);
    expect(a.code, a.err).toBe(0);
    const b = cli(['apply', p, '--values', values, '--yes']);
    expect(b.code, b.err).toBe(0);
    expect(b.out).toContain('+ vpc.main will be created'); // copy a's VPC is not copy b's
    expect(cli(['plan', p, '--set', 'copy=a', '--detailed-exitcode']).code).toBe(0);
    expect(cli(['plan', p, '--values', values, '--set', 'octet=21', '--detailed-exitcode']).code).toBe(0);
    const moved = cli(['plan', p, '--values', values, '--set', 'octet=22']);
    expect(moved.out).toContain('10.21.0.0/16');
    const unknown = cli(['plan', p, '--set', 'copy=a', '--set', 'octat=1']);
    expect(unknown.code).toBe(1);
    expect(unknown.err).toMatch(/params\.yaml:2:1\s+error\s+parameter "octat" is given a value/);
    expect(unknown.err).toContain('did you mean octet?');
    for (const args of [['--set', 'copy=a'], ['--values', values]]) expect(cli(['destroy', p, ...args, '--yes']).code).toBe(0);
    expect(cli(['plan', p, '--set', 'copy=a']).out).toContain('Plan: 1 to add');
  });

  const savedSpec = `apiVersion: reconcile/v1
parameters:
  copy: { default: d }
stack: clitest-saved-\${param:copy}
region: us-east-1
resources:
  one: { kind: vpc, cidr: 10.30.0.0/16 }
  two: { kind: vpc, cidr: 10.31.0.0/16 }
`;

  it('a plan saved with --set is applied with the same values, and refused without them', () => {
    const p = writeSpec(dir, 'saved-params.yaml', savedSpec);
    const planFile = join(dir, 'saved-params.json');
    const planned = cli(['plan', p, '--set', 'copy=s', '--out', planFile]);
    expect(planned.code, planned.err).toBe(0);
    expect(planned.out).toContain('with the same --set / --values as this plan (copy)');
    expect(JSON.parse(readFileSync(planFile, 'utf8')).params).toEqual(['copy']);
    const without = cli(['apply', planFile]);
    expect(without.code).toBe(1);
    expect(without.err).toContain('the values of its parameters (copy');
    // From another folder, the spec's relative path finds nothing: said so.
    const inDir = (cwd: string, args: string[]) => spawnSync(process.execPath, [join(process.cwd(), 'dist/cli.js'), ...args], { cwd, encoding: 'utf8', env: { ...process.env, ...moto.env } });
    expect(inDir(dir, ['plan', 'saved-params.yaml', '--set', 'copy=s', '--out', 'relative.json']).status).toBe(0);
    const elsewhere = inDir(tmpdir(), ['apply', join(dir, 'relative.json'), '--set', 'copy=s']);
    expect(elsewhere.status).toBe(1);
    expect(elsewhere.stderr).toContain('a path relative to the folder plan ran in');
    const applied = cli(['apply', planFile, '--set', 'copy=s']);
    expect(applied.code, applied.err).toBe(0);
    expect(cli(['plan', p, '--set', 'copy=s', '--detailed-exitcode']).code).toBe(0);
  });

  // (A test of its own: moto's request log is read by this process only between tests.)
  it('a saved plan a safety rule blocked stays blocked; --max-deletes given to apply holds for a saved plan; --prune cannot widen one', () => {
    const p = writeSpec(dir, 'saved-params.yaml', savedSpec.replace(/ {2}two: .*\n/, ''));
    const planFile = join(dir, 'saved-blocked.json');
    expect(cli(['plan', p, '--set', 'copy=s', '--prune', '--max-deletes', '0', '--out', planFile]).code).toBe(3);
    const blocked = cli(['apply', planFile, '--set', 'copy=s']);
    expect(blocked.code).toBe(3);
    expect(blocked.err).toContain('was blocked by a safety rule');
    expect(cli(['plan', p, '--set', 'copy=s', '--prune', '--out', planFile]).code).toBe(0);
    expect(cli(['apply', planFile, '--set', 'copy=s', '--max-deletes', '0']).code).toBe(3);
    expect(cli(['plan', p, '--set', 'copy=s', '--prune']).out).toContain('1 to destroy'); // nothing was deleted
    // A plan made without --prune is applied as it is: apply's --prune cannot add its deletes.
    expect(cli(['plan', p, '--set', 'copy=s', '--out', planFile]).code).toBe(0);
    const widened = cli(['apply', planFile, '--set', 'copy=s', '--prune', '--yes']);
    expect(widened.code).toBe(1);
    expect(widened.err).toContain('was made without --prune');
    expect(cli(['plan', p, '--set', 'copy=s', '--prune']).out).toContain('1 to destroy'); // still nothing deleted
  });

});
