// The parsers of the numeric and duration flags (src/commands/flags.ts): what each accepts, and a
// one-line "Allowed: ..." for everything else.
import { describe, expect, it } from 'vitest';
import { FLAG_PARSERS, durationFlag, intFlag } from '../../src/commands/flags.js';

const refuses = (parse: (v: string) => unknown, v: string) => {
  try {
    parse(v);
  } catch (e) {
    return (e as Error).message;
  }
  return undefined;
};

describe('numeric flags', () => {
  it.each(['0', '-1', 'abc', '', ' ', '1.5', '8abc', '1e3', '0x10', '101', 'Infinity', 'NaN', '+3'])('--concurrency %j is refused', (v) => {
    expect(refuses(FLAG_PARSERS.concurrency, v)).toBe('Allowed: a whole number from 1 to 100.');
  });
  it.each([['1', 1], ['8', 8], [' 100 ', 100]])('--concurrency %j is %d', (v, n) => expect(FLAG_PARSERS.concurrency(v)).toBe(n));
  it.each(['-1', '2.5', 'x', '9007199254740993'])('--max-deletes %j is refused', (v) => {
    expect(refuses(FLAG_PARSERS.maxDeletes, v)).toBe('Allowed: a whole number, 0 or more.');
  });
  it('--max-deletes 0 is allowed (no deletes at all)', () => expect(FLAG_PARSERS.maxDeletes('0')).toBe(0));
  it.each(['99999', '65536', '-1', 'http'])('--port %j is refused', (v) => expect(refuses(FLAG_PARSERS.port, v)).toBe('Allowed: a whole number from 0 to 65535.'));
  it.each([['0', 0], ['9464', 9464], ['65535', 65535]])('--port %j is %d', (v, n) => expect(FLAG_PARSERS.port(v)).toBe(n));
  it('intFlag bounds are inclusive', () => {
    expect(intFlag(2, 3)('2')).toBe(2);
    expect(refuses(intFlag(2, 3), '4')).toBe('Allowed: a whole number from 2 to 3.');
  });
});

describe('duration flags', () => {
  it.each(['5', 'soon', '1.5m', '-1s', '10 m', '1w', ''])('--timeout %j is refused', (v) => {
    expect(refuses(FLAG_PARSERS.timeout, v)).toBe('Allowed: a number and a unit (ms, s, m, h, d), e.g. 30s, 5m, 1h; at least 1s.');
  });
  it.each(['0s', '999ms'])('--interval %j is too short', (v) => expect(refuses(FLAG_PARSERS.interval, v)).toBe('Allowed: a duration of at least 1s.'));
  it.each(['1s', '30s', '5m', '2h', '1d', ' 10m '])('--timeout %j is kept as written', (v) => expect(FLAG_PARSERS.timeout(v)).toBe(v.trim()));
  it('--lock-timeout 0s is allowed (fail at once when locked)', () => expect(FLAG_PARSERS.lockTimeout('0s')).toBe('0s'));
  it('a minimum below a second is named in ms', () => expect(refuses(durationFlag(1500), '1s')).toBe('Allowed: a duration of at least 1500ms.'));
});
