// Secret values shared by all resources: one AWS read per unique (identity, region, secret id,
// version) at a time, however many resources ask. Concurrent requests await the same promise;
// a settled value is served to requests that accept its age, and dropped after ttlMs so values do
// not linger in memory. Failures are never cached. A read made ahead for a resource (a prefetch,
// see SecretSource.prefetch) is claimed for it: that resource takes the value whatever its age
// (up to ttlMs) once, since it was read after the resource asked for it.
import type { Metrics } from '../observability/metrics.js';
import type { SourceSecret } from '../sync/source.js';

export interface SourceKey {
  identityKey: string;
  region: string;
  secretId: string;
  versionId?: string;
  versionStage?: string;
}

export type Fetch = () => Promise<SourceSecret>;

interface Entry {
  promise: Promise<SourceSecret>;
  fetchedAt?: number;
  region: string;
  secretId: string;
  arn?: string;
  /** Resources this value was read ahead for, each taking it once. */
  claims?: Set<string>;
}

export const cacheKey = (k: SourceKey): string =>
  [k.identityKey, k.region, k.secretId, k.versionId ?? '', k.versionStage ?? 'AWSCURRENT'].join('\u0000');

export class SourceCache {
  readonly #entries = new Map<string, Entry>();
  readonly #ttlMs: number;
  readonly #metrics: Metrics | undefined;
  #sweep: NodeJS.Timeout | undefined;

  constructor(ttlMs: number, metrics?: Metrics) {
    this.#ttlMs = ttlMs;
    this.#metrics = metrics;
  }

  /**
   * A value no older than maxAgeMs (0: a fresh read, still shared with reads in flight), or the
   * value claimed for `claim` ahead of time. `fetch` runs only on a miss.
   */
  get(key: SourceKey, maxAgeMs: number, fetch: Fetch, claim?: string): Promise<SourceSecret> {
    const k = cacheKey(key);
    const entry = this.#entries.get(k);
    if (claim !== undefined && entry?.claims?.delete(claim) && (entry.fetchedAt === undefined || Date.now() - entry.fetchedAt <= this.#ttlMs)) {
      this.#metrics?.sourceCache.inc({ result: 'prefetched' });
      return entry.promise;
    }
    return this.#lookup(k, key, maxAgeMs, fetch).promise;
  }

  /**
   * Reads ahead for a resource that will ask soon (get with the same claim): what get would
   * answer now (a value no older than maxAgeMs, a read in flight, or a new read), kept for it.
   */
  prefetch(key: SourceKey, maxAgeMs: number, fetch: Fetch, claim: string): void {
    const entry = this.#lookup(cacheKey(key), key, maxAgeMs, fetch);
    (entry.claims ??= new Set()).add(claim);
  }

  #lookup(k: string, key: SourceKey, maxAgeMs: number, fetch: Fetch): Entry {
    const now = Date.now();
    const entry = this.#entries.get(k);
    if (entry) {
      if (entry.fetchedAt === undefined) {
        this.#metrics?.sourceCache.inc({ result: 'shared' });
        return entry;
      }
      if (now - entry.fetchedAt <= Math.min(maxAgeMs, this.#ttlMs)) {
        this.#metrics?.sourceCache.inc({ result: 'hit' });
        return entry;
      }
    }
    this.#metrics?.sourceCache.inc({ result: 'miss' });
    // Expired values are swept out; the sweep starts with the first value, not in the constructor.
    this.#sweep ??= setInterval(() => this.#evictExpired(), Math.max(1_000, this.#ttlMs)).unref();
    const fresh: Entry = { promise: fetch(), region: key.region, secretId: key.secretId };
    this.#entries.set(k, fresh);
    fresh.promise.then(
      (value) => { fresh.fetchedAt = Date.now(); fresh.arn = value.arn; },
      () => { if (this.#entries.get(k) === fresh) this.#entries.delete(k); },
    );
    return fresh;
  }

  /**
   * A change event named these secrets: drop their values, settled or in flight (a read in flight
   * may have started before the change; whoever awaits it keeps it, later requests read again).
   */
  invalidate(match: (region: string, ids: Array<string | undefined>) => boolean): number {
    let dropped = 0;
    for (const [k, e] of this.#entries) {
      if (match(e.region, [e.secretId, e.arn])) { this.#entries.delete(k); dropped++; }
    }
    return dropped;
  }

  stop(): void {
    clearInterval(this.#sweep);
    this.#sweep = undefined;
    this.#entries.clear();
  }

  #evictExpired(): void {
    const now = Date.now();
    for (const [k, e] of this.#entries) {
      if (e.fetchedAt !== undefined && now - e.fetchedAt > this.#ttlMs) this.#entries.delete(k);
    }
  }
}
