import { describe, expect, it } from 'vitest';
import { BatchWindow } from './batch-window.js';

const opts = { firstMs: 10, maxWaitMs: 2_000, idleMs: 1_000, quietFactor: 4, minSpanMs: 100 };

describe('BatchWindow', () => {
  it('on an idle fetcher, the first batch of an identity goes after firstMs, whatever joins it', () => {
    const w = new BatchWindow(opts);
    expect(w.arrive('a', 1_000, 1_000)).toBe(1_010);
    expect(w.arrive('a', 1_005, 1_000)).toBe(1_010);
  });

  it('a trickle of reads waits for more: quietFactor mean gaps after the last, never past maxWaitMs after the batch opened', () => {
    const w = new BatchWindow(opts);
    w.arrive('a', 0, 0); // first batch, gone at 10
    expect(w.arrive('a', 100, 100)).toBe(100 + 400); // gap 100 → quiet 400
    expect(w.arrive('a', 200, 100)).toBe(200 + 400);
    let at = 200;
    let deadline = 0;
    for (let i = 0; i < 30; i++) deadline = w.arrive('a', (at += 100), 100);
    expect(deadline).toBe(100 + 2_000);
  });

  it('a burst goes after a few ms: its gap is taken over minSpanMs', () => {
    const w = new BatchWindow(opts);
    w.arrive('a', 0, 0);
    for (let i = 0; i < 40; i++) w.arrive('a', 0, 0);
    // 41 reads at once: a mean gap of 100 / 40 = 2.5 ms, quiet 10.
    expect(w.arrive('a', 1, 1)).toBe(1 + 10);
  });

  it('a stream that starts while the fetcher is busy waits from its first read; idle for idleMs, the next read is fast again', () => {
    const w = new BatchWindow(opts);
    w.arrive('a', 0, 0);
    // No gap of its own yet: minSpanMs (100) → quiet 400.
    expect(w.arrive('b', 50, 50)).toBe(50 + 400);
    expect(w.arrive('c', 5_000, 5_000)).toBe(5_010);
  });

  it('slow streams wait at most idleMs after their last read', () => {
    const w = new BatchWindow(opts);
    w.arrive('a', 0, 0);
    expect(w.arrive('a', 900, 900)).toBe(900 + 1_000);
  });

  it('keeps streams apart per key, and drops streams that ended', () => {
    const w = new BatchWindow(opts);
    w.arrive('a', 0, 0);
    w.arrive('b', 100, 100);
    expect(w.size).toBe(2);
    w.arrive('c', 5_000, 5_000);
    expect(w.size).toBe(1);
  });
});
