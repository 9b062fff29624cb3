// Checks beyond the schema, still offline: references, cycles, cross-resource consistency, and
// warnings about things that are valid but risky (SSH open to the world, public buckets).
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { isExternalId, type RefUse, type SpecPath } from './common.js';
import { findCycle, type GraphNode } from './graph.js';
import { kindDef, type AnyResourceSpec } from './schema.js';
import { formatPath } from './issues.js';
import { allowedKeys } from './schema-walk.js';
import { closest, didYouMean } from './suggest.js';

export interface Finding {
  /** Path from the spec root. */
  path: SpecPath;
  at?: 'key' | 'value';
  severity: 'error' | 'warning';
  message: string;
  hint?: string;
}

export interface CheckInput {
  name: string;
  /** The kind as written, when it is a known kind. */
  kind?: string;
  /** The validated body (defaults applied), when the resource is valid on its own. */
  body?: AnyResourceSpec;
}

export interface CheckResult {
  findings: Finding[];
  /** name -> references to resources of the spec (external ids left out). */
  refs: Map<string, RefUse[]>;
  /** name -> names it depends on (refs + dependsOn), deduplicated, in order of appearance. */
  deps: Map<string, string[]>;
  /** name -> names its late references need (RefUse.late), not among its deps and never itself. */
  late: Map<string, string[]>;
}

const article = (w: string) => (/^[aeiou]/.test(w) ? `an ${w}` : `a ${w}`);
const orList = (kinds: readonly string[]) => kinds.join(' or ');

/** References, dependsOn and cycles. */
export function checkReferences(resources: CheckInput[]): CheckResult {
  const findings: Finding[] = [];
  const refs = new Map<string, RefUse[]>();
  const deps = new Map<string, string[]>();
  const late = new Map<string, string[]>();
  const byName = new Map(resources.map((r) => [r.name, r]));
  // The path of the first reference a -> b, to point at when a cycle goes through it.
  const edgePath = new Map<string, SpecPath>();

  for (const r of resources) {
    if (!r.body || !r.kind) continue;
    const def = kindDef(r.kind);
    if (!def) continue;
    const uses: RefUse[] = [];
    const d: string[] = [];
    const l: string[] = [];
    const addDep = (name: string, path: SpecPath) => {
      if (!d.includes(name)) d.push(name);
      if (!edgePath.has(`${r.name}\u0000${name}`)) edgePath.set(`${r.name}\u0000${name}`, path);
    };
    for (const use of def.refs(r.body)) {
      if (isExternalId(use.name)) continue;
      const path: SpecPath = ['resources', r.name, ...use.path];
      const target = byName.get(use.name);
      const field = formatPath(use.path);
      if (!target && use.outside) continue;
      if (!target) {
        const sameKind = resources.filter((x) => x.kind && use.kinds.includes(x.kind)).map((x) => x.name);
        const near = didYouMean(use.name, sameKind);
        findings.push({
          path,
          severity: 'error',
          message: `${field} refers to ${orList(use.kinds)} "${use.name}", which is not in this spec`,
          hint:
            near ??
            (sameKind.length
              ? `${orList(use.kinds)} resources in this spec: ${sameKind.join(', ')}`
              : `add ${article(orList(use.kinds))} named "${use.name}" under resources, or write the id of an existing one`),
        });
        continue;
      }
      if (target.kind && !use.kinds.includes(target.kind)) {
        const sameKind = resources.filter((x) => x.kind && use.kinds.includes(x.kind)).map((x) => x.name);
        findings.push({
          path,
          severity: 'error',
          message: `${field}: "${use.name}" is ${article(target.kind)}, not ${article(orList(use.kinds))}`,
          hint: sameKind.length ? `${orList(use.kinds)} resources in this spec: ${sameKind.join(', ')}` : `add ${article(orList(use.kinds))} under resources and refer to it`,
        });
        continue;
      }
      uses.push(use);
      if (!use.late) addDep(use.name, path);
      else if (use.name !== r.name && !l.includes(use.name)) l.push(use.name);
    }
    (r.body.dependsOn ?? []).forEach((name, i) => {
      const path: SpecPath = ['resources', r.name, 'dependsOn', i];
      if (!byName.has(name)) {
        findings.push({
          path,
          severity: 'error',
          message: `dependsOn names "${name}", which is not in this spec`,
          hint: didYouMean(name, resources.map((x) => x.name)) ?? 'dependsOn lists names of resources of this spec',
        });
        return;
      }
      addDep(name, path);
    });
    refs.set(r.name, uses);
    deps.set(r.name, d);
    late.set(r.name, l.filter((x) => !d.includes(x)));
  }

  // Every cycle, one error each: report one, cut the edge it was reported at, look again.
  // Late references count as the graph says (src/spec/graph.ts): groups that allow each other are no cycle.
  const nodes: GraphNode[] = resources.map((r) => ({ name: r.name, deps: [...(deps.get(r.name) ?? [])], late: late.get(r.name) ?? [] }));
  for (let i = 0; i < 100; i++) {
    const cycle = findCycle(nodes);
    if (!cycle) break;
    const [from, to] = cycle;
    findings.push({
      path: edgePath.get(`${from}\u0000${to}`) ?? ['resources', from],
      severity: 'error',
      message: `reference cycle: ${cycle.join(' -> ')}`,
      hint: cycle.length === 2 ? `"${from}" cannot depend on itself: remove this reference` : 'resources cannot depend on each other in a circle: remove one of these references',
    });
    const n = nodes.find((x) => x.name === from)!;
    n.deps = n.deps.filter((x) => x !== to);
  }
  return { findings, refs, deps, late };
}

// ---------------------------------------------------------------------------------------------
// Cross-resource and security checks: each kind's own (its descriptor's check, src/spec/kinds/),
// run here with what they share.

type Bodies = Map<string, { kind: string; body: AnyResourceSpec }>;

/**
 * The vpc (name, or external id) a resource of the spec lives in, when the spec says so and the
 * resource is of the kind expected (a wrong-kind reference is reported elsewhere).
 */
function vpcOf(bodies: Bodies, name: string | undefined, kind: string, depth = 0): string | undefined {
  if (!name || depth > 5) return undefined;
  if (isExternalId(name)) return kind === 'vpc' && name.startsWith('vpc-') ? name : undefined;
  const r = bodies.get(name);
  if (!r || r.kind !== kind) return undefined;
  const where = kindDef(r.kind)?.vpc?.(r.body as never, name);
  return Array.isArray(where) ? vpcOf(bodies, where[0], where[1], depth + 1) : where;
}

function fileProblem(dir: string, file: string): string | undefined {
  const p = resolve(dir, file);
  if (!existsSync(p)) return `file "${file}" does not exist (looked for ${p})`;
  try {
    if (!statSync(p).isFile()) return `"${file}" is not a file`;
  } catch {
    return `file "${file}" cannot be read`;
  }
  return undefined;
}

/** Consistency between resources, local files, and security warnings. Only valid bodies are checked. */
export function checkSemantics(resources: CheckInput[], opts: { region?: string; dir: string }): Finding[] {
  const out: Finding[] = [];
  const bodies: Bodies = new Map();
  for (const r of resources) if (r.body && r.kind) bodies.set(r.name, { kind: r.kind, body: r.body });
  const seenNames = new Map<string, string>();

  for (const [name, { kind, body }] of bodies) {
    const def = kindDef(kind);
    if (!def) continue;
    const at = (p: SpecPath): SpecPath => ['resources', name, ...p];
    const err = (path: SpecPath, message: string, hint?: string) => out.push({ path: at(path), severity: 'error', message, hint });
    const warn = (path: SpecPath, message: string, hint?: string) => out.push({ path: at(path), severity: 'warning', message, hint });

    // AWS names given explicitly must not collide within the stack (within the scope the kind says).
    const nf = def.nameField;
    const awsName = nf ? (body as Record<string, unknown>)[nf] : undefined;
    const scope = def.nameScope ? def.nameScope(body as never) : '';
    if (nf && typeof awsName === 'string' && scope !== undefined) {
      const key = `${kind}|${scope ? `${scope}|` : ''}${awsName}`;
      const first = seenNames.get(key);
      if (first) err([nf], `${nf} "${awsName}" is also used by ${kind} "${first}"`, `give each ${kind} its own ${nf}`);
      else seenNames.set(key, name);
    }

    // ignoreChanges names fields by their plan path ("desiredCapacity", "tags.Env"); one that misspells a
    // field of the kind ignores nothing, and the field is fought after all. (Only a likely typo of a field
    // warns: a plan may show paths that are not spec fields, and those are fine to name.)
    const fields = allowedKeys(def.schema, body).filter((k) => !['kind', 'ignoreChanges', 'adopt', 'dependsOn', 'protect', 'lookup'].includes(k));
    ((body as { ignoreChanges?: string[] }).ignoreChanges ?? []).forEach((p, i) => {
      const head = p.split(/[.[]/)[0];
      if (fields.includes(head)) return;
      const near = closest(head, fields);
      if (near)
        warn(['ignoreChanges', i], `ignoreChanges names "${p}", which is not a field of ${kind}: it ignores nothing`, `did you mean "${p.replace(head, near)}"?`);
    });

    /** Errs at `field` when `b` (of kind bKind) is not in the VPC of `a` (of kind aKind). */
    const sameVpc = (field: SpecPath, a: string | undefined, aKind: string, aWhere: string, b: string | undefined, bKind: string) => {
      const va = vpcOf(bodies, a, aKind);
      const vb = vpcOf(bodies, b, bKind);
      if (va && vb && va !== vb) err(field, `${bKind} "${b}" is in vpc "${vb}", not in vpc "${va}" ${aWhere}`, 'they must be in the same VPC');
    };
    def.check?.({
      name,
      body: body as never,
      bodies,
      region: opts.region,
      err,
      warn,
      sameVpc,
      inVpcOfSubnet: (subnet, field, names, kind, from = 0) =>
        names.forEach((n, i) => i >= from && sameVpc([field, i], subnet, 'subnet', `of subnet "${subnet}"`, n, kind)),
      vpcOf: (n, k) => vpcOf(bodies, n, k),
      fileProblem: (file) => fileProblem(opts.dir, file),
    });
  }
  return out;
}
