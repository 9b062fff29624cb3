// Creating a folder and its missing parents. Not mkdirSync(p, { recursive: true }): on Node 20 that
// loops forever, at full CPU, where mkdir answers ENOENT for a folder whose parent exists
// (/proc/self/<name>, seen as a cache home that cannot be written), and a command must never hang on
// where it keeps a cache. Here each missing folder is made once, parent first; any error is thrown.
import { mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

const codeOf = (e: unknown) => (e as NodeJS.ErrnoException)?.code;

export function makeDir(path: string, mode?: number): void {
  const missing: string[] = [];
  for (let p = resolve(path); ; p = dirname(p)) {
    try {
      if (statSync(p).isDirectory()) break;
      throw Object.assign(new Error(`ENOTDIR: not a directory, mkdir '${p}'`), { code: 'ENOTDIR', path: p });
    } catch (e) {
      if (codeOf(e) !== 'ENOENT') throw e;
    }
    if (dirname(p) === p) break;
    missing.push(p);
  }
  for (const dir of missing.reverse()) {
    try {
      mkdirSync(dir, { mode });
    } catch (e) {
      if (codeOf(e) !== 'EEXIST') throw e;
    }
  }
}
