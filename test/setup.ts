import { mkdtempSync, rmSync } from 'node:fs';
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
// Local state (lock files, the create journal, alert state) and caches go to a directory of this test
// file's own, never to the developer's ~/.local/state or ~/.cache: CLI processes the tests spawn
// inherit it. Tests of those paths set their own.
const stateDir = mkdtempSync(join(tmpdir(), 'reconcile-test-state-'));
process.env.XDG_STATE_HOME = stateDir;
afterAll(() => rmSync(stateDir, { recursive: true, force: true }));
