// Source positions of spec paths: from a path such as ['resources', 'web', 'ingress', 0, 'port'] to the
// 1-based line and column of that node in the YAML text.
import type { Document, LineCounter, Node, Pair } from 'yaml';
import { isAlias, isMap, isPair, isScalar, isSeq } from './yaml.js';
import type { SpecPath } from './common.js';
import type { Position } from './types.js';

/** 1-based position of a character offset; never below 1:1 (an empty file is at 1:1). */
export function positionAt(lc: LineCounter, offset: number): Position {
  const p = lc.linePos(Math.max(0, offset));
  return { line: Math.max(1, p.line), col: Math.max(1, p.col) };
}

function keyText(key: unknown): string | undefined {
  if (isScalar(key)) return key.value === null ? '' : String(key.value);
  if (typeof key === 'string' || typeof key === 'number') return String(key);
  return undefined;
}

function deref(doc: Document, node: unknown): unknown {
  let n = node;
  for (let i = 0; i < 20 && isAlias(n); i++) n = n.resolve(doc);
  return n;
}

const startOf = (n: unknown): number | undefined => {
  const r = (n as Node | null)?.range;
  return Array.isArray(r) && typeof r[0] === 'number' ? r[0] : undefined;
};

export interface Located {
  /** Where to point: see locate(). */
  pos: Position;
  /** Whether the whole path exists in the document. */
  exact: boolean;
}

/**
 * The position of the node at `path`:
 * - `at: 'value'` (default): the value node; `at: 'key'`: the key of the pair that holds it.
 * - When the path does not exist (a missing field), the nearest existing ancestor: the key that
 *   names it if it is a mapping value (`web:` of a resource), else where it starts.
 */
export function locate(doc: Document, lc: LineCounter, path: SpecPath, at: 'value' | 'key' = 'value'): Located {
  let node: unknown = deref(doc, doc.contents);
  let pair: Pair | undefined;
  let exact = true;
  for (const seg of path) {
    if (isMap(node)) {
      const want = String(seg);
      const found = node.items.find((p) => isPair(p) && keyText(p.key) === want);
      if (!found) {
        exact = false;
        break;
      }
      pair = found;
      node = deref(doc, found.value);
    } else if (isSeq(node) && typeof seg === 'number' && seg >= 0 && seg < node.items.length) {
      pair = undefined;
      node = deref(doc, node.items[seg]);
    } else {
      exact = false;
      break;
    }
  }
  let offset: number | undefined;
  if (exact) {
    if (at === 'key' && pair) offset = startOf(pair.key);
    // A key with no value (`cidr:`) has an empty node or none: point at the key.
    const vs = startOf(node);
    if (offset === undefined) offset = isScalar(node) && node.value === null && pair ? startOf(pair.key) ?? vs : vs ?? startOf(pair?.key);
  } else {
    // `node` is the deepest existing ancestor; prefer the key that names it.
    offset = (pair && isMap(node) ? startOf(pair.key) : undefined) ?? startOf(node) ?? startOf(pair?.key);
  }
  return { pos: offset === undefined ? { line: 1, col: 1 } : positionAt(lc, offset), exact };
}
