// Leader election on a coordination.k8s.io/v1 Lease, after client-go's leaderelection: the
// holder renews every retryPeriod; a candidate takes over when the record has not changed for
// leaseDuration, measured on its own clock (no trust in others' clocks); a leader that cannot
// renew within renewDeadline stops leading. release() hands the lease over at once on SIGTERM.
import type { V1Lease } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { apiMessage, isConflict, type CallOptions, type KubeClient } from '../kube/client.js';

export const LEADER_DEFAULTS = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 } as const;

/** The Lease calls leader election makes; a KubeClient, or a fake in tests. */
export type LeaseClient = Pick<KubeClient, 'getLease' | 'createLease' | 'replaceLease' | 'watchLease'>;

export interface LeaderOptions {
  kube: LeaseClient;
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  log: Logger;
  onStartedLeading(): void;
  onStoppedLeading(): void;
  /** This process's clock (ms since the epoch); Date.now unless a test injects one. */
  now?: () => number;
}

export class LeaderElector {
  readonly #o: LeaderOptions;
  #leading = false;
  #stopped = false;
  #timer: NodeJS.Timeout | undefined;
  #observed: { record: string; at: number } | undefined;
  #lastRenew = 0;
  #watch: AbortController | undefined;
  #ticking = false;
  readonly #now: () => number;

  constructor(opts: LeaderOptions) {
    this.#o = opts;
    this.#now = opts.now ?? Date.now;
  }

  get isLeader(): boolean {
    return this.#leading;
  }

  start(): void {
    this.#stopped = false;
    void this.#tick();
    void this.#watchReleases();
  }

  /**
   * A standby would notice a released lease only at its next retry; watching the Lease lets it
   * take over as soon as the leader lets go, so a rolling update hands over in well under a second
   * or two. Best effort: the periodic retry still runs if the watch fails.
   */
  async #watchReleases(): Promise<void> {
    if (this.#stopped) return;
    const { kube, namespace, name } = this.#o;
    try {
      this.#watch = await kube.watchLease(
        namespace,
        name,
        (_phase, obj) => {
          if (!this.#leading && !this.#stopped && !obj.spec?.holderIdentity) {
            clearTimeout(this.#timer);
            void this.#tick();
          }
        },
        () => { if (!this.#stopped) setTimeout(() => void this.#watchReleases(), this.#o.retryPeriodMs).unref(); },
      );
    } catch {
      if (!this.#stopped) setTimeout(() => void this.#watchReleases(), this.#o.retryPeriodMs).unref();
    }
  }

  /** Stops trying; when leading, empties the lease so a standby takes over within one retry period. */
  async release(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#watch?.abort();
    if (!this.#leading) return;
    this.#leading = false;
    try {
      const lease = await this.#get();
      if (lease?.spec?.holderIdentity === this.#o.identity) {
        lease.spec.holderIdentity = undefined;
        lease.spec.leaseDurationSeconds = 1;
        lease.spec.renewTime = micro(this.#now());
        await this.#o.kube.replaceLease(lease);
      }
      this.#o.log.info({ lease: this.#o.name }, 'released leadership');
    } catch (err) {
      this.#o.log.warn({ lease: this.#o.name, err: apiMessage(err) }, 'could not release the lease; a standby takes over when it expires');
    }
  }

  async #tick(): Promise<void> {
    if (this.#stopped || this.#ticking) return;
    this.#ticking = true;
    try {
      const ok = await this.#tryAcquireOrRenew();
      if (ok) {
        this.#lastRenew = this.#now();
        if (!this.#leading) {
          this.#leading = true;
          this.#o.log.info({ lease: this.#o.name, identity: this.#o.identity }, 'became leader');
          this.#o.onStartedLeading();
        }
      }
    } catch (err) {
      this.#o.log.warn({ lease: this.#o.name, err: apiMessage(err) }, 'lease update failed');
    } finally {
      this.#ticking = false;
    }
    if (this.#leading && this.#now() - this.#lastRenew > this.#o.renewDeadlineMs) {
      this.#leading = false;
      this.#o.log.error({ lease: this.#o.name }, 'lost leadership: could not renew within the deadline');
      this.#o.onStoppedLeading();
      return;
    }
    if (!this.#stopped) {
      this.#timer = setTimeout(() => void this.#tick(), this.#o.retryPeriodMs);
    }
  }

  /**
   * While leading, no call may outlive the renew deadline (client-go does the same): a renew that
   * hangs past it would keep this process leading after a standby has taken the lease.
   */
  #callOptions(): CallOptions | undefined {
    if (!this.#leading) return undefined;
    // KubeClient applies it only when shorter than its own request timeout.
    return { timeoutMs: Math.max(1, this.#lastRenew + this.#o.renewDeadlineMs - this.#now()) };
  }

  #get(): Promise<V1Lease | undefined> {
    return this.#o.kube.getLease(this.#o.namespace, this.#o.name, this.#callOptions());
  }

  async #tryAcquireOrRenew(): Promise<boolean> {
    const { kube, namespace, name, identity } = this.#o;
    const now = this.#now();
    const seconds = Math.ceil(this.#o.leaseDurationMs / 1000);
    const lease = await this.#get();
    if (!lease) {
      try {
        await kube.createLease({
          metadata: { name, namespace },
          spec: { holderIdentity: identity, leaseDurationSeconds: seconds, acquireTime: micro(now), renewTime: micro(now), leaseTransitions: 0 },
        }, this.#callOptions());
        return true;
      } catch (err) {
        if (isConflict(err)) return false;
        throw err;
      }
    }
    const spec = lease.spec ?? {};
    const record = `${spec.holderIdentity ?? ''}|${String(spec.renewTime ?? '')}|${spec.leaseDurationSeconds ?? ''}`;
    const seen = this.#now(); // after the read, as the record is observed
    if (!this.#observed || this.#observed.record !== record) this.#observed = { record, at: seen };
    const holder = spec.holderIdentity;
    const heldByOther = holder !== undefined && holder !== '' && holder !== identity;
    const expired = seen - this.#observed.at > (spec.leaseDurationSeconds ?? seconds) * 1000;
    if (heldByOther && !expired) return false;
    const takingOver = holder !== identity;
    lease.spec = {
      ...spec,
      holderIdentity: identity,
      leaseDurationSeconds: seconds,
      renewTime: micro(now),
      ...(takingOver ? { acquireTime: micro(now), leaseTransitions: (spec.leaseTransitions ?? 0) + 1 } : {}),
    };
    try {
      await kube.replaceLease(lease, this.#callOptions());
      return true;
    } catch (err) {
      if (isConflict(err)) return false;
      throw err;
    }
  }
}

/**
 * The apiserver parses MicroTime with exactly six fractional digits. The string goes out as JSON
 * as it is; the typed field says Date because client-node's types do.
 */
export const micro = (ms: number): Date => new Date(ms).toISOString().replace(/Z$/, '000Z') as unknown as Date;
