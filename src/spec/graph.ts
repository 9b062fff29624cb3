// The dependency graph of a spec: order (levels) and cycles. Pure, no AWS.

export interface GraphNode {
  name: string;
  deps: string[];
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

/** A cycle as a path [a, b, c, a], or undefined. Deterministic: follows nodes and deps in order. */
export function findCycle(nodes: GraphNode[]): string[] | undefined {
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
