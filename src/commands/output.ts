// `reconcile output`: the ids, addresses and names of what the stack has in AWS now.
import { registry } from '../reconcilers/index.js';
import { makePlan } from '../engine/plan.js';
import { loadOrThrow, makeCtx, type GlobalOptions, type Io } from './common.js';

export async function outputCommand(file: string, opts: { json?: boolean }, g: GlobalOptions, io: Io): Promise<number> {
  const loaded = loadOrThrow(file, g);
  const ctx = makeCtx(loaded, g, () => {});
  try {
    const { state } = await makePlan(registry, loaded, ctx);
    const out: Record<string, Record<string, string>> = {};
    for (const [address, o] of state.live) out[address] = Object.fromEntries(Object.entries(o.outputs).filter(([, v]) => v !== undefined)) as Record<string, string>;
    if (opts.json) io.out(JSON.stringify(out, null, 2));
    else {
      const missing = loaded.resources.filter((r) => r.kind !== 'alert-rule' && !out[r.address]).map((r) => r.address);
      for (const [address, o] of Object.entries(out)) io.out(`${address}\n${Object.entries(o).map(([k, v]) => `  ${k} = ${v}`).join('\n')}`);
      if (missing.length) io.err(`not created yet: ${missing.join(', ')} (run reconcile apply)`);
    }
    return 0;
  } finally {
    ctx.aws.destroy();
  }
}
