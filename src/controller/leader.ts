// Leader election on a coordination.k8s.io/v1 Lease, after client-go's leaderelection: the
// holder renews every retryPeriod; a candidate takes over when the record has not changed for
// leaseDuration, measured on its own clock (no trust in others' clocks); a leader that cannot
// renew within renewDeadline stops leading. release() hands the lease over at once on SIGTERM.
import { V1MicroTime, Watch, type ConfigurationOptions, type V1Lease } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { apiMessage, isConflict, isNotFound, type KubeClient } from '../kube/client.js';
import { withRequestTimeout } from '../kube/request-timeout.js';

export const LEADER_DEFAULTS = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 } as const;

export interface LeaderOptions {
  kube: KubeClient;
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  log: Logger;
  onStartedLeading(): void;
  onStoppedLeading(): void;
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

  constructor(opts: LeaderOptions) {
    this.#o = opts;
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
      this.#watch = await new Watch(kube.kubeConfig).watch(
        `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`,
        { fieldSelector: `metadata.name=${name}` },
        (_phase, obj: V1Lease) => {
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
        lease.spec.renewTime = micro(new Date());
        await this.#o.kube.coordination.replaceNamespacedLease({ namespace: this.#o.namespace, name: this.#o.name, body: lease });
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
        this.#lastRenew = Date.now();
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
    if (this.#leading && Date.now() - this.#lastRenew > this.#o.renewDeadlineMs) {
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
  #callOptions(): ConfigurationOptions | undefined {
    if (!this.#leading) return undefined;
    const left = this.#lastRenew + this.#o.renewDeadlineMs - Date.now();
    return left < this.#o.kube.requestTimeoutMs ? withRequestTimeout(Math.max(1, left)) : undefined;
  }

  async #get(): Promise<V1Lease | undefined> {
    try {
      return await this.#o.kube.coordination.readNamespacedLease({ namespace: this.#o.namespace, name: this.#o.name }, this.#callOptions());
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async #tryAcquireOrRenew(): Promise<boolean> {
    const { kube, namespace, name, identity } = this.#o;
    const now = new Date();
    const seconds = Math.ceil(this.#o.leaseDurationMs / 1000);
    const lease = await this.#get();
    if (!lease) {
      try {
        await kube.coordination.createNamespacedLease({ namespace, body: {
          metadata: { name, namespace },
          spec: { holderIdentity: identity, leaseDurationSeconds: seconds, acquireTime: micro(now), renewTime: micro(now), leaseTransitions: 0 },
        } }, this.#callOptions());
        return true;
      } catch (err) {
        if (isConflict(err)) return false;
        throw err;
      }
    }
    const spec = lease.spec ?? {};
    const record = `${spec.holderIdentity ?? ''}|${String(spec.renewTime ?? '')}|${spec.leaseDurationSeconds ?? ''}`;
    if (!this.#observed || this.#observed.record !== record) this.#observed = { record, at: Date.now() };
    const holder = spec.holderIdentity;
    const heldByOther = holder !== undefined && holder !== '' && holder !== identity;
    const expired = Date.now() - this.#observed.at > (spec.leaseDurationSeconds ?? seconds) * 1000;
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
      await kube.coordination.replaceNamespacedLease({ namespace, name, body: lease }, this.#callOptions());
      return true;
    } catch (err) {
      if (isConflict(err)) return false;
      throw err;
    }
  }
}

/** The apiserver wants MicroTime with six fractional digits; client-node's class writes them. */
const micro = (d: Date): V1MicroTime => new V1MicroTime(d.getTime());
