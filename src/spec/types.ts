// What the loader hands to the rest of the tool.
import type { RefUse, SpecPath } from './common.js';
import type { AnyResourceSpec, KindName, Spec } from './schema.js';

export interface Position {
  line: number; // 1-based
  col: number; // 1-based
}

export interface Diagnostic {
  file: string;
  line: number;
  col: number;
  severity: 'error' | 'warning';
  message: string;
  /** What to write instead, e.g. 'did you mean "subnets"?'. */
  hint?: string;
  path?: SpecPath;
}

export interface LoadedResource {
  name: string;
  kind: KindName;
  /** "kind.name", e.g. "subnet.public". */
  address: string;
  /** Validated body with defaults applied and ${env:...} interpolated. */
  body: AnyResourceSpec;
  /** References to other resources of the spec (external ids/ARNs are not listed). */
  refs: RefUse[];
  /** Names of the resources this one depends on (refs + dependsOn), deduplicated: the creation order. */
  deps: string[];
  /**
   * Names its late references need to exist (RefUse.late): not in `deps` and never itself. Apply
   * finishes this resource (its second step) once they exist.
   */
  late: string[];
  pos: Position;
}

export interface LoadedSpec {
  file: string;
  /** Folder of the spec file: relative paths (userData.file, objects[].file) resolve against it. */
  dir: string;
  spec: Spec;
  /** In the order they appear in the file. */
  resources: LoadedResource[];
  warnings: Diagnostic[];
  /** sha256 of the spec after interpolation. */
  hash: string;
}

export type LoadResult = { ok: true; loaded: LoadedSpec } | { ok: false; diagnostics: Diagnostic[] };
