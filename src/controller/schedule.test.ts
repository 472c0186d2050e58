import { describe, expect, it } from 'vitest';
import { failedRecheckDelay } from './schedule.js';

describe('failedRecheckDelay', () => {
  it.each([
    [1, 3_600_000, 30_000],
    [2, 3_600_000, 60_000],
    [3, 3_600_000, 120_000],
    [7, 3_600_000, 1_920_000],
    [8, 3_600_000, 3_600_000],
    [500, 3_600_000, 3_600_000],
    // An interval under 30 s: never later than the interval.
    [1, 10_000, 10_000],
    [5, 10_000, 10_000],
    [0, 3_600_000, 30_000],
  ])('failure %i with a %i ms interval: %i ms', (failures, cap, expected) => {
    expect(failedRecheckDelay(failures, cap)).toBe(expected);
  });

  it('a broken resource at the default 1h interval is read 7 times in its first hour and about 30 times a day, not 288', () => {
    let t = 0;
    let reads = 0;
    let firstHour = 0;
    for (let n = 1; t < 86_400_000; n++) {
      reads++;
      if (t < 3_600_000) firstHour++;
      t += failedRecheckDelay(n, 3_600_000);
    }
    expect(firstHour).toBe(7);
    expect(reads).toBeLessThanOrEqual(31);
  });
});
