// A list-watch cache that does not stay down, after client-go's reflector: list, then watch from
// the list's resourceVersion (with bookmarks); a watch the server closes resumes where it left
// off; 410 Gone relists; any other failure restarts with backoff and jitter. A periodic relist
// compares the fresh list with the cache, so a missed event cannot linger: new objects come as
// adds, changed ones (another resourceVersion) as updates, vanished ones as deletes.
// The cache holds each object as transform() returns it, computed once on arrival, so it keeps
// only what the operator reads. Reads are served from the last successful list onwards: a relist
// never shows an empty cache (which would look like every resource was deleted).
import type { KubeConfig } from '@kubernetes/client-node/dist/config.js';
import { watchStream } from '../kube/watch.js';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { backoffDelay } from './backoff.js';

export const WATCH_BACKOFF = { baseMs: 500, maxMs: 10_000 } as const;
/** A watch ending sooner than this after it opened resumes after WATCH_BACKOFF.baseMs. */
const MIN_WATCH_MS = 1_000;

export interface InformerHandlers<T> {
  add(obj: T): void;
  update(obj: T): void;
  delete(obj: T): void;
}

export interface ListResult<T> {
  items: T[];
  metadata?: { resourceVersion?: string };
}

export interface InformerOptions<T extends KubernetesObject> {
  kubeConfig: KubeConfig;
  path: string;
  list: () => Promise<ListResult<T>>;
  labelSelector?: string;
  /** Full relist interval; 0 disables. */
  relistMs: number;
  log: Logger;
  name: string;
  onHealthChange?(connected: boolean): void;
  /** What the cache keeps of an object (client-go's SetTransform); slim() when not given. */
  transform?: (obj: T) => T;
}

const keyOfObject = (o: KubernetesObject): string => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;

export class SupervisedInformer<T extends KubernetesObject> {
  readonly #opts: InformerOptions<T>;
  readonly #handlers: InformerHandlers<T>;
  readonly #transform: (obj: T) => T;
  #store: Map<string, T> | undefined;
  #resourceVersion = '';
  /** Each list-then-watch run has a number; callbacks of a superseded run are ignored. */
  #run = 0;
  #watch: AbortController | undefined;
  #failures = 0;
  #stopped = false;
  #restartTimer: NodeJS.Timeout | undefined;
  #relistTimer: NodeJS.Timeout | undefined;
  #syncedWaiters: Array<() => void> = [];

  constructor(opts: InformerOptions<T>, handlers: InformerHandlers<T>) {
    this.#opts = opts;
    this.#handlers = handlers;
    this.#transform = opts.transform ?? slim;
  }

  /** Starts and resolves after the first successful list (caches synced). */
  async start(): Promise<void> {
    this.#stopped = false;
    void this.#listAndWatch();
    if (this.#opts.relistMs > 0) {
      this.#relistTimer = setInterval(() => this.#relaunch('periodic relist'), this.#opts.relistMs);
      this.#relistTimer.unref();
    }
    if (!this.#store) await new Promise<void>((resolve) => this.#syncedWaiters.push(resolve));
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#run++;
    clearTimeout(this.#restartTimer);
    clearInterval(this.#relistTimer);
    for (const w of this.#syncedWaiters.splice(0)) w();
    this.#watch?.abort();
    this.#watch = undefined;
  }

  get synced(): boolean {
    return this.#store !== undefined;
  }

  /** False while the watch is failing and being restarted. */
  get healthy(): boolean {
    return this.#store !== undefined && this.#failures === 0;
  }

  get(name: string, namespace?: string): T | undefined {
    return this.#store?.get(`${namespace ?? ''}/${name}`);
  }

  list(namespace?: string): readonly T[] {
    const all = [...(this.#store?.values() ?? [])];
    return namespace === undefined ? all : all.filter((o) => o.metadata?.namespace === namespace);
  }

  get size(): number {
    return this.#store?.size ?? 0;
  }

  async #listAndWatch(): Promise<void> {
    if (this.#stopped) return;
    const run = ++this.#run;
    this.#watch?.abort();
    this.#watch = undefined;
    let listed: ListResult<T>;
    try {
      listed = await this.#opts.list();
    } catch (err) {
      this.#onError(run, err);
      return;
    }
    if (run !== this.#run) return;
    this.#replace(listed.items);
    this.#resourceVersion = listed.metadata?.resourceVersion ?? '';
    if (this.#failures > 0) this.#opts.log.info({ informer: this.#opts.name }, 'watch re-established');
    this.#failures = 0;
    this.#opts.onHealthChange?.(true);
    for (const w of this.#syncedWaiters.splice(0)) w();
    void this.#startWatch(run);
  }

  /** The cache becomes the list; the handlers hear what differs from what was cached. */
  #replace(items: T[]): void {
    const previous = this.#store;
    const next = new Map<string, T>();
    // Serve the new cache before any handler runs: they queue keys, and a reconcile must find
    // each object where it reads.
    this.#store = next;
    for (const raw of items) {
      const obj = this.#transform(raw);
      const key = keyOfObject(obj);
      const old = previous?.get(key);
      next.set(key, old && sameVersion(old, obj) ? old : obj);
      if (!old) this.#handlers.add(obj);
      else if (!sameVersion(old, obj)) this.#handlers.update(obj);
    }
    for (const [key, old] of previous ?? []) if (!next.has(key)) this.#handlers.delete(old);
  }

  async #startWatch(run: number): Promise<void> {
    const { kubeConfig, path, labelSelector } = this.#opts;
    const query: Record<string, string | boolean> = { resourceVersion: this.#resourceVersion, allowWatchBookmarks: true };
    if (labelSelector) query.labelSelector = labelSelector;
    let expired = false;
    const openedAt = Date.now();
    try {
      const controller = await watchStream<T & { code?: number }>(kubeConfig, path, query, (type, obj) => {
        if (run !== this.#run) return;
        if (type === 'ERROR') {
          if (obj.code === 410) expired = true;
          return;
        }
        this.#onEvent(type, obj);
      }, (err: unknown) => {
        if (run !== this.#run || this.#stopped) return;
        if (expired || httpStatus(err) === 410) {
          void this.#listAndWatch();
        } else if (err && (err as { name?: unknown }).name !== 'TimeoutError') {
          this.#onError(run, err);
        } else {
          // The server ended the watch (its timeout), or nothing came for the watch's inactivity
          // timeout: resume from the last version seen. Not a failure: a quiet namespace sends
          // nothing for minutes. If the apiserver is really gone, the resumed watch fails. A
          // watch that ends as soon as it opens (a proxy closing streams) resumes after a pause,
          // not in a tight loop of requests.
          if (Date.now() - openedAt >= MIN_WATCH_MS) {
            void this.#startWatch(run);
            return;
          }
          clearTimeout(this.#restartTimer);
          this.#restartTimer = setTimeout(() => { if (run === this.#run) void this.#startWatch(run); }, WATCH_BACKOFF.baseMs);
          this.#restartTimer.unref();
        }
      });
      if (run === this.#run) this.#watch = controller;
      else controller.abort();
    } catch (err) {
      this.#onError(run, err);
    }
  }

  #onEvent(type: string, raw: T): void {
    const store = this.#store!;
    const version = raw.metadata?.resourceVersion;
    if (type === 'BOOKMARK') {
      if (version) this.#resourceVersion = version;
      return;
    }
    const obj = this.#transform(raw);
    const key = keyOfObject(obj);
    if (version) this.#resourceVersion = version;
    if (type === 'DELETED') {
      store.delete(key);
      this.#handlers.delete(obj);
    } else if (type === 'ADDED' || type === 'MODIFIED') {
      const had = store.has(key);
      store.set(key, obj);
      if (had) this.#handlers.update(obj);
      else this.#handlers.add(obj);
    }
  }

  #onError(run: number, err: unknown): void {
    if (this.#stopped || run !== this.#run) return;
    // Capped at 10 s (client-go's reflector allows 30 s): after an outage the caches, and with
    // them new and changed resources, come back within seconds of the apiserver.
    const delay = backoffDelay(this.#failures++, Math.random, WATCH_BACKOFF);
    this.#opts.onHealthChange?.(false);
    this.#opts.log.warn({ informer: this.#opts.name, err: errorSummary(err), retryInMs: delay }, 'watch failed; restarting');
    clearTimeout(this.#restartTimer);
    this.#restartTimer = setTimeout(() => void this.#listAndWatch(), delay);
    this.#restartTimer.unref();
  }

  #relaunch(why: string): void {
    if (this.#stopped) return;
    this.#opts.log.debug({ informer: this.#opts.name, why }, 'relisting');
    void this.#listAndWatch();
  }
}

const sameVersion = (a: KubernetesObject, b: KubernetesObject): boolean =>
  a.metadata?.resourceVersion !== undefined && a.metadata.resourceVersion === b.metadata?.resourceVersion;

const httpStatus = (err: unknown): number | undefined => {
  const e = err as { statusCode?: unknown; code?: unknown } | undefined;
  const code = e?.statusCode ?? e?.code;
  return typeof code === 'number' ? code : undefined;
};

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/**
 * Drops what the operator never reads from a cached object: managedFields and kubectl's
 * last-applied copy of the whole object. At 10,000 resources these fields were most of the
 * informer memory.
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
