// AwsSecretsManagerSource.prefetch with fakes: policy first (a refused resource costs no AWS call,
// not even an identity), one batch for the resources of an identity, each value kept for its
// resource's own read.
import { BatchGetSecretValueCommand, GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { describe, expect, it } from 'vitest';
import type { ExternalLLMSecret } from '../crds/types.js';
import { createLogger } from '../observability/logger.js';
import { BatchFetcher } from './batch-fetcher.js';
import type { AwsClientFactory } from './clients.js';
import { SourceCache } from './source-cache.js';
import { AwsSecretsManagerSource } from './source.js';

const resource = (name: string, secretId: string): ExternalLLMSecret => ({
  apiVersion: 'llmsecrets.dev/v1alpha1', kind: 'ExternalLLMSecret',
  metadata: { name, namespace: 'team-a', uid: `uid-${name}`, generation: 1 },
  spec: { source: { secretId }, provider: 'openai' },
} as ExternalLLMSecret);

function setup() {
  const calls: string[] = [];
  const client = {
    send: async (cmd: unknown) => {
      if (cmd instanceof GetSecretValueCommand) {
        calls.push(`get ${cmd.input.SecretId}`);
        return { Name: cmd.input.SecretId, VersionId: 'v2', SecretString: '{}' };
      }
      if (!(cmd instanceof BatchGetSecretValueCommand)) throw new Error('unexpected command');
      const ids = cmd.input.SecretIdList ?? [];
      calls.push(`batch ${ids.join(',')}`);
      return { SecretValues: ids.map((id) => ({ Name: id, ARN: `arn:${id}`, VersionId: 'v1', SecretString: '{}' })) };
    },
  } as unknown as SecretsManagerClient;
  const resolved: string[] = [];
  const sources = new SourceCache(30_000);
  const source = new AwsSecretsManagerSource({
    broker: { resolve: async (els) => { resolved.push(els.metadata.name); return { key: 'operator', credentials: undefined as never }; } },
    clients: { secretsManager: () => client } as unknown as AwsClientFactory,
    sources, fetcher: new BatchFetcher(createLogger('silent')),
    accessRules: [{ namespaces: ['team-a'], secrets: ['granted/*'] }], defaultRegion: 'us-east-1',
  });
  return { calls, resolved, source, sources };
}

describe('AwsSecretsManagerSource.prefetch', () => {
  it('refused resources cost nothing; the others are read in one batch and each read finds its value', async () => {
    const t = setup();
    const granted = [resource('a', 'granted/a'), resource('b', 'granted/b'), resource('c', 'granted/c')];
    t.source.prefetch([...granted, resource('x', 'other/x')], { maxAgeMs: 5_000 });
    await new Promise((r) => setTimeout(r, 50));
    expect(t.resolved).toEqual(['a', 'b', 'c']);
    expect(t.calls).toEqual(['batch granted/a,granted/b,granted/c']);
    for (const els of granted) expect((await (await t.source.open(els)).read({ maxAgeMs: 0, tags: false, readAhead: true })).versionId).toBe('v1');
    expect(t.calls).toHaveLength(1);
    t.sources.stop();
  });

  it('a value read ahead serves only the first read at that generation and force-sync token', async () => {
    const t = setup();
    const els = resource('a', 'granted/a');
    t.source.prefetch([els], { maxAgeMs: 5_000 });
    await new Promise((r) => setTimeout(r, 50));
    const session = await t.source.open(els);
    // A later read (a refresh, a retry after the first sync) asks with its own maxAge.
    await session.read({ maxAgeMs: 0, tags: false });
    expect(t.calls).toHaveLength(2);
    // A force-sync token is another claim: the value read ahead before it does not serve.
    await new Promise((r) => setTimeout(r, 5)); // maxAge 0 still serves a value read this very millisecond
    const forced = { ...els, metadata: { ...els.metadata, annotations: { 'llmsecrets.dev/force-sync': 'now' } } };
    await (await t.source.open(forced)).read({ maxAgeMs: 0, tags: false, readAhead: true });
    expect(t.calls).toHaveLength(3);
    t.sources.stop();
  });
});
