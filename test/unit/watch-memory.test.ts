// What watch does to stay small between cycles (src/watch/memory.ts) relies on V8 flags set at run
// time taking effect; these tests check that they do on the Node running the tests.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import v8 from 'node:v8';
import { NO_OPTIMIZER_FLAG, OPTIMIZER_FLAG, releaseMemory, YOUNG_GENERATION_FLAG } from '../../src/watch/memory.js';

const space = (name: string) => v8.getHeapSpaceStatistics().find((s) => s.space_name === name)!.space_size;

describe('releaseMemory', () => {
  it('runs a full GC that compacts the old generation and gives its free pages back', () => {
    // Old-generation garbage with a little live data spread over its pages: what a cycle leaves.
    let keep: { i: number; s: string }[] = [];
    for (let i = 0; i < 300_000; i++) keep.push({ i, s: `x${i}` });
    keep = keep.filter((_, i) => i % 20 === 0);
    releaseMemory(); // settles what the test runner left
    for (let round = 0; round < 3; round++) {
      let more: { i: number; s: string }[] = [];
      for (let i = 0; i < 300_000; i++) more.push({ i, s: `y${i}` });
      more = more.filter((_, i) => i % 20 === 0);
      keep.push(...more);
    }
    const before = space('old_space');
    const ms = releaseMemory();
    expect(ms).toBeTypeOf('number');
    expect(space('old_space')).toBeLessThan(before);
    expect(keep.length).toBe(60_000);
  });

  it('can run after every cycle', () => {
    for (let i = 0; i < 3; i++) expect(releaseMemory()).toBeTypeOf('number');
  });
});

describe('the young generation flag', () => {
  // In a fresh process (this one's young generation has long grown): set at run time as watch does,
  // then allocate with survivors; without the flag the young generation doubles up to 32 MB.
  const script = (flag: string) => `
    const v8 = require('node:v8');
    ${flag ? `v8.setFlagsFromString(${JSON.stringify(flag)});` : ''}
    let keep = [];
    for (let r = 0; r < 20; r++) for (let i = 0; i < 200000; i++) { keep.push({ i, s: 'x' + i }); if (keep.length > 150000) keep = keep.slice(75000); }
    process.stdout.write(String(v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size));`;
  const newSpace = (flag: string) => Number(spawnSync(process.execPath, ['-e', script(flag)], { encoding: 'utf8' }).stdout);

  it(`${YOUNG_GENERATION_FLAG} set at run time keeps it from growing`, () => {
    const grown = newSpace('');
    const held = newSpace(YOUNG_GENERATION_FLAG);
    expect(grown).toBeGreaterThan(8 * 2 ** 20);
    expect(held).toBeLessThanOrEqual(4 * 2 ** 20);
  });
});

describe('the optimizing compiler flags', () => {
  // In a fresh process: a function called often enough that V8 optimizes it by default; its status
  // bit "optimized" (16, %GetOptimizationStatus) with the flags set at run time as watch sets them.
  const script = (flags: string[]) => `
    const v8 = require('node:v8');
    v8.setFlagsFromString('--allow-natives-syntax');
    for (const f of ${JSON.stringify(flags)}) v8.setFlagsFromString(f);
    const status = new Function('f', 'return %GetOptimizationStatus(f)');
    function hot(a) { let s = 0; for (let i = 0; i < 100; i++) s += (a * i) % 7; return s; }
    let t = 0;
    for (let i = 0; i < 200000; i++) t += hot(i);
    process.stdout.write(String((status(hot) & 16) !== 0));`;
  const optimized = (flags: string[]) => spawnSync(process.execPath, ['-e', script(flags)], { encoding: 'utf8' }).stdout;

  it(`${NO_OPTIMIZER_FLAG} set at run time keeps hot functions from being optimized; --opt turns it back on`, () => {
    expect(optimized([])).toBe('true');
    expect(optimized([NO_OPTIMIZER_FLAG])).toBe('false');
    expect(optimized([NO_OPTIMIZER_FLAG, OPTIMIZER_FLAG])).toBe('true');
  });
});
