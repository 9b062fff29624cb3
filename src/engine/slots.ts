// Bounded parallelism for apply: at most n resources worked on at once, not counting a resource
// while it only waits for AWS's rate budget. Pacing is the rate limiter's job (src/aws/limiter.ts):
// 20 CreateLoadBalancer calls wait up to 50 s for AWS's bucket (10, then one every 5 s), and a slot
// held through that wait would stop every other resource of the apply for as long.
import { whileWaitingForRate, type WaitingRoom } from '../aws/limiter.js';

/** A counting semaphore: `run(fn)` runs fn once one of the n slots is free. */
export function slots(n: number) {
  let active = 0;
  const queue: (() => void)[] = [];
  const acquire = (): Promise<void> => {
    if (active < n) {
      active++;
      return Promise.resolve();
    }
    return new Promise<void>((r) => queue.push(r));
  };
  /** Hands the slot to the next in line, or frees it. */
  const release = () => {
    const next = queue.shift();
    if (next) next();
    else active--;
  };
  return {
    /** Slots in use (for tests). */
    get active() {
      return active;
    },
    async run<T>(fn: () => Promise<T>): Promise<T> {
      await acquire();
      let held = true;
      let waiting = 0;
      let done = false;
      // While any call of fn waits for a rate token, its slot serves the next resource in line; it
      // takes a slot again (waiting its turn) before its calls go on.
      const room: WaitingRoom = {
        stepAside() {
          if (waiting++ === 0 && held) {
            held = false;
            release();
          }
        },
        async resume() {
          if (--waiting !== 0 || held || done) return;
          await acquire();
          if (done) release();
          else held = true;
        },
      };
      try {
        return await whileWaitingForRate(room, fn);
      } finally {
        done = true;
        if (held) {
          held = false;
          release();
        }
      }
    },
  };
}
