// `reconcile graph SPEC [--format mermaid|dot|json]`: the dependency graph of a spec, offline (no
// AWS call, no credentials): which resource refers to which (through which field), and the steps
// apply takes: every resource of a step can be worked on in parallel once the steps before it are done.
import { UserError } from '../engine/errors.js';
import { VIRTUAL_KINDS } from '../reconcilers/index.js';
import { levels } from '../spec/graph.js';
import { loadSpec } from '../spec/load.js';
import type { LoadedResource, LoadedSpec } from '../spec/types.js';
import type { Io } from './common.js';
import { formatDiagnostic } from './validate.js';

export const GRAPH_FORMATS = ['mermaid', 'dot', 'json'] as const;
export type GraphFormat = (typeof GRAPH_FORMATS)[number];

/**
 * create: made and kept by the stack; lookup: read, never changed (the default VPC); adopt: an
 * existing resource taken over; watch: no AWS resource, evaluated by `reconcile watch` (alert rules).
 */
export type NodeRole = 'create' | 'lookup' | 'adopt' | 'watch';

export interface GraphNodeInfo {
  /** kind.name */
  address: string;
  kind: string;
  name: string;
  role: NodeRole;
  /** 1-based apply step; null for watch-only resources (apply does not create them). */
  step: number | null;
}

export interface GraphEdge {
  /** The resource that refers (kind.name). */
  from: string;
  /** The resource it refers to (kind.name). */
  to: string;
  /** The fields that hold the reference, e.g. ["vpc"], ["routes.natGateway"], ["dependsOn"]. */
  fields: string[];
  /**
   * Only late references (a security group rule naming a group): made in a second step once both
   * exist, so no order of the apply steps (src/spec/graph.ts). Drawn dashed.
   */
  late?: true;
}

export interface SpecGraph {
  stack: string;
  nodes: GraphNodeInfo[];
  edges: GraphEdge[];
  /** Addresses per apply step, in order. */
  steps: string[][];
}

/** A reference's field as a reader names it: the body path without list indices. */
const fieldName = (path: (string | number)[]): string => path.filter((s): s is string => typeof s === 'string').join('.');

function roleOf(r: LoadedResource): NodeRole {
  if (VIRTUAL_KINDS.has(r.kind)) return 'watch';
  const body = r.body as { lookup?: unknown; adopt?: unknown };
  if (body.lookup) return 'lookup';
  if (body.adopt) return 'adopt';
  return 'create';
}

/** The graph of a loaded (valid) spec. Pure. */
export function specGraph(loaded: LoadedSpec): SpecGraph {
  const byName = new Map(loaded.resources.map((r) => [r.name, r]));
  const applied = loaded.resources.filter((r) => !VIRTUAL_KINDS.has(r.kind));
  const appliedNames = new Set(applied.map((r) => r.name));
  // The engine's own ordering: levels over the resources apply creates, deps among them.
  const stepNames = levels(applied.map((r) => ({ name: r.name, deps: r.deps.filter((d) => appliedNames.has(d)) })));
  const stepOf = new Map<string, number>();
  stepNames.forEach((names, i) => names.forEach((n) => stepOf.set(n, i + 1)));

  const nodes: GraphNodeInfo[] = loaded.resources.map((r) => ({ address: r.address, kind: r.kind, name: r.name, role: roleOf(r), step: stepOf.get(r.name) ?? null }));
  const edges: GraphEdge[] = [];
  const edgeOf = new Map<string, GraphEdge>();
  const add = (r: LoadedResource, to: string, field: string) => {
    const target = byName.get(to);
    if (!target) return;
    const key = `${r.address}\u0000${target.address}`;
    let e = edgeOf.get(key);
    if (!e) {
      e = { from: r.address, to: target.address, fields: [], ...(r.late.includes(to) ? { late: true as const } : {}) };
      edgeOf.set(key, e);
      edges.push(e);
    }
    if (!e.fields.includes(field)) e.fields.push(field);
  };
  for (const r of loaded.resources) {
    for (const ref of r.refs) add(r, ref.name, fieldName(ref.path));
    for (const d of (r.body as { dependsOn?: string[] }).dependsOn ?? []) add(r, d, 'dependsOn');
  }
  return { stack: loaded.spec.stack, nodes, edges, steps: stepNames.map((names) => names.map((n) => byName.get(n)!.address)) };
}

// ---------------------------------------------------------------------------------------------
// Mermaid (GitHub renders ```mermaid blocks in README files, issues and pull requests)

const mermaidText = (s: string) => s.replace(/"/g, '#quot;');

export function renderMermaid(g: SpecGraph): string {
  const id = new Map(g.nodes.map((n, i) => [n.address, `n${i}`]));
  const shape = (n: GraphNodeInfo) => {
    const t = `"${mermaidText(n.address)}"`;
    return n.role === 'lookup' ? `([${t}])` : n.role === 'watch' ? `{{${t}}}` : `[${t}]`;
  };
  const lines = [
    'flowchart BT',
    `  %% reconcile graph of stack ${g.stack}: an arrow goes from a resource to what it refers to.`,
    '  %% apply creates step 1 first; the resources of one step are worked on in parallel.',
    '  %% A dashed arrow is set in a second step, once both exist (security group rules naming groups).',
  ];
  g.steps.forEach((step, i) => {
    lines.push(`  subgraph step${i + 1}["apply step ${i + 1}"]`);
    for (const a of step) lines.push(`    ${id.get(a)}${shape(g.nodes.find((n) => n.address === a)!)}`);
    lines.push('  end');
  });
  const watched = g.nodes.filter((n) => n.role === 'watch');
  if (watched.length) {
    lines.push('  subgraph watch["evaluated by reconcile watch"]');
    for (const n of watched) lines.push(`    ${id.get(n.address)}${shape(n)}`);
    lines.push('  end');
  }
  for (const e of g.edges) lines.push(`  ${id.get(e.from)} ${e.late ? '-.->' : '-->'}|"${mermaidText(e.fields.join(', '))}"| ${id.get(e.to)}`);
  const byRole = (role: NodeRole) => g.nodes.filter((n) => n.role === role).map((n) => id.get(n.address));
  lines.push('  classDef lookup stroke-dasharray: 5 5');
  lines.push('  classDef adopt stroke-width: 3px');
  for (const role of ['lookup', 'adopt'] as const) {
    const ids = byRole(role);
    if (ids.length) lines.push(`  class ${ids.join(',')} ${role}`);
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Graphviz DOT (dot -Tsvg)

const dotString = (s: string) => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

export function renderDot(g: SpecGraph): string {
  const attrs = (n: GraphNodeInfo) =>
    n.role === 'lookup' ? ' [style=dashed, tooltip="looked up, never changed"]' : n.role === 'adopt' ? ' [style=bold, tooltip="adopted"]' : n.role === 'watch' ? ' [shape=hexagon]' : '';
  const lines = [
    `digraph ${dotString(g.stack)} {`,
    '  // An arrow goes from a resource to what it refers to; apply creates step 1 first.',
    '  // A dashed arrow is set in a second step, once both exist (security group rules naming groups).',
    '  rankdir=BT;',
    '  graph [fontname="Helvetica"];',
    '  node [shape=box, fontname="Helvetica"];',
    '  edge [fontname="Helvetica", fontsize=10];',
  ];
  g.steps.forEach((step, i) => {
    lines.push(`  subgraph cluster_step${i + 1} {`, `    label=${dotString(`apply step ${i + 1}`)};`, '    style=rounded;');
    for (const a of step) lines.push(`    ${dotString(a)}${attrs(g.nodes.find((n) => n.address === a)!)};`);
    lines.push('  }');
  });
  const watched = g.nodes.filter((n) => n.role === 'watch');
  if (watched.length) {
    lines.push('  subgraph cluster_watch {', `    label=${dotString('evaluated by reconcile watch')};`, '    style=dashed;');
    for (const n of watched) lines.push(`    ${dotString(n.address)}${attrs(n)};`);
    lines.push('  }');
  }
  for (const e of g.edges) lines.push(`  ${dotString(e.from)} -> ${dotString(e.to)} [label=${dotString(e.fields.join(', '))}${e.late ? ', style=dashed' : ''}];`);
  lines.push('}');
  return lines.join('\n');
}

export function renderGraph(g: SpecGraph, format: GraphFormat): string {
  if (format === 'dot') return renderDot(g);
  if (format === 'json') return JSON.stringify(g, null, 2);
  return renderMermaid(g);
}

/** Loads the spec (an invalid one is a UserError listing its diagnostics) and prints its graph. */
export function graphCommand(file: string, opts: { format?: GraphFormat }, io: Io, params?: Record<string, string>): number {
  const r = loadSpec(file, { params });
  if (!r.ok) {
    const errors = r.diagnostics.filter((d) => d.severity === 'error').length;
    throw new UserError(`${file} is not a valid spec (${errors} error${errors === 1 ? '' : 's'}):\n${r.diagnostics.map(formatDiagnostic).join('\n')}`, `run \`reconcile validate ${file}\` while you fix it`);
  }
  io.out(renderGraph(specGraph(r.loaded), opts.format ?? 'mermaid'));
  return 0;
}
