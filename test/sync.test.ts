// The core sync loop against the real apiserver and moto: mapping, presets, rewrites, rotation,
// force-sync, ownership, failures that keep the last good Secret, deletion policies, drift, and
// no writes on unchanged refreshes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FORCE_SYNC_ANNOTATION, MERGE_FROM_ANNOTATION, MERGED_KEYS_ANNOTATION } from '../src/crds/constants.js';
import { PROVIDER_NAMES } from '../src/sync/presets.js';
import { apiserverRequestCount, applyCrds, createSecret, createTestNamespace, getTestEnv, putSecretValue, WRITE_VERBS } from './env/index.js';
import {
  core, createEls, decoded, deleteEls, events, getEls, hasReason, isReady, patchEls, readSecret, settled, sleep, until, waitForEvent, waitForReady, waitForSecret,
} from './helpers/els.js';
import { startTestOperator, type TestOperator } from './helpers/operator.js';

const NAMESPACES = 17;
let pool: string[] = [];
let operator: TestOperator;
let moto: string;
const ns = () => pool.shift()!;
const id = (name: string) => `sync-${process.pid}-${Date.now()}/${name}`;

beforeAll(async () => {
  moto = getTestEnv().motoEndpoint;
  await applyCrds();
  pool = await Promise.all(Array.from({ length: NAMESPACES }, () => createTestNamespace('sync')));
  operator = await startTestOperator({ namespaces: pool, args: ['--max-value-bytes', '4096'] });
});

afterAll(async () => {
  await operator?.stop();
});

describe('mapping', () => {
  it('maps JSON keys, with dotted paths, into a Secret and reports names only in status', async () => {
    const n = ns();
    const secretId = id('openai');
    await createSecret(moto, secretId, { api_key: 'sk-test-111', org: { id: 'org-7' } });
    await createEls(n, 'openai', { source: { secretId }, data: [{ secretKey: 'OPENAI_API_KEY', property: 'api_key' }, { secretKey: 'ORG', property: 'org.id' }] });
    const els = await waitForReady(n, 'openai', isReady);
    expect(decoded(await readSecret(n, 'openai'))).toEqual({ OPENAI_API_KEY: 'sk-test-111', ORG: 'org-7' });
    expect(els.status).toMatchObject({ secretName: 'openai', observedGeneration: 1, keys: [{ secretKey: 'OPENAI_API_KEY', property: 'api_key' }, { secretKey: 'ORG', property: 'org.id' }] });
    expect(els.status?.syncedVersionId).toMatch(/.+/);
    expect(els.status?.dataHash).toMatch(/^hmac-sha256:[0-9a-f]{16}:[0-9a-f]{64}$/);
    expect(JSON.stringify(els.status)).not.toContain('sk-test-111');
    await waitForEvent(n, 'openai', 'Synced');
    const secret = await readSecret(n, 'openai');
    expect(secret?.metadata?.labels?.['app.kubernetes.io/managed-by']).toBe('external-llm-secrets');
  });

  it('a first sync writes the Secret once, the status once and one event', async () => {
    const n = ns();
    const secretId = id('once');
    await createSecret(moto, secretId, { api_key: 'once-1' });
    const count = (resource: string, verb: string, subresource?: string) => apiserverRequestCount({ verb: [verb], resource, ...(subresource ? { subresource } : {}) });
    const counts = () => Promise.all([count('secrets', 'POST'), count('secrets', 'PUT'), count('externalllmsecrets', 'PATCH', 'status'), count('events', 'POST')]);
    // The baseline once earlier writes have stopped; then the sync's writes, once they have all
    // been made (the event is the last), and nothing more for a while after.
    const before = await settled('write counts before', counts, 500);
    await createEls(n, 'once', { source: { secretId }, data: [{ secretKey: 'K', property: 'api_key' }] });
    await waitForReady(n, 'once', isReady);
    await waitForEvent(n, 'once', 'Synced');
    const after = await settled('write counts after', counts);
    expect(after.map((v, i) => v - before[i]!)).toEqual([1, 0, 1, 1]);
  });

  it('copies a plain-string secret whole', async () => {
    const n = ns();
    const secretId = id('plain');
    await createSecret(moto, secretId, 'sk-plain-222');
    await createEls(n, 'plain', { source: { secretId }, data: [{ secretKey: 'KEY' }] });
    await waitForReady(n, 'plain', isReady);
    expect(decoded(await readSecret(n, 'plain'))).toEqual({ KEY: 'sk-plain-222' });
    // A single-key preset takes the plain string as the key itself; status names no JSON key.
    await createEls(n, 'plain-preset', { source: { secretId }, provider: 'openai' });
    const els = await waitForReady(n, 'plain-preset', isReady);
    expect(decoded(await readSecret(n, 'plain-preset'))).toEqual({ OPENAI_API_KEY: 'sk-plain-222' });
    expect(els.status?.keys).toEqual([{ secretKey: 'OPENAI_API_KEY' }]);
  });

  it('applies every provider preset', async () => {
    const n = ns();
    const secretId = id('bundle');
    await createSecret(moto, secretId, { api_key: 'k-333', access_key_id: 'AKIA333', secret_access_key: 'sak-333', region: 'eu-west-1', endpoint: 'https://az.example', master_key: 'mk-333' });
    for (const provider of PROVIDER_NAMES) await createEls(n, `p-${provider}`, { source: { secretId }, provider });
    const expected: Record<string, Record<string, string>> = {
      openai: { OPENAI_API_KEY: 'k-333' },
      anthropic: { ANTHROPIC_API_KEY: 'k-333' },
      cohere: { CO_API_KEY: 'k-333', COHERE_API_KEY: 'k-333' },
      'azure-openai': { AZURE_OPENAI_API_KEY: 'k-333', AZURE_API_KEY: 'k-333', AZURE_OPENAI_ENDPOINT: 'https://az.example', AZURE_API_BASE: 'https://az.example' },
      'bedrock-api-key': { AWS_BEARER_TOKEN_BEDROCK: 'k-333', AWS_REGION: 'eu-west-1', AWS_DEFAULT_REGION: 'eu-west-1' },
      'bedrock-iam': { AWS_ACCESS_KEY_ID: 'AKIA333', AWS_SECRET_ACCESS_KEY: 'sak-333', AWS_REGION: 'eu-west-1', AWS_DEFAULT_REGION: 'eu-west-1' },
      mistral: { MISTRAL_API_KEY: 'k-333' },
      'google-gemini': { GOOGLE_API_KEY: 'k-333', GEMINI_API_KEY: 'k-333' },
      groq: { GROQ_API_KEY: 'k-333' },
      xai: { XAI_API_KEY: 'k-333' },
      litellm: { LITELLM_MASTER_KEY: 'mk-333' },
    };
    for (const provider of PROVIDER_NAMES) {
      await waitForReady(n, `p-${provider}`, isReady);
      expect(decoded(await readSecret(n, `p-${provider}`)), provider).toEqual(expected[provider]);
    }
  });

  it('dataFrom takes every key with each rewrite', async () => {
    const n = ns();
    const secretId = id('df');
    await createSecret(moto, secretId, { apiKey: 'a', 'base-url': 'b', openai_org: 'c' });
    await createEls(n, 'upper', { source: { secretId }, dataFrom: { rewrite: [{ transform: 'UpperSnakeCase' }] } });
    await createEls(n, 'prefix', { source: { secretId }, dataFrom: { rewrite: [{ prefix: 'X_' }] } });
    await createEls(n, 'regexp', { source: { secretId }, dataFrom: { rewrite: [{ regexp: { source: 'openai_(.*)', target: 'OPENAI_$1' } }] } });
    await waitForReady(n, 'upper', isReady);
    await waitForReady(n, 'prefix', isReady);
    await waitForReady(n, 'regexp', isReady);
    expect(decoded(await readSecret(n, 'upper'))).toEqual({ API_KEY: 'a', BASE_URL: 'b', OPENAI_ORG: 'c' });
    expect(decoded(await readSecret(n, 'prefix'))).toEqual({ X_apiKey: 'a', 'X_base-url': 'b', X_openai_org: 'c' });
    expect(decoded(await readSecret(n, 'regexp'))).toEqual({ apiKey: 'a', 'base-url': 'b', OPENAI_org: 'c' });
    // Keys envFrom cannot use ("base-url", "X_base-url"): Ready, with an EnvVarNames=False
    // condition naming them and the fix, and a Warning event; none where every key is usable.
    for (const name of ['prefix', 'regexp']) {
      const els = await getEls(n, name);
      expect(els.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
      const condition = els.status?.conditions?.find((c) => c.type === 'EnvVarNames');
      expect(condition, name).toMatchObject({ status: 'False', reason: 'NotEnvVarNames' });
      expect(condition?.message).toContain(`${name === 'prefix' ? 'X_base-url → X_BASE_URL' : 'base-url → BASE_URL'}: not environment variable names`);
      expect(condition?.message).toContain('Fix: add dataFrom.rewrite: [{transform: UpperSnakeCase}]');
      const warning = await waitForEvent(n, name, 'NotEnvVarNames');
      expect(warning.type).toBe('Warning');
    }
    expect((await getEls(n, 'upper')).status?.conditions?.map((c) => c.type)).toEqual(['Ready']);
  });
});

describe('refresh', () => {
  it('picks up a rotated value on the next refresh', async () => {
    const n = ns();
    const secretId = id('rot');
    await createSecret(moto, secretId, { api_key: 'old-444' });
    await createEls(n, 'rot', { source: { secretId }, refreshInterval: '2s', data: [{ secretKey: 'K', property: 'api_key' }] });
    const before = await waitForReady(n, 'rot', isReady);
    const version = await putSecretValue(moto, secretId, { api_key: 'new-444' });
    await waitForSecret(n, 'rot', (d) => d.K === 'new-444');
    const after = await waitForReady(n, 'rot', (c, e) => isReady(c) && e.status?.syncedVersionId === version);
    expect(after.status?.dataHash).not.toBe(before.status?.dataHash);
    await waitForEvent(n, 'rot', 'Updated');
  });

  it('force-sync refreshes at once', async () => {
    const n = ns();
    const secretId = id('force');
    await createSecret(moto, secretId, { api_key: 'old-555' });
    await createEls(n, 'force', { source: { secretId }, refreshInterval: '1h', data: [{ secretKey: 'K', property: 'api_key' }] });
    await waitForReady(n, 'force', isReady);
    await putSecretValue(moto, secretId, { api_key: 'new-555' });
    // A window in which nothing may happen (refreshInterval 1h): it shapes the scenario, and a
    // slow machine can only make it miss a wrong early sync, never fail a right one.
    await sleep(1_000);
    expect(decoded(await readSecret(n, 'force')).K).toBe('old-555');
    await patchEls(n, 'force', { metadata: { annotations: { [FORCE_SYNC_ANNOTATION]: '1' } } });
    await waitForSecret(n, 'force', (d) => d.K === 'new-555');
    const els = await waitForReady(n, 'force', (c, e) => isReady(c) && e.status?.forceSyncToken === '1');
    expect(els.status?.forceSyncToken).toBe('1');
  });

  it('makes no apiserver write on refreshes that change nothing', async () => {
    const n = ns();
    const secretId = id('quiet');
    await createSecret(moto, secretId, { api_key: 'same-666' });
    await createEls(n, 'quiet', { source: { secretId }, refreshInterval: '1s', data: [{ secretKey: 'K', property: 'api_key' }] });
    await waitForReady(n, 'quiet', isReady);
    // The first sync is over (its event is its last write) and refreshes have started.
    await waitForEvent(n, 'quiet', 'Synced');
    const first = await unchangedRefreshes();
    await until('a first unchanged refresh', async () => ((await unchangedRefreshes()) > first ? true : undefined));
    const refreshesBefore = await unchangedRefreshes();
    const writesBefore = await writes();
    // At least three refreshes (about 3 s at 1 s; longer on a loaded machine).
    await until('three unchanged refreshes', async () => ((await unchangedRefreshes()) - refreshesBefore >= 3 ? true : undefined));
    const refreshesAfter = await unchangedRefreshes();
    const writesAfter = await writes();
    expect(refreshesAfter - refreshesBefore, 'refreshes happened').toBeGreaterThanOrEqual(3);
    expect(writesAfter - writesBefore, 'apiserver writes to secrets, ExternalLLMSecrets and events').toBe(0);
  });
});

describe('ownership', () => {
  it('never takes over a foreign Secret of the same name', async () => {
    const n = ns();
    const secretId = id('foreign');
    await createSecret(moto, secretId, { api_key: 'ours-777' });
    await core().createNamespacedSecret({ namespace: n, body: { metadata: { name: 'taken' }, stringData: { THEIRS: 'keep' } } });
    await createEls(n, 'taken', { source: { secretId }, data: [{ secretKey: 'K', property: 'api_key' }] });
    const els = await waitForReady(n, 'taken', hasReason('SecretConflict'));
    expect(ready(els)?.message).toContain('not managed');
    expect(decoded(await readSecret(n, 'taken'))).toEqual({ THEIRS: 'keep' });
    await waitForEvent(n, 'taken', 'Conflict');
  });

  it('creationPolicy Merge writes its keys into an existing Secret that opts in, and keeps the rest and its metadata', async () => {
    const n = ns();
    const secretId = id('merge');
    await createSecret(moto, secretId, { api_key: 'merged-888' });
    await core().createNamespacedSecret({ namespace: n, body: { metadata: { name: 'shared', labels: { app: 'theirs' }, annotations: { [MERGE_FROM_ANNOTATION]: 'merge' } }, stringData: { THEIRS: 'keep' } } });
    await createEls(n, 'merge', { source: { secretId }, target: { name: 'shared', creationPolicy: 'Merge' }, data: [{ secretKey: 'K', property: 'api_key' }] });
    await waitForReady(n, 'merge', isReady);
    const secret = await readSecret(n, 'shared');
    expect(decoded(secret)).toEqual({ THEIRS: 'keep', K: 'merged-888' });
    expect(secret?.metadata?.labels).toEqual({ app: 'theirs' });
    expect(secret?.metadata?.annotations).toEqual({ [MERGE_FROM_ANNOTATION]: 'merge', [MERGED_KEYS_ANNOTATION]: 'K' });
    // A rotation reaches the merged key; the Secret's own key stays.
    await putSecretValue(moto, secretId, { api_key: 'merged-999' });
    await patchEls(n, 'merge', { metadata: { annotations: { [FORCE_SYNC_ANNOTATION]: 'rotated' } } });
    await waitForSecret(n, 'shared', (d) => d.K === 'merged-999');
    expect(decoded(await readSecret(n, 'shared'))).toEqual({ THEIRS: 'keep', K: 'merged-999' });
  });
});

describe('failures keep the last good Secret', () => {
  async function synced(name: string, value: object) {
    const n = ns();
    const secretId = id(name);
    await createSecret(moto, secretId, value);
    await createEls(n, name, { source: { secretId }, refreshInterval: '1h', data: [{ secretKey: 'K', property: 'api_key' }] });
    await waitForReady(n, name, isReady);
    const before = await readSecret(n, name);
    return { n, secretId, before: before! };
  }
  async function expectIntact(n: string, name: string, before: NonNullable<Awaited<ReturnType<typeof readSecret>>>) {
    const after = await readSecret(n, name);
    expect(after?.data).toEqual(before.data);
    expect(after?.metadata?.resourceVersion).toBe(before.metadata?.resourceVersion);
  }

  it('ResourceNotFound', async () => {
    const { n, before } = await synced('nf', { api_key: 'good-1' });
    await patchEls(n, 'nf', { spec: { source: { secretId: id('does-not-exist') } } });
    await waitForReady(n, 'nf', hasReason('ResourceNotFound'));
    await waitForEvent(n, 'nf', 'SyncFailed');
    await expectIntact(n, 'nf', before);
  });

  it('InvalidJSON, without the value in status or events', async () => {
    const { n, secretId, before } = await synced('nj', { api_key: 'good-2' });
    await putSecretValue(moto, secretId, 'this-is-not-json-SECRET-2');
    await patchEls(n, 'nj', { metadata: { annotations: { [FORCE_SYNC_ANNOTATION]: 'a' } } });
    const els = await waitForReady(n, 'nj', hasReason('InvalidJSON'));
    const evs = await events(n, 'nj');
    expect(JSON.stringify(els.status) + JSON.stringify(evs)).not.toContain('SECRET-2');
    await waitForEvent(n, 'nj', 'SyncFailed');
    await expectIntact(n, 'nj', before);
  });

  it('MissingProperty', async () => {
    const { n, before } = await synced('mp', { api_key: 'good-3' });
    await patchEls(n, 'mp', { spec: { data: [{ secretKey: 'K', property: 'nope' }] } });
    await waitForReady(n, 'mp', hasReason('MissingProperty'));
    await waitForEvent(n, 'mp', 'SyncFailed');
    await expectIntact(n, 'mp', before);
  });

  it('ValueTooLarge', async () => {
    const { n, secretId, before } = await synced('big', { api_key: 'good-4' });
    await putSecretValue(moto, secretId, { api_key: 'x'.repeat(5_000) });
    await patchEls(n, 'big', { metadata: { annotations: { [FORCE_SYNC_ANNOTATION]: 'a' } } });
    await waitForReady(n, 'big', hasReason('ValueTooLarge'));
    await waitForEvent(n, 'big', 'SyncFailed');
    await expectIntact(n, 'big', before);
  });
});

describe('lifecycle', () => {
  it('deletionPolicy Delete removes the Secret through garbage collection', async () => {
    const n = ns();
    const secretId = id('del');
    await createSecret(moto, secretId, { api_key: 'del-1' });
    await createEls(n, 'del', { source: { secretId }, target: { deletionPolicy: 'Delete' }, data: [{ secretKey: 'K', property: 'api_key' }] });
    await waitForReady(n, 'del', isReady);
    const s = await readSecret(n, 'del');
    expect(s?.metadata?.ownerReferences?.[0]).toMatchObject({ kind: 'ExternalLLMSecret', name: 'del', controller: true });
    const series = async () => (await operator.metrics.ready.get()).values.filter((v) => v.labels.namespace === n && v.labels.name === 'del');
    // The series is set as the reconcile ends, a moment after the status write that made it Ready.
    await until('the per-resource series', async () => ((await series()).length === 1 ? true : undefined));
    await deleteEls(n, 'del');
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline && await readSecret(n, 'del')) await sleep(300);
    expect(await readSecret(n, 'del')).toBeUndefined();
    // The garbage collector may be quicker than the operator's own reconcile of the deletion.
    await until('the per-resource series to go', async () => ((await series()).length === 0 ? true : undefined));
    expect(await series(), 'the per-resource series goes with the resource').toHaveLength(0);
  });

  it('deletionPolicy Retain keeps the Secret without an owner reference', async () => {
    const n = ns();
    const secretId = id('ret');
    await createSecret(moto, secretId, { api_key: 'ret-1' });
    await createEls(n, 'ret', { source: { secretId }, data: [{ secretKey: 'K', property: 'api_key' }] });
    await waitForReady(n, 'ret', isReady);
    // The operator has handled the deletion once it drops the resource's metric series (set as
    // the first reconcile ends); the Secret has no owner reference (checked below), so the
    // garbage collector has nothing to do.
    const series = async () => (await operator.metrics.ready.get()).values.filter((v) => v.labels.namespace === n && v.labels.name === 'ret');
    await until('the per-resource series', async () => ((await series()).length === 1 ? true : undefined));
    await deleteEls(n, 'ret');
    await until('the operator to handle the deletion', async () => ((await series()).length === 0 ? true : undefined));
    const s = await readSecret(n, 'ret');
    expect(decoded(s)).toEqual({ K: 'ret-1' });
    expect(s?.metadata?.ownerReferences ?? []).toEqual([]);
  });

  it('restores a managed Secret that was edited or deleted', async () => {
    const n = ns();
    const secretId = id('drift');
    await createSecret(moto, secretId, { api_key: 'drift-1' });
    await createEls(n, 'drift', { source: { secretId }, refreshInterval: '1h', data: [{ secretKey: 'K', property: 'api_key' }] });
    await waitForReady(n, 'drift', isReady);
    const s = (await readSecret(n, 'drift'))!;
    await core().replaceNamespacedSecret({ namespace: n, name: 'drift', body: { ...s, data: { K: Buffer.from('tampered').toString('base64') } } });
    await waitForSecret(n, 'drift', (d) => d.K === 'drift-1');
    await core().deleteNamespacedSecret({ namespace: n, name: 'drift' });
    await waitForSecret(n, 'drift', (d) => d.K === 'drift-1');
  });
});

const ready = (e: Awaited<ReturnType<typeof getEls>>) => e.status?.conditions?.find((c) => c.type === 'Ready');

async function unchangedRefreshes(): Promise<number> {
  const m = await operator.metrics.syncs.get();
  return m.values.filter((v) => v.labels.result === 'unchanged').reduce((sum, v) => sum + v.value, 0);
}

async function writes(): Promise<number> {
  const counts = await Promise.all(['secrets', 'externalllmsecrets', 'events'].map((resource) => apiserverRequestCount({ verb: WRITE_VERBS, resource })));
  return counts.reduce((a, b) => a + b, 0);
}
