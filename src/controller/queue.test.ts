import { describe, expect, it } from 'vitest';
import { WorkQueue } from './queue.js';

const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));

describe('WorkQueue', () => {
  it('deduplicates keys waiting in the queue', async () => {
    const q = new WorkQueue(1);
    const seen: string[] = [];
    q.add('a'); q.add('a'); q.add('b'); q.add('a');
    q.start(async (k) => { seen.push(k); });
    await q.idle();
    expect(seen).toEqual(['a', 'b']);
  });

  it('never runs one key twice at once, and reruns a key added while it ran', async () => {
    const q = new WorkQueue(4);
    let running = 0; let maxRunning = 0; let runs = 0;
    q.start(async () => {
      running++; runs++; maxRunning = Math.max(maxRunning, running);
      await tick(20);
      running--;
    });
    q.add('k');
    await tick(5);
    q.add('k'); q.add('k');
    await tick(80);
    await q.idle();
    expect(maxRunning).toBe(1);
    expect(runs).toBe(2);
  });

  it('retry backoff never exceeds the cap the handler gives (the refresh interval)', () => {
    const q = new WorkQueue(1);
    const capped = Array.from({ length: 12 }, () => q.addRateLimited('capped', 30_000));
    const plain = Array.from({ length: 12 }, () => q.addRateLimited('plain'));
    expect(Math.max(...capped)).toBeLessThanOrEqual(30_000);
    expect(capped.at(-1)).toBeGreaterThanOrEqual(15_000); // equal jitter: at least half the cap
    expect(plain.at(-1)).toBeGreaterThan(30_000);
    void q.stop();
  });

  it('a handler result asking for a retry keeps the backoff growing instead of resetting it', async () => {
    const q = new WorkQueue(1);
    let runs = 0;
    q.start(async () => { runs++; return runs === 1 ? { retry: { maxDelayMs: 10 } } : undefined; });
    q.add('k');
    while (runs < 2) await tick(5);
    await q.idle();
    expect(runs).toBe(2);
    expect(q.failures('k')).toBe(0); // the second run succeeded and reset it
    await q.stop();
  });

  it('caps concurrency', async () => {
    const q = new WorkQueue(2);
    let running = 0; let max = 0;
    q.start(async () => { running++; max = Math.max(max, running); await tick(10); running--; });
    for (let i = 0; i < 10; i++) q.add(`k${i}`);
    await q.idle();
    expect(max).toBe(2);
  });

  it('retries failures with growing backoff and resets on success', async () => {
    const q = new WorkQueue(1);
    let calls = 0;
    q.start(async () => { calls++; if (calls < 3) throw new Error('boom'); });
    q.add('k');
    await tick(20);
    expect(q.failures('k')).toBe(1);
    await new Promise((r) => setTimeout(r, 4_000));
    expect(calls).toBe(3);
    expect(q.failures('k')).toBe(0);
    await q.stop();
  });

  it('requeueAfter schedules the key again', async () => {
    const q = new WorkQueue(1);
    let calls = 0;
    q.start(async () => { calls++; return calls === 1 ? { requeueAfterMs: 30 } : {}; });
    q.add('k');
    await tick(100);
    expect(calls).toBe(2);
    await q.stop();
  });
});
