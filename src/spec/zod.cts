// zod for the spec's schemas, loaded with require(): its ES build is 95 modules (every locale
// included), which Node's ES module loader costs ~20 ms more CPU to load at every start than the
// same modules' CommonJS build through the CLI's compile cache (src/aws/sdk/load.ts). Import z from
// here (`from './zod.cjs'`), never from 'zod' itself: two copies of zod would not share a registry.
export { z } from 'zod';
