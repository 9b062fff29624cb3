// diff is pure: it depends on its arguments only. Each spec below takes its outside data from places
// that cannot be read here (a file that does not exist, a URL nothing answers, an AMI query no AWS
// can answer); handed plain values for what prepare would resolve -- no ctx, no AWS, no cache filled
// beforehand -- diff answers from them alone, leaves its (frozen) arguments untouched, gives the same
// answer every time, and a different one only when the values handed to it differ.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Desired, FieldChange, Observed } from '../../src/engine/types.js';
import { hashBytes } from '../../src/inputs/content.js';
import { sha256Hex } from '../../src/inputs/user-data.js';
import instance from '../../src/reconcilers/instance.js';
import launchTemplate from '../../src/reconcilers/launch-template.js';
import bucket from '../../src/reconcilers/s3-bucket.js';
import type { LaunchInputs } from '../../src/reconcilers/launch-inputs.js';
import type { BucketInputs } from '../../src/reconcilers/s3-objects.js';
import { desired } from '../helpers/aws.js';
import { observed, ownTags } from '../helpers/observed.js';

const NOWHERE = '/nonexistent/reconcile-diff-pure';
const AMI_QUERY = { owner: 'amazon', name: 'al2023-ami-2023.*-x86_64' };
const AMI = 'ami-0123456789abcdef0';
const BOOT = '#!/bin/sh\necho boot\n';

function deepFreeze<T>(v: T): T {
  if (v && typeof v === 'object' && !ArrayBuffer.isView(v) && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v as Record<string, unknown>)) deepFreeze(x);
  }
  return v;
}

/** A frozen desired view of the spec folder NOWHERE (its ref() keeps working: a frozen closure). */
const frozen = <D extends Desired>(d: D): D => deepFreeze({ ...d, specDir: NOWHERE });

const userData = (text: string) => {
  const bytes = Buffer.from(text);
  return { text, base64: bytes.toString('base64'), sha256: sha256Hex(bytes), sensitive: false, source: `${NOWHERE}/boot.sh` };
};

/** Runs diff twice on the same frozen values: same answer, nothing mutated. */
function pureDiff<L, P>(diff: (d: never, o: Observed<L>, inputs: P) => FieldChange[], d: Desired, o: Observed, inputs: P): FieldChange[] {
  const args = [d, deepFreeze(o), deepFreeze(inputs)] as const;
  const before = JSON.stringify(args.slice(1));
  const first = diff(args[0] as never, args[1] as Observed<L>, args[2]);
  expect(diff(args[0] as never, args[1] as Observed<L>, args[2])).toEqual(first);
  expect(JSON.stringify(args.slice(1))).toBe(before);
  return first;
}

describe('diff is pure: plain values in, no ctx, no AWS, no file', () => {
  it('instance: an AMI query, a user data file and a key pair id, all answered by the inputs', () => {
    const d = frozen(desired('instance', 'web', { ami: AMI_QUERY, instanceType: 't3.micro', userData: { file: 'boot.sh' }, keyPair: 'key-0abc1234' }));
    const live = { state: 'running', ami: AMI, instanceType: 't3.micro', securityGroups: [], keyPair: 'ops', userData: `sha256:${sha256Hex(BOOT)}`, monitoring: false, publicIp: true };
    const o = observed('web', live, { tags: ownTags('web', { 'reconcile:user-data-sha256': sha256Hex(BOOT) }) });
    const inputs = (over: Partial<LaunchInputs> = {}): LaunchInputs => ({ ami: AMI, amiMatching: [AMI], keyName: 'ops', userData: userData(BOOT), ...over });
    expect(pureDiff(instance.diff, d, o, inputs())).toEqual([]);
    expect(pureDiff(instance.diff, d, o, inputs({ ami: 'ami-0newer', amiMatching: ['ami-0newer'] })).map((c) => c.path)).toEqual(['ami']);
    expect(pureDiff(instance.diff, d, o, inputs({ keyName: 'other' })).map((c) => c.path)).toEqual(['keyPair']);
    expect(pureDiff(instance.diff, d, o, inputs({ userData: userData('echo changed') })).map((c) => c.path)).toEqual(['userData']);
  });

  it('launch-template: the same inputs, a new version when they change', () => {
    const d = frozen(desired('launch-template', 'lt', { ami: AMI_QUERY, instanceType: 't3.micro', userData: { file: 'boot.sh' } }));
    const launched = { Name: 'test-lt', 'reconcile:stack': 'test', 'reconcile:owner': 'launch-template.lt' };
    const live = {
      templateName: 'test-lt',
      ami: AMI,
      instanceType: 't3.micro',
      securityGroups: [],
      userData: `sha256:${sha256Hex(BOOT)}`,
      monitoring: false,
      instanceTags: launched,
      volumeTags: launched,
      latestVersion: 2,
      defaultVersion: 2,
    };
    const inputs = (over: Partial<LaunchInputs> = {}): LaunchInputs => ({ ami: AMI, amiMatching: [AMI], userData: userData(BOOT), ...over });
    const o = observed('lt', live);
    expect(pureDiff(launchTemplate.diff, d, o, inputs())).toEqual([]);
    expect(pureDiff(launchTemplate.diff, d, o, inputs({ ami: 'ami-0newer' })).map((c) => [c.path, c.forcesReplace])).toEqual([['ami', false]]);
  });

  it('s3-bucket: object content from a file and a URL, compared by the hashes handed in', () => {
    const objects = [
      { key: 'index.html', file: 'site/index.html' },
      { key: 'logo.png', url: 'http://127.0.0.1:9/logo.png' },
    ];
    const d = frozen(desired('s3-bucket', 'site', { bucketName: 'test-site-bucket', objects }));
    const md5 = (s: string) => createHash('md5').update(s).digest('hex');
    const object = (s: string, contentType: string) => ({ sha256: sha256Hex(s), md5: md5(s), contentType, public: false });
    const live = {
      bucketName: 'test-site-bucket',
      versioning: false,
      encryption: 'AES256',
      publicAccessBlock: true,
      lifecycle: [],
      objects: { 'index.html': object('<h1>hi</h1>', 'text/html'), 'logo.png': object('PNG', 'image/png') },
      forceDestroy: false,
    };
    const inputs = (html: string): BucketInputs => ({ objects: { 'index.html': hashBytes(Buffer.from(html)), 'logo.png': hashBytes(Buffer.from('PNG')) } });
    const o = observed('site', live, { id: 'test-site-bucket' });
    expect(pureDiff(bucket.diff, d, o, inputs('<h1>hi</h1>'))).toEqual([]);
    expect(pureDiff(bucket.diff, d, o, inputs('<h1>new</h1>'))).toEqual([
      { path: 'objects[index.html]', before: `sha256:${sha256Hex('<h1>hi</h1>').slice(0, 12)}`, after: `sha256:${sha256Hex('<h1>new</h1>').slice(0, 12)}`, forcesReplace: false },
    ]);
  });
});
