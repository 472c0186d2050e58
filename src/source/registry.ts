// Sources by name. A resource's spec says which one it uses; today every resource names an AWS
// Secrets Manager secret (spec.source.secretId).
import type { ExternalLLMSecret } from '../crds/types.js';
import type { SecretSource } from './port.js';

export const AWS_SECRETS_MANAGER = 'aws-secrets-manager';

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

/** Which source a spec names: spec.source is an AWS Secrets Manager secret. */
export function sourceNameOf(_els: ExternalLLMSecret): string {
  return AWS_SECRETS_MANAGER;
}
