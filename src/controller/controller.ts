// Wires the watches to the work queue and the queue to the reconciler. What is watched is
// declared here, in one place: ExternalLLMSecrets (all namespaces or a list, optionally a label
// selector for sharding) and only the Secrets this operator manages (label-selected), never
// every Secret in the cluster.
import type { KubernetesObject, V1Secret } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node/dist/config.js';
import type { Logger } from 'pino';
import { FORCE_SYNC_ANNOTATION, GROUP, MANAGED_BY_LABEL, MANAGED_BY_VALUE, OWNER_ANNOTATION, PLURAL, VERSION } from '../crds/constants.js';
import type { ExternalLLMSecret } from '../crds/types.js';
import type { KubeClient } from '../kube/client.js';
import type { Metrics } from '../observability/metrics.js';
import { SupervisedInformer } from './informer.js';
import { WorkQueue, type QueueHooks } from './queue.js';
import { OwnWrites } from './own-writes.js';
import { KUBE_SCOPE, RecoveryBoard } from './recovery.js';
import type { ExternalLLMSecretReconciler } from './reconciler.js';

export const MANAGED_SECRET_SELECTOR = `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}`;

export interface ControllerOptions {
  kubeConfig: KubeConfig;
  kube: KubeClient;
  /** Namespaces to watch; empty: all. */
  namespaces: string[];
  /** Label selector on ExternalLLMSecrets, for sharding. */
  selector?: string;
  concurrency: number;
  relistMs: number;
  metrics: Metrics;
  log: Logger;
  /** Told when keys wait behind busy workers and when a worker takes them (src/controller/read-ahead.ts). */
  queueHooks?: Pick<QueueHooks, 'onWaiting' | 'onStarted'>;
}

export const keyOf = (o: KubernetesObject): string => `${o.metadata?.namespace}/${o.metadata?.name}`;

export class Controller {
  readonly queue: WorkQueue;
  /** Resources waiting in backoff for the apiserver or an AWS region to answer again. */
  readonly recovery: RecoveryBoard;
  /** Secrets we write, whose watch echo must not requeue their owner (set up with the informers). */
  readonly ownWrites: OwnWrites;
  readonly #opts: ControllerOptions;
  readonly #resources: Array<SupervisedInformer<ExternalLLMSecret>> = [];
  readonly #secrets: Array<SupervisedInformer<V1Secret>> = [];
  #reconciler: ExternalLLMSecretReconciler | undefined;
  #gaugeTimer: NodeJS.Timeout | undefined;

  constructor(opts: ControllerOptions) {
    this.#opts = opts;
    const m = opts.metrics;
    this.queue = new WorkQueue(opts.concurrency, {
      onAdd: () => m.queueAdds.inc(),
      onRetry: () => m.queueRetries.inc(),
      onDepth: (d) => m.queueDepth.set(d),
      ...opts.queueHooks,
    });
    this.recovery = new RecoveryBoard({ requeue: (key, delayMs) => this.queue.addAfter(key, delayMs) });
    // Someone edited or deleted a managed Secret: reconcile its owner, which restores it.
    this.ownWrites = new OwnWrites((s) => {
      const ref = s.metadata?.annotations?.[OWNER_ANNOTATION];
      if (ref && ref.startsWith(`${s.metadata?.namespace}/`)) this.queue.add(ref);
    });
    const scopes = opts.namespaces.length > 0 ? opts.namespaces : [undefined];
    for (const ns of scopes) {
      this.#resources.push(this.#resourceInformer(ns));
      this.#secrets.push(this.#secretInformer(ns));
    }
  }

  setReconciler(reconciler: ExternalLLMSecretReconciler): void {
    this.#reconciler = reconciler;
  }

  /** Starts the watches; resolves when every cache has listed once. */
  async startInformers(): Promise<void> {
    await Promise.all([...this.#resources, ...this.#secrets].map((i) => i.start()));
  }

  /** Starts reconciling (on the leader only). */
  startWorkers(): void {
    const reconciler = this.#reconciler;
    if (!reconciler) throw new Error('no reconciler set');
    this.queue.start(async (key) => {
      this.#opts.metrics.queueLongestRunning.set(this.queue.longestRunningSeconds());
      return reconciler.reconcile(key);
    });
    for (const i of this.#resources) for (const o of i.list()) this.queue.add(keyOf(o));
    this.#gaugeTimer = setInterval(() => this.#opts.metrics.queueLongestRunning.set(this.queue.longestRunningSeconds()), 5_000);
    this.#gaugeTimer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#gaugeTimer);
    await this.queue.stop();
    await Promise.all([...this.#resources, ...this.#secrets].map((i) => i.stop()));
  }

  get synced(): boolean {
    return [...this.#resources, ...this.#secrets].every((i) => i.synced);
  }

  get healthy(): boolean {
    return [...this.#resources, ...this.#secrets].every((i) => i.healthy);
  }

  getResource(namespace: string, name: string): ExternalLLMSecret | undefined {
    return this.#informerFor(this.#resources, namespace)?.get(name, namespace);
  }

  getSecret(namespace: string, name: string): V1Secret | undefined {
    return this.#informerFor(this.#secrets, namespace)?.get(name, namespace);
  }

  listResources(): ExternalLLMSecret[] {
    return this.#resources.flatMap((i) => [...i.list()]);
  }

  #informerFor<T extends KubernetesObject>(list: Array<SupervisedInformer<T>>, namespace: string): SupervisedInformer<T> | undefined {
    if (this.#opts.namespaces.length === 0) return list[0];
    const i = this.#opts.namespaces.indexOf(namespace);
    return i >= 0 ? list[i] : undefined;
  }

  #resourceInformer(namespace: string | undefined): SupervisedInformer<ExternalLLMSecret> {
    const { kube, kubeConfig, log, relistMs, selector } = this.#opts;
    const base = `/apis/${GROUP}/${VERSION}`;
    const path = namespace ? `${base}/namespaces/${namespace}/${PLURAL}` : `${base}/${PLURAL}`;
    const list = () => kube.listExternalLLMSecrets(namespace, selector);
    return new SupervisedInformer<ExternalLLMSecret>(
      { kubeConfig, path, list, labelSelector: selector, relistMs, log, name: `${PLURAL}${namespace ? `/${namespace}` : ''}`, onHealthChange: (up) => this.#watchHealth(up) },
      {
        // The fingerprint is taken on add too: else the first status write of every resource
        // would come back as a "change" and queue a reconcile that finds nothing to do.
        add: (o) => { this.#specChanged(o); this.queue.add(keyOf(o)); },
        update: (o) => { if (this.#specChanged(o)) this.queue.add(keyOf(o)); },
        delete: (o) => { this.#seen.delete(keyOf(o)); this.queue.remove(keyOf(o)); this.queue.add(keyOf(o)); },
      },
    );
  }

  /** A watch listed again after failing: the apiserver answers, so what failed on it retries now. */
  #watchHealth(up: boolean): void {
    if (!up) return;
    const requeued = this.recovery.recovered(KUBE_SCOPE);
    if (requeued > 0) {
      this.#opts.metrics.recoveryRequeues.inc({ scope: KUBE_SCOPE }, requeued);
      this.#opts.log.info({ scope: KUBE_SCOPE, requeued }, 'watch re-established; requeued the resources that failed on the apiserver');
    }
  }

  /** Our own status writes come back as updates: only spec, annotation or deletion changes matter. */
  readonly #seen = new Map<string, string>();
  #specChanged(o: ExternalLLMSecret): boolean {
    const fingerprint = `${o.metadata.generation}|${o.metadata.annotations?.[FORCE_SYNC_ANNOTATION] ?? ''}|${o.metadata.deletionTimestamp ?? ''}|${o.metadata.uid}`;
    const key = keyOf(o);
    if (this.#seen.get(key) === fingerprint) return false;
    this.#seen.set(key, fingerprint);
    return true;
  }

  #secretInformer(namespace: string | undefined): SupervisedInformer<V1Secret> {
    const { kube, kubeConfig, log, relistMs } = this.#opts;
    const path = namespace ? `/api/v1/namespaces/${namespace}/secrets` : '/api/v1/secrets';
    const list = () => kube.listSecrets(namespace, MANAGED_SECRET_SELECTOR);
    return new SupervisedInformer<V1Secret>(
      { kubeConfig, path, list, labelSelector: MANAGED_SECRET_SELECTOR, relistMs, log, name: `secrets${namespace ? `/${namespace}` : ''}`, onHealthChange: (up) => this.#watchHealth(up) },
      { add: (s) => this.ownWrites.event(s), update: (s) => this.ownWrites.event(s), delete: (s) => this.ownWrites.deleted(s) },
    );
  }
}
