// Thin adapter over @kubernetes/client-node: the only place that holds its API objects, so every
// request the operator makes goes through here, counted by verb, resource and HTTP code
// (kube_api_requests_total), each with a deadline (request-timeout.ts). Watches are long-lived
// streams, not requests: they are opened on kubeConfig (the informers, watchLease) and not counted.
// Errors keep their HTTP code; their text is never logged whole, since client-node puts the
// response body into the message.
import {
  AppsV1Api, CoordinationV1Api, CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions, Watch,
  type ConfigurationOptions, type KubeConfig, type V1Secret, type CoreV1Event, type V1Lease, type V1ServiceAccount,
} from '@kubernetes/client-node';
import { GROUP, PLURAL, VERSION } from '../crds/constants.js';
import type { ExternalLLMSecret, ExternalLLMSecretStatus } from '../crds/types.js';
import type { Metrics } from '../observability/metrics.js';
import { reuseConnections } from './connection-reuse.js';
import { KubeRequestTimeoutError, makeApiClient, withRequestTimeout } from './request-timeout.js';

export const MERGE_PATCH = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
export const STRATEGIC_MERGE_PATCH = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);

/** HTTP status of a client-node error, if it has one. */
export function httpCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'number' ? code : undefined;
}

/** The apiserver's own Status message (names objects, never data), for conditions and logs. */
export function apiMessage(err: unknown): string {
  const body = (err as { body?: unknown } | undefined)?.body;
  let parsed: unknown = body;
  if (typeof body === 'string') {
    try { parsed = JSON.parse(body); } catch { parsed = undefined; }
  }
  const message = (parsed as { message?: unknown } | undefined)?.message;
  const code = httpCode(err);
  if (err instanceof KubeRequestTimeoutError) return err.message;
  if (typeof message === 'string') return message;
  return code ? `HTTP ${code}` : ((err as { name?: string } | undefined)?.name ?? 'request failed');
}

export const isNotFound = (err: unknown): boolean => httpCode(err) === 404;
export const isConflict = (err: unknown): boolean => httpCode(err) === 409;

/** A create refused because the namespace is being deleted (403 with cause NamespaceTerminating). */
export function isNamespaceTerminating(err: unknown): boolean {
  if (httpCode(err) !== 403) return false;
  const body = (err as { body?: unknown }).body;
  let parsed: unknown = body;
  if (typeof body === 'string') {
    try { parsed = JSON.parse(body); } catch { return false; }
  }
  const causes = (parsed as { details?: { causes?: Array<{ reason?: string }> } } | undefined)?.details?.causes ?? [];
  return causes.some((c) => c.reason === 'NamespaceTerminating');
}

/** coordination.k8s.io/v1, where leader election's Lease lives. */
export const LEASE_GROUP = 'coordination.k8s.io';
export const LEASE_VERSION = 'v1';
export const LEASE_PLURAL = 'leases';

/** A list of ExternalLLMSecrets as the apiserver returns it (what an informer lists). */
export interface ExternalLLMSecretList {
  apiVersion: string;
  kind: string;
  items: ExternalLLMSecret[];
  metadata: { resourceVersion?: string; continue?: string };
}

/** Per-call options. timeoutMs shortens this call's deadline below the client's; never lengthens it. */
export interface CallOptions {
  timeoutMs?: number;
}

export class KubeClient {
  // Private: a call made on these directly would escape the request counter.
  readonly #core: CoreV1Api;
  readonly #custom: CustomObjectsApi;
  readonly #apps: AppsV1Api;
  readonly #coordination: CoordinationV1Api;
  readonly #metrics: Metrics | undefined;

  /** requestTimeoutMs bounds each request made through these API objects (watches excepted). */
  constructor(readonly kubeConfig: KubeConfig, metrics: Metrics | undefined, readonly requestTimeoutMs: number) {
    reuseConnections(kubeConfig);
    this.#core = makeApiClient(kubeConfig, CoreV1Api, requestTimeoutMs);
    this.#custom = makeApiClient(kubeConfig, CustomObjectsApi, requestTimeoutMs);
    this.#apps = makeApiClient(kubeConfig, AppsV1Api, requestTimeoutMs);
    this.#coordination = makeApiClient(kubeConfig, CoordinationV1Api, requestTimeoutMs);
    this.#metrics = metrics;
  }

  /** Per-call client-node options for a shorter deadline than the client's, if one is asked for. */
  #options(opts: CallOptions | undefined): ConfigurationOptions | undefined {
    const t = opts?.timeoutMs;
    if (t === undefined || t >= this.requestTimeoutMs) return undefined;
    return withRequestTimeout(Math.max(1, Math.floor(t)));
  }

  async #call<T>(verb: string, resource: string, fn: () => Promise<T>): Promise<T> {
    try {
      const result = await fn();
      this.#metrics?.kubeRequests.inc({ verb, resource, code: '2xx' });
      return result;
    } catch (err) {
      const code = err instanceof KubeRequestTimeoutError ? 'timeout' : String(httpCode(err) ?? 'error');
      this.#metrics?.kubeRequests.inc({ verb, resource, code });
      throw err;
    }
  }

  async getSecret(namespace: string, name: string): Promise<V1Secret | undefined> {
    try {
      return await this.#call('get', 'secrets', () => this.#core.readNamespacedSecret({ namespace, name }));
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  createSecret(secret: V1Secret): Promise<V1Secret> {
    return this.#call('create', 'secrets', () => this.#core.createNamespacedSecret({ namespace: secret.metadata!.namespace!, body: secret, fieldManager: 'external-llm-secrets' }));
  }

  /** Full replace with the live resourceVersion: a concurrent change gives 409, and we retry. */
  replaceSecret(secret: V1Secret): Promise<V1Secret> {
    return this.#call('update', 'secrets', () => this.#core.replaceNamespacedSecret({
      namespace: secret.metadata!.namespace!, name: secret.metadata!.name!, body: secret, fieldManager: 'external-llm-secrets',
    }));
  }

  /** In one namespace, or in all when namespace is undefined. */
  listExternalLLMSecrets(namespace: string | undefined, labelSelector?: string, limit?: number): Promise<ExternalLLMSecretList> {
    const call = namespace
      ? () => this.#custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: PLURAL, labelSelector, limit })
      : () => this.#custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, labelSelector, limit });
    return this.#call('list', PLURAL, call) as Promise<ExternalLLMSecretList>;
  }

  listSecrets(namespace: string | undefined, labelSelector: string) {
    return this.#call('list', 'secrets', () => (namespace
      ? this.#core.listNamespacedSecret({ namespace, labelSelector })
      : this.#core.listSecretForAllNamespaces({ labelSelector })));
  }

  /** Merge-patches status (keys set to null are removed); returns the object as written. */
  async patchStatus(namespace: string, name: string, status: Record<string, unknown>): Promise<ExternalLLMSecret> {
    return await this.#call('patch', `${PLURAL}/status`, () => this.#custom.patchNamespacedCustomObjectStatus(
      { group: GROUP, version: VERSION, namespace, plural: PLURAL, name, body: { status } }, MERGE_PATCH,
    )) as ExternalLLMSecret;
  }

  getExternalLLMSecret(namespace: string, name: string): Promise<ExternalLLMSecret> {
    return this.#call('get', PLURAL, () => this.#custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: PLURAL, name })) as Promise<ExternalLLMSecret>;
  }

  createEvent(event: CoreV1Event): Promise<unknown> {
    return this.#call('create', 'events', () => this.#core.createNamespacedEvent({ namespace: event.metadata!.namespace!, body: event }));
  }

  getServiceAccount(namespace: string, name: string): Promise<V1ServiceAccount> {
    return this.#call('get', 'serviceaccounts', () => this.#core.readNamespacedServiceAccount({ namespace, name }));
  }

  async createServiceAccountToken(namespace: string, name: string, audience: string, expirationSeconds: number): Promise<{ token: string; expiresAt: Date }> {
    const result = await this.#call('create', 'serviceaccounts/token', () => this.#core.createNamespacedServiceAccountToken({
      namespace, name, body: { spec: { audiences: [audience], expirationSeconds } },
    }));
    const expires = result.status?.expirationTimestamp;
    if (!result.status?.token) throw new Error('TokenRequest returned no token');
    return { token: result.status.token, expiresAt: expires ? new Date(expires) : new Date(Date.now() + expirationSeconds * 1000) };
  }

  /** The Lease, or undefined when there is none. */
  async getLease(namespace: string, name: string, opts?: CallOptions): Promise<V1Lease | undefined> {
    try {
      return await this.#call('get', LEASE_PLURAL, () => this.#coordination.readNamespacedLease({ namespace, name }, this.#options(opts)));
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** 409 when it exists already. */
  createLease(lease: V1Lease, opts?: CallOptions): Promise<V1Lease> {
    return this.#call('create', LEASE_PLURAL, () => this.#coordination.createNamespacedLease(
      { namespace: lease.metadata!.namespace!, body: lease }, this.#options(opts),
    ));
  }

  /** Full replace with the resourceVersion read: 409 when someone wrote the Lease since. */
  replaceLease(lease: V1Lease, opts?: CallOptions): Promise<V1Lease> {
    return this.#call('update', LEASE_PLURAL, () => this.#coordination.replaceNamespacedLease(
      { namespace: lease.metadata!.namespace!, name: lease.metadata!.name!, body: lease }, this.#options(opts),
    ));
  }

  /**
   * Watches one Lease (a stream, not counted). Resolves with the controller that stops it; done is
   * called once when the watch ends or fails to start.
   */
  watchLease(namespace: string, name: string, onEvent: (phase: string, lease: V1Lease) => void, done: (err: unknown) => void): Promise<AbortController> {
    return new Watch(this.kubeConfig).watch(
      `/apis/${LEASE_GROUP}/${LEASE_VERSION}/namespaces/${namespace}/${LEASE_PLURAL}`,
      { fieldSelector: `metadata.name=${name}` },
      onEvent,
      done,
    );
  }

  /** Patches a workload's pod template annotation, which makes Kubernetes roll its pods. */
  patchWorkloadTemplateAnnotation(kind: 'Deployment' | 'StatefulSet' | 'DaemonSet', namespace: string, name: string, annotations: Record<string, string>): Promise<unknown> {
    const body = { spec: { template: { metadata: { annotations } } } };
    const resource = `${kind.toLowerCase()}s`;
    return this.#call('patch', resource, () => {
      switch (kind) {
        case 'Deployment': return this.#apps.patchNamespacedDeployment({ namespace, name, body }, STRATEGIC_MERGE_PATCH);
        case 'StatefulSet': return this.#apps.patchNamespacedStatefulSet({ namespace, name, body }, STRATEGIC_MERGE_PATCH);
        case 'DaemonSet': return this.#apps.patchNamespacedDaemonSet({ namespace, name, body }, STRATEGIC_MERGE_PATCH);
      }
    });
  }

  readWorkload(kind: 'Deployment' | 'StatefulSet' | 'DaemonSet', namespace: string, name: string): Promise<Workload> {
    const resource = `${kind.toLowerCase()}s`;
    return this.#call('get', resource, () => {
      switch (kind) {
        case 'Deployment': return this.#apps.readNamespacedDeployment({ namespace, name });
        case 'StatefulSet': return this.#apps.readNamespacedStatefulSet({ namespace, name });
        case 'DaemonSet': return this.#apps.readNamespacedDaemonSet({ namespace, name });
      }
    }) as Promise<Workload>;
  }
}

/** What the operator reads of a Deployment, StatefulSet or DaemonSet. */
export interface Workload {
  spec?: { paused?: boolean; template?: { metadata?: { annotations?: Record<string, string> } } };
}

export type { ExternalLLMSecretStatus };
