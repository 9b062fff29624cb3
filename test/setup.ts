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
