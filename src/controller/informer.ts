// A list-watch that does not stay down. @kubernetes/client-node's ListWatch reconnects on
// timeouts and 410 Gone by itself, but on any other error (apiserver restart, network reset,
// a list that fails) it calls its error handlers and stops. This wrapper restarts it with
// backoff and jitter, and relists from scratch periodically so a missed event cannot linger.
import { ListWatch, Watch, type KubeConfig, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { backoffDelay } from './backoff.js';

export const WATCH_BACKOFF = { baseMs: 500, maxMs: 10_000 } as const;

export interface InformerHandlers<T> {
  add(obj: T): void;
  update(obj: T): void;
  delete(obj: T): void;
}

export interface InformerOptions<T extends KubernetesObject> {
  kubeConfig: KubeConfig;
  path: string;
  list: () => Promise<KubernetesListObject<T>>;
  labelSelector?: string;
  /** Full relist interval; 0 disables. */
  relistMs: number;
  log: Logger;
  name: string;
  onHealthChange?(connected: boolean): void;
}

export class SupervisedInformer<T extends KubernetesObject> {
  readonly #opts: InformerOptions<T>;
  readonly #handlers: InformerHandlers<T>;
  /** The list-watch running now; it may not have listed yet. */
  #lw: ListWatch<T> | undefined;
  /** The last list-watch that listed successfully: reads are served from it, so a relist never
   * shows an empty cache (which would look like every resource was deleted). */
  #serving: ListWatch<T> | undefined;
  #failures = 0;
  #stopped = false;
  #restartTimer: NodeJS.Timeout | undefined;
  #relistTimer: NodeJS.Timeout | undefined;
  #syncedWaiters: Array<() => void> = [];

  constructor(opts: InformerOptions<T>, handlers: InformerHandlers<T>) {
    this.#opts = opts;
    this.#handlers = handlers;
  }

  /** Starts and resolves after the first successful list (caches synced). */
  async start(): Promise<void> {
    this.#stopped = false;
    this.#launch();
    if (this.#opts.relistMs > 0) {
      this.#relistTimer = setInterval(() => this.#relaunch('periodic relist'), this.#opts.relistMs);
      this.#relistTimer.unref();
    }
    if (!this.#serving) await new Promise<void>((resolve) => this.#syncedWaiters.push(resolve));
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#restartTimer);
    clearInterval(this.#relistTimer);
    for (const w of this.#syncedWaiters.splice(0)) w();
    await Promise.all([this.#lw?.stop(), this.#serving?.stop()]);
  }

  get synced(): boolean {
    return this.#serving !== undefined;
  }

  /** False while the watch is failing and being restarted. */
  get healthy(): boolean {
    return this.#serving !== undefined && this.#failures === 0;
  }

  get(name: string, namespace?: string): T | undefined {
    return this.#serving?.get(name, namespace);
  }

  list(namespace?: string): readonly T[] {
    return this.#serving?.list(namespace) ?? [];
  }

  #launch(): void {
    if (this.#stopped) return;
    const { kubeConfig, path, list, labelSelector } = this.#opts;
    // ListWatch.start() resolves even when its list failed (it reports the error to the error
    // handlers instead), so whether the cache is really filled is tracked here.
    let listed = false;
    const lw: ListWatch<T> = new ListWatch<T>(path, new Watch(kubeConfig), async () => {
      const result = await list();
      listed = true;
      if (this.#serving !== lw && !this.#stopped && lw === this.#lw) {
        // Serve from the new list-watch before it adds the listed objects: its add events
        // reach the queue synchronously, and a reconcile must find each object where it reads.
        const previous = this.#serving;
        this.#serving = lw;
        if (previous) void previous.stop();
        // Objects deleted while no watch ran get no event from a fresh ListWatch.
        this.#emitDeletesSince(previous, result.items);
      }
      return result;
    }, false, labelSelector);
    lw.on('add', (o) => this.#handlers.add(slim(o)));
    lw.on('update', (o) => this.#handlers.update(slim(o)));
    lw.on('delete', (o) => this.#handlers.delete(o));
    lw.on('connect', () => this.#onConnect(lw));
    lw.on('error', (err) => this.#onError(lw, err));
    this.#lw = lw;
    lw.start().then(() => { if (listed) this.#onListed(lw); }, (err) => this.#onError(lw, err));
  }

  #emitDeletesSince(previous: ListWatch<T> | undefined, items: T[]): void {
    if (!previous) return;
    const seen = new Set(items.map((o) => `${o.metadata?.namespace}/${o.metadata?.name}`));
    for (const old of previous.list()) {
      if (!seen.has(`${old.metadata?.namespace}/${old.metadata?.name}`)) this.#handlers.delete(old);
    }
  }

  #onListed(lw: ListWatch<T>): void {
    if (this.#stopped || lw !== this.#lw) return;
    if (this.#failures > 0) this.#opts.log.info({ informer: this.#opts.name }, 'watch re-established');
    this.#failures = 0;
    this.#opts.onHealthChange?.(true);
    for (const w of this.#syncedWaiters.splice(0)) w();
  }

  #onConnect(lw: ListWatch<T>): void {
    // A reconnect after a watch timeout or 410 Gone: the ListWatch relists by itself.
    if (lw === this.#lw && this.#serving === lw && this.#failures > 0) this.#failures = 0;
  }

  #onError(lw: ListWatch<T>, err: unknown): void {
    if (this.#stopped || lw !== this.#lw) return;
    // Capped at 10 s (client-go's reflector allows 30 s): after an outage the caches, and with
    // them new and changed resources, come back within seconds of the apiserver.
    const delay = backoffDelay(this.#failures++, Math.random, WATCH_BACKOFF);
    this.#opts.onHealthChange?.(false);
    this.#opts.log.warn({ informer: this.#opts.name, err: errorSummary(err), retryInMs: delay }, 'watch failed; restarting');
    clearTimeout(this.#restartTimer);
    this.#restartTimer = setTimeout(() => this.#relaunch('error'), delay);
    this.#restartTimer.unref();
  }

  #relaunch(why: string): void {
    if (this.#stopped) return;
    this.#opts.log.debug({ informer: this.#opts.name, why }, 'relisting');
    const current = this.#lw;
    if (current && current !== this.#serving) void current.stop();
    this.#launch();
  }
}

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/**
 * Drops what the operator never reads from a cached object: managedFields and kubectl's
 * last-applied copy of the whole object. ListWatch caches the very object it passes to its
 * handlers (they run right after it is stored), so this shrinks the cache itself: at 10,000
 * resources these fields were most of the informer memory.
 */
export function slim<T extends KubernetesObject>(o: T): T {
  if (o.metadata) {
    delete o.metadata.managedFields;
    if (o.metadata.annotations?.[LAST_APPLIED] !== undefined) delete o.metadata.annotations[LAST_APPLIED];
  }
  return o;
}

/** A short, value-free description of a Kubernetes client error. */
export function errorSummary(err: unknown): string {
  if (err && typeof err === 'object') {
    const e = err as { code?: unknown; statusCode?: unknown; name?: unknown; message?: unknown };
    const code = e.code ?? e.statusCode;
    return [e.name, code].filter((x) => x !== undefined).join(' ') || 'error';
  }
  return String(err);
}
