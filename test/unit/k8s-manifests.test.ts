// deploy/k8s/*.yaml as Kubernetes objects: each document is validated against the Kubernetes API's
// JSON schemas (kubernetes-models), and the fleet StatefulSet is checked for what sharding needs:
// replicas equal to RECONCILE_SHARDS, the shard from the pod's name, the specs mounted where watch
// reads them and each of them valid, every flag one the CLI has, and its conventions (labels,
// no API token).
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { loadSpec } from '../../src/spec/load.js';
import { FleetSpecs } from '../../src/watch/fleet-specs.js';
import { resolveShard } from '../../src/watch/shard.js';

const ROOT = process.cwd();
const DIR = join(ROOT, 'deploy/k8s');
const MODELS: Record<string, new (o: never) => { validate(): void }> = { ConfigMap, Service, ServiceAccount, Deployment, StatefulSet };

type Obj = { apiVersion: string; kind: string; metadata: { name: string; labels?: Record<string, string> }; [k: string]: any };
const docs = (file: string): Obj[] => parseAllDocuments(readFileSync(join(DIR, file), 'utf8')).map((d) => d.toJS() as Obj);

describe('deploy/k8s: Kubernetes objects', () => {
  const files = readdirSync(DIR).filter((f) => f.endsWith('.yaml'));
  it('no selector of one file matches the pods of another (the single-stack Deployment and the fleet can share a namespace)', () => {
    const objs = files.map((f) => ({ f, objs: docs(f) }));
    const pods = objs.flatMap(({ f, objs }) => objs.filter((o) => o.spec?.template).map((o) => ({ f, labels: o.spec.template.metadata.labels as Record<string, string> })));
    const selectors = objs.flatMap(({ f, objs }) =>
      objs.flatMap((o) => (o.kind === 'Service' ? [o.spec.selector] : o.spec?.selector?.matchLabels ? [o.spec.selector.matchLabels] : []).map((sel: Record<string, string>) => ({ f, sel }))),
    );
    expect(pods.length).toBeGreaterThan(1);
    for (const { f, sel } of selectors)
      for (const p of pods.filter((x) => x.f !== f)) expect(Object.entries(sel).every(([k, v]) => p.labels[k] === v), `${f}'s selector ${JSON.stringify(sel)} matches pods of ${p.f}`).toBe(false);
  });
  it.each(files)('%s: every document is a valid Kubernetes object', (file) => {
    for (const o of docs(file)) {
      const Model = MODELS[o.kind];
      expect(Model, `${file}: no schema for kind ${o.kind}`).toBeDefined();
      expect(() => new Model(o as never).validate(), `${file}: ${o.kind} ${o.metadata?.name}`).not.toThrow();
    }
  });

  it('the validator refuses what Kubernetes would', () => {
    const [sts] = docs('statefulset.yaml').filter((o) => o.kind === 'StatefulSet');
    expect(() => new StatefulSet({ ...sts, spec: { ...sts.spec, replicas: 'three' } } as never).validate()).toThrow(/replicas must be integer/);
    expect(() => new StatefulSet({ ...sts, spec: { ...sts.spec, selector: undefined } } as never).validate()).toThrow(/selector/);
  });
});

describe('deploy/k8s/statefulset.yaml: a sharded fleet', () => {
  const all = docs('statefulset.yaml');
  const byKind = (k: string) => all.filter((o) => o.kind === k);
  const [sts] = byKind('StatefulSet');
  const pod = sts.spec.template.spec;
  const [container] = pod.containers;
  const env = Object.fromEntries(container.env.map((e: { name: string; value?: string; valueFrom?: unknown }) => [e.name, e.value ?? e.valueFrom]));

  it('replica i of n: n = replicas, i from the pod name, each replica restarting on its own', () => {
    expect(env.RECONCILE_SHARDS).toBe(String(sts.spec.replicas));
    expect(env.RECONCILE_SHARD).toEqual({ fieldRef: { fieldPath: 'metadata.name' } });
    expect(sts.spec.podManagementPolicy).toBe('Parallel');
    for (let i = 0; i < sts.spec.replicas; i++) expect(resolveShard(env.RECONCILE_SHARDS, `${sts.metadata.name}-${i}`, undefined)).toEqual({ index: i, count: sts.spec.replicas });
  });

  it('the headless Service names the pods; selectors match the pod labels; app.kubernetes.io labels; no API token', () => {
    const svc = byKind('Service').find((s) => s.metadata.name === sts.spec.serviceName)!;
    expect(svc.spec.clusterIP).toBe('None');
    const podLabels = sts.spec.template.metadata.labels;
    for (const sel of [sts.spec.selector.matchLabels, svc.spec.selector]) for (const [k, v] of Object.entries(sel)) expect(podLabels[k]).toBe(v);
    for (const o of all) {
      expect(o.metadata.labels?.['app.kubernetes.io/name'], `${o.kind} ${o.metadata.name}`).toBe('reconcile');
      expect(o.metadata.labels?.['app.kubernetes.io/instance']).toBe('reconcile-fleet');
    }
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(byKind('ServiceAccount')[0].automountServiceAccountToken).toBe(false);
    expect(pod.serviceAccountName).toBe(byKind('ServiceAccount')[0].metadata.name);
  });

  it('probes on /healthz and /readyz; non-root, read-only, time to finish a step', () => {
    expect(container.livenessProbe.httpGet.path).toBe('/healthz');
    expect(container.readinessProbe.httpGet.path).toBe('/readyz');
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(container.securityContext.readOnlyRootFilesystem).toBe(true);
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(300);
  });

  it('watch reads the ConfigMap of specs; each spec is valid and the shards serve each stack once', () => {
    const args: string[] = container.args;
    expect(args[0]).toBe('watch');
    const mount = container.volumeMounts.find((m: { mountPath: string }) => m.mountPath === args[1]);
    const volume = pod.volumes.find((v: { name: string }) => v.name === mount.name);
    const cm = byKind('ConfigMap').find((c) => c.metadata.name === volume.configMap.name)!;
    const dir = mkdtempSync(join(tmpdir(), 'reconcile-k8s-'));
    try {
      for (const [name, text] of Object.entries(cm.data as Record<string, string>)) {
        writeFileSync(join(dir, name), text);
        const r = loadSpec(join(dir, name));
        expect(r.ok, `${name}: ${!r.ok && JSON.stringify(r.diagnostics)}`).toBe(true);
      }
      const n = Number(env.RECONCILE_SHARDS);
      const served = Array.from({ length: n }, (_, index) => [...new FleetSpecs([dir], { index, count: n }).scan().stacks.keys()]).flat();
      expect(served.sort()).toEqual(Object.keys(cm.data).map((f) => f.replace(/\.yaml$/, '')).sort());
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('every flag it passes is one `reconcile watch` has', () => {
    const help = spawnSync(process.execPath, [join(ROOT, 'dist/cli.js'), 'watch', '--help'], { encoding: 'utf8' }).stdout;
    for (const flag of (container.args as string[]).filter((a) => a.startsWith('--'))) expect(help).toContain(flag);
    expect(help).toContain('RECONCILE_SHARDS');
    expect(help).toContain('RECONCILE_SHARD');
  });
});
