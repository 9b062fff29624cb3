import childProcess, { type SpawnSyncOptions } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';

// Every test talks only to moto servers it starts itself: dummy credentials, never a real account.
process.env.AWS_ACCESS_KEY_ID = 'testing';
process.env.AWS_SECRET_ACCESS_KEY = 'testing';
process.env.AWS_REGION = 'us-east-1';
delete process.env.AWS_PROFILE;
delete process.env.AWS_ENDPOINT_URL;
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
process.env.NO_COLOR = '1';
// Tests reset moto between cases, which looks like "created a moment ago, not listed yet" to the
// eventual-consistency grace of src/engine/recent.ts; the test of that grace turns it on itself.
process.env.RECONCILE_CREATE_GRACE_MS = '0';
// moto has no API rate limits; the limiter stays on (its buckets are exercised) at ten times AWS's
// rates so that tests creating many resources are not paced like a real account. Tests of the limiter
// set their own scale.
process.env.RECONCILE_RATE_SCALE ??= '10';
// Local state (lock files, the create journal, alert state) goes to a directory of this test file's
// own, never to the developer's ~/.local/state: CLI processes the tests spawn inherit it. Caches (the
// compile cache, the spec parse cache) go to one folder of the test runs' own under the system's
// temporary folder, shared by the test files (a warm cache keeps the CLI's start-up as users see
// it), never to the developer's ~/.cache. Tests of those paths set their own.
const stateDir = mkdtempSync(join(tmpdir(), 'reconcile-test-state-'));
process.env.XDG_STATE_HOME = stateDir;
afterAll(() => rmSync(stateDir, { recursive: true, force: true }));
process.env.XDG_CACHE_HOME = join(tmpdir(), `reconcile-test-cache-${process.getuid?.() ?? 'user'}`);

// A process a test runs to its end (spawnSync, execFileSync) blocks the test's thread, so vitest's
// testTimeout cannot stop it: one that never ends would hang the whole run (CI's 90 minutes). Unless
// the test gives its own timeout, such a process is killed after two minutes, and the test fails on
// its status instead. (syncBuiltinESMExports: test files' `import { spawnSync }` see the wrapper.)
const SYNC_TIMEOUT_MS = 120_000;
for (const name of ['spawnSync', 'execFileSync', 'execSync'] as const) {
  const original = childProcess[name] as (...a: unknown[]) => unknown;
  (childProcess as unknown as Record<string, unknown>)[name] = (...args: unknown[]) => {
    // (command, options) or (file, args, options), args possibly undefined; the options may be left out.
    const at = name !== 'execSync' && (Array.isArray(args[1]) || (args[1] == null && args.length > 2)) ? 2 : 1;
    const given = (args[at] ?? {}) as SpawnSyncOptions;
    args[at] = { timeout: SYNC_TIMEOUT_MS, killSignal: 'SIGKILL', ...given };
    return original(...args);
  };
}
syncBuiltinESMExports();
