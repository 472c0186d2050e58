// How long a BatchGetSecretValue batch waits for more reads of its identity and region. Pure:
// times come in, deadlines go out. The first read of a stream (an identity quiet for idleMs) goes
// after firstMs, so the first Ready stays fast. Later reads wait while more keep arriving: a batch
// goes once no read came for quietFactor × the stream's mean gap between reads (within
// [firstMs, idleMs]), and never later than maxWaitMs after it opened; a full batch goes at once
// (the fetcher's part). A burst (a list, a rotation) has gaps near 0 and goes after firstMs; a
// trickle (resources created at 10 a second) fills batches instead of sending them one by one.

export interface BatchWindowOptions {
  /** The first read of a stream, and the shortest wait of any batch. */
  firstMs: number;
  /** The longest a batch waits after its first read. */
  maxWaitMs: number;
  /** A stream ends when no read came for this long. */
  idleMs: number;
  /** A batch goes after this many mean gaps without a read. */
  quietFactor: number;
}

export const BATCH_WINDOW_DEFAULTS: BatchWindowOptions = { firstMs: 10, maxWaitMs: 2_000, idleMs: 1_000, quietFactor: 4 };

interface Stream {
  startedAt: number;
  lastAt: number;
  arrivals: number;
}

export class BatchWindow {
  readonly #streams = new Map<string, Stream>();
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
      s = { startedAt: now, lastAt: now, arrivals: 0 };
      this.#streams.set(key, s);
    }
    s.arrivals++;
    s.lastAt = now;
    // The batch that opened the stream keeps its short wait, whatever joins it.
    if (openedAt <= s.startedAt) return openedAt + o.firstMs;
    const meanGap = (now - s.startedAt) / (s.arrivals - 1);
    const quiet = Math.min(o.idleMs, Math.max(o.firstMs, o.quietFactor * meanGap));
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
