// The service artefacts in deploy/: the Dockerfile linted by a small checker of our own (slim Node
// base, non-root USER, HEALTHCHECK on /healthz, exec-form entrypoint, only files that exist), the
// systemd unit parsed as INI, the Kubernetes manifest parsed as YAML (probes on /healthz and
// /readyz, non-root, one replica), and the Prometheus and Grafana files checked against the metric
// names watch really exports. Every watch flag they use must be one the CLI defines.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { localLockFile } from '../../src/lock/local.js';
import { loadSpecText } from '../../src/spec/load.js';
import { WatchMetrics } from '../../src/watch/metrics.js';
import { parseDockerfile, type Instruction } from '../helpers/dockerfile.js';

const read = (f: string) => readFileSync(f, 'utf8');

export { parseDockerfile };

const KNOWN = new Set(['FROM', 'RUN', 'CMD', 'LABEL', 'EXPOSE', 'ENV', 'ADD', 'COPY', 'ENTRYPOINT', 'VOLUME', 'USER', 'WORKDIR', 'ARG', 'ONBUILD', 'STOPSIGNAL', 'HEALTHCHECK', 'SHELL']);

/** Problems our checker finds, as "line: message". */
export function lintDockerfile(text: string, exists: (p: string) => boolean): string[] {
  const ins = parseDockerfile(text);
  const problems: string[] = [];
  const say = (i: Instruction, m: string) => problems.push(`${i.line}: ${m}`);
  const stages: string[] = [];
  let finalStart = 0;
  ins.forEach((i, n) => {
    if (!KNOWN.has(i.op)) say(i, `unknown instruction ${i.op}`);
    if (i.op !== i.op.toUpperCase()) say(i, `write ${i.op.toUpperCase()} in capitals`);
    if (i.op === 'FROM') {
      const [image, as, name] = i.args.split(/\s+/);
      if (!/^node:\d+(\.\d+){0,2}-slim$/.test(image)) say(i, `base image ${image} is not a pinned slim Node image (node:<major>-slim)`);
      if (as?.toUpperCase() === 'AS' && name) stages.push(name);
      finalStart = n;
    }
    if (i.op === 'ADD' && /https?:\/\//.test(i.args)) say(i, 'ADD of a URL: download in a RUN with a checksum instead');
    if ((i.op === 'ENV' || i.op === 'ARG') && /AWS_(SECRET_ACCESS_KEY|SESSION_TOKEN|ACCESS_KEY_ID)/.test(i.args)) say(i, 'credentials in the image');
    if (i.op === 'COPY') {
      const from = /--from=(\S+)/.exec(i.args)?.[1];
      const parts = i.args.replace(/--\S+/g, '').trim().split(/\s+/);
      if (from && !stages.includes(from)) say(i, `COPY --from=${from}: no such stage`);
      if (!from) for (const src of parts.slice(0, -1)) if (!exists(src)) say(i, `COPY ${src}: not in the repository`);
    }
  });
  const final = ins.slice(finalStart);
  const user = final.filter((i) => i.op === 'USER').pop();
  if (!user) problems.push('the final stage has no USER: it would run as root');
  else if (/^(root|0)(:|$)/.test(user.args.trim())) say(user, 'USER is root');
  const entry = final.find((i) => i.op === 'ENTRYPOINT' || i.op === 'CMD');
  if (user && entry && entry.line < user.line) say(entry, 'USER comes after the command');
  const hc = final.find((i) => i.op === 'HEALTHCHECK');
  if (!hc) problems.push('no HEALTHCHECK');
  else if (!/\/healthz/.test(hc.args)) say(hc, 'HEALTHCHECK does not ask /healthz');
  for (const i of final.filter((x) => x.op === 'ENTRYPOINT' || x.op === 'CMD')) {
    try {
      if (!Array.isArray(JSON.parse(i.args))) throw new Error();
    } catch {
      say(i, `${i.op} is not in exec form (a JSON array): signals would go to a shell, not to node`);
    }
  }
  const exposed = final.filter((i) => i.op === 'EXPOSE').flatMap((i) => i.args.split(/\s+/));
  if (hc) for (const port of hc.args.match(/:(\d+)\//g) ?? []) if (!exposed.includes(port.slice(1, -1))) say(hc, `HEALTHCHECK port ${port} is not EXPOSEd`);
  return problems;
}

/** systemd unit files: [Section] then Key=Value lines; a key may repeat. */
export function parseIni(text: string): Record<string, Record<string, string[]>> {
  const out: Record<string, Record<string, string[]>> = {};
  let section: string | undefined;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) return;
    const s = /^\[([A-Za-z]+)\]$/.exec(line);
    if (s) {
      section = s[1];
      out[section] ??= {};
      return;
    }
    const kv = /^([A-Za-z][A-Za-z0-9]*)=(.*)$/.exec(line);
    if (!kv || !section) throw new Error(`line ${i + 1}: not an INI line: ${raw}`);
    (out[section][kv[1]] ??= []).push(kv[2]);
  });
  return out;
}

/** Flags of `reconcile watch`, as cli.ts defines them. */
function watchFlags(): Set<string> {
  const cli = read('cli.ts');
  const start = cli.indexOf(".command('watch')");
  const block = cli.slice(start, cli.indexOf('.action(', start));
  const flags = new Set([...block.matchAll(/'(--[a-z-]+)/g)].map((m) => m[1]));
  for (const f of ['--lock-bucket', '--lock-timeout', '--no-lock', '--region', '--profile', '--endpoint-url']) flags.add(f);
  return flags;
}

function checkArgs(args: string[]): void {
  expect(args[0]).toBe('watch');
  const known = watchFlags();
  for (const a of args.filter((x) => x.startsWith('--'))) expect(known, `${a} is not a flag of reconcile watch`).toContain(a);
}

describe('deploy/Dockerfile', () => {
  const text = read('deploy/Dockerfile');

  it('passes our lint: slim Node base, non-root USER, HEALTHCHECK on /healthz, exec form, files that exist', () => {
    expect(lintDockerfile(text, existsSync)).toEqual([]);
  });

  it('the lint catches what it should', () => {
    const bad = 'FROM node:22\nCOPY nothing-here ./\nADD https://x/y /y\nENV AWS_SECRET_ACCESS_KEY=x\nCMD node dist/cli.js watch\n';
    const problems = lintDockerfile(bad, existsSync);
    expect(problems).toEqual([
      '1: base image node:22 is not a pinned slim Node image (node:<major>-slim)',
      '2: COPY nothing-here: not in the repository',
      '3: ADD of a URL: download in a RUN with a checksum instead',
      '4: credentials in the image',
      'the final stage has no USER: it would run as root',
      'no HEALTHCHECK',
      '5: CMD is not in exec form (a JSON array): signals would go to a shell, not to node',
    ]);
    expect(lintDockerfile('FROM node:22-slim\nUSER root\nHEALTHCHECK CMD true\nCMD ["x"]\n', existsSync)).toEqual(['2: USER is root', '3: HEALTHCHECK does not ask /healthz']);
  });

  it('runs the bin of package.json with watch flags the CLI has', () => {
    const ins = parseDockerfile(text);
    const bin = (JSON.parse(read('package.json')) as { bin: Record<string, string> }).bin.reconcile;
    expect(JSON.parse(ins.find((i) => i.op === 'ENTRYPOINT')!.args)).toEqual(['/usr/bin/tini', '--', 'node', `/app/${bin}`]);
    checkArgs(JSON.parse(ins.filter((i) => i.op === 'CMD').pop()!.args));
    expect(ins.find((i) => i.op === 'STOPSIGNAL')?.args).toBe('SIGTERM');
  });

  it('its .dockerignore lets in exactly what the build copies', () => {
    const ignore = read('deploy/Dockerfile.dockerignore').split('\n').filter((l) => l && !l.startsWith('#'));
    expect(ignore[0]).toBe('*');
    const copied = parseDockerfile(text)
      .filter((i) => i.op === 'COPY' && !i.args.includes('--from'))
      .flatMap((i) => i.args.split(/\s+/).slice(0, -1));
    expect(ignore.slice(1).map((l) => l.replace(/^!/, '')).sort()).toEqual([...new Set(copied.map((c) => c.replace(/\/$/, '')))].sort());
  });
});

describe('deploy/reconcile.service', () => {
  const unit = parseIni(read('deploy/reconcile.service'));

  it('parses as INI with the sections systemd needs', () => {
    expect(Object.keys(unit)).toEqual(['Unit', 'Service', 'Install']);
    expect(unit.Install.WantedBy).toEqual(['multi-user.target']);
    expect(unit.Unit.After).toEqual(['network-online.target']);
  });

  it('runs watch as an unprivileged user, restarts on failure, stops with SIGTERM and time to finish a step', () => {
    const s = unit.Service;
    const user = s.User?.[0];
    expect(s.DynamicUser?.[0] === 'yes' || (user !== undefined && user !== 'root' && user !== '0')).toBe(true);
    expect(s.Restart).toEqual(['on-failure']);
    expect(s.KillSignal).toEqual(['SIGTERM']);
    expect(Number.parseInt(s.TimeoutStopSec[0], 10)).toBeGreaterThanOrEqual(60);
    expect(s.NoNewPrivileges).toEqual(['yes']);
    const exec = s.ExecStart[0].split(/\s+/);
    expect(exec[0]).toMatch(/^\/usr\/bin\/node$/);
    expect(exec[1]).toMatch(/\/dist\/cli\.js$/);
    checkArgs(exec.slice(2));
    // State on the one writable path.
    expect(s.StateDirectory).toEqual(['reconcile']);
    expect(exec[exec.indexOf('--state-file') + 1]).toMatch(/^\/var\/lib\/reconcile\//);
    // The local stack lock healing takes without a lock bucket, and the other state files, go under
    // $XDG_STATE_HOME/reconcile: it must be the StateDirectory, since a dynamic user's home (/) is
    // read-only under ProtectSystem=strict (healing failed every cycle there before).
    const env = new Map(s.Environment.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)] as const));
    expect(s.ProtectSystem).toEqual(['strict']);
    expect(localLockFile('shop', 'us-east-1', undefined, { XDG_STATE_HOME: env.get('XDG_STATE_HOME') })).toMatch(/^\/var\/lib\/reconcile\/locks\//);
    expect(s.CacheDirectory).toEqual(['reconcile']);
    expect(env.get('XDG_CACHE_HOME')).toBe('/var/cache');
  });

  // systemd's own check, where the machine has it: any complaint (unknown key, bad value) fails.
  const analyze = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' }).status === 0;
  it.skipIf(!analyze)('systemd-analyze verify has nothing to say about it', () => {
    const verify = (f: string) => spawnSync('systemd-analyze', ['verify', f], { encoding: 'utf8' });
    const r = verify('deploy/reconcile.service');
    expect(r.stderr + r.stdout).toBe('');
    const bad = join(mkdtempSync(join(tmpdir(), 'unit-')), 'bad.service');
    writeFileSync(bad, '[Service]\nExecStart=/usr/bin/node x\nRestart=sometimes\n');
    expect(verify(bad).stderr).toContain('sometimes');
  });

  it('the parser refuses what is not INI', () => {
    expect(() => parseIni('[Unit]\nthis is not a key value\n')).toThrow(/line 2/);
    expect(() => parseIni('Key=before any section\n')).toThrow(/line 1/);
  });
});

describe('deploy/k8s/deployment.yaml', () => {
  const docs = parseAllDocuments(read('deploy/k8s/deployment.yaml'));
  const objects = docs.map((d) => {
    expect(d.errors).toEqual([]);
    return d.toJS() as { kind: string; apiVersion: string; metadata: { name: string }; spec?: any; data?: Record<string, string> };
  });
  const deployment = objects.find((o) => o.kind === 'Deployment')!;
  const pod = deployment.spec.template.spec;
  const container = pod.containers[0];

  it('parses as YAML: ServiceAccount, ConfigMap, Deployment, Service', () => {
    expect(objects.map((o) => `${o.apiVersion} ${o.kind}`)).toEqual(['v1 ServiceAccount', 'v1 ConfigMap', 'apps/v1 Deployment', 'v1 Service']);
  });

  it('probes: liveness on /healthz, readiness on /readyz, on the port watch listens on', () => {
    expect(container.livenessProbe.httpGet.path).toBe('/healthz');
    expect(container.readinessProbe.httpGet.path).toBe('/readyz');
    const port = container.ports.find((p: { name: string }) => p.name === container.livenessProbe.httpGet.port);
    expect(port).toBeDefined();
    expect(container.readinessProbe.httpGet.port).toBe(port.name);
    expect(String(port.containerPort)).toBe(container.args[container.args.indexOf('--port') + 1]);
    expect(container.args[container.args.indexOf('--host') + 1]).toBe('0.0.0.0');
    checkArgs(container.args);
  });

  it('one watcher at a time, non-root, read-only, time to finish a step on SIGTERM', () => {
    expect(deployment.spec.replicas).toBe(1);
    expect(deployment.spec.strategy.type).toBe('Recreate');
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(pod.securityContext.runAsUser).not.toBe(0);
    expect(container.securityContext.readOnlyRootFilesystem).toBe(true);
    expect(container.securityContext.allowPrivilegeEscalation).toBe(false);
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(60);
    expect(pod.serviceAccountName).toBe(objects.find((o) => o.kind === 'ServiceAccount')!.metadata.name);
  });

  it('the spec in the ConfigMap is valid and mounted where watch reads it; the Service and scrape annotations match', () => {
    const cm = objects.find((o) => o.kind === 'ConfigMap')!;
    const r = loadSpecText(cm.data!['spec.yaml'], 'configmap/spec.yaml');
    expect(r.ok ? [] : r.diagnostics).toEqual([]);
    const mount = container.volumeMounts.find((m: { name: string }) => pod.volumes.find((v: { name: string; configMap?: { name: string } }) => v.name === m.name)?.configMap?.name === cm.metadata.name);
    expect(container.args[1]).toBe(`${mount.mountPath}/spec.yaml`);
    const svc = objects.find((o) => o.kind === 'Service')!;
    expect(svc.spec.selector).toEqual(deployment.spec.selector.matchLabels);
    expect(svc.spec.ports[0].targetPort).toBe(container.ports[0].name);
    const ann = deployment.spec.template.metadata.annotations;
    expect(ann['prometheus.io/scrape']).toBe('true');
    expect(ann['prometheus.io/port']).toBe(String(container.ports[0].containerPort));
    // State path writable (read-only root filesystem).
    expect(container.volumeMounts.some((m: { mountPath: string }) => m.mountPath === '/var/lib/reconcile')).toBe(true);
  });
});

describe('metrics in deploy/: Prometheus and Grafana', () => {
  const metrics = new WatchMetrics();
  const names = new Set(((metrics.registry as unknown as { getMetricsAsArray(): { name: string }[] }).getMetricsAsArray()).map((m) => m.name));
  const known = (n: string) => names.has(n) || names.has(n.replace(/_(bucket|sum|count)$/, ''));
  const metricNames = (expr: string) => [...expr.matchAll(/\b((?:reconcile|process|nodejs)_[a-z_]+)\b/g)].map((m) => m[1]);

  it('watch exports the metrics the issue asks for', () => {
    for (const n of [
      'reconcile_cycles_total',
      'reconcile_cycle_duration_seconds',
      'reconcile_drift_found_total',
      'reconcile_changes_applied_total',
      'reconcile_aws_calls_total',
      'reconcile_alert_state',
      'reconcile_notifications_total',
      'reconcile_notification_failures_total',
      'process_resident_memory_bytes',
    ])
      expect(names).toContain(n);
  });

  it('the Grafana dashboard: valid JSON, unique panel ids on a 24-column grid, only metrics watch exports', () => {
    const d = JSON.parse(read('deploy/grafana-dashboard.json')) as { uid: string; panels: { id: number; type: string; gridPos: { x: number; w: number }; targets?: { expr: string }[] }[]; templating: { list: { name: string }[] } };
    expect(d.uid).toBe('reconcile-watch');
    expect(new Set(d.panels.map((p) => p.id)).size).toBe(d.panels.length);
    for (const p of d.panels) expect(p.gridPos.x + p.gridPos.w).toBeLessThanOrEqual(24);
    expect(d.templating.list.map((v) => v.name)).toEqual(['datasource', 'job']);
    const used = d.panels.flatMap((p) => (p.targets ?? []).flatMap((t) => metricNames(t.expr)));
    expect(used.length).toBeGreaterThan(10);
    for (const n of used) expect(known(n), `${n} is not exported by watch`).toBe(true);
    for (const n of ['reconcile_alert_state', 'reconcile_notification_failures_total', 'reconcile_aws_calls_total', 'reconcile_cycle_duration_seconds_bucket']) expect(used).toContain(n);
  });

  it('the Prometheus example scrapes port 9464 and its alert rules use exported metrics', () => {
    const p = parseYaml(read('deploy/prometheus.yml')) as { rule_files: string[]; scrape_configs: { job_name: string; static_configs?: { targets: string[] }[] }[] };
    expect(p.scrape_configs.map((s) => s.job_name)).toEqual(['reconcile', 'reconcile-k8s']);
    expect(p.scrape_configs[0].static_configs![0].targets[0]).toMatch(/:9464$/);
    for (const f of p.rule_files) expect(existsSync(`deploy/${f}`)).toBe(true);
    const rules = parseYaml(read('deploy/prometheus-rules.yml')) as { groups: { rules: { alert: string; expr: string }[] }[] };
    const exprs = rules.groups.flatMap((g) => g.rules.map((r) => r.expr));
    expect(exprs.length).toBeGreaterThan(0);
    for (const e of exprs) for (const n of metricNames(e)) expect(known(n), `${n} is not exported by watch`).toBe(true);
  });
});
