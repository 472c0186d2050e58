// The Secrets this operator writes come back to it through the watch. Such an echo needs no
// reconcile of the owner (there is nothing to restore), yet without this each write queued one:
// a thousand extra reconciles at the tail of a thousand-resource cold start. Each write's
// resourceVersion is noted; the one event that carries it is recognised and dropped. An echo that
// arrives before the write's answer is not recognised and costs one harmless reconcile, as before.
import type { V1Secret } from '@kubernetes/client-node';

export class OwnWrites {
  /** namespace/name → the resourceVersion our last write of it returned. */
  readonly #written = new Map<string, string>();

  note(secret: V1Secret): void {
    const { namespace, name, resourceVersion } = secret.metadata ?? {};
    if (namespace && name && resourceVersion) this.#written.set(`${namespace}/${name}`, resourceVersion);
  }

  /** True, once, for the watch event that shows exactly our own last write. */
  isEcho(secret: V1Secret): boolean {
    const { namespace, name, resourceVersion } = secret.metadata ?? {};
    const key = `${namespace}/${name}`;
    if (!resourceVersion || this.#written.get(key) !== resourceVersion) return false;
    this.#written.delete(key);
    return true;
  }

  forget(secret: V1Secret): void {
    this.#written.delete(`${secret.metadata?.namespace}/${secret.metadata?.name}`);
  }

  get size(): number {
    return this.#written.size;
  }
}
