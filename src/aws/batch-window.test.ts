import { describe, expect, it } from 'vitest';
import { BatchWindow } from './batch-window.js';

const opts = { firstMs: 10, maxWaitMs: 2_000, idleMs: 1_000, quietFactor: 4 };

describe('BatchWindow', () => {
  it('the first read of an identity goes after firstMs, whatever joins its batch', () => {
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

  it('a burst (gaps near 0) goes after firstMs; a stream idle for idleMs starts again with a fast first read', () => {
    const w = new BatchWindow(opts);
    w.arrive('a', 0, 0);
    expect(w.arrive('a', 0, 0)).toBe(10);
    expect(w.arrive('a', 1, 1)).toBe(11);
    expect(w.arrive('a', 5_000, 5_000)).toBe(5_010);
  });

  it('slow streams wait at most idleMs after their last read', () => {
    const w = new BatchWindow(opts);
    w.arrive('a', 0, 0);
    expect(w.arrive('a', 900, 900)).toBe(900 + 1_000);
  });

  it('a stream that starts while others run waits from the first read: the mean gap per running stream', () => {
    const w = new BatchWindow(opts);
    w.arrive('a', 0, 0);
    w.arrive('a', 10, 10);
    w.arrive('c', 20, 20);
    // 3 reads before b's in 30 ms: a gap of 15 overall; 3 streams with b: 45 per stream, quiet 180.
    expect(w.arrive('b', 30, 30)).toBe(30 + 180);
  });

  it('keeps streams apart per key, and drops streams that ended', () => {
    const w = new BatchWindow(opts);
    w.arrive('a', 0, 0);
    expect(w.arrive('b', 100, 100)).toBe(110);
    expect(w.size).toBe(2);
    w.arrive('c', 5_000, 5_000);
    expect(w.size).toBe(1);
  });
});
