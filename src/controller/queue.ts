// A work queue keyed by namespace/name, in the manner of client-go's: a key waiting in the queue
// is there once however often it is added; a key is never processed by two workers at once (an
// add during processing marks it dirty and it runs again after); failed keys come back after a
// per-key exponential backoff with jitter; a successful run resets that backoff.
import { BACKOFF_DEFAULTS, backoffDelay } from './backoff.js';

export interface QueueHooks {
  onAdd?(): void;
  onRetry?(): void;
  onDepth?(depth: number): void;
  /** A key was added and waits: workers run and every one is busy (read-ahead.ts). */
  onWaiting?(key: string): void;
  /** A worker took the key. */
  onStarted?(key: string): void;
}

export interface HandlerResult {
  /** Run again after this long (a refresh); resets the key's backoff. */
  requeueAfterMs?: number;
  /** The run failed: retry after the key's backoff, never later than maxDelayMs. */
  retry?: { maxDelayMs?: number };
}

export type Handler = (key: string) => Promise<HandlerResult | void>;

export class WorkQueue {
  readonly #pending: string[] = [];
  readonly #queued = new Set<string>();
  readonly #active = new Map<string, number>();
  readonly #dirty = new Set<string>();
  readonly #timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  readonly #failures = new Map<string, number>();
  readonly #concurrency: number;
  readonly #hooks: QueueHooks;
  #handler: Handler | undefined;
  #running = 0;
  #stopped = false;
  #idleWaiters: Array<() => void> = [];

  constructor(concurrency: number, hooks: QueueHooks = {}) {
    this.#concurrency = Math.max(1, concurrency);
    this.#hooks = hooks;
  }

  start(handler: Handler): void {
    this.#handler = handler;
    this.#stopped = false;
    this.#pump();
    // Keys queued before the workers ran (the informers' first list) wait from now on.
    for (const key of this.#pending) this.#hooks.onWaiting?.(key);
  }

  /** Stops taking work; resolves when the items in progress have finished. */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const { timer } of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
    if (this.#running > 0) await new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
  }

  /** add() takes keys (not stopped). */
  get accepting(): boolean {
    return !this.#stopped;
  }

  add(key: string): void {
    if (this.#stopped) return;
    this.#hooks.onAdd?.();
    if (this.#active.has(key)) { this.#dirty.add(key); return; }
    if (this.#queued.has(key)) return;
    this.#queued.add(key);
    this.#pending.push(key);
    this.#hooks.onDepth?.(this.#pending.length);
    this.#pump();
    // Only once workers run: a standby replica queues keys but never reads.
    if (this.#handler && this.#queued.has(key)) this.#hooks.onWaiting?.(key);
  }

  /** Adds the key after delayMs; an earlier pending schedule for the same key wins. */
  addAfter(key: string, delayMs: number): void {
    if (this.#stopped) return;
    if (delayMs <= 0) { this.add(key); return; }
    const at = Date.now() + delayMs;
    const existing = this.#timers.get(key);
    if (existing && existing.at <= at) return;
    if (existing) clearTimeout(existing.timer);
    const timer = setTimeout(() => { this.#timers.delete(key); this.add(key); }, delayMs);
    timer.unref();
    this.#timers.set(key, { at, timer });
  }

  /** Re-adds a failed key after its backoff (capped at maxDelayMs when given). */
  addRateLimited(key: string, maxDelayMs?: number): number {
    const attempt = this.#failures.get(key) ?? 0;
    this.#failures.set(key, attempt + 1);
    this.#hooks.onRetry?.();
    const delay = backoffDelay(attempt, Math.random, maxDelayMs === undefined ? BACKOFF_DEFAULTS : { ...BACKOFF_DEFAULTS, maxMs: Math.max(BACKOFF_DEFAULTS.baseMs, Math.min(BACKOFF_DEFAULTS.maxMs, maxDelayMs)) });
    this.addAfter(key, delay);
    return delay;
  }

  forget(key: string): void {
    this.#failures.delete(key);
  }

  /** Drops all memory of a key (the resource is gone). */
  remove(key: string): void {
    this.forget(key);
    const t = this.#timers.get(key);
    if (t) { clearTimeout(t.timer); this.#timers.delete(key); }
  }

  failures(key: string): number {
    return this.#failures.get(key) ?? 0;
  }

  get depth(): number {
    return this.#pending.length;
  }

  /** Seconds the longest-running item has been running (0 when idle). */
  longestRunningSeconds(now = Date.now()): number {
    let oldest = now;
    for (const started of this.#active.values()) oldest = Math.min(oldest, started);
    return (now - oldest) / 1000;
  }

  /** Resolves when nothing is queued or running (delayed items aside). For tests and shutdown. */
  async idle(): Promise<void> {
    while (this.#pending.length > 0 || this.#running > 0) {
      await new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
    }
  }

  #pump(): void {
    while (!this.#stopped && this.#handler && this.#running < this.#concurrency && this.#pending.length > 0) {
      const key = this.#pending.shift()!;
      this.#queued.delete(key);
      this.#hooks.onDepth?.(this.#pending.length);
      this.#hooks.onStarted?.(key);
      void this.#process(key);
    }
  }

  async #process(key: string): Promise<void> {
    this.#running++;
    this.#active.set(key, Date.now());
    try {
      const result = await this.#handler!(key);
      if (result?.retry) {
        this.addRateLimited(key, result.retry.maxDelayMs);
      } else {
        this.forget(key);
        if (result?.requeueAfterMs !== undefined) this.addAfter(key, result.requeueAfterMs);
      }
    } catch {
      // The handler reports its own errors; the queue only schedules the retry.
      this.addRateLimited(key);
    } finally {
      this.#active.delete(key);
      this.#running--;
      if (this.#dirty.delete(key)) this.add(key);
      this.#pump();
      if (this.#running === 0 && this.#pending.length === 0) {
        const waiters = this.#idleWaiters.splice(0);
        for (const w of waiters) w();
      } else if (this.#stopped && this.#running === 0) {
        for (const w of this.#idleWaiters.splice(0)) w();
      }
    }
  }
}
