// The AWS client factory loads no SDK package until a client is asked for: every command's first AWS
// call waits for the SDK packages loaded before it (issue 16: first call within 0.25 s).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');

describe('SDK packages load on demand', () => {
  it('importing src/aws/clients.ts loads none; the first ec2() loads client-ec2 only', () => {
    const clients = join(ROOT, 'dist/src/aws/clients.js');
    if (!existsSync(clients)) throw new Error('dist/ is missing: run npm run build (npm test does)');
    const script = [
      `import { createRequire } from 'node:module';`,
      `const { Aws } = await import(${JSON.stringify(pathToFileURL(clients).href)});`,
      `const loaded = () => Object.keys(createRequire(import.meta.url).cache).filter((k) => /@aws-sdk\\/client-/.test(k)).map((k) => k.replace(/.*@aws-sdk\\/(client-[^/]+).*/, '$1'));`,
      `const before = loaded();`,
      `const aws = new Aws({ region: 'us-east-1' });`,
      `await aws.ec2();`,
      `console.log(JSON.stringify({ before, after: loaded() }));`,
      `aws.destroy();`,
    ].join('\n');
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env: { PATH: process.env.PATH!, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' } });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ before: [], after: ['client-ec2'] });
  });

  it('validate loads no SDK; run again on the same spec (its parse kept), not the YAML library either', () => {
    const cli = join(ROOT, 'dist/cli.js');
    if (!existsSync(cli)) throw new Error('dist/ is missing: run npm run build (npm test does)');
    // At exit: the CommonJS modules loaded (the SDK and yaml are CommonJS), by package.
    const probe = `import { createRequire } from 'node:module'; process.on('exit', () => { const k = Object.keys(createRequire(process.cwd() + '/').cache); console.error(JSON.stringify({ sdk: k.filter((f) => /@aws-sdk|@smithy/.test(f)).length, yaml: k.filter((f) => /node_modules\\/yaml\\/(?!package\\.json)/.test(f)).length })); });`;
    const env = { PATH: process.env.PATH!, XDG_CACHE_HOME: mkdtempSync(join(tmpdir(), 'reconcile-startup-')) };
    const run = () => {
      const r = spawnSync(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(probe)}`, cli, 'validate', join(ROOT, 'examples/clock-app-ha.yaml')], { encoding: 'utf8', env });
      expect(r.status, r.stderr).toBe(0);
      return JSON.parse(r.stderr.trim().split('\n').pop()!) as { sdk: number; yaml: number };
    };
    const first = run();
    expect(first.sdk).toBe(0);
    expect(first.yaml).toBeGreaterThan(10);
    expect(run()).toEqual({ sdk: 0, yaml: 0 });
  });
});
