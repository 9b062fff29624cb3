// The memory of the long-lived `watch` process. V8 keeps the heap it grows: a cycle that parses a
// large answer (DescribeInstances for 1,000 instances is 3 MB of XML) leaves old-generation pages
// that are mostly garbage until the next major GC, and a young generation that has grown to its
// 16 MB semi-spaces (32 MB resident) and never shrinks while the process is busy every minute. Two
// remedies, both applied by the process itself (no command-line flag needed) and neither of which
// caps the heap (so nothing here can turn into an out-of-memory where V8's defaults would survive):
//
// - keepYoungGenerationSmall(): the young generation stays at its initial 1 MB semi-spaces instead of
//   doubling up to 16 MB (V8's --semi-space-growth-factor is read at each growth, so setting it at
//   run time takes effect, unlike --max-semi-space-size, which is read once at startup). Objects
//   that outlive a few scavenges are promoted sooner; the idle GC below collects them.
// - optimizeNoMore(): for `watch SPEC`, V8's optimizing compiler (TurboFan) is turned off, so JS runs
//   as bytecode and Sparkplug's baseline code. TurboFan compiles on V8's helper threads, and glibc
//   gives each thread that allocates a malloc arena of its own, which keeps what TurboFan's compile
//   memory left behind: about 4 MB on each of four threads, plus about 4 MB of TurboFan's own code in
//   the node binary paged in. Measured over the benchmark's watch (clock-app-ha plus an alert rule
//   over 1,000 instances): about 130 MB RSS held between cycles with TurboFan, 111 MB without; a cycle
//   takes about 0.8 s of CPU instead of 0.5 s. cli.ts calls it first thing for `watch` (TurboFan's
//   threads would otherwise have started on the CLI's own start-up); `watch DIR` (a fleet, many
//   stacks a process, where CPU per cycle counts for more) and `watch --once` call optimizeAgain().
// - releaseMemory(): once a cycle is done and the process is about to sleep until the next one, one
//   full GC that compacts the old generation (--compact-on-every-full-gc for this one GC) and sweeps
//   on this thread (--no-concurrent-sweeping for this one GC), so the pages it frees go back to the
//   OS before the process goes idle instead of some time later on a V8 helper thread. About 50 ms per
//   cycle on an idle 2-core machine; flags are restored right after.
//
// Both use v8.setFlagsFromString after startup. Node documents that as unsupported in general; these
// flags are plain values V8 reads each time it uses them (checked on Node 20.20 / V8 11.3 and Node
// 22.23 / V8 12.4 by test/unit/watch-memory.test.ts, which fails on a Node where they stop working;
// newer V8 sources clamp --semi-space-growth-factor to at least 2, which would make the young
// generation grow as by default again). Where a Node version ignores one, watch still runs, with V8's
// default heap behaviour; deploy/ also sets --max-semi-space-size=1 at startup.
import v8 from 'node:v8';
import vm from 'node:vm';

type GcFunction = () => void;

/** The young generation keeps the size it has: it no longer doubles when survivors fill it. */
export const YOUNG_GENERATION_FLAG = '--semi-space-growth-factor=1';

let gcFn: GcFunction | null | undefined;

/** V8's gc(), exposed at run time (--expose-gc applies to contexts created afterwards). */
function gcFunction(): GcFunction | null {
  if (gcFn !== undefined) return gcFn;
  try {
    v8.setFlagsFromString('--expose-gc');
    const fn = vm.runInNewContext('gc') as unknown;
    gcFn = typeof fn === 'function' ? (fn as GcFunction) : null;
  } catch {
    gcFn = null;
  }
  return gcFn;
}

/** Call once, as early as possible: the young generation stops growing from here on. */
export function keepYoungGenerationSmall(): void {
  try {
    v8.setFlagsFromString(YOUNG_GENERATION_FLAG);
  } catch {
    /* not this V8: its default growth */
  }
}

/** V8's optimizing compiler does not run: its flag is read each time a function gets hot. */
export const NO_OPTIMIZER_FLAG = '--no-opt';
/** V8's default: hot functions are optimized. */
export const OPTIMIZER_FLAG = '--opt';

/**
 * Call once, before the work starts: no function is optimized from here on (those optimized before
 * keep their code). Memory over CPU, for a process that is idle between cycles.
 */
export function optimizeNoMore(): void {
  try {
    v8.setFlagsFromString(NO_OPTIMIZER_FLAG);
  } catch {
    /* not this V8: TurboFan as by default */
  }
}

/** V8's optimizing compiler runs again, as by default. */
export function optimizeAgain(): void {
  try {
    v8.setFlagsFromString(OPTIMIZER_FLAG);
  } catch {
    /* not this V8 */
  }
}

/**
 * First thing for `watch` (cli.ts), before the CLI's own modules load: the young generation stays
 * small and V8's optimizing compiler is off. Both together: code that is not optimized allocates
 * more (no escape analysis), and the young generation would have grown to 4 MB semi-spaces by the
 * time service-heap.ts sets the first.
 */
export function startService(): void {
  keepYoungGenerationSmall();
  optimizeNoMore();
}

/**
 * A full, compacting GC that returns the pages it frees to the OS before it returns. For the moment a
 * long-lived process goes idle. Returns the milliseconds it took, or undefined where gc() cannot be had.
 */
export function releaseMemory(): number | undefined {
  const gc = gcFunction();
  if (!gc) return undefined;
  const start = performance.now();
  try {
    v8.setFlagsFromString('--compact-on-every-full-gc');
    v8.setFlagsFromString('--no-concurrent-sweeping');
    gc();
  } finally {
    v8.setFlagsFromString('--concurrent-sweeping');
    v8.setFlagsFromString('--no-compact-on-every-full-gc');
  }
  return Math.round((performance.now() - start) * 10) / 10;
}
