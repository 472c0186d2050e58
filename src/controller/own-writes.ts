// The Secrets this operator writes come back to it through the watch. Such an echo needs no
// reconcile of the owner (there is nothing to restore), yet without this each write queued one:
// a thousand extra reconciles at the tail of a thousand-resource cold start. A write is tracked
// from before it is sent: an event for that Secret arriving while it is in flight is held, and
// when the answer comes it is dropped if it shows exactly our write (same resourceVersion), else
// handed on. After the answer, the one event carrying our resourceVersion is dropped.
import type { V1Secret } from '@kubernetes/client-node';

const keyOf = (s: V1Secret) => `${s.metadata?.namespace}/${s.metadata?.name}`;

export class OwnWrites {
  /** namespace/name → the resourceVersion our last write of it returned, until its echo comes. */
  readonly #written = new Map<string, string>();
  /** namespace/name of writes in flight → the last event seen for it meanwhile (null: none). */
  readonly #inFlight = new Map<string, V1Secret | null>();

  /** @param handOn what an event that is not our echo goes on to (reconcile its owner). */
  constructor(private readonly handOn: (secret: V1Secret) => void) {}

  /** Runs one write of namespace/name; its answer (written) says which resourceVersion is ours. */
  async around<T extends { written?: V1Secret }>(namespace: string, name: string, write: () => Promise<T>): Promise<T> {
    const key = `${namespace}/${name}`;
    if (this.#inFlight.has(key)) return write(); // one write per key at a time; not expected
    this.#inFlight.set(key, null);
    let written: V1Secret | undefined;
    try {
      const result = await write();
      written = result.written;
      return result;
    } finally {
      const held = this.#inFlight.get(key);
      this.#inFlight.delete(key);
      const ours = written?.metadata?.resourceVersion;
      if (ours) this.#written.set(key, ours);
      if (held) this.event(held);
    }
  }

  /** A watch event for a managed Secret: handed on unless it is the echo of our own write. */
  event(secret: V1Secret): void {
    const key = keyOf(secret);
    if (this.#inFlight.has(key)) { this.#inFlight.set(key, secret); return; }
    const rv = secret.metadata?.resourceVersion;
    if (rv && this.#written.get(key) === rv) { this.#written.delete(key); return; }
    this.handOn(secret);
  }

  deleted(secret: V1Secret): void {
    this.#written.delete(keyOf(secret));
    this.handOn(secret);
  }

  /** Writes whose echo has not come yet (for tests and leak checks). */
  get pending(): number {
    return this.#written.size;
  }
}
