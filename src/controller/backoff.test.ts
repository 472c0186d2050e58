import { describe, expect, it } from 'vitest';
import { backoffDelay, jitteredInterval, nextAlignedRefresh } from './backoff.js';

describe('backoff and jitter', () => {
  it('grows exponentially between half and all of the ceiling, capped', () => {
    expect(backoffDelay(0, () => 0)).toBe(500);
    expect(backoffDelay(0, () => 1)).toBe(1000);
    expect(backoffDelay(3, () => 0)).toBe(4000);
    expect(backoffDelay(30, () => 1)).toBe(300_000);
  });
  it('keeps refreshes within ±10% of the interval', () => {
    expect(jitteredInterval(60_000, () => 0)).toBe(54_000);
    expect(jitteredInterval(60_000, () => 1)).toBe(66_000);
  });
});

describe('aligned refreshes', () => {
  it('puts every caller of one key on the same grid point, within one interval', () => {
    const interval = 60_000;
    const times = [1_000_000, 1_010_000, 1_033_000, 1_059_000].map((now) => nextAlignedRefresh(now, interval, 'acct|us-east-1'));
    const first = times[0]!;
    for (const [i, t] of times.entries()) {
      expect(t).toBeGreaterThan([1_000_000, 1_010_000, 1_033_000, 1_059_000][i]!);
      expect(t - [1_000_000, 1_010_000, 1_033_000, 1_059_000][i]!).toBeLessThanOrEqual(interval);
      expect((t - first) % interval).toBe(0);
    }
  });
  it('gives different keys different phases', () => {
    const a = nextAlignedRefresh(0, 60_000, 'a|us-east-1') % 60_000;
    const b = nextAlignedRefresh(0, 60_000, 'b|us-east-1') % 60_000;
    expect(a).not.toBe(b);
  });
});
