// What messages, events and logs call a resource's source: the secret id, or the kind of key it
// generates. Never a value.
import type { ExternalLLMSecret } from '../crds/types.js';

export function sourceLabel(els: ExternalLLMSecret): string {
  const { source, generate } = els.spec;
  if (source) return source.secretId;
  if (generate?.bedrockApiKey) return `a generated Bedrock API key${generate.bedrockApiKey.region ? ` (${generate.bedrockApiKey.region})` : ''}`;
  if (generate?.awsCredentials) return `generated STS credentials${generate.awsCredentials.region ? ` (${generate.awsCredentials.region})` : ''}`;
  return 'no source';
}
