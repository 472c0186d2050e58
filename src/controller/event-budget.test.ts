import { describe, expect, it } from 'vitest';
import type { ExternalLLMSecret } from '../crds/types.js';
import type { EventSink } from '../kube/events.js';
import { BudgetedEvents, TokenBucket } from './event-budget.js';

const els = { metadata: { namespace: 'ns', name: 'n' } } as ExternalLLMSecret;

function setup(burst: number, perSecond: number) {
  let t = 1_000;
  const written: string[] = [];
  const dropped: string[] = [];
  const logs: unknown[] = [];
  const inner: EventSink = { record: async (_o, type, reason) => { written.push(`${type} ${reason}`); } };
  const log = { info: (o: unknown) => { logs.push(o); } } as never;
  const sink = new BudgetedEvents(inner, { burst, perSecond, now: () => t, onDrop: (r) => dropped.push(r), log, logEveryMs: 60_000 });
  return { sink, written, dropped, logs, advance: (ms: number) => { t += ms; } };
}

describe('TokenBucket', () => {
  it('passes a burst, then refills at the rate, never above the burst', () => {
    let t = 0;
    const b = new TokenBucket(3, 2, () => t);
    expect([b.take(), b.take(), b.take(), b.take()]).toEqual([true, true, true, false]);
    t += 499; expect(b.take()).toBe(false); // 0.998 of a token
    t += 1; expect(b.take()).toBe(true);
    t += 3_600_000; // an hour idle: back to the burst, not more
    expect([b.take(), b.take(), b.take(), b.take()]).toEqual([true, true, true, false]);
  });

  it('does not go wrong when the clock stands still or steps back', () => {
    let t = 10_000;
    const b = new TokenBucket(1, 1, () => t);
    expect(b.take()).toBe(true);
    t -= 5_000; expect(b.take()).toBe(false);
    t += 1_000; expect(b.take()).toBe(true);
  });
});

describe('BudgetedEvents', () => {
  it('writes Normal events up to the burst, drops and counts the rest, and writes every Warning', async () => {
    const s = setup(50, 2);
    for (let i = 0; i < 1000; i++) await s.sink.record(els, 'Normal', 'Synced', 'Created Secret');
    for (let i = 0; i < 100; i++) await s.sink.record(els, 'Warning', 'SyncFailed', 'x');
    expect(s.written.filter((w) => w === 'Normal Synced')).toHaveLength(50);
    expect(s.written.filter((w) => w === 'Warning SyncFailed')).toHaveLength(100);
    expect(s.dropped).toHaveLength(950);
    expect(s.dropped.every((r) => r === 'Synced')).toBe(true);
  });

  it('a cold start of 1,000 over 20 s writes the burst plus the rate × seconds', async () => {
    const s = setup(50, 2);
    for (let i = 0; i < 1000; i++) { await s.sink.record(els, 'Normal', 'Synced', 'm'); s.advance(20); }
    // 19.98 s of refill at 2/s: 39 more after the burst.
    expect(s.written.length).toBe(50 + 39);
    expect(s.dropped.length).toBe(1000 - 89);
  });

  it('an occasional Normal event (a rotation, a recovery) is always written', async () => {
    const s = setup(50, 2);
    for (let i = 0; i < 500; i++) { await s.sink.record(els, 'Normal', 'Updated', 'm'); s.advance(1_000); }
    expect(s.written).toHaveLength(500);
    expect(s.dropped).toHaveLength(0);
  });

  it('logs the dropped counts at most once a minute', async () => {
    const s = setup(1, 0.001);
    await s.sink.record(els, 'Normal', 'Synced', 'm');
    for (let i = 0; i < 10; i++) { await s.sink.record(els, 'Normal', 'Synced', 'm'); s.advance(1_000); }
    expect(s.logs).toEqual([expect.objectContaining({ dropped: { Synced: 1 } })]);
    s.advance(60_000);
    await s.sink.record(els, 'Normal', 'Updated', 'm');
    expect(s.logs).toHaveLength(2);
    expect(s.logs[1]).toEqual(expect.objectContaining({ dropped: { Synced: 9, Updated: 1 } }));
  });
});
