// Event-to-Secret latency: from the change (the event's time) to the Secret write it caused, for
// each resource an event requeued. A requeue that finds nothing new writes nothing and its entry
// expires unobserved.
import type { Histogram } from 'prom-client';

const EXPIRE_MS = 5 * 60_000;

export class EventLatency {
  readonly #pending = new Map<string, { eventAt: number; requeuedAt: number }>();
  constructor(private readonly histogram: Histogram, private readonly now: () => number = Date.now) {}

  /** `key` was requeued for a change made at eventAt (or now when the event has no time). */
  expect(key: string, eventAt: number | undefined): void {
    const now = this.now();
    // The latest event wins: of the several events one rotation makes, the last (the stage move) is the change.
    this.#pending.set(key, { eventAt: eventAt ?? now, requeuedAt: now });
    if (this.#pending.size > 1_000) this.#expire(now);
  }

  /** The Secret of `key` was written: observes the latency if an event asked for it. */
  written(key: string): void {
    const p = this.#pending.get(key);
    if (!p) return;
    this.#pending.delete(key);
    const now = this.now();
    if (now - p.requeuedAt <= EXPIRE_MS) this.histogram.observe(Math.max(0, now - p.eventAt) / 1000);
  }

  #expire(now: number): void {
    for (const [k, p] of this.#pending) if (now - p.requeuedAt > EXPIRE_MS) this.#pending.delete(k);
  }
}
