// Builders of hand-written observations for the pure diff tests (diff-network, diff-compute,
// diff-services): a resource the stack owns, tagged as the reconcilers tag it.
import type { Management, Observed, Outputs } from '../../src/engine/types.js';

/** The tags of a resource the stack owns: Name <stack>-<name>, reconcile:stack and reconcile:id, and `extra`. */
export const ownTags = (name: string, extra: Record<string, string> = {}, stack = 'test'): Record<string, string> => ({
  Name: `${stack}-${name}`,
  'reconcile:stack': stack,
  'reconcile:id': name,
  ...extra,
});

export interface ObservedOptions {
  /** Default id-<name>. */
  id?: string;
  /** Default ownTags(name). */
  tags?: Record<string, string>;
  /** Default owned. */
  management?: Management;
  /** Outputs besides id. */
  outputs?: Partial<Outputs>;
}

/** An Observed of the stack's resource `name` with this live state. */
export function observed(name: string, live: unknown, opts: ObservedOptions = {}): Observed {
  const id = opts.id ?? `id-${name}`;
  return { id, name, management: opts.management ?? 'owned', live: live as Record<string, unknown>, tags: opts.tags ?? ownTags(name), outputs: { id, ...opts.outputs } as Outputs };
}
