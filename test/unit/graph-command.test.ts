// `reconcile graph`: every resource is a node labelled kind.name, every reference (and dependsOn) an
// edge from the referring resource to the one it names, and the apply steps put each resource after
// everything it refers to. Checked by parsing the mermaid and DOT text back, against the loader's own
// dependency lists (not against the graph module's model).
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { graphCommand, renderDot, renderMermaid, specGraph } from '../../src/commands/graph.js';
import type { Io } from '../../src/commands/common.js';
import { loadSpec } from '../../src/spec/load.js';
import type { LoadedSpec } from '../../src/spec/types.js';

const ROOT = resolve(import.meta.dirname, '../..');
const ex = (n: string) => join(ROOT, 'examples', n);

function load(file: string): LoadedSpec {
  const r = loadSpec(file, { env: {} });
  if (!r.ok) throw new Error(r.diagnostics.map((d) => d.message).join('\n'));
  return r.loaded;
}

/** The edges the spec implies: resource -> each name it depends on (references and dependsOn); late ones dashed. */
function expectedEdges(l: LoadedSpec): string[] {
  const addr = new Map(l.resources.map((r) => [r.name, r.address]));
  return l.resources.flatMap((r) => [...r.deps.map((d) => `${r.address} -> ${addr.get(d)}`), ...r.late.map((d) => `${r.address} -.-> ${addr.get(d)}`)]).sort();
}

interface Parsed {
  nodes: string[];
  edges: string[];
  labels: Map<string, string>;
  /** address -> the cluster (subgraph) it is declared in. */
  cluster: Map<string, string>;
}

function parseMermaid(text: string): Parsed {
  const idToAddr = new Map<string, string>();
  const cluster = new Map<string, string>();
  const edges: string[] = [];
  const labels = new Map<string, string>();
  let current = '';
  const lines = text.split('\n');
  expect(lines[0]).toMatch(/^flowchart (BT|TB|LR|RL)$/);
  for (const line of lines.slice(1)) {
    let m: RegExpExecArray | null;
    if ((m = /^ {2}subgraph (\w+)\["([^"]+)"\]$/.exec(line))) current = m[2];
    else if (/^ {2}end$/.test(line)) current = '';
    else if ((m = /^ {4}(n\d+)(?:\["([^"]+)"\]|\(\["([^"]+)"\]\)|\{\{"([^"]+)"\}\})$/.exec(line))) {
      const a = m[2] ?? m[3] ?? m[4];
      expect(idToAddr.has(m[1]), `node id ${m[1]} declared twice`).toBe(false);
      idToAddr.set(m[1], a);
      cluster.set(a, current);
    } else if ((m = /^ {2}(n\d+) (-->|-\.->)\|"([^"]*)"\| (n\d+)$/.exec(line))) {
      const e = `${idToAddr.get(m[1])} ${m[2] === '-->' ? '->' : '-.->'} ${idToAddr.get(m[4])}`;
      edges.push(e);
      labels.set(e, m[3]);
    } else expect(line, 'an unexpected mermaid line').toMatch(/^ {2}(%%|classDef |class )/);
  }
  return { nodes: [...idToAddr.values()].sort(), edges: edges.sort(), labels, cluster };
}

function parseDot(text: string): Parsed {
  const nodes: string[] = [];
  const edges: string[] = [];
  const labels = new Map<string, string>();
  const cluster = new Map<string, string>();
  let current = '';
  const lines = text.split('\n');
  expect(lines[0]).toMatch(/^digraph "[^"]+" \{$/);
  expect(lines[lines.length - 1]).toBe('}');
  for (const line of lines.slice(1, -1)) {
    let m: RegExpExecArray | null;
    if ((m = /^ {4}label="([^"]+)";$/.exec(line))) current = m[1];
    else if (/^ {2}\}$/.test(line)) current = '';
    else if ((m = /^ {2}"([^"]+)" -> "([^"]+)" \[label="([^"]*)"(, style=dashed)?\];$/.exec(line))) {
      const e = `${m[1]} ${m[4] ? '-.->' : '->'} ${m[2]}`;
      edges.push(e);
      labels.set(e, m[3]);
    } else if ((m = /^ {4}"([^"]+)"(?: \[[^\]]*\])?;$/.exec(line))) {
      nodes.push(m[1]);
      cluster.set(m[1], current);
    } else expect(line, 'an unexpected DOT line').toMatch(/^ {2}(\/\/|rankdir=|graph \[|node \[|edge \[|subgraph cluster_\w+ \{$)|^ {4}style=\w+;$/);
  }
  return { nodes: nodes.sort(), edges: edges.sort(), labels, cluster };
}

const stepNo = (cluster: string) => (/^apply step (\d+)$/.exec(cluster) ? Number(/\d+/.exec(cluster)![0]) : undefined);

describe.each(['microblog-vpc.yaml', 'pipeline-single-node.yaml', 'clock-app-ha.yaml', 'flask-cpu-alert.yaml', 'webserver-s3-image.yaml'])('graph of examples/%s', (file) => {
  const l = load(ex(file));
  const all = l.resources.map((r) => r.address).sort();
  const want = expectedEdges(l);

  it.each([
    ['mermaid', () => parseMermaid(renderMermaid(specGraph(l)))],
    ['dot', () => parseDot(renderDot(specGraph(l)))],
  ] as const)('%s has every resource once, every reference as an edge, and apply steps in dependency order', (_f, parse) => {
    const g = parse();
    expect(g.nodes).toEqual(all);
    expect(g.edges).toEqual(want);
    expect(want.length).toBeGreaterThan(2);
    // Each resource apply creates sits in an apply step after every step of what it refers to;
    // alert rules (evaluated by watch, not created by apply) sit in their own cluster.
    for (const r of l.resources) {
      const c = g.cluster.get(r.address)!;
      if (r.kind === 'alert-rule') {
        expect(c).toBe('evaluated by reconcile watch');
        continue;
      }
      expect(stepNo(c), `${r.address} in ${c}`).toBeDefined();
    }
    // A late reference (dashed) is no order: both ends may share a step.
    for (const e of g.edges.filter((x) => x.includes(' -> '))) {
      const [from, to] = e.split(' -> ');
      const a = stepNo(g.cluster.get(from)!);
      const b = stepNo(g.cluster.get(to)!);
      if (a !== undefined) expect(a, e).toBeGreaterThan(b!);
    }
    // Steps are numbered 1..n with none empty.
    const steps = [...new Set([...g.cluster.values()].map(stepNo).filter((n) => n !== undefined))].sort((x, y) => x! - y!);
    expect(steps).toEqual(steps.map((_, i) => i + 1));
  });
});

describe('graph details', () => {
  const dir = mkdtempSync(join(tmpdir(), 'reconcile-graph-'));
  const spec = join(dir, 'spec.yaml');
  writeFileSync(
    spec,
    `apiVersion: reconcile/v1
stack: g
region: us-east-1
resources:
  net:
    kind: vpc
    cidr: 10.0.0.0/16
    adopt: vpc-0123456789abcdef0
  dflt:
    kind: vpc
    lookup: default
  web:
    kind: security-group
    vpc: net
    ingress:
      - { port: 80, securityGroup: lb }
      - { port: 81, securityGroup: lb }
  lb:
    kind: security-group
    vpc: net
  bucket:
    kind: s3-bucket
    bucketName: reconcile-graph-test-bucket
    dependsOn: [web, dflt]
`,
  );
  const l = load(spec);
  const g = specGraph(l);

  it('labels an edge with every field that holds the reference, once each; dependsOn is an edge too', () => {
    const md = parseMermaid(renderMermaid(g));
    expect(md.labels.get('security-group.web -.-> security-group.lb')).toBe('ingress.securityGroup');
    expect(md.labels.get('security-group.web -> vpc.net')).toBe('vpc');
    expect(md.labels.get('s3-bucket.bucket -> security-group.web')).toBe('dependsOn');
    expect(md.labels.get('s3-bucket.bucket -> vpc.dflt')).toBe('dependsOn');
    expect(parseDot(renderDot(g)).labels).toEqual(md.labels);
  });

  it('marks looked-up and adopted resources, and numbers the apply steps', () => {
    expect(g.nodes.find((n) => n.name === 'dflt')!.role).toBe('lookup');
    expect(g.nodes.find((n) => n.name === 'net')!.role).toBe('adopt');
    expect(g.nodes.find((n) => n.name === 'web')!.role).toBe('create');
    // web's rules naming lb are authorized in a second step: both groups are made in one step.
    expect(g.steps).toEqual([['vpc.net', 'vpc.dflt'], ['security-group.web', 'security-group.lb'], ['s3-bucket.bucket']]);
    const m = renderMermaid(g);
    const id = (a: string) => /^ {4}(n\d+).*"(.+)"/m.exec(m.split('\n').find((x) => x.includes(`"${a}"`))!)![1];
    expect(m).toContain(`class ${id('vpc.dflt')} lookup`);
    expect(m).toContain(`class ${id('vpc.net')} adopt`);
    expect(renderDot(g)).toContain('"vpc.dflt" [style=dashed');
  });

  it('graphCommand prints the chosen format; an invalid spec is an error naming its positions', () => {
    const out: string[] = [];
    const io: Io = { out: (t) => out.push(t), err: () => {}, color: false };
    expect(graphCommand(spec, { format: 'dot' }, io)).toBe(0);
    expect(out.join('\n')).toBe(renderDot(g));
    out.length = 0;
    expect(graphCommand(spec, { format: 'json' }, io)).toBe(0);
    expect(JSON.parse(out.join('\n'))).toEqual(JSON.parse(JSON.stringify(g)));
    expect(() => graphCommand(ex('invalid/unknown-reference.yaml'), {}, io)).toThrow(/unknown-reference\.yaml:11:10 {2}error {2}vpc refers to vpc "mian"/);
  });

  it('the CLI prints mermaid by default, offline', () => {
    const cli = join(ROOT, 'dist/cli.js');
    if (!existsSync(cli)) throw new Error('dist/cli.js is missing: run npm run build (npm test does)');
    // No credentials and an endpoint that answers nothing: graph must not need either.
    const r = spawnSync(process.execPath, [cli, 'graph', ex('pipeline-single-node.yaml')], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH, HOME: dir, AWS_ENDPOINT_URL: 'http://127.0.0.1:1' },
    });
    expect(r.status, r.stderr).toBe(0);
    expect(parseMermaid(r.stdout.trimEnd()).nodes).toEqual(load(ex('pipeline-single-node.yaml')).resources.map((x) => x.address).sort());
  });

  it('loads no AWS SDK module (starts fast, needs no credentials)', () => {
    const seen = new Set<string>();
    const bad: string[] = [];
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      for (const m of readFileSync(file, 'utf8').matchAll(/^(?:import|export)\s(?!type\s)[^'"]*?from\s+['"]([^'"]+)['"]/gm)) {
        const s = m[1];
        if (s.startsWith('.')) {
          const target = resolve(dirname(file), s.replace(/\.js$/, '.ts').replace(/\.cjs$/, '.cts'));
          if (relative(ROOT, target).startsWith('src/aws/')) bad.push(relative(ROOT, target));
          visit(target);
        } else if (s.startsWith('@aws-sdk') || s.startsWith('@smithy')) bad.push(`${relative(ROOT, file)} -> ${s}`);
      }
    };
    visit(join(ROOT, 'src/commands/graph.ts'));
    expect(bad).toEqual([]);
    expect(seen.has(join(ROOT, 'src/spec/load.ts'))).toBe(true);
  });
});
