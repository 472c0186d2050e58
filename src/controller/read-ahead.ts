// Reads ahead for keys waiting in the work queue. Each worker awaits its own read, so with
// --concurrent 20 at most 20 reads are in flight, spread over every identity: batches of 1. Keys
// that wait behind busy workers (the initial list, a burst of creations) are collected for a
// moment, and those whose reconcile will read the source for a first sync are handed to their
// source together (SecretSource.prefetch): one identity's reads then fill BatchGetSecretValue
// calls, and each worker finds its value waiting. Only a hint: whatever it does not start, the
// worker reads itself.
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
}

export class ReadAhead {
  readonly #d: ReadAheadDeps;
  readonly #keys = new Set<string>();
  #timer: NodeJS.Timeout | undefined;

  constructor(deps: ReadAheadDeps) {
    this.#d = deps;
  }

  /** A key waits in the queue for a worker. */
  queued(key: string): void {
    this.#keys.add(key);
    this.#timer ??= setTimeout(() => this.flush(), this.#d.collectMs ?? 10);
  }

  /** Hands the keys collected so far to their sources. */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const bySource = new Map<SecretSource, ExternalLLMSecret[]>();
    for (const key of this.#keys) {
      const els = attempt(() => this.#d.firstReadOf(key));
      const source = els && attempt(() => this.#d.sourceFor(els));
      if (!els || !source?.prefetch) continue;
      const list = bySource.get(source);
      if (list) list.push(els);
      else bySource.set(source, [els]);
    }
    this.#keys.clear();
    for (const [source, list] of bySource) attempt(() => source.prefetch!(list, { maxAgeMs: this.#d.maxAgeMs }));
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#keys.clear();
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
