// The parsers of every numeric and duration flag, for commander's .argParser(): a bad value is a
// usage error before the command runs (so before any AWS call), in one line naming the flag and
// what it allows, e.g.
//   error: option '--concurrency <n>' argument '0' is invalid. Allowed: a whole number from 1 to 100.
import { InvalidArgumentError } from 'commander';
import { MIN_WATCH_INTERVAL_MS, parseDuration } from '../spec/common.js';

/** A whole number in [min, max]: digits only ("8abc", "1.5", "1e3", "-1" and "" are refused). */
export function intFlag(min: number, max = Number.MAX_SAFE_INTEGER): (v: string) => number {
  const allowed = max === Number.MAX_SAFE_INTEGER ? `a whole number, ${min} or more` : `a whole number from ${min} to ${max}`;
  return (v) => {
    const s = v.trim();
    const n = /^\d+$/.test(s) ? Number(s) : Number.NaN;
    if (!(n >= min && n <= max)) throw new InvalidArgumentError(`Allowed: ${allowed}.`);
    return n;
  };
}

const human = (ms: number) => (ms % 1000 ? `${ms}ms` : `${ms / 1000}s`);

/** A duration (30s, 5m, 1h; units ms s m h d) of at least minMs. Returns the text as given, trimmed. */
export function durationFlag(minMs = 0): (v: string) => string {
  return (v) => {
    const s = v.trim();
    let ms: number;
    try {
      ms = parseDuration(s);
    } catch {
      throw new InvalidArgumentError(`Allowed: a number and a unit (ms, s, m, h, d), e.g. 30s, 5m, 1h${minMs ? `; at least ${human(minMs)}` : ''}.`);
    }
    if (ms < minMs) throw new InvalidArgumentError(`Allowed: a duration of at least ${human(minMs)}.`);
    return s;
  };
}

/** The flags of the commands, one parser each; cli.ts uses these and nothing else. */
export const FLAG_PARSERS = {
  concurrency: intFlag(1, 100),
  maxDeletes: intFlag(0),
  port: intFlag(0, 65_535),
  interval: durationFlag(MIN_WATCH_INTERVAL_MS),
  lockTimeout: durationFlag(0),
  timeout: durationFlag(1_000),
  maxConcurrentStacks: intFlag(1, 1000),
};
