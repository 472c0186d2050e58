// Sources by name. A resource's spec says which one it uses: spec.source names an AWS Secrets
// Manager secret, spec.generate asks for a key minted by the operator.
import type { ExternalLLMSecret } from '../crds/types.js';
import type { SecretSource } from './port.js';

export const AWS_SECRETS_MANAGER = 'aws-secrets-manager';
export const GENERATED = 'generated';

export class SourceRegistry {
  readonly #sources: ReadonlyMap<string, SecretSource>;

  constructor(sources: SecretSource[]) {
    this.#sources = new Map(sources.map((s) => [s.name, s]));
  }

  /** The source a resource reads from. */
  for(els: ExternalLLMSecret): SecretSource {
    const name = sourceNameOf(els);
    const source = this.#sources.get(name);
    if (!source) throw new Error(`no source registered as ${name}`);
    return source;
  }
}

/** Which source a spec names: spec.generate is a generated key, spec.source an AWS Secrets Manager secret. */
export function sourceNameOf(els: ExternalLLMSecret): string {
  return els.spec.generate ? GENERATED : AWS_SECRETS_MANAGER;
}
