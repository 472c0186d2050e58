// The operator's Kubernetes API client: the only place that talks to the apiserver, so every
// request is counted by verb, resource and HTTP code (kube_api_requests_total) and carries a
// deadline. Requests are plain JSON on client-node's KubeConfig auth (http.ts says why); watches
// are long-lived streams opened on kubeConfig (the informers, watchLease) and not counted.
// Errors keep their HTTP code; their text is never logged whole.
import type { KubeConfig } from '@kubernetes/client-node/dist/config.js';
import { watchStream } from './watch.js';
import type { CoreV1Event, V1Lease, V1Secret, V1ServiceAccount } from '@kubernetes/client-node';
import { GROUP, PLURAL, VERSION } from '../crds/constants.js';
import type { ExternalLLMSecret, ExternalLLMSecretStatus } from '../crds/types.js';
import type { Metrics } from '../observability/metrics.js';
import { reuseConnections } from './connection-reuse.js';
import { CONTENT_TYPE, kubeRequest, KubeRequestTimeoutError, type KubeRequest } from './http.js';

export { KubeRequestTimeoutError };

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

const FIELD_MANAGER = 'external-llm-secrets';
const CRS = `/apis/${GROUP}/${VERSION}`;
const LEASES = `/apis/${LEASE_GROUP}/${LEASE_VERSION}`;
const ns = (namespace: string) => `/namespaces/${encodeURIComponent(namespace)}`;
const seg = (name: string) => `/${encodeURIComponent(name)}`;

/** The workload kinds whose pods the operator restarts, and where they live. */
export type WorkloadKind = 'Deployment' | 'StatefulSet' | 'DaemonSet';
const workloadPath = (kind: WorkloadKind, namespace: string, name: string) => `/apis/apps/v1${ns(namespace)}/${kind.toLowerCase()}s${seg(name)}`;

export class KubeClient {
  readonly #metrics: Metrics | undefined;

  /** requestTimeoutMs bounds each request (watches excepted). */
  constructor(readonly kubeConfig: KubeConfig, metrics: Metrics | undefined, readonly requestTimeoutMs: number) {
    reuseConnections(kubeConfig);
    this.#metrics = metrics;
  }

  /** One counted request. opts.timeoutMs shortens this call's deadline below the client's; never lengthens it. */
  async #call<T>(verb: string, resource: string, req: Omit<KubeRequest, 'timeoutMs'>, opts?: CallOptions): Promise<T> {
    const t = opts?.timeoutMs;
    const timeoutMs = t === undefined || t >= this.requestTimeoutMs ? this.requestTimeoutMs : Math.max(1, Math.floor(t));
    try {
      const result = await kubeRequest<T>(this.kubeConfig, { ...req, timeoutMs });
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
      return await this.#call('get', 'secrets', { method: 'GET', path: `/api/v1${ns(namespace)}/secrets${seg(name)}` });
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  createSecret(secret: V1Secret): Promise<V1Secret> {
    return this.#call('create', 'secrets', {
      method: 'POST', path: `/api/v1${ns(secret.metadata!.namespace!)}/secrets`, query: { fieldManager: FIELD_MANAGER }, body: secret,
    });
  }

  /** Full replace with the live resourceVersion: a concurrent change gives 409, and we retry. */
  replaceSecret(secret: V1Secret): Promise<V1Secret> {
    return this.#call('update', 'secrets', {
      method: 'PUT', path: `/api/v1${ns(secret.metadata!.namespace!)}/secrets${seg(secret.metadata!.name!)}`, query: { fieldManager: FIELD_MANAGER }, body: secret,
    });
  }

  /** In one namespace, or in all when namespace is undefined. */
  listExternalLLMSecrets(namespace: string | undefined, labelSelector?: string, limit?: number): Promise<ExternalLLMSecretList> {
    return this.#call('list', PLURAL, { method: 'GET', path: `${CRS}${namespace ? ns(namespace) : ''}/${PLURAL}`, query: { labelSelector, limit } });
  }

  listSecrets(namespace: string | undefined, labelSelector: string): Promise<SecretList> {
    return this.#call('list', 'secrets', { method: 'GET', path: `/api/v1${namespace ? ns(namespace) : ''}/secrets`, query: { labelSelector } });
  }

  /** Merge-patches status (keys set to null are removed); returns the object as written. */
  patchStatus(namespace: string, name: string, status: Record<string, unknown>): Promise<ExternalLLMSecret> {
    return this.#call('patch', `${PLURAL}/status`, {
      method: 'PATCH', path: `${CRS}${ns(namespace)}/${PLURAL}${seg(name)}/status`, body: { status }, contentType: CONTENT_TYPE.mergePatch,
    });
  }

  getExternalLLMSecret(namespace: string, name: string): Promise<ExternalLLMSecret> {
    return this.#call('get', PLURAL, { method: 'GET', path: `${CRS}${ns(namespace)}/${PLURAL}${seg(name)}` });
  }

  createEvent(event: CoreV1Event): Promise<unknown> {
    return this.#call('create', 'events', { method: 'POST', path: `/api/v1${ns(event.metadata!.namespace!)}/events`, body: event });
  }

  getServiceAccount(namespace: string, name: string): Promise<V1ServiceAccount> {
    return this.#call('get', 'serviceaccounts', { method: 'GET', path: `/api/v1${ns(namespace)}/serviceaccounts${seg(name)}` });
  }

  async createServiceAccountToken(namespace: string, name: string, audience: string, expirationSeconds: number): Promise<{ token: string; expiresAt: Date }> {
    const result = await this.#call<{ status?: { token?: string; expirationTimestamp?: string } }>('create', 'serviceaccounts/token', {
      method: 'POST', path: `/api/v1${ns(namespace)}/serviceaccounts${seg(name)}/token`,
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { audiences: [audience], expirationSeconds } },
    });
    const expires = result.status?.expirationTimestamp;
    if (!result.status?.token) throw new Error('TokenRequest returned no token');
    return { token: result.status.token, expiresAt: expires ? new Date(expires) : new Date(Date.now() + expirationSeconds * 1000) };
  }

  /** The Lease, or undefined when there is none. */
  async getLease(namespace: string, name: string, opts?: CallOptions): Promise<V1Lease | undefined> {
    try {
      return await this.#call('get', LEASE_PLURAL, { method: 'GET', path: `${LEASES}${ns(namespace)}/${LEASE_PLURAL}${seg(name)}` }, opts);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** 409 when it exists already. */
  createLease(lease: V1Lease, opts?: CallOptions): Promise<V1Lease> {
    return this.#call('create', LEASE_PLURAL, { method: 'POST', path: `${LEASES}${ns(lease.metadata!.namespace!)}/${LEASE_PLURAL}`, body: lease }, opts);
  }

  /** Full replace with the resourceVersion read: 409 when someone wrote the Lease since. */
  replaceLease(lease: V1Lease, opts?: CallOptions): Promise<V1Lease> {
    return this.#call('update', LEASE_PLURAL, {
      method: 'PUT', path: `${LEASES}${ns(lease.metadata!.namespace!)}/${LEASE_PLURAL}${seg(lease.metadata!.name!)}`, body: lease,
    }, opts);
  }

  /**
   * Watches one Lease (a stream, not counted). Resolves with the controller that stops it; done is
   * called once when the watch ends or fails to start.
   */
  watchLease(namespace: string, name: string, onEvent: (phase: string, lease: V1Lease) => void, done: (err: unknown) => void): Promise<AbortController> {
    return watchStream<V1Lease>(
      this.kubeConfig,
      `${LEASES}${ns(namespace)}/${LEASE_PLURAL}`,
      { fieldSelector: `metadata.name=${name}` },
      onEvent,
      done,
    );
  }

  /** Patches a workload's pod template annotation, which makes Kubernetes roll its pods. */
  patchWorkloadTemplateAnnotation(kind: WorkloadKind, namespace: string, name: string, annotations: Record<string, string>): Promise<unknown> {
    return this.#call('patch', `${kind.toLowerCase()}s`, {
      method: 'PATCH', path: workloadPath(kind, namespace, name),
      body: { spec: { template: { metadata: { annotations } } } }, contentType: CONTENT_TYPE.strategicMergePatch,
    });
  }

  readWorkload(kind: WorkloadKind, namespace: string, name: string): Promise<Workload> {
    return this.#call('get', `${kind.toLowerCase()}s`, { method: 'GET', path: workloadPath(kind, namespace, name) });
  }
}

/** A list of managed Secrets as the apiserver returns it. */
export interface SecretList {
  apiVersion: string;
  kind: string;
  items: V1Secret[];
  metadata: { resourceVersion?: string; continue?: string };
}

/** What the operator reads of a Deployment, StatefulSet or DaemonSet. */
export interface Workload {
  spec?: { paused?: boolean; template?: { metadata?: { annotations?: Record<string, string> } } };
}

export type { ExternalLLMSecretStatus };
