// Recovery without waiting out backoff. Resources that failed because a shared dependency was
// down (an AWS region's endpoints, the apiserver) wait in per-key backoff; when that dependency
// answers again, they are requeued at once, spread over a few seconds so recovery is not a
// thundering herd. Pure bookkeeping: the caller says what failed, what succeeded and what came
// back, and gives the function that requeues.

/** The apiserver: its writes and watches. */
export const KUBE_SCOPE = 'kube';
/** An AWS region: outages of Secrets Manager and STS endpoints are regional. */
export const awsScope = (region: string): string => `aws:${region}`;

export interface RecoveryOptions {
  /** Requeues one key after delayMs. */
  requeue(key: string, delayMs: number): void;
  /** Each waiting key adds this much to the spread... */
  spreadPerKeyMs?: number;
  /** ...up to this. */
  maxSpreadMs?: number;
  random?: () => number;
}

export class RecoveryBoard {
  readonly #waiting = new Map<string, Set<string>>();
  /** Keys requeued early since their last failure: their next failure goes back to plain backoff,
   * so a resource that fails for reasons of its own is not retried on every success of others. */
  readonly #early = new Set<string>();
  readonly #opts: Required<RecoveryOptions>;

  constructor(opts: RecoveryOptions) {
    this.#opts = { spreadPerKeyMs: 50, maxSpreadMs: 5_000, random: Math.random, ...opts };
  }

  /** The key failed with a retryable reason that depends on `scope`. */
  failed(scope: string, key: string): void {
    if (this.#early.delete(key)) return;
    let keys = this.#waiting.get(scope);
    if (!keys) this.#waiting.set(scope, (keys = new Set()));
    keys.add(key);
  }

  /** The key synced (or is gone): nothing to wait for. */
  succeeded(key: string): void {
    this.#early.delete(key);
    for (const [scope, keys] of this.#waiting) if (keys.delete(key) && keys.size === 0) this.#waiting.delete(scope);
  }

  /** `scope` answered again: requeue what waits for it. Returns how many keys were requeued. */
  recovered(scope: string): number {
    const keys = this.#waiting.get(scope);
    if (!keys || keys.size === 0) return 0;
    this.#waiting.delete(scope);
    const spread = Math.min(this.#opts.maxSpreadMs, keys.size * this.#opts.spreadPerKeyMs);
    for (const key of keys) {
      for (const other of this.#waiting.values()) other.delete(key);
      this.#early.add(key);
      this.#opts.requeue(key, Math.round(this.#opts.random() * spread));
    }
    return keys.size;
  }

  waiting(scope: string): number {
    return this.#waiting.get(scope)?.size ?? 0;
  }
}
