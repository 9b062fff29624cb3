#!/usr/bin/env node
// `npm run demo`: start a local moto server, apply examples/microblog-vpc.yaml to it, re-plan to show
// there is nothing left to do, and say what to try next. `npm run demo -- --keep` leaves moto running.
import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { motoPython } from './moto-python.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const keep = process.argv.includes('--keep');
const spec = process.argv.find((a) => a.endsWith('.yaml')) ?? 'examples/microblog-vpc.yaml';

const port = await new Promise((res) => {
  const s = createServer();
  s.listen(0, '127.0.0.1', () => {
    const p = s.address().port;
    s.close(() => res(p));
  });
});
const endpoint = `http://127.0.0.1:${port}`;
console.log(`Starting moto (a local AWS stand-in) on ${endpoint} ...`);
// moto ships Amazon Linux AMIs but no Ubuntu, which examples/flask-cpu-alert.yaml looks up: serve the
// AMIs every example looks up (moto reads them from MOTO_AMIS_PATH, in place of its bundled ones).
const moto = spawn(motoPython(root), ['-m', 'moto.server', '-H', '127.0.0.1', '-p', String(port)], {
  stdio: 'ignore',
  env: { ...process.env, MOTO_AMIS_PATH: join(root, 'test/fixtures/amis.json') },
});
moto.on('exit', (code) => {
  if (code && code !== 0) {
    console.error('moto exited. Is it installed? npm run demo installs it (scripts/setup.mjs), or pip install "moto[server]==5.2.1"');
    process.exit(1);
  }
});
for (let i = 0; ; i++) {
  try {
    if ((await fetch(`${endpoint}/moto-api/data.json`)).ok) break;
  } catch {}
  if (i > 200) {
    console.error('moto did not start in 30 s. Is it installed? npm run demo installs it (scripts/setup.mjs), or pip install "moto[server]==5.2.1"');
    moto.kill();
    process.exit(1);
  }
  await new Promise((r) => setTimeout(r, 150));
}

const env = { ...process.env, AWS_ENDPOINT_URL: endpoint, AWS_ACCESS_KEY_ID: 'demo', AWS_SECRET_ACCESS_KEY: 'demo', AWS_REGION: 'us-east-1' };
const cli = (...args) => {
  console.log(`\n$ reconcile ${args.join(' ')}`);
  return spawnSync(process.execPath, [join(root, 'dist/cli.js'), ...args], { stdio: 'inherit', env, cwd: root }).status;
};

// The stack lock, as a team would use it (README, Safety): a bucket in the demo's moto.
const lockBucket = 'reconcile-demo-locks';
await fetch(`${endpoint}/${lockBucket}`, { method: 'PUT' });
let code = cli('apply', spec, '--yes', '--lock-bucket', lockBucket);
if (code === 0) code = cli('plan', spec, '--detailed-exitcode');
console.log(`
That was ${spec}, applied to moto and re-planned: no changes left.
Try next (with moto running: npm run demo -- --keep):
  export AWS_ENDPOINT_URL=${endpoint} AWS_ACCESS_KEY_ID=demo AWS_SECRET_ACCESS_KEY=demo
  node dist/cli.js plan ${spec}          # then edit a port in the spec and plan again
  node dist/cli.js output ${spec}
  node dist/cli.js destroy ${spec} --yes --lock-bucket ${lockBucket}`);
if (keep) {
  console.log(`\nmoto keeps running on ${endpoint}; Ctrl-C to stop it.`);
  process.on('SIGINT', () => { moto.kill(); process.exit(0); });
} else {
  moto.kill();
  process.exitCode = code ?? 1;
}
