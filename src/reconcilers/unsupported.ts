// Operations an endpoint answered "not implemented" (moto: Auto Scaling notifications, instance
// refresh), remembered per Aws instance: asked once, so a plan does not pay the SDK's retries of that
// answer at every read, and a write says once what it could not do.
import type { Aws } from '../aws/clients.js';

const unsupported = new WeakMap<Aws, Set<string>>();

export const isUnsupported = (aws: Aws, op: string): boolean => !!unsupported.get(aws)?.has(op);

export function markUnsupported(aws: Aws, op: string): void {
  const set = unsupported.get(aws) ?? new Set<string>();
  set.add(op);
  unsupported.set(aws, set);
}
