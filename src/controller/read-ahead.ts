// Reads ahead for keys waiting in the work queue. Each worker awaits its own read, so with
// --concurrent 20 at most 20 reads are in flight, spread over every identity: batches of 1. Keys
// that wait behind busy workers (the initial list, a burst of creations) are collected for a
// moment, and those whose reconcile will read the source for a first sync are handed to their
// source together (SecretSource.prefetch): one identity's reads then fill BatchGetSecretValue
// calls, and each worker finds its value waiting. At most maxAhead keys are read ahead and not
// yet taken by a worker, the next ones as workers take them: a value read ahead must still be
// cached (--source-cache-ttl) when its worker comes. Only a hint: whatever it does not start,
// the worker reads itself.
import type { ExternalLLMSecret } from '../crds/types.js';
import type { SecretSource } from '../source/port.js';

export interface ReadAheadDeps {
  /** The resource, when its next reconcile reads its source for a first sync (the reconciler's). */
  firstReadOf(key: string): ExternalLLMSecret | undefined;
  sourceFor(els: ExternalLLMSecret): SecretSource;
  /** The age a first sync accepts from a value read by another resource. */
  maxAgeMs: number;
  /** How long keys are collected before they are handed over. */
  collectMs?: number;
  /** Keys read ahead and not yet taken by a worker, at the most. */
  maxAhead?: number;
}

/** 50 full batches; workers take them well within the 30 s a value stays cached. */
export const MAX_AHEAD = 1_000;

export class ReadAhead {
  readonly #d: ReadAheadDeps;
  /** Waiting keys not looked at yet, in queue order. */
  readonly #waiting = new Set<string>();
  /** Keys read ahead that no worker took yet. */
  readonly #ahead = new Set<string>();
  #timer: NodeJS.Timeout | undefined;

  constructor(deps: ReadAheadDeps) {
    this.#d = deps;
  }

  /** A key waits in the queue for a worker. */
  waiting(key: string): void {
    this.#waiting.add(key);
    this.#schedule();
  }

  /** A worker took the key: it reads (or finds its value) now. */
  started(key: string): void {
    this.#waiting.delete(key);
    if (this.#ahead.delete(key) && this.#waiting.size > 0) this.#schedule();
  }

  /** Hands the waiting keys to their sources, up to maxAhead not yet taken. */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const room = (this.#d.maxAhead ?? MAX_AHEAD) - this.#ahead.size;
    const bySource = new Map<SecretSource, ExternalLLMSecret[]>();
    let handed = 0;
    for (const key of this.#waiting) {
      if (handed >= room) break;
      this.#waiting.delete(key);
      const els = attempt(() => this.#d.firstReadOf(key));
      const source = els && attempt(() => this.#d.sourceFor(els));
      if (!els || !source?.prefetch) continue;
      const list = bySource.get(source);
      if (list) list.push(els);
      else bySource.set(source, [els]);
      this.#ahead.add(key);
      handed++;
    }
    for (const [source, list] of bySource) attempt(() => source.prefetch!(list, { maxAgeMs: this.#d.maxAgeMs }));
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#waiting.clear();
    this.#ahead.clear();
  }

  #schedule(): void {
    this.#timer ??= setTimeout(() => this.flush(), this.#d.collectMs ?? 10);
  }
}

/** A hint never throws: what fails here fails again in the reconcile, which reports it. */
function attempt<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch {
    return undefined;
  }
}
