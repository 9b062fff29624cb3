// makeDir (src/make-dir.ts): a folder and its missing parents, made once each; where mkdir cannot
// make one it fails at once (Node's own recursive mkdir loops forever under /proc/self).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeDir } from '../../src/make-dir.js';

describe('makeDir', () => {
  it('makes the folder and its missing parents with the mode given, and again is no error', () => {
    const base = mkdtempSync(join(tmpdir(), 'reconcile-mkdir-'));
    const deep = join(base, 'a', 'b', 'c');
    makeDir(deep, 0o700);
    expect(statSync(deep).isDirectory()).toBe(true);
    expect(statSync(join(base, 'a')).mode & 0o777).toBe(0o700);
    makeDir(deep, 0o700);
    makeDir(base);
  });

  it('fails, not loops, where mkdir answers ENOENT under a parent that exists (/proc/self)', () => {
    expect(() => makeDir('/proc/self/no-such-folder/reconcile/specs')).toThrow(/ENOENT/);
  });

  it('fails where a file stands in the way', () => {
    const base = mkdtempSync(join(tmpdir(), 'reconcile-mkdir-file-'));
    writeFileSync(join(base, 'f'), 'x');
    expect(() => makeDir(join(base, 'f', 'sub'))).toThrow(/ENOTDIR/);
  });

  it('a process a test runs to its end is stopped by test/setup.ts after its timeout, not left to hang the run', () => {
    const r = spawnSync(process.execPath, ['-e', 'for(;;){}'], { timeout: 500 });
    expect(r.signal).toBe('SIGKILL');
    const cli = resolve(import.meta.dirname, '../../dist/cli.js');
    // The command that hung CI: a spec cache under a cache home that cannot be written.
    const v = spawnSync(process.execPath, [cli, 'validate', resolve(import.meta.dirname, '../../examples/clock-app-ha.yaml')], {
      encoding: 'utf8',
      timeout: 30_000,
      env: { PATH: process.env.PATH!, XDG_CACHE_HOME: '/proc/self/no-such-folder', NO_COLOR: '1' },
    });
    expect(v.signal, v.stderr).toBeNull();
    expect(v.status, v.stderr).toBe(0);
  });
});
