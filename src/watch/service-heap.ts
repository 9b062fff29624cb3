// Imported first by src/commands/watch.ts, for its side effect: `watch` is a long-lived service, and
// V8's young generation must stop growing before the modules of watch load (they load the AWS SDK,
// the process's first large allocation, and the young generation would otherwise have grown to its
// 16 MB semi-spaces before watchCommand runs). See memory.ts.
import { keepYoungGenerationSmall } from './memory.js';

keepYoungGenerationSmall();
