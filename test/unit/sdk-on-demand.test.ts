// The AWS client factory loads no SDK package until a client is asked for: every command's first AWS
// call waits for the SDK packages loaded before it (issue 16: first call within 0.25 s).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
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
});
