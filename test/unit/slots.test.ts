// apply's resource slots (src/engine/slots.ts): at most n at once, and a resource that only waits for
// AWS's rate budget (src/aws/limiter.ts) lets the next one work meanwhile.
import { describe, expect, it } from 'vitest';
import { RateBudget } from '../../src/aws/limiter.js';
import { slots } from '../../src/engine/slots.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('slots', () => {
  it('never runs more than n at once, and frees every slot at the end', async () => {
    const pool = slots(2);
    let now = 0;
    let most = 0;
    await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        pool.run(async () => {
          most = Math.max(most, ++now);
          await sleep(5 + i);
          now--;
        }),
      ),
    );
    expect(most).toBe(2);
    expect(pool.active).toBe(0);
  });

  it('lets the next resource work while one waits for a rate token, then gives the waiter its turn back', async () => {
    const budget = new RateBudget('test', 1); // SetAlarmState: CloudWatch allows 3 a second, a bucket of 3
    const pool = slots(1);
    const events: string[] = [];
    const a = pool.run(async () => {
      for (let i = 0; i < 4; i++) await budget.take('cloudwatch', 'SetAlarmState'); // the 4th waits ~1/3 s
      events.push('a done');
    });
    const b = pool.run(async () => {
      events.push('b ran');
    });
    await Promise.all([a, b]);
    expect(events).toEqual(['b ran', 'a done']);
    expect(pool.active).toBe(0);
  });

  it('keeps its slot for calls that need not wait', async () => {
    const budget = new RateBudget('test', 1);
    const pool = slots(1);
    const events: string[] = [];
    const a = pool.run(async () => {
      await budget.take('ec2', 'DescribeVpcs');
      await sleep(20);
      events.push('a done');
    });
    const b = pool.run(async () => {
      events.push('b ran');
    });
    await Promise.all([a, b]);
    expect(events).toEqual(['a done', 'b ran']);
  });
});
