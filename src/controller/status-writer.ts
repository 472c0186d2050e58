// Writes status as a merge patch of what changed, and remembers the apiserver's answer: the
// informer cache catches up a moment later, and a reconcile in between must not mistake the old
// status for drift and write again. Only uid, resourceVersion and status are kept.
import type { Logger } from 'pino';
import type { ExternalLLMSecret, ExternalLLMSecretStatus } from '../crds/types.js';
import { apiMessage, isNotFound, type KubeClient } from '../kube/client.js';
import { Reason, SyncError } from '../sync/reasons.js';
import { sameStatus, statusPatch } from '../sync/status.js';
import { errorSummary } from './informer.js';

type Written = Pick<ExternalLLMSecret, 'status'> & { metadata: { uid: string; resourceVersion?: string } };

export class StatusWriter {
  readonly #written = new Map<string, Written>();

  constructor(private readonly kube: Pick<KubeClient, 'patchStatus'>, private readonly log: Logger) {}

  /** The cached resource, with our own later status write if the cache has not seen it yet. */
  freshest(key: string, cached: ExternalLLMSecret): ExternalLLMSecret {
    const written = this.#written.get(key);
    if (!written || written.metadata.uid !== cached.metadata.uid) return cached;
    if (newerVersion(cached.metadata.resourceVersion, written.metadata.resourceVersion)) {
      this.#written.delete(key);
      return cached;
    }
    return { ...cached, status: written.status };
  }

  /** Writes `next` when it differs; a failure is a retryable KubernetesError. Returns whether it wrote. */
  async write(els: ExternalLLMSecret, next: ExternalLLMSecretStatus): Promise<boolean> {
    if (sameStatus(els.status, next)) return false;
    const { namespace, name } = els.metadata;
    try {
      this.#remember(await this.kube.patchStatus(namespace, name, statusPatch(els.status, next)));
      return true;
    } catch (err) {
      if (isNotFound(err)) return false; // deleted while we worked
      throw new SyncError(Reason.KubernetesError, `writing status of ${namespace}/${name}: ${apiMessage(err)}`, { retryable: true, cause: err });
    }
  }

  /** Like write, for failure conditions: a failed write is logged, not thrown (the sync failed already). */
  async writeQuietly(els: ExternalLLMSecret, next: ExternalLLMSecretStatus): Promise<void> {
    try {
      await this.write(els, next);
    } catch (err) {
      this.log.warn({ namespace: els.metadata.namespace, name: els.metadata.name, err: errorSummary((err as SyncError).cause ?? err) }, 'could not write failure status');
    }
  }

  forget(key: string): void {
    this.#written.delete(key);
  }

  #remember(written: ExternalLLMSecret): void {
    const { namespace, name, uid, resourceVersion } = written.metadata;
    this.#written.set(`${namespace}/${name}`, { metadata: { uid, resourceVersion }, status: written.status });
  }
}

/**
 * True when resourceVersion a is at least b. Resource versions are opaque to clients in
 * principle; the apiserver's are etcd revisions, so a numeric compare holds, and anything else
 * counts as newer (the cache wins, which costs at most one extra write).
 */
export function newerVersion(a: string | undefined, b: string | undefined): boolean {
  if (!a || !b || !/^\d+$/.test(a) || !/^\d+$/.test(b)) return true;
  return BigInt(a) >= BigInt(b);
}
