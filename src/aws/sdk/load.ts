// The AWS SDK v3 packages are CommonJS. An ESM `import` of one makes Node read the whole bundle three
// times -- to detect its module format, to lex its named exports, then to compile it -- where
// require() compiles it once: for @aws-sdk/client-ec2 (a 2 MB bundle) that is about 320 ms against
// 160 ms of every plan's start. So the SDK is only ever loaded through the modules of this folder,
// one per client package, which require() it; import commands and types from them
// (`from '../aws/sdk/ec2.js'`), never from '@aws-sdk/client-*' directly. Types only (`import type`)
// may come from the package itself: they are erased.
import { createRequire } from 'node:module';

const req = createRequire(import.meta.url);

/** require() of an SDK package, typed as its ESM namespace. */
export const requireSdk = <T>(pkg: string): T => req(pkg) as T;
