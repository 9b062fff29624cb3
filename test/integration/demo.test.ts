// `npm run demo` is the first command a newcomer runs: it must work on a machine with moto.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';

describe('npm run demo', () => {
  it('starts moto, applies microblog-vpc, re-plans with no changes, says what to try next, and stops moto', () => {
    const r = spawnSync(process.execPath, ['scripts/demo.mjs'], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, NO_COLOR: '1' } });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('Apply complete');
    expect(r.stdout).toContain('No changes. microblog-vpc');
    expect(r.stdout).toContain('Try next');
  });
});
