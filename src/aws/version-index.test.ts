// VersionIndex and SourceCache invalidation by change events: one DescribeSecret serves every
// lookup after the event, a listing that began before the event is not trusted, values are
// read again once.
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../observability/logger.js';
import { SourceCache } from './source-cache.js';
import { VersionIndex } from './version-index.js';

function fakeClient(state: { version: string }) {
  const calls: string[] = [];
  const client = {
    async send(cmd: { constructor: { name: string } }) {
      const op = cmd.constructor.name.replace(/Command$/, '');
      calls.push(op);
      await new Promise((r) => setTimeout(r, 5));
      if (op === 'ListSecrets') return { SecretList: [{ Name: 's', ARN: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:s-AbCdEf', SecretVersionsToStages: { [state.version]: ['AWSCURRENT'] } }] };
      if (op === 'DescribeSecret') return { Name: 's', ARN: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:s-AbCdEf', VersionIdsToStages: { [state.version]: ['AWSCURRENT'] } };
      throw new Error(op);
    },
  };
  return { client: client as unknown as SecretsManagerClient, calls };
}

const matchS = (_region: string, ids: Array<string | undefined>) => ids.includes('s');

describe('VersionIndex.invalidate', () => {
  it('one DescribeSecret for many lookups after an event; none before', async () => {
    const state = { version: 'v1' };
    const { client, calls } = fakeClient(state);
    const index = new VersionIndex(5_000, createLogger('silent'));
    expect(await index.lookup('acct|us-east-1', 'id', client, 's')).toEqual({ known: true, versionId: 'v1' });
    state.version = 'v2';
    expect(await index.lookup('acct|us-east-1', 'id', client, 's')).toEqual({ known: true, versionId: 'v1' }); // the listing is trusted 5 s
    index.invalidate(matchS);
    const found = await Promise.all(Array.from({ length: 100 }, () => index.lookup('acct|us-east-1', 'id', client, 's')));
    expect(new Set(found.map((f) => f.known && f.versionId))).toEqual(new Set(['v2']));
    expect(calls).toEqual(['ListSecrets', 'DescribeSecret']);
  });

  it('does not trust a listing that was in flight when the event came', async () => {
    const state = { version: 'v1' };
    const { client, calls } = fakeClient(state);
    const index = new VersionIndex(5_000, createLogger('silent'));
    const inflight = index.lookup('acct|us-east-1', 'id', client, 's');
    state.version = 'v2';
    index.invalidate(matchS);
    const after = await index.lookup('acct|us-east-1', 'id', client, 's');
    await inflight;
    expect(after).toEqual({ known: true, versionId: 'v2' });
    expect(calls).toEqual(['ListSecrets', 'DescribeSecret']);
  });
});

describe('SourceCache.invalidate', () => {
  it('drops settled and in-flight values of the secret only', async () => {
    const cache = new SourceCache(30_000);
    let reads = 0;
    const read = (v: string) => async () => { reads++; return { secretId: 's', versionId: v, arn: 'arn:x:s' }; };
    const key = { identityKey: 'i', region: 'us-east-1', secretId: 's' };
    await cache.get(key, 5_000, read('v1'));
    await cache.get({ ...key, secretId: 'other' }, 5_000, read('o1'));
    expect(cache.invalidate(matchS)).toBe(1);
    expect((await cache.get(key, 5_000, read('v2'))).versionId).toBe('v2');
    expect((await cache.get({ ...key, secretId: 'other' }, 5_000, read('o2'))).versionId).toBe('o1');
    expect(reads).toBe(3);
    cache.stop();
  });
});
