// The dependency graph of a spec: order (levels) and cycles. Pure, no AWS.
//
// Two kinds of edges. A reference (`deps`) must exist, finished, before the resource is made: the
// creation order, which `levels` gives. A late reference (`late`, RefUse.late) is needed only by the
// resource's second step: a security group is created without its rules that name other groups, and
// those are authorized once the groups they name exist -- Terraform's separate rule resources, without
// a second kind of resource in the spec. So each resource is two points in time, "exists" (created)
// and "finished" (second step done); its references wait for the finished resource, its late references
// only for the created one. Two groups that allow each other are then no cycle (each one's second step
// waits for the other's create), while `A dependsOn X, X uses group B, B's rule names A` still is one
// (A waits for X, X for B, and B's rules for A). Why late references in the graph, rather than the
// security-group reconciler leaving rules out on its own: order, cycle errors, apply's waits and the
// plan's "set once X exists" all follow from one declaration in the kind's refs(), and any kind with
// such a field (a future rule-like reference) gets them the same way.

export interface GraphNode {
  name: string;
  deps: string[];
  /** Late references: needed by the second step only (see above). Never the node itself. */
  late?: string[];
}

/**
 * Levels of a DAG: level 0 has no deps, level n depends only on levels < n.
 * Every node of a level can be worked on in parallel. Unknown deps are ignored.
 * Throws if there is a cycle (call findCycle first for a message).
 */
export function levels(nodes: GraphNode[]): string[][] {
  const names = new Set(nodes.map((n) => n.name));
  const depth = new Map<string, number>();
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const visiting = new Set<string>();
  const visit = (name: string): number => {
    const known = depth.get(name);
    if (known !== undefined) return known;
    if (visiting.has(name)) throw new Error(`cycle through ${name}`);
    visiting.add(name);
    let d = 0;
    for (const dep of byName.get(name)!.deps) if (names.has(dep)) d = Math.max(d, visit(dep) + 1);
    visiting.delete(name);
    depth.set(name, d);
    return d;
  };
  const out: string[][] = [];
  for (const n of nodes) {
    const d = visit(n.name);
    (out[d] ??= []).push(n.name);
  }
  return out.map((l) => l ?? []);
}

/**
 * A cycle as a path [a, b, c, a], or undefined. Deterministic: follows nodes and deps in order. With
 * late references, a cycle through the two points in time of each node (see above), named by the
 * nodes it passes, its first step always a reference (deps) of the first node.
 */
export function findCycle(nodes: GraphNode[]): string[] | undefined {
  if (!nodes.some((n) => n.late?.length)) return findPlainCycle(nodes);
  // "c:x": x is created (after its deps are finished); "f:x": x is finished (after it and its late refs are created).
  const names = new Set(nodes.map((n) => n.name));
  const split: GraphNode[] = nodes.flatMap((n) => [
    { name: `c:${n.name}`, deps: n.deps.filter((d) => names.has(d)).map((d) => `f:${d}`) },
    { name: `f:${n.name}`, deps: [`c:${n.name}`, ...(n.late ?? []).filter((d) => names.has(d)).map((d) => `c:${d}`)] },
  ]);
  const cycle = findPlainCycle(split);
  if (!cycle) return undefined;
  // Start at a creation point (its edges are references), then name each node once per visit.
  const ring = cycle.slice(0, -1);
  const start = ring.findIndex((p) => p.startsWith('c:'));
  const path = [...ring.slice(start), ...ring.slice(0, start)].map((p) => p.slice(2)).filter((n, i, a) => i === 0 || n !== a[i - 1]);
  if (path.length > 1 && path[path.length - 1] === path[0]) path.pop();
  return [...path, path[0]];
}

function findPlainCycle(nodes: GraphNode[]): string[] | undefined {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const state = new Map<string, 'active' | 'done'>();
  const stack: string[] = [];
  const dfs = (name: string): string[] | undefined => {
    state.set(name, 'active');
    stack.push(name);
    for (const dep of byName.get(name)?.deps ?? []) {
      if (!byName.has(dep)) continue;
      const s = state.get(dep);
      if (s === 'active') return [...stack.slice(stack.indexOf(dep)), dep];
      if (s === undefined) {
        const c = dfs(dep);
        if (c) return c;
      }
    }
    stack.pop();
    state.set(name, 'done');
    return undefined;
  };
  for (const n of nodes) if (!state.has(n.name)) {
    const c = dfs(n.name);
    if (c) return c;
  }
  return undefined;
}

/** Names that (transitively) depend on `name`. */
export function dependents(nodes: GraphNode[], name: string): Set<string> {
  const out = new Set<string>();
  let grew = true;
  while (grew) {
    grew = false;
    for (const n of nodes)
      if (!out.has(n.name) && n.deps.some((d) => d === name || out.has(d))) {
        out.add(n.name);
        grew = true;
      }
  }
  return out;
}
