// The spec loader and `validate`: exact positions and messages for broken specs, the five examples,
// ${env:...} interpolation, references and cycles, warnings, and the validate output formats.
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runValidate } from '../../src/commands/validate.js';
import { canonicalJson, loadSpec, loadSpecText } from '../../src/spec/load.js';
import type { Diagnostic, LoadedSpec, LoadResult } from '../../src/spec/types.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const ex = (name: string) => relative(process.cwd(), join(ROOT, 'examples', name));
const EXAMPLES = ['flask-cpu-alert', 'microblog-vpc', 'clock-app-ha', 'webserver-s3-image', 'pipeline-single-node'];

const HEAD = 'apiVersion: reconcile/v1\nstack: t\nregion: us-east-1\nresources:\n';
/** Loads spec text as if it were a file in examples/ (so files/... resolve). */
const load = (body: string, env: NodeJS.ProcessEnv = {}): LoadResult => loadSpecText(HEAD + body, join(ROOT, 'examples', 'mem.yaml'), { env });
const diags = (r: LoadResult): Diagnostic[] => (r.ok ? r.loaded.warnings : r.diagnostics);
const errors = (r: LoadResult) => diags(r).filter((d) => d.severity === 'error');
const warnings = (r: LoadResult) => diags(r).filter((d) => d.severity === 'warning');
const loaded = (r: LoadResult): LoadedSpec => {
  if (!r.ok) throw new Error(`expected a valid spec, got:\n${r.diagnostics.map((d) => `${d.line}:${d.col} ${d.message}`).join('\n')}`);
  return r.loaded;
};
const at = (d: Diagnostic | undefined) => (d ? `${d.line}:${d.col}` : 'none');

// Lines 1-4 are HEAD; resources start on line 5.
const VPC = '  main:\n    kind: vpc\n    cidr: 10.0.0.0/16\n'; // lines 5-7

describe('examples/invalid: one positioned error each', () => {
  const table: [file: string, pos: string, message: string, hint: string | undefined][] = [
    ['bad-cidr.yaml', '8:11', 'cidr: expected an IPv4 CIDR block such as 10.0.0.0/16 (got "10.0.0.0/33")', '10.0.0.0/16'],
    ['bad-enum.yaml', '13:19', 'ingress[0].protocol: "tcpp" is not one of the allowed values', 'did you mean "tcp"? allowed values: tcp, udp, icmp, all'],
    ['duplicate-key.yaml', '9:5', 'YAML syntax: Map keys must be unique', 'each key may appear once'],
    ['invalid-bucket-name.yaml', '8:17', 'bucket name "My_Assets_Bucket" may hold only lowercase letters', 'for example "my-assets-bucket"'],
    ['main-route-table-with-subnets.yaml', '17:14', 'a main route table (main: true) takes no subnets', 'remove subnets'],
    ['min-above-max.yaml', '20:14', 'minSize (5) is above maxSize (2)', 'lower minSize to 2 or raise maxSize to 5'],
    ['missing-local-file.yaml', '11:15', 'file "files/no-such-file.html" does not exist', 'relative to the spec file'],
    ['missing-required-field.yaml', '9:3', 'missing required field "cidr" in subnet "public"', 'add cidr: 10.0.0.0/16'],
    ['misspelt-key.yaml', '16:5', 'unknown field "subnet" in route-table "public-rt"', 'did you mean "subnets"?'],
    ['reference-cycle.yaml', '10:17', 'reference cycle: web -> web-idle -> web', 'remove one of these references'],
    ['unknown-kind.yaml', '10:11', 'unknown kind "security_group" for resource "web"', 'did you mean "security-group"? kinds: vpc, subnet,'],
    ['unknown-reference.yaml', '11:10', 'vpc refers to vpc "mian", which is not in this spec', 'did you mean "main"?'],
    ['missing-parameter.yaml', '5:12', 'parameter environment has no value', '--set environment=VALUE'],
    ['unknown-parameter.yaml', '11:27', 'unknown parameter "enviroment"', 'did you mean ${param:environment}?'],
    ['unset-env-var.yaml', '11:15', 'environment variable RECONCILE_EXAMPLE_UNSET is not set', '${env:RECONCILE_EXAMPLE_UNSET:-value}'],
    ['wrong-kind-reference.yaml', '17:13', 'subnet: "main" is a vpc, not a subnet', 'subnet resources in this spec: public'],
    ['yaml-syntax-error.yaml', '12:19', 'YAML syntax: Flow sequence in block collection must be sufficiently indented and end with a ]', 'close the [ ... ] list with "]"'],
  ];

  it('covers every file in examples/invalid', () => {
    const files = readdirSync(join(ROOT, 'examples/invalid')).filter((f) => f.endsWith('.yaml'));
    expect(files.sort()).toEqual(table.map((t) => t[0]).sort());
    for (const f of files) expect(readFileSync(join(ROOT, 'examples/invalid', f), 'utf8')).toMatch(/^# INVALID: /);
  });

  it.each(table)('%s -> %s %s', (file, pos, message, hint) => {
    const path = ex(`invalid/${file}`);
    const r = loadSpec(path, { env: {} });
    expect(r.ok).toBe(false);
    const errs = errors(r);
    expect(errs.map((d) => `${d.line}:${d.col} ${d.message}`)).toHaveLength(1);
    expect(at(errs[0])).toBe(pos);
    expect(errs[0].message).toContain(message);
    expect(errs[0].file).toBe(path);
    if (hint) expect(errs[0].hint).toContain(hint);
  });
});

describe('the five examples', () => {
  it.each(EXAMPLES)('%s validates with no errors', (name) => {
    const file = ex(`${name}.yaml`);
    const text = readFileSync(file, 'utf8');
    expect(text.split('\n')[0]).toBe('# yaml-language-server: $schema=../schemas/reconcile-v1.json');
    const l = loaded(loadSpec(file, { env: {} }));
    expect(l.spec.region).toBe('us-east-1');
    expect(l.spec.stack).toBe(name);
    expect(l.warnings.every((w) => w.severity === 'warning')).toBe(true);
  });

  it('warns only where the scenario demands it', () => {
    const w = (name: string) => loaded(loadSpec(ex(`${name}.yaml`), { env: {} })).warnings.map((d) => d.message);
    expect(w('flask-cpu-alert')).toEqual(['security-group "web_sg" opens SSH (port 22) to the whole internet (0.0.0.0/0)']);
    expect(w('webserver-s3-image')).toEqual([
      'bucket "images" does not block public access',
      'object "image.jpg" of bucket "images" is readable by anyone on the internet',
    ]);
    for (const n of ['microblog-vpc', 'clock-app-ha', 'pipeline-single-node']) expect(w(n)).toEqual([]);
  });

  it('flask-cpu-alert: Ubuntu lookup, the Name tag, the alert rule', () => {
    const l = loaded(loadSpec(ex('flask-cpu-alert.yaml'), { env: { ALERT_EMAIL: 'me@example.org' } }));
    const byName = Object.fromEntries(l.resources.map((r) => [r.name, r]));
    expect(byName['app-server'].body).toMatchObject({
      kind: 'instance',
      ami: { owner: '099720109477', name: 'ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*' },
      tags: { Name: 'FlaskAppServer' },
      securityGroups: ['web_sg'],
    });
    expect(byName['app-server'].body).toHaveProperty('userData', expect.stringContaining('-p 80:5000'));
    expect(byName.web_sg.body).toMatchObject({ ingress: [{ port: 22, cidr: '0.0.0.0/0' }, { port: 80, cidr: '0.0.0.0/0' }] });
    expect(byName.alerts.body).toMatchObject({ subscriptions: [{ protocol: 'email', endpoint: 'me@example.org' }] });
    expect(byName['high-cpu'].body).toMatchObject({ targets: { tags: { Name: 'FlaskAppServer' } }, threshold: 50, comparison: '>', period: '5m', every: '5m', notify: { topic: 'alerts' } });
    expect(byName['high-cpu'].deps).toEqual(['alerts']);
  });

  it('microblog-vpc: the four instances, peering and routes on both sides', () => {
    const l = loaded(loadSpec(ex('microblog-vpc.yaml'), { env: {} }));
    const body = (n: string) => l.resources.find((r) => r.name === n)!.body as unknown as Record<string, unknown>;
    expect(body('Jenkins')).toMatchObject({ instanceType: 't3.medium', securityGroups: ['Jenkins-sg'] });
    expect(body('Jenkins')).not.toHaveProperty('subnet');
    expect(body('Jenkins-sg')).toMatchObject({ vpc: 'default-vpc' });
    expect(body('Web_Server')).toMatchObject({ instanceType: 't3.micro', subnet: 'public' });
    expect(body('Application_Server')).toMatchObject({ subnet: 'private', publicIp: false });
    expect(body('default-vpc')).toMatchObject({ lookup: 'default' });
    expect(body('default-main-rt')).toMatchObject({ main: true, vpc: 'default-vpc', routes: [{ destination: '10.0.0.0/16', vpcPeering: 'default-to-microblog' }] });
    expect(body('public-rt')).toMatchObject({ routes: expect.arrayContaining([{ destination: '172.31.0.0/16', vpcPeering: 'default-to-microblog' }]) });
    expect(body('private-rt')).toMatchObject({ routes: expect.arrayContaining([{ destination: '0.0.0.0/0', natGateway: 'nat' }]) });
    expect(body('public')).toMatchObject({ mapPublicIpOnLaunch: true });
    expect(l.resources.filter((r) => r.kind === 'security-group').map((r) => (r.body as { groupName?: string }).groupName)).toEqual([
      'Jenkins',
      'Web_Server',
      'Application_Server',
      'Monitoring',
    ]);
  });

  it('clock-app-ha: deps of the group, in order of appearance and deduplicated', () => {
    const l = loaded(loadSpec(ex('clock-app-ha.yaml'), { env: {} }));
    const asg = l.resources.find((r) => r.name === 'app-asg')!;
    expect(asg.address).toBe('auto-scaling-group.app-asg');
    expect(asg.deps).toEqual(['app-lt', 'public-a', 'public-b', 'app-tg', 'asg-events']);
    expect(asg.body).toMatchObject({ minSize: 2, maxSize: 4, healthCheckType: 'ELB', targetCpu: 50 });
    const rt = l.resources.find((r) => r.name === 'public-rt')!;
    expect(rt.deps).toEqual(['vpc', 'igw', 'public-a', 'public-b']);
    expect(rt.refs.map((u) => u.path)).toEqual([['vpc'], ['routes', 0, 'internetGateway'], ['subnets', 0], ['subnets', 1]]);
    // Resources come in file order, each with the position of its name.
    expect(l.resources[0]).toMatchObject({ name: 'vpc', kind: 'vpc', pos: { line: 20, col: 3 } });
    expect(l.dir).toBe(join(ROOT, 'examples'));
  });

  it('webserver-s3-image: parameters make a second copy with its own names', () => {
    const copy = loaded(loadSpec(ex('webserver-s3-image.yaml'), { env: {}, params: { name: 'web-staging', instanceType: 't3.micro' } }));
    const body = (n: string) => copy.resources.find((r) => r.name === n)!.body as unknown as Record<string, unknown>;
    expect(copy.spec.stack).toBe('web-staging');
    expect(body('web')).toMatchObject({ instanceType: 't3.micro', tags: { Name: 'web-staging' } });
    expect(body('images')).toMatchObject({ bucketName: 'web-staging-example-bucket' });
    expect(body('web-key')).toMatchObject({ keyName: 'web-staging-key' });
  });

  it('webserver-s3-image: t2.nano, the public image from a local file, the idle alarm', () => {
    const l = loaded(loadSpec(ex('webserver-s3-image.yaml'), { env: {} }));
    const body = (n: string) => l.resources.find((r) => r.name === n)!.body as unknown as Record<string, unknown>;
    expect(body('web')).toMatchObject({ instanceType: 't2.nano', monitoring: true, keyPair: 'web-key' });
    expect(body('images')).toMatchObject({ objects: [{ key: 'image.jpg', file: 'files/image.jpg', public: true }] });
    expect(body('idle-terminate')).toMatchObject({ actions: [{ ec2: 'terminate' }], comparison: '<', threshold: 1, period: 300, evaluationPeriods: 12, instance: 'web' });
    expect(readFileSync(join(ROOT, 'examples/files/image.jpg')).subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]));
  });

  it('pipeline-single-node: pinned image tag and SSH range from the environment, with defaults', () => {
    const dflt = loaded(loadSpec(ex('pipeline-single-node.yaml'), { env: {} }));
    const app = (l: LoadedSpec) => l.resources.find((r) => r.name === 'app')!.body as { userData: string };
    const sg = (l: LoadedSpec) => l.resources.find((r) => r.name === 'app-sg')!.body as { ingress: { port: number; cidr: string }[] };
    expect(app(dflt).userData).toContain('ghcr.io/example/pipeline-app:1.4.2');
    expect(sg(dflt).ingress.map((r) => [r.port, r.cidr])).toEqual([
      [22, '203.0.113.0/24'],
      [8080, '0.0.0.0/0'],
      [9100, '172.31.0.0/16'],
    ]);
    const pinned = loaded(loadSpec(ex('pipeline-single-node.yaml'), { env: { APP_IMAGE_TAG: '1.4.3', ADMIN_CIDR: '198.51.100.7/32' } }));
    expect(app(pinned).userData).toContain('ghcr.io/example/pipeline-app:1.4.3');
    expect(sg(pinned).ingress[0].cidr).toBe('198.51.100.7/32');
    expect(pinned.hash).not.toBe(dflt.hash);
  });

  it('hash: sha256 of the interpolated spec, stable, independent of key order', () => {
    const a = loaded(load(`${VPC}  s:\n    kind: subnet\n    vpc: main\n    cidr: 10.0.1.0/24\n`));
    const b = loaded(load(`  s:\n    cidr: 10.0.1.0/24\n    vpc: main\n    kind: subnet\n${VPC}`));
    const c = loaded(load(`${VPC}  s:\n    kind: subnet\n    vpc: main\n    cidr: 10.0.2.0/24\n`));
    expect(a.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(b.hash).toBe(a.hash);
    expect(c.hash).not.toBe(a.hash);
    expect(canonicalJson({ b: 1, a: [{ d: 2, c: undefined }] })).toBe('{"a":[{"d":2}],"b":1}');
  });
});

describe('${env:...} interpolation', () => {
  const sg = (cidr: string) => `  g:\n    kind: security-group\n    vpc: vpc-0123456789abcdef0\n    ingress:\n      - port: 443\n        cidr: ${cidr}\n`;
  const cidrOf = (r: LoadResult) => (loaded(r).resources[0].body as { ingress: { cidr: string }[] }).ingress[0].cidr;

  it('substitutes a set variable, or the default when unset or empty', () => {
    expect(cidrOf(load(sg('${env:NET}'), { NET: '10.1.0.0/16' }))).toBe('10.1.0.0/16');
    expect(cidrOf(load(sg('${env:NET:-10.2.0.0/16}'), {}))).toBe('10.2.0.0/16');
    expect(cidrOf(load(sg('${env:NET:-10.2.0.0/16}'), { NET: '' }))).toBe('10.2.0.0/16');
    expect(cidrOf(load(sg('${env:NET:-10.2.0.0/16}'), { NET: '10.3.0.0/16' }))).toBe('10.3.0.0/16');
    expect(cidrOf(load(sg('"${env:A}.${env:B}.0.0/16"'), { A: '10', B: '9' }))).toBe('10.9.0.0/16');
  });

  it('reports an unset variable without default at the reference itself, once', () => {
    const r = load(sg('"10.${env:SECOND}.0.0/16"'), {});
    expect(errors(r).map((d) => `${at(d)} ${d.message}`)).toEqual(['10:19 environment variable SECOND is not set']);
    expect(errors(r)[0].hint).toBe('set SECOND, or give a default: ${env:SECOND:-value}');
  });

  it('points inside a block scalar at the line of the reference', () => {
    const r = load(`  i:\n    kind: instance\n    ami: ami-0123456789abcdef0\n    instanceType: t3.micro\n    userData: |\n      #!/bin/bash\n      echo \${HOME}\n      echo \${env:TOKEN}\n`);
    expect(errors(r).map((d) => `${at(d)} ${d.message}`)).toEqual(['12:12 environment variable TOKEN is not set']);
  });

  it('leaves $${env:X} as a literal and shell ${VAR} alone', () => {
    const r = load(`  i:\n    kind: instance\n    ami: ami-0123456789abcdef0\n    instanceType: t3.micro\n    userData: "echo $\${env:X} \${HOME}"\n`);
    expect((loaded(r).resources[0].body as { userData: string }).userData).toBe('echo ${env:X} ${HOME}');
  });

  it('${param:NAME}: the given value over the default; a plain scalar is retyped; $${param:X} is literal', () => {
    const spec = (extra: string) => `apiVersion: reconcile/v1\nparameters:\n  env: { default: dev }\n  port: { default: 80 }\nstack: web-\${param:env}\nregion: us-east-1\nresources:\n  tg:\n    kind: target-group\n    vpc: vpc-0123456789abcdef0\n    port: \${param:port}\n${extra}`;
    const l = (params: Record<string, string>, extra = '') => loaded(loadSpecText(spec(extra), join(ROOT, 'examples', 'mem.yaml'), { env: {}, params }));
    expect(l({}).spec.stack).toBe('web-dev');
    expect(l({ env: 'prod', port: '8080' }).spec.stack).toBe('web-prod');
    expect((l({ port: '8080' }).resources[0].body as { port: number }).port).toBe(8080);
    expect((l({}, '    tags: { Note: "$${param:env}" }\n').resources[0].body as { tags: Record<string, string> }).tags.Note).toBe('${param:env}');
    const r = loadSpecText(spec(''), join(ROOT, 'examples', 'mem.yaml'), { env: {}, params: { enx: 'x' } });
    expect(errors(r).map((d) => `${at(d)} ${d.message} (${d.hint})`)).toEqual(['2:1 parameter "enx" is given a value (--set / --values) but the spec declares no such parameter (did you mean env?)']);
  });

  it('rejects malformed references', () => {
    expect(errors(load(sg('"${env:1BAD}"'))).map((d) => d.message)).toEqual(['"${env:1BAD}" is not a valid environment variable reference']);
    expect(errors(load(sg('"${env:OPEN"'))).map((d) => d.message)).toEqual(['unterminated "${env:": expected "}"']);
  });

  it('gives an unquoted value its YAML type after substitution; a quoted one stays a string', () => {
    const tg = (port: string) => `  tg:\n    kind: target-group\n    vpc: vpc-0123456789abcdef0\n    port: ${port}\n`;
    expect((loaded(load(tg('${env:PORT:-8080}'))).resources[0].body as { port: number }).port).toBe(8080);
    const quoted = errors(load(tg('"${env:PORT:-8080}"')));
    expect(quoted.map((d) => `${at(d)} ${d.message}`)).toEqual(['8:11 port: expected a number, got "8080"']);
  });

  it('does not touch keys', () => {
    const r = load(`${VPC}    tags:\n      \${env:K}: v\n`);
    expect(loaded(r).resources[0].body).toMatchObject({ tags: { '${env:K}': 'v' } });
  });
});

describe('schema errors', () => {
  it('reports every error, sorted by position', () => {
    const r = load(`  a:\n    kind: subnet\n    vpc: x\n    cidr: 1.2.3\n  b:\n    kind: vpc\n    cidr: 10.0.0.0/16\n    enableDns: true\n  c:\n    kind: instance\n    ami: { name: x, ownr: y }\n    instanceType: t3.micro\n`);
    expect(errors(r).map((d) => `${at(d)} ${d.message}`)).toEqual([
      '8:11 cidr: expected an IPv4 CIDR block such as 10.0.0.0/16 (got "1.2.3")',
      '12:5 unknown field "enableDns" in vpc "b"',
      '15:21 unknown field "ownr" in ami of instance "c"',
    ]);
    // The union branch meant (the lookup object) is the one reported, and the typo hides the missing field.
    expect(errors(r)[2].hint).toBe('did you mean "owner"?');
    expect(errors(r)[1].hint).toMatch(/^allowed fields: kind, cidr, lookup, enableDnsSupport, enableDnsHostnames/);
  });

  it('a misspelt top-level key is one error, with a suggestion', () => {
    const r = loadSpecText('apiVersion: reconcile/v1\nstack: t\nregion: us-east-1\nresource: {}\n', 'mem.yaml', { env: {} });
    expect(errors(r).map((d) => `${at(d)} ${d.message} | ${d.hint}`)).toEqual(['4:1 unknown field "resource" at the top level | did you mean "resources"?']);
  });

  it('missing kind, wrong apiVersion, missing top-level fields', () => {
    const r = loadSpecText('apiVersion: reconcile/v2\nresources:\n  a:\n    cidr: 10.0.0.0/16\n', 'mem.yaml', { env: {} });
    expect(errors(r).map((d) => `${at(d)} ${d.message} | ${d.hint}`)).toEqual([
      '1:1 missing required field "region" at the top level | add region: <text>',
      '1:1 missing required field "stack" at the top level | add stack: <text>',
      '1:13 apiVersion must be "reconcile/v1", not "reconcile/v2" | write apiVersion: reconcile/v1',
      '3:3 resource "a" has no kind | add kind: <one of vpc, subnet, internet-gateway, elastic-ip, nat-gateway, route-table, vpc-peering, security-group, iam-role, instance-profile, key-pair, instance, launch-template, auto-scaling-group, load-balancer, target-group, listener, s3-bucket, sns-topic, cloudwatch-alarm, cloudwatch-dashboard, alert-rule>',
    ]);
  });

  it('wrong types, empty values, too small, bad resource names', () => {
    const r = load(`  lb:\n    kind: load-balancer\n    subnets: [subnet-0123456789abcdef0]\n  tg:\n    kind: target-group\n    vpc:\n    port: "80"\n  9x:\n    kind: elastic-ip\n`);
    expect(errors(r).map((d) => `${at(d)} ${d.message}`)).toEqual([
      '7:14 subnets needs at least 2 items (has 1)',
      '10:5 vpc has no value: expected a string',
      '11:11 port: expected a number, got "80"',
      '12:3 resource name "9x": a name starts with a letter and has only letters, digits, "-" and "_" (at most 63)',
    ]);
  });

  it('watch.interval is at least 1s, as --interval (0s ran cycles back to back, each calling AWS)', () => {
    const withWatch = (interval: string) => loadSpecText(`apiVersion: reconcile/v1\nstack: t\nregion: us-east-1\nwatch: { interval: ${interval} }\nresources:\n${VPC}`, join(ROOT, 'examples', 'mem.yaml'), { env: {} });
    for (const short of ['0s', '500ms']) expect(errors(withWatch(short)).map((d) => `${at(d)} ${d.message}`)).toEqual(['4:20 watch.interval: at least 1s (as --interval)']);
    expect(loaded(withWatch('1s')).spec.watch).toEqual({ interval: '1s' });
  });

  it('a union given the wrong type names what it accepts', () => {
    const r = load(`  i:\n    kind: instance\n    ami: 5\n    instanceType: t3.micro\n`);
    expect(errors(r).map((d) => `${at(d)} ${d.message}`)).toEqual(['7:10 ami: expected a string or a mapping (key: value), got number 5']);
    expect(errors(r)[0].hint).toContain('{ name, owner }');
  });

  it('a comma in a flow mapping gets a hint about quoting', () => {
    const r = load(`  g:\n    kind: security-group\n    vpc: vpc-0123456789abcdef0\n    ingress:\n      - { port: 80, cidr: 0.0.0.0/0, description: web, public }\n`);
    expect(errors(r).map((d) => `${at(d)} ${d.message} | ${d.hint}`)).toEqual([
      '9:56 unknown field "public" in ingress[0] of security-group "g" | a "," inside { ... } starts a new field: quote a value that holds a comma ("a, b")',
    ]);
  });

  it('not a mapping, empty file, multiple documents', () => {
    expect(errors(loadSpecText('- a\n- b\n', 'mem.yaml')).map((d) => `${at(d)} ${d.message}`)).toEqual(['1:1 a spec is a mapping (key: value), not a single value or a list']);
    expect(errors(loadSpecText('', 'mem.yaml')).map((d) => `${at(d)} ${d.message}`)).toEqual(['1:1 the spec is empty']);
    const multi = errors(loadSpecText(`${HEAD}${VPC}---\na: 1\n`, 'mem.yaml'));
    expect(multi).toHaveLength(1);
    expect(multi[0].message).toMatch(/^YAML syntax: /);
    expect(multi[0].line).toBe(8);
  });
});

describe('references and cycles', () => {
  it('unknown name: did you mean, preferring the expected kind', () => {
    const r = load(`${VPC}  mainn:\n    kind: elastic-ip\n  s:\n    kind: subnet\n    vpc: man\n    cidr: 10.0.1.0/24\n`);
    expect(errors(r).map((d) => `${at(d)} ${d.message} | ${d.hint}`)).toEqual(['12:10 vpc refers to vpc "man", which is not in this spec | did you mean "main"?']);
  });

  it('unknown name with nothing close lists the candidates or says what to add', () => {
    const r = load(`${VPC}  s:\n    kind: subnet\n    vpc: zzz\n    cidr: 10.0.1.0/24\n  i:\n    kind: instance\n    ami: ami-0123456789abcdef0\n    instanceType: t3.micro\n    keyPair: k\n`);
    expect(errors(r).map((d) => d.hint)).toEqual(['vpc resources in this spec: main', 'add a key-pair named "k" under resources, or write the id of an existing one']);
  });

  it('external ids and ARNs are not resolved', () => {
    const r = load(
      `  s:\n    kind: subnet\n    vpc: vpc-0123456789abcdef0\n    cidr: 10.0.1.0/24\n  r:\n    kind: alert-rule\n    targets: { instances: [i-0123456789abcdef0] }\n    threshold: 1\n    notify: { topic: 'arn:aws:sns:us-east-1:123456789012:t' }\n`,
    );
    const l = loaded(r);
    expect(l.resources.map((x) => [x.name, x.deps, x.refs.length])).toEqual([
      ['s', [], 0],
      ['r', [], 0],
    ]);
  });

  it('wrong kind names both kinds', () => {
    const r = load(`${VPC}  i:\n    kind: instance\n    ami: ami-0123456789abcdef0\n    instanceType: t3.micro\n    securityGroups: [main]\n`);
    expect(errors(r).map((d) => `${at(d)} ${d.message}`)).toEqual(['12:22 securityGroups[0]: "main" is a vpc, not a security-group']);
  });

  it('dependsOn names must exist; deps are deduplicated', () => {
    const r = load(`${VPC}  s:\n    kind: subnet\n    vpc: main\n    cidr: 10.0.1.0/24\n    dependsOn: [main, ghost]\n`);
    expect(errors(r).map((d) => `${at(d)} ${d.message}`)).toEqual(['12:23 dependsOn names "ghost", which is not in this spec']);
    const ok = loaded(load(`${VPC}  s:\n    kind: subnet\n    vpc: main\n    cidr: 10.0.1.0/24\n    dependsOn: [main]\n`));
    expect(ok.resources[1].deps).toEqual(['main']);
  });

  it('ignoreChanges: a misspelt field warns (it would ignore nothing); fields, tags.KEY and plan paths that are no spec field do not', () => {
    const r = load(`  main:\n    kind: vpc\n    cidr: 10.0.0.0/16\n    ignoreChanges: [cidrr, tag.Env, enableDnsHostnames, tags.Env, templateVersion]\n`);
    expect(r.ok).toBe(true);
    expect(warnings(r).map((d) => `${d.message} / ${d.hint}`)).toEqual([
      'ignoreChanges names "cidrr", which is not a field of vpc: it ignores nothing / did you mean "cidr"?',
      'ignoreChanges names "tag.Env", which is not a field of vpc: it ignores nothing / did you mean "tags.Env"?',
    ]);
  });

  it('a resource that depends on itself', () => {
    const r = load(`  e:\n    kind: elastic-ip\n    dependsOn: [e]\n`);
    expect(errors(r).map((d) => `${at(d)} ${d.message} | ${d.hint}`)).toEqual(['7:17 reference cycle: e -> e | "e" cannot depend on itself: remove this reference']);
  });

  it('every independent cycle is reported at the line that refers', () => {
    const r = load(
      `  a:\n    kind: elastic-ip\n    dependsOn: [b]\n  b:\n    kind: elastic-ip\n    dependsOn: [c]\n  c:\n    kind: elastic-ip\n    dependsOn: [a]\n  x:\n    kind: elastic-ip\n    dependsOn: [y]\n  y:\n    kind: elastic-ip\n    dependsOn: [x]\n`,
    );
    expect(errors(r).map((d) => `${at(d)} ${d.message}`)).toEqual(['7:17 reference cycle: a -> b -> c -> a', '16:17 reference cycle: x -> y -> x']);
  });

  const sg = (name: string, ingress: string, extra = '') => `  ${name}:\n    kind: security-group\n    vpc: main\n    ingress:\n${ingress}${extra}`;
  it('security groups that allow each other, or themselves: rule references are late, no cycle', () => {
    const l = loaded(
      load(`${VPC}${sg('app', '      - { port: 80, cidr: 10.0.0.0/8 }\n      - { port: 8080, securityGroup: db }\n')}${sg('db', '      - { port: 5432, securityGroup: app }\n      - { port: 5432, securityGroup: db }\n')}`),
    );
    expect(l.resources.map((r) => [r.name, r.deps, r.late])).toEqual([
      ['main', [], []],
      ['app', ['main'], ['db']],
      ['db', ['main'], ['app']],
    ]);
  });

  it('a real cycle through a late reference is still one, positioned at the first reference', () => {
    // app dependsOn ip, ip dependsOn db, db's rule names app: db's rules wait for app, app for db's rules.
    const vm = '  ip:\n    kind: elastic-ip\n    dependsOn: [db]\n';
    const r = load(`${VPC}${sg('app', '      - { port: 80, cidr: 10.0.0.0/8 }\n', '    dependsOn: [ip]\n')}${vm}${sg('db', '      - { port: 5432, securityGroup: app }\n')}`);
    expect(errors(r).map((d) => `${at(d)} ${d.message}`)).toEqual(['13:17 reference cycle: app -> ip -> db -> app']);
  });

  it('references of valid resources are checked even when another resource is broken', () => {
    const r = load(`${VPC}  s:\n    kind: subnet\n    vpc: nope\n    cidr: 10.0.1.0/24\n  t:\n    kind: subnet\n    vpc: main\n    cidr: bad\n`);
    expect(errors(r).map((d) => `${at(d)} ${d.message}`)).toEqual([
      '10:10 vpc refers to vpc "nope", which is not in this spec',
      '15:11 cidr: expected an IPv4 CIDR block such as 10.0.0.0/16 (got "bad")',
    ]);
  });
});

describe('offline consistency checks', () => {
  const sub = (n: string, cidr: string, extra = '') => `  ${n}:\n    kind: subnet\n    vpc: main\n    cidr: ${cidr}\n${extra}`;

  it('subnets inside their VPC, disjoint, in the stack region', () => {
    const r = load(`${VPC}${sub('a', '10.1.0.0/24')}${sub('b', '10.0.0.0/24')}${sub('c', '10.0.0.128/25')}${sub('d', '10.0.5.0/24', '    availabilityZone: eu-west-1a\n')}`);
    expect(errors(r).map((d) => `${at(d)} ${d.message}`)).toEqual([
      '11:11 subnet cidr 10.1.0.0/24 is not inside the cidr 10.0.0.0/16 of vpc "main"',
      '19:11 subnet cidr 10.0.0.128/25 overlaps 10.0.0.0/24 of subnet "b" in the same vpc',
      '24:23 availability zone eu-west-1a is not in the stack\'s region us-east-1',
    ]);
  });

  it('duplicate security group rules and backwards port ranges', () => {
    const r = load(
      `  g:\n    kind: security-group\n    vpc: vpc-0123456789abcdef0\n    ingress:\n      - { port: 80, cidr: 10.0.0.0/8 }\n      - { port: 443, cidr: [10.0.0.0/8] }\n      - { protocol: tcp, port: 80, cidr: [192.168.0.0/16, 10.0.0.0/8] }\n      - { port: "90-80", cidr: 10.0.0.0/8 }\n`,
    );
    expect(errors(r).map((d) => `${at(d)} ${d.message}`)).toEqual([
      '11:9 ingress[2] repeats ingress[0] (tcp 80 from 10.0.0.0/8)',
      '12:17 port range "90-80" runs backwards: write "80-90"',
    ]);
  });

  it('load balancer in one AZ, ec2 alarm action without an instance, public object in a blocked bucket, duplicate bucket names', () => {
    const r = load(
      `${VPC}${sub('a', '10.0.1.0/24', '    availabilityZone: us-east-1a\n')}${sub('b', '10.0.2.0/24', '    availabilityZone: us-east-1a\n')}` +
        `  lb:\n    kind: load-balancer\n    subnets: [a, b]\n` +
        `  al:\n    kind: cloudwatch-alarm\n    comparison: '<'\n    threshold: 1\n    actions: [{ ec2: stop }]\n` +
        `  b1:\n    kind: s3-bucket\n    bucketName: same-name-example\n    objects: [{ key: k, content: x, public: true }]\n` +
        `  b2:\n    kind: s3-bucket\n    bucketName: same-name-example\n`,
    );
    expect(errors(r).map((d) => `${at(d)} ${d.message}`)).toEqual([
      '20:14 a load balancer needs subnets in at least two availability zones; these are all in us-east-1a',
      '25:22 an ec2 action needs the alarm to watch one instance',
      '29:45 object "k" is public but bucket "b1" blocks public access',
      '32:17 bucketName "same-name-example" is also used by s3-bucket "b1"',
    ]);
  });

  it('an instance without subnet cannot use a group of a custom VPC; routes must stay in their VPC', () => {
    const r = load(
      `${VPC}  other:\n    kind: vpc\n    cidr: 10.9.0.0/16\n  g:\n    kind: security-group\n    vpc: main\n  i:\n    kind: instance\n    ami: ami-0123456789abcdef0\n    instanceType: t3.micro\n    securityGroups: [g]\n` +
        `  igw:\n    kind: internet-gateway\n    vpc: other\n  rt:\n    kind: route-table\n    vpc: main\n    routes: [{ destination: 0.0.0.0/0, internetGateway: igw }]\n`,
    );
    expect(errors(r).map((d) => `${at(d)} ${d.message}`)).toEqual([
      '18:22 security-group "g" is in vpc "main", but an instance without subnet launches in the default VPC',
      '25:57 internet-gateway "igw" is in vpc "other", not in vpc "main" of this route table',
    ]);
  });

  it('an instance, a load balancer and an Auto Scaling group keep their subnets, groups and target groups in the VPC of their first subnet', () => {
    const r = load(
      `${VPC}  other:\n    kind: vpc\n    cidr: 10.9.0.0/16\n` +
        `  a:\n    kind: subnet\n    vpc: main\n    cidr: 10.0.1.0/24\n    availabilityZone: us-east-1a\n` +
        `  b:\n    kind: subnet\n    vpc: other\n    cidr: 10.9.1.0/24\n    availabilityZone: us-east-1b\n` +
        `  g:\n    kind: security-group\n    vpc: other\n` +
        `  tg:\n    kind: target-group\n    vpc: other\n    port: 80\n` +
        `  i:\n    kind: instance\n    ami: ami-0123456789abcdef0\n    instanceType: t3.micro\n    subnet: a\n    securityGroups: [g]\n` +
        `  lb:\n    kind: load-balancer\n    subnets: [a, b]\n    securityGroups: [g]\n` +
        `  lt:\n    kind: launch-template\n    ami: ami-0123456789abcdef0\n    instanceType: t3.micro\n` +
        `  asg:\n    kind: auto-scaling-group\n    launchTemplate: lt\n    minSize: 1\n    maxSize: 1\n    subnets: [a, b]\n    targetGroups: [tg]\n`,
    );
    expect(errors(r).map((d) => d.message)).toEqual([
      'security-group "g" is in vpc "other", not in vpc "main" of subnet "a"',
      'subnet "b" is in vpc "other", not in vpc "main" of subnet "a"',
      'security-group "g" is in vpc "other", not in vpc "main" of subnet "a"',
      'subnet "b" is in vpc "other", not in vpc "main" of subnet "a"',
      'target-group "tg" is in vpc "other", not in vpc "main" of subnet "a"',
    ]);
  });
});

describe('warnings', () => {
  const sg = (rules: string) => `  g:\n    kind: security-group\n    vpc: vpc-0123456789abcdef0\n    ingress:\n${rules}`;

  it('SSH or RDP open to the world, directly, by range or by protocol all', () => {
    const r = load(
      sg(
        '      - { port: 22, cidr: 0.0.0.0/0 }\n      - { port: "3000-4000", cidr: [10.0.0.0/8, 0.0.0.0/0] }\n      - { protocol: all, cidr: 0.0.0.0/0 }\n      - { port: 22, cidr: 10.0.0.0/8 }\n      - { protocol: udp, port: 22, cidr: 0.0.0.0/0 }\n',
      ),
    );
    const l = loaded(r);
    expect(l.warnings.map((d) => `${at(d)} ${d.message}`)).toEqual([
      '9:27 security-group "g" opens SSH (port 22) to the whole internet (0.0.0.0/0)',
      '10:49 security-group "g" opens RDP (port 3389) to the whole internet (0.0.0.0/0)',
      '11:32 security-group "g" opens RDP (port 3389) to the whole internet (0.0.0.0/0)',
      '11:32 security-group "g" opens SSH (port 22) to the whole internet (0.0.0.0/0)',
    ]);
  });

  it('egress to the world is not warned about', () => {
    const r = load(`  g:\n    kind: security-group\n    vpc: vpc-0123456789abcdef0\n    egress:\n      - { port: 22, cidr: 0.0.0.0/0 }\n`);
    expect(loaded(r).warnings).toEqual([]);
  });

  it('public buckets: no public access block, a policy for Principal *, a public object', () => {
    const r = load(
      `  b:\n    kind: s3-bucket\n    bucketName: public-example-bucket\n    publicAccessBlock: false\n    policy:\n      Version: "2012-10-17"\n      Statement:\n        - Effect: Allow\n          Principal: "*"\n          Action: s3:GetObject\n          Resource: arn:aws:s3:::public-example-bucket/*\n    objects:\n      - { key: a.txt, content: hi, public: true }\n`,
    );
    expect(warnings(r).map((d) => `${at(d)} ${d.message}`)).toEqual([
      '8:24 bucket "b" does not block public access',
      '13:22 the policy of bucket "b" grants access to everyone (Principal "*")',
      '17:44 object "a.txt" of bucket "b" is readable by anyone on the internet',
    ]);
    expect(r.ok).toBe(true);
  });

  it('warnings ride along with errors when the spec is invalid', () => {
    const r = load(`${sg('      - { port: 22, cidr: 0.0.0.0/0 }\n')}  x:\n    kind: vpc\n`);
    expect(r.ok).toBe(false);
    expect(diags(r).map((d) => `${at(d)} ${d.severity}`)).toEqual(['9:27 warning', '10:3 error']);
  });
});

describe('runValidate', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'reconcile-validate-'));
  const write = (name: string, text: string) => {
    const f = join(tmp, name);
    writeFileSync(f, text);
    return f;
  };

  it('text: one line per diagnostic, a hint line, a summary per file; warnings alone exit 0', () => {
    const r = runValidate([ex('flask-cpu-alert.yaml'), ex('clock-app-ha.yaml')], { env: {} });
    expect(r.exitCode).toBe(0);
    expect(r.output.split('\n')).toEqual([
      `${ex('flask-cpu-alert.yaml')}:35:42  warning  security-group "web_sg" opens SSH (port 22) to the whole internet (0.0.0.0/0)`,
      '    hint: restrict cidr to the addresses you connect from, e.g. 203.0.113.0/24',
      `${ex('flask-cpu-alert.yaml')}: valid (6 resources), 1 warning`,
      `${ex('clock-app-ha.yaml')}: valid (18 resources)`,
    ]);
  });

  it('text: errors exit 1 and are counted', () => {
    const bad = write('bad.yaml', `${HEAD}  s:\n    kind: subnet\n    vpc: nowhere\n    cidr: 10.0.0.0/8\n  t:\n    kind: subnet\n    vpc: vpc-0123456789abcdef0\n    cidr: 10.1.0.0/16\n    zone: a\n`);
    const r = runValidate([bad], { env: {} });
    expect(r.exitCode).toBe(1);
    expect(r.output.split('\n')).toEqual([
      `${bad}:7:10  error  vpc refers to vpc "nowhere", which is not in this spec`,
      '    hint: add a vpc named "nowhere" under resources, or write the id of an existing one',
      `${bad}:13:5  error  unknown field "zone" in subnet "t"`,
      '    hint: allowed fields: kind, vpc, cidr, availabilityZone, mapPublicIpOnLaunch, tags, protect, ignoreChanges, adopt, dependsOn',
      `${bad}: 2 errors, 0 warnings`,
    ]);
  });

  it('a missing file is an error at 1:1, not a throw', () => {
    const missing = join(tmp, 'nope.yaml');
    const r = runValidate([missing, ex('microblog-vpc.yaml')], { env: {} });
    expect(r.exitCode).toBe(1);
    expect(r.output.split('\n')).toEqual([
      `${missing}:1:1  error  cannot read ${missing}: no such file`,
      `${missing}: 1 error, 0 warnings`,
      `${ex('microblog-vpc.yaml')}: valid (19 resources)`,
    ]);
    expect(runValidate([tmp], {}).output).toContain(`${tmp}:1:1  error  cannot read ${tmp}: it is a directory`);
  });

  it('json: formatVersion 1, one entry per file, same diagnostics', () => {
    const r = runValidate([ex('webserver-s3-image.yaml'), ex('invalid/bad-enum.yaml')], { json: true, env: {} });
    expect(r.exitCode).toBe(1);
    const j = JSON.parse(r.output);
    expect(j.formatVersion).toBe(1);
    expect(j.files).toHaveLength(2);
    expect(j.files[0]).toMatchObject({ file: ex('webserver-s3-image.yaml'), valid: true, resources: 7 });
    expect(j.files[0].diagnostics.map((d: Diagnostic) => [d.line, d.col, d.severity])).toEqual([
      [77, 24, 'warning'],
      [85, 17, 'warning'],
    ]);
    expect(j.files[1]).toMatchObject({ file: ex('invalid/bad-enum.yaml'), valid: false, resources: 0 });
    expect(j.files[1].diagnostics).toEqual([
      {
        file: ex('invalid/bad-enum.yaml'),
        line: 13,
        col: 19,
        severity: 'error',
        message: 'ingress[0].protocol: "tcpp" is not one of the allowed values',
        hint: 'did you mean "tcp"? allowed values: tcp, udp, icmp, all',
        path: ['resources', 'web', 'ingress', 0, 'protocol'],
      },
    ]);
    expect(runValidate([ex('clock-app-ha.yaml')], { format: 'json', env: {} })).toMatchObject({ exitCode: 0 });
    expect(JSON.parse(runValidate([ex('clock-app-ha.yaml')], { format: 'json', env: {} }).output).files[0].valid).toBe(true);
  });

  it('all examples pass together (the README command)', () => {
    const r = runValidate(EXAMPLES.map((n) => ex(`${n}.yaml`)), { env: {} });
    expect(r.exitCode).toBe(0);
    expect(r.output).not.toContain('  error  ');
  });

  it("the README's example spec (The spec, by example) is valid as printed", () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## The spec, by example'));
    const block = /```yaml\n([\s\S]*?)```/.exec(section)![1];
    expect(block).toContain('apiVersion: reconcile/v1');
    const dir = mkdtempSync(join(tmpdir(), 'reconcile-readme-'));
    writeFileSync(join(dir, 'spec.yaml'), block);
    const r = runValidate([join(dir, 'spec.yaml')], { format: 'json', env: {} });
    expect(r.exitCode, r.output).toBe(0);
    expect(JSON.parse(r.output).files[0]).toMatchObject({ valid: true, resources: 5, diagnostics: [] });
  });

  it('no files is a usage error', () => {
    expect(runValidate([], {}).exitCode).toBe(1);
  });
});

describe('validate stays fast: no AWS SDK behind the loader', () => {
  it('the import graph of load.ts and validate.ts reaches no @aws-sdk, src/aws or src/engine module', () => {
    const seen = new Set<string>();
    const bad: string[] = [];
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      const src = readFileSync(file, 'utf8');
      for (const m of src.matchAll(/(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)) {
        const spec = m[1] ?? m[2];
        if (spec.startsWith('.')) {
          const target = resolve(dirname(file), spec.replace(/\.js$/, '.ts').replace(/\.cjs$/, '.cts'));
          const rel = relative(ROOT, target);
          if (rel.startsWith('src/aws/') || rel.startsWith('src/engine/')) bad.push(`${relative(ROOT, file)} -> ${rel}`);
          visit(target);
        } else if (spec.startsWith('@aws-sdk') || spec.startsWith('@smithy')) bad.push(`${relative(ROOT, file)} -> ${spec}`);
      }
    };
    visit(join(ROOT, 'src/spec/load.ts'));
    visit(join(ROOT, 'src/commands/validate.ts'));
    visit(join(ROOT, 'src/spec/gen-schema.ts'));
    expect(bad).toEqual([]);
    expect(seen.size).toBeGreaterThan(8);
  });
});
