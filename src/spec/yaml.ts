// The `yaml` library, loaded on first use rather than at start-up: a spec whose parse an earlier
// run kept (./parse-cache.ts) is loaded without it, and loading it costs about 25 ms of CPU (70
// modules). Import what the spec code uses from here, never from 'yaml' itself (`import type` is fine).
import { createRequire } from 'node:module';
import type * as Yaml from 'yaml';

let lib: typeof Yaml | undefined;
const yaml = (): typeof Yaml => (lib ??= createRequire(import.meta.url)('yaml') as typeof Yaml);

export const parse = ((...a: Parameters<typeof Yaml.parse>) => yaml().parse(...a)) as typeof Yaml.parse;
export const parseDocument = ((...a: Parameters<typeof Yaml.parseDocument>) => yaml().parseDocument(...a)) as typeof Yaml.parseDocument;
export const visit = ((...a: Parameters<typeof Yaml.visit>) => yaml().visit(...a)) as typeof Yaml.visit;
export const lineCounter = (): Yaml.LineCounter => new (yaml().LineCounter)();
export const isAlias = ((n: unknown) => yaml().isAlias(n)) as typeof Yaml.isAlias;
export const isMap = ((n: unknown) => yaml().isMap(n)) as typeof Yaml.isMap;
export const isPair = ((n: unknown) => yaml().isPair(n)) as typeof Yaml.isPair;
export const isScalar = ((n: unknown) => yaml().isScalar(n)) as typeof Yaml.isScalar;
export const isSeq = ((n: unknown) => yaml().isSeq(n)) as typeof Yaml.isSeq;
