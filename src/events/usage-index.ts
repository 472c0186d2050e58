// Which resources use a secret, from the informer cache: rebuilt for each batch of events (a pass
// over the cached resources, no apiserver call), so it is never stale.
import type { ExternalLLMSecret } from '../crds/types.js';
import { refKeys, refOf, sameSecret, type SecretRef } from './secret-ref.js';

export class UsageIndex {
  readonly #byKey = new Map<string, Array<{ key: string; ref: SecretRef }>>();

  /** regionOf: the region a resource reads from (spec.source.region, its ARN's, or the default). */
  constructor(resources: Iterable<ExternalLLMSecret>, regionOf: (els: ExternalLLMSecret) => string) {
    for (const els of resources) {
      // Generated sources (spec.generate) read no stored secret: no event concerns them.
      if (els.metadata.deletionTimestamp || !els.spec.source) continue;
      const ref = refOf(els.spec.source.secretId, regionOf(els));
      const key = `${els.metadata.namespace}/${els.metadata.name}`;
      for (const k of refKeys(ref)) {
        let list = this.#byKey.get(k);
        if (!list) this.#byKey.set(k, (list = []));
        list.push({ key, ref });
      }
    }
  }

  /** namespace/name keys of the resources that may use any of these secrets. */
  using(refs: SecretRef[]): Set<string> {
    const out = new Set<string>();
    for (const ref of refs) {
      for (const k of refKeys(ref)) {
        for (const u of this.#byKey.get(k) ?? []) if (sameSecret(ref, u.ref)) out.add(u.key);
      }
    }
    return out;
  }
}

/** A predicate over (region, identifiers of a secret) for the caches: does it name one of refs? */
export function secretMatcher(refs: SecretRef[]): (region: string, ids: Array<string | undefined>) => boolean {
  return (region, ids) => ids.some((id) => id !== undefined && refs.some((r) => sameSecret(r, refOf(id, region))));
}
