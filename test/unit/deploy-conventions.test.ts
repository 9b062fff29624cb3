// The deploy/ artefacts follow their ecosystems' conventions (issue 13.7), checked with those
// ecosystems' tools where this machine has them: the Kubernetes manifests against Kubernetes' own
// OpenAPI schemas (kubernetes-models), the systemd unit's exposure score by `systemd-analyze security`,
// and the image's healthcheck run for real against a watch listening on a --port of its own.
import { afterAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { parseDockerfile } from '../helpers/dockerfile.js';

const read = (f: string) => readFileSync(f, 'utf8');
const VERSION = (JSON.parse(read('package.json')) as { version: string }).version;
type Manifest = { apiVersion: string; kind: string; metadata: { name: string; labels?: Record<string, string> }; [k: string]: unknown };
const manifests = (f: string) => parseAllDocuments(read(f)).map((d) => d.toJS() as Manifest);

describe('deploy/k8s', () => {
  const files = readdirSync('deploy/k8s').filter((f) => f.endsWith('.yaml'));

  it.each(files)('%s: every object is valid against the Kubernetes API schema', async (file) => {
    for (const m of manifests(join('deploy/k8s', file))) {
      const [group, version] = m.apiVersion.includes('/') ? m.apiVersion.split('/') : ['', m.apiVersion];
      const mod = (await import(`kubernetes-models/${group ? `${group}/` : ''}${version}/${m.kind}`)) as Record<string, new (o: unknown) => { validate(): void }>;
      expect(() => new mod[m.kind](m).validate(), `${file}: ${m.kind} ${m.metadata.name}`).not.toThrow();
    }
  });

  it('the schema check catches a wrong type', async () => {
    const { Deployment } = await import('kubernetes-models/apps/v1/Deployment');
    const d = manifests('deploy/k8s/deployment.yaml').find((m) => m.kind === 'Deployment')!;
    expect(() => new Deployment({ ...d, spec: { ...(d.spec as object), replicas: 'one' } } as never).validate()).toThrow(/replicas/);
  });

  const docs = manifests('deploy/k8s/deployment.yaml');
  it('deployment.yaml: the recommended app.kubernetes.io labels, version included, on every object and on the pods', () => {
    const pod = (docs.find((m) => m.kind === 'Deployment')!.spec as { template: { metadata: { labels: Record<string, string> } } }).template.metadata.labels;
    for (const labels of [...docs.map((m) => m.metadata.labels), pod])
      expect(labels).toEqual({
        'app.kubernetes.io/name': 'reconcile',
        'app.kubernetes.io/instance': expect.any(String),
        'app.kubernetes.io/version': VERSION,
        'app.kubernetes.io/component': 'controller',
        'app.kubernetes.io/part-of': 'reconcile',
      });
    const image = (docs.find((m) => m.kind === 'Deployment')!.spec as { template: { spec: { containers: { image: string }[] } } }).template.spec.containers[0].image;
    expect(image.endsWith(`:${VERSION}`)).toBe(true);
  });

  it('deployment.yaml: no Kubernetes API token in the pod (watch never calls the API)', () => {
    const pod = (docs.find((m) => m.kind === 'Deployment')!.spec as { template: { spec: Record<string, unknown> } }).template.spec;
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(docs.find((m) => m.kind === 'ServiceAccount')!.automountServiceAccountToken).toBe(false);
  });

  it("deployment.yaml: the spec's alert rules keep their state in a bucket (the pod's filesystem does not outlive it)", () => {
    const spec = parseAllDocuments((docs.find((m) => m.kind === 'ConfigMap')!.data as Record<string, string>)['spec.yaml'])[0].toJS() as {
      lock?: unknown;
      resources: Record<string, { kind: string; stateBucket?: string }>;
    };
    const rules = Object.values(spec.resources).filter((r) => r.kind === 'alert-rule');
    expect(rules.length).toBeGreaterThan(0);
    for (const r of rules) expect(r.stateBucket ?? spec.lock).toBeTruthy();
  });
});

describe('deploy/reconcile.service', () => {
  const analyze = spawnSync('systemd-analyze', ['--version']).status === 0;
  it.runIf(analyze)('scores OK (below 2.0) in systemd-analyze security', () => {
    const r = spawnSync('systemd-analyze', ['security', '--offline=yes', 'deploy/reconcile.service'], { encoding: 'utf8' });
    const score = Number(/Overall exposure level for reconcile\.service: ([\d.]+)/.exec(r.stdout + r.stderr)?.[1]);
    expect(score, r.stdout).toBeLessThan(2);
  });
  it('keeps no capabilities, namespaces or foreign system-call ABIs, and writes private files', () => {
    const unit = read('deploy/reconcile.service');
    for (const line of ['CapabilityBoundingSet=', 'RestrictNamespaces=yes', 'SystemCallArchitectures=native', 'ProtectClock=yes', 'ProtectKernelLogs=yes', 'UMask=0077'])
      expect(unit.split('\n')).toContain(line);
  });
});

describe('deploy/Dockerfile', () => {
  const ins = parseDockerfile(read('deploy/Dockerfile'));
  const final = ins.slice(ins.map((i) => i.op).lastIndexOf('FROM'));

  it('runs node under tini and carries the OCI labels, version included', () => {
    expect(JSON.parse(final.find((i) => i.op === 'ENTRYPOINT')!.args).slice(0, 2)).toEqual(['/usr/bin/tini', '--']);
    expect(final.some((i) => i.op === 'RUN' && /apt-get install .*\btini\b/.test(i.args))).toBe(true);
    const labels = final.filter((i) => i.op === 'LABEL').map((i) => i.args).join(' ');
    for (const k of ['title', 'description', 'version', 'licenses', 'source']) expect(labels).toContain(`org.opencontainers.image.${k}=`);
    expect(labels).toContain(`org.opencontainers.image.version="${VERSION}"`);
  });

  describe('its HEALTHCHECK, run against a real watch', () => {
    const hc = JSON.parse(final.find((i) => i.op === 'HEALTHCHECK')!.args.replace(/^.*?CMD\s+/, '')) as string[];
    let watch: ChildProcess | undefined;
    afterAll(() => void watch?.kill('SIGKILL'));
    const check = (cmdline: string) => spawnSync(process.execPath, hc.slice(1), { env: { ...process.env, HEALTHCHECK_CMDLINE: cmdline }, timeout: 20_000 }).status;

    it('asks /healthz on the port given by --port, and fails when nothing answers there', async () => {
      const port = await new Promise<number>((res) => {
        const s = createServer().listen(0, '127.0.0.1', () => {
          const p = (s.address() as { port: number }).port;
          s.close(() => res(p));
        });
      });
      // A watch that cannot reach AWS is alive all the same: /healthz answers.
      watch = spawn(process.execPath, ['dist/cli.js', 'watch', 'examples/flask-cpu-alert.yaml', '--host', '127.0.0.1', '--port', String(port), '--log-level', 'error'], {
        env: { ...process.env, AWS_ENDPOINT_URL: 'http://127.0.0.1:9', XDG_STATE_HOME: '/tmp' },
        stdio: 'ignore',
      });
      const cmdline = `/proc/${watch.pid}/cmdline`;
      let status: number | null = 1;
      for (let i = 0; i < 100 && status !== 0; i++) {
        await new Promise((r) => setTimeout(r, 200));
        status = check(cmdline);
      }
      expect(status).toBe(0);
      watch.kill('SIGKILL');
      await new Promise((r) => watch!.once('exit', r));
      const gone = join(mkdtempSync(join(tmpdir(), 'reconcile-hc-')), 'cmdline');
      writeFileSync(gone, ['node', '/app/dist/cli.js', 'watch', '/config/spec.yaml', `--port=${port}`, ''].join('\0'));
      expect(check(gone)).toBe(1);
    });
  });
});
