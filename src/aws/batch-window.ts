// How long a BatchGetSecretValue batch waits for more reads of its identity and region. Pure:
// times come in, deadlines go out. A stream is an identity's reads with no pause over idleMs.
// When nothing at all was read for idleMs, the stream's first batch goes after firstMs: the first
// Ready stays fast. Every other batch waits while more keep arriving: it goes once no read came
// for quietFactor × the stream's mean gap between reads (within [firstMs, idleMs]), never later
// than maxWaitMs after it opened, and at once when full (the fetcher's part). A stream that starts
// while others run (a cold start under several identities) has no gap of its own yet: it starts
// from the mean gap per running stream. A burst (a list, a rotation) has gaps near 0 and goes
// after firstMs; a trickle (resources created at 10 a second) fills batches.

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
  /** The gap assumed until the stream has one of its own; undefined: its first batch goes fast. */
  priorGap?: number;
}

export class BatchWindow {
  readonly #streams = new Map<string, Stream>();
  /** Every read, whatever its key. */
  #all: Stream | undefined;
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
    const all = this.#all = this.#goesOn(this.#all, now) ?? { startedAt: now, lastAt: now, arrivals: 0 };
    let s = this.#goesOn(this.#streams.get(key), now);
    if (!s) {
      this.#sweep(now);
      s = { startedAt: now, lastAt: now, arrivals: 0 };
      // Others are running: assume as many gaps per stream as there are streams.
      if (all.arrivals > 1) s.priorGap = ((now - all.startedAt) / (all.arrivals - 1)) * (this.#streams.size + 1);
      this.#streams.set(key, s);
    }
    for (const t of [all, s]) { t.arrivals++; t.lastAt = now; }
    const gap = s.arrivals > 1 ? (now - s.startedAt) / (s.arrivals - 1) : s.priorGap;
    // The first batch of a stream that began on an idle fetcher keeps its short wait.
    if (gap === undefined || (s.priorGap === undefined && openedAt <= s.startedAt)) return openedAt + o.firstMs;
    const quiet = Math.min(o.idleMs, Math.max(o.firstMs, o.quietFactor * gap));
    return Math.max(openedAt + o.firstMs, Math.min(openedAt + o.maxWaitMs, now + quiet));
  }

  /** The stream, unless it ended (idle for idleMs). */
  #goesOn(s: Stream | undefined, now: number): Stream | undefined {
    return s && now - s.lastAt <= this.#o.idleMs ? s : undefined;
  }

  /** Streams known (for tests: ended streams are dropped). */
  get size(): number {
    return this.#streams.size;
  }

  #sweep(now: number): void {
    for (const [k, s] of this.#streams) if (now - s.lastAt > this.#o.idleMs) this.#streams.delete(k);
  }
}
