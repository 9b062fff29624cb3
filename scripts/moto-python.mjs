// Which python runs moto: the project's .venv/ when scripts/setup.mjs installed moto there (the python3
// on PATH had none), else python3. Used by the demo and the tests (test/helpers/moto.ts).
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** The moto version the project is tested with (README's install line says the same). */
export const MOTO_VERSION = '5.2.1';
export const VENV_PYTHON = '.venv/bin/python3';
/** Written by setup once moto is installed in .venv/: a half-made venv is never used. */
export const VENV_MARKER = '.venv/reconcile-moto-installed';

export function motoPython(root) {
  return existsSync(join(root, VENV_MARKER)) ? join(root, VENV_PYTHON) : 'python3';
}
