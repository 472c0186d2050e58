// How long a BatchGetSecretValue batch waits for more reads of its identity and region. Pure:
// times come in, deadlines go out. A stream is an identity's reads with no pause over idleMs.
// When nothing at all was read for idleMs, the stream's first batch goes after firstMs: the first
// Ready stays fast. Every other batch waits while more keep arriving: it goes once no read came
// for quietFactor × the stream's mean gap between reads (within [firstMs, idleMs]), never later
// than maxWaitMs after it opened, and at once when full (the fetcher's part). The mean gap is
// taken over at least minSpanMs, so the first burst of a stream (reads handed over together)
// does not pass for a stream with no gaps. A burst (a list, a rotation) goes after a few ms; a
// trickle (resources created at 10 a second per identity) fills batches.

export interface BatchWindowOptions {
  /** The first read of a stream, and the shortest wait of any batch. */
  firstMs: number;
  /** The longest a batch waits after its first read. */
  maxWaitMs: number;
  /** A stream ends when no read came for this long. */
  idleMs: number;
  /** A batch goes after this many mean gaps without a read. */
  quietFactor: number;
  /** The mean gap of a stream younger than this is taken over this span. */
  minSpanMs: number;
}

export const BATCH_WINDOW_DEFAULTS: BatchWindowOptions = { firstMs: 10, maxWaitMs: 2_000, idleMs: 1_000, quietFactor: 6, minSpanMs: 250 };

interface Stream {
  startedAt: number;
  lastAt: number;
  arrivals: number;
  /** Began while the fetcher was idle: its first batch goes fast. */
  cold: boolean;
}

export class BatchWindow {
  readonly #streams = new Map<string, Stream>();
  #lastAt = Number.NEGATIVE_INFINITY;
  readonly #o: BatchWindowOptions;

  constructor(options: Partial<BatchWindowOptions> = {}) {
    this.#o = { ...BATCH_WINDOW_DEFAULTS, ...options };
  }

  /**
   * A read for key arrived at now and joined the batch opened at openedAt (now, for a new batch).
   * Returns when that batch is to go.
   */
  arrive(key: string, now: number, openedAt: number): number {
    const o = this.#o;
    let s = this.#streams.get(key);
    if (!s || now - s.lastAt > o.idleMs) {
      this.#sweep(now);
      s = { startedAt: now, lastAt: now, arrivals: 0, cold: now - this.#lastAt > o.idleMs };
      this.#streams.set(key, s);
    }
    s.arrivals++;
    s.lastAt = this.#lastAt = now;
    if (s.cold && openedAt <= s.startedAt) return openedAt + o.firstMs;
    const gap = Math.max(now - s.startedAt, o.minSpanMs) / Math.max(1, s.arrivals - 1);
    const quiet = Math.min(o.idleMs, Math.max(o.firstMs, o.quietFactor * gap));
    return Math.max(openedAt + o.firstMs, Math.min(openedAt + o.maxWaitMs, now + quiet));
  }

  /** Streams known (for tests: ended streams are dropped). */
  get size(): number {
    return this.#streams.size;
  }

  #sweep(now: number): void {
    for (const [k, s] of this.#streams) if (now - s.lastAt > this.#o.idleMs) this.#streams.delete(k);
  }
}
