// Test helpers to drive a single reconciler against moto without the engine.
import { Aws } from '../../src/aws/clients.js';
import { makeDesired } from '../../src/engine/desired.js';
import type { Ctx, Desired, EngineEvent, Outputs, Timing } from '../../src/engine/types.js';
import { kindDef, type KindName, type SpecOf } from '../../src/spec/schema.js';

/** A context against moto at `endpoint`, collecting its events; `timing` shortens its waits (moto answers at once). */
export function testCtx(endpoint: string, stack = 'test', timing?: Partial<Timing>): Ctx & { events: EngineEvent[] } {
  process.env.AWS_ACCESS_KEY_ID ??= 'testing';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'testing';
  const events: EngineEvent[] = [];
  return { stack, region: 'us-east-1', aws: new Aws({ region: 'us-east-1', endpoint }), emit: (e) => events.push(e), events, ...(timing ? { timing } : {}) };
}

/** A Desired from a raw spec body (validated and defaulted by the kind's zod schema). */
export function desired<K extends KindName>(
  kind: K,
  name: string,
  body: Record<string, unknown>,
  refs: Record<string, Outputs> = {},
  stack = 'test',
): Desired<K> {
  const spec = kindDef(kind)!.schema.parse({ kind, ...body }) as SpecOf<K>;
  return makeDesired({ stack, defaultTags: {}, name, kind, spec, specDir: process.cwd(), lookup: (n) => refs[n] });
}
