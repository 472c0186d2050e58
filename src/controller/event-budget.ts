// An operator-wide budget for Normal events. Status conditions are each resource's record of
// truth; Normal events ("Created Secret …", "Updated keys …") are for people reading
// `kubectl describe`, and a cold start over 10,000 resources would otherwise write 10,000 of them
// (a third of its apiserver writes, measured by the benchmark). So Normal events pass through a
// token bucket (a burst, then a steady rate); those over it are dropped and counted in
// externalllmsecret_kube_events_dropped_total{reason}, with one log line a minute at most.
// Warning events always pass: the reconciler records them on transitions only (a new failure
// reason, an expiry warning), and they are what people look for.
import type { Logger } from 'pino';
import type { ExternalLLMSecret } from '../crds/types.js';
import type { EventSink } from '../kube/events.js';

export interface EventBudgetOptions {
  /** Normal events that may be written at once (the bucket's size). */
  burst: number;
  /** Normal events per second the bucket refills with. */
  perSecond: number;
  /** Milliseconds, monotonic (tests inject a clock). */
  now?: () => number;
  /** Called with the reason of each dropped event (a metric). */
  onDrop?: (reason: string) => void;
  log?: Logger;
  /** At most one "dropped" log line per this many milliseconds. */
  logEveryMs?: number;
}

export const DEFAULT_EVENT_BUDGET = { burst: 50, perSecond: 2 } as const;

/** A token bucket: take() answers whether one more may pass now. */
export class TokenBucket {
  #tokens: number;
  #at: number;
  constructor(private readonly burst: number, private readonly perSecond: number, private readonly now: () => number) {
    this.#tokens = burst;
    this.#at = now();
  }

  take(): boolean {
    const t = this.now();
    this.#tokens = Math.min(this.burst, this.#tokens + (Math.max(0, t - this.#at) * this.perSecond) / 1000);
    this.#at = t;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}

export class BudgetedEvents implements EventSink {
  readonly #inner: EventSink;
  readonly #bucket: TokenBucket;
  readonly #opts: EventBudgetOptions;
  readonly #now: () => number;
  #dropped: Record<string, number> = {};
  #loggedAt = -Infinity;

  constructor(inner: EventSink, opts: EventBudgetOptions) {
    this.#inner = inner;
    this.#opts = opts;
    this.#now = opts.now ?? (() => performance.now());
    this.#bucket = new TokenBucket(opts.burst, opts.perSecond, this.#now);
  }

  async record(obj: ExternalLLMSecret, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    if (type === 'Warning' || this.#bucket.take()) return this.#inner.record(obj, type, reason, message);
    this.#opts.onDrop?.(reason);
    this.#dropped[reason] = (this.#dropped[reason] ?? 0) + 1;
    const now = this.#now();
    if (this.#opts.log && now - this.#loggedAt >= (this.#opts.logEveryMs ?? 60_000)) {
      this.#opts.log.info({ dropped: this.#dropped, burst: this.#opts.burst, perSecond: this.#opts.perSecond },
        'Normal events over the operator-wide budget were not written (status conditions still say it); counted in externalllmsecret_kube_events_dropped_total');
      this.#loggedAt = now;
      this.#dropped = {};
    }
  }
}
