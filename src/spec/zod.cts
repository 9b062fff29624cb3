// zod for the spec's schemas, loaded with require(): its ES build is 95 modules (every locale
// included), which Node's ES module loader costs ~20 ms more CPU to load at every start than the
// same modules' CommonJS build through the CLI's compile cache (src/aws/sdk/load.ts). Import z from
// here (`from './zod.cjs'`), never from 'zod' itself: two copies of zod would not share a registry.
import { z } from 'zod';

// Without the parsers zod generates (new Function) for each object schema on its first parse: a
// command parses a spec once, and compiling them costs more than they save (~18 ms of CPU on
// clock-app-ha's first load). The results are the same.
z.config({ jitless: true });

export { z };
