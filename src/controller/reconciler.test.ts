// The reconciler with fakes: an in-memory apiserver (resourceVersions, 409s), a fake
// SecretSource that counts its calls, and the real pure code in between. Integration tests
// (test/*.test.ts) prove the same against a real apiserver and moto; these pin the decisions.
import type { V1Secret } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { FORCE_SYNC_ANNOTATION } from '../crds/constants.js';
import type { ExternalLLMSecret, ExternalLLMSecretSpec } from '../crds/types.js';
import type { EventSink } from '../kube/events.js';
import { createLogger } from '../observability/logger.js';
import { Metrics } from '../observability/metrics.js';
import type { Currency, ReadOptions, SecretSource, SourceRead, SourceSession } from '../source/port.js';
import { SourceRegistry } from '../source/registry.js';
import { Reason, SyncError } from '../sync/reasons.js';
import { DEFAULT_LIMITS } from '../sync/render.js';
import { ExternalLLMSecretReconciler } from './reconciler.js';

const conflict = () => Object.assign(new Error('conflict'), { code: 409, body: JSON.stringify({ message: 'the object has been modified' }) });

/** An apiserver in memory: Secrets with resourceVersions (stale writes get 409), status patches. */
class FakeKube {
  rv = 100;
  readonly secrets = new Map<string, V1Secret>();
  readonly resources = new Map<string, ExternalLLMSecret>();
  readonly calls: string[] = [];
  failWrites: Error | undefined;

  async getSecret(ns: string, name: string) { this.calls.push(`get ${name}`); return structuredClone(this.secrets.get(`${ns}/${name}`)); }
  async createSecret(s: V1Secret) {
    this.calls.push(`create ${s.metadata!.name}`);
    if (this.failWrites) throw this.failWrites;
    const key = `${s.metadata!.namespace}/${s.metadata!.name}`;
    if (this.secrets.has(key)) throw conflict();
    const stored = { ...structuredClone(s), metadata: { ...s.metadata, resourceVersion: String(++this.rv) } };
    this.secrets.set(key, stored);
    return stored;
  }
  async replaceSecret(s: V1Secret) {
    this.calls.push(`update ${s.metadata!.name}`);
    if (this.failWrites) throw this.failWrites;
    const key = `${s.metadata!.namespace}/${s.metadata!.name}`;
    if (this.secrets.get(key)?.metadata?.resourceVersion !== s.metadata?.resourceVersion) throw conflict();
    const stored = { ...structuredClone(s), metadata: { ...s.metadata, resourceVersion: String(++this.rv) } };
    this.secrets.set(key, stored);
    return stored;
  }
  async patchStatus(ns: string, name: string, patch: Record<string, unknown>) {
    this.calls.push(`status ${name}`);
    const els = this.resources.get(`${ns}/${name}`)!;
    const status: Record<string, unknown> = { ...els.status };
    for (const [k, v] of Object.entries(patch)) { if (v === null) delete status[k]; else status[k] = v; }
    els.status = status;
    els.metadata.resourceVersion = String(++this.rv);
    return structuredClone(els);
  }
  async readWorkload() { return {}; }
  async patchWorkloadTemplateAnnotation(kind: string, _ns: string, name: string) { this.calls.push(`restart ${kind} ${name}`); return {}; }
  writes() { return this.calls.filter((c) => !c.startsWith('get')); }
}

/** A SecretSource whose answers the test sets, counting every call. */
class FakeSource implements SecretSource {
  readonly name = 'aws-secrets-manager';
  version = 'v1';
  value = '{"api_key":"sk-1"}';
  tags: Record<string, string> = {};
  current = false;
  failOpen: SyncError | undefined;
  failRead: SyncError | undefined;
  readonly calls: string[] = [];
  readonly reads: ReadOptions[] = [];
  scopeOf() { return 'fake:region'; }
  async open(): Promise<SourceSession> {
    this.calls.push('open');
    if (this.failOpen) throw this.failOpen;
    return {
      scope: 'fake:region',
      isCurrent: async (synced: string): Promise<Currency> => { this.calls.push('isCurrent'); return this.current && synced === this.version ? { current: true } : { current: false }; },
      read: async (o: ReadOptions): Promise<SourceRead> => {
        this.calls.push('read'); this.reads.push(o);
        if (this.failRead) throw this.failRead;
        return { secretId: 'prod/llm/openai', versionId: this.version, secretString: this.value, ...(o.tags ? { tags: this.tags } : {}) };
      },
    };
  }
}

function setup(spec: Partial<ExternalLLMSecretSpec> = {}) {
  let now = new Date('2026-11-29T10:00:00Z');
  const kube = new FakeKube();
  const source = new FakeSource();
  const events: string[] = [];
  const sink: EventSink = { record: async (_o, type, reason) => { events.push(`${type} ${reason}`); } };
  const els: ExternalLLMSecret = {
    apiVersion: 'llmsecrets.dev/v1alpha1', kind: 'ExternalLLMSecret',
    metadata: { name: 'llm', namespace: 'team-a', uid: 'uid-1', generation: 1, resourceVersion: '1', annotations: {} },
    spec: { source: { secretId: 'prod/llm/openai' }, provider: 'openai', refreshInterval: '1h', ...spec },
  };
  kube.resources.set('team-a/llm', els);
  // The informer cache: a copy of the server's Secret that the test can leave stale.
  const cache = new Map<string, V1Secret>();
  /** A reconciler over the same fakes: another hash key is another operator process. */
  const reconcilerWith = (hashKey: Buffer) => new ExternalLLMSecretReconciler({
    getResource: (ns, n) => structuredClone(kube.resources.get(`${ns}/${n}`)),
    getCachedSecret: (ns, n) => structuredClone(cache.get(`${ns}/${n}`)),
    kube, events: sink, sources: new SourceRegistry([source]),
    metrics: new Metrics({ processMetrics: false }), log: createLogger('silent'),
    config: { hashKey, limits: DEFAULT_LIMITS, refreshShareWindowMs: 5_000, driftMaxAgeMs: 60_000 },
    now: () => now, random: () => 0.5,
  });
  let reconciler = reconcilerWith(Buffer.from('reconciler-test-hash-key-0123456789abcdef'));
  const syncCache = () => { for (const [k, v] of kube.secrets) cache.set(k, structuredClone(v)); };
  const ready = () => kube.resources.get('team-a/llm')!.status?.conditions?.find((c) => c.type === 'Ready');
  const secretValue = () => Buffer.from(kube.secrets.get('team-a/llm')?.data?.OPENAI_API_KEY ?? '', 'base64').toString();
  const run = () => reconciler.reconcile('team-a/llm');
  /** Synced once, caches caught up, counters cleared. */
  const synced = async () => {
    await run(); syncCache();
    kube.calls.length = 0; source.calls.length = 0; source.reads.length = 0; events.length = 0;
  };
  /** The operator restarts with another hash key (nothing in memory survives). */
  const restartWithKey = (hashKey: Buffer) => { reconciler = reconcilerWith(hashKey); };
  const firstRead = () => reconciler.firstReadOf('team-a/llm');
  return { kube, source, events, els, cache, run, synced, syncCache, ready, secretValue, restartWithKey, firstRead, advance: (ms: number) => { now = new Date(now.getTime() + ms); } };
}

describe('ExternalLLMSecretReconciler', () => {
  it('creates the Secret of a new resource: one read, Ready=True, a Synced event', async () => {
    const t = setup();
    const result = await t.run();
    expect(t.source.calls).toEqual(['open', 'read']);
    expect(t.kube.writes()).toEqual(['create llm', 'status llm']);
    expect(t.secretValue()).toBe('sk-1');
    expect(t.ready()).toMatchObject({ status: 'True', reason: 'Synced' });
    expect(t.events).toEqual(['Normal Synced']);
    expect(result.requeueAfterMs).toBeGreaterThan(50 * 60_000);
  });

  it.each([
    { case: 'not due, not drifted: skipped', advanceMs: 60_000, current: false, calls: [], writes: [] },
    { case: 'due and still current: no read, no write', advanceMs: 2 * 3_600_000, current: true, calls: ['open', 'isCurrent'], writes: [] },
    { case: 'due with a new version: read and update', advanceMs: 2 * 3_600_000, current: false, newVersion: true, calls: ['open', 'isCurrent', 'read'], writes: ['update llm', 'status llm'] },
  ])('$case', async ({ advanceMs, current, newVersion, calls, writes }) => {
    const t = setup();
    await t.synced();
    t.advance(advanceMs);
    t.source.current = current;
    if (newVersion) { t.source.version = 'v2'; t.source.value = '{"api_key":"sk-2"}'; }
    await t.run();
    expect(t.source.calls).toEqual(calls);
    expect(t.kube.writes()).toEqual(writes);
    expect(t.ready()?.status).toBe('True');
  });

  it('firstReadOf (read-ahead): a new resource or a new generation, not a synced one, a force-sync, a refused target or a Merge target', async () => {
    const t = setup();
    expect(t.firstRead()?.metadata.name).toBe('llm');
    await t.synced();
    expect(t.firstRead()).toBeUndefined();
    t.kube.resources.get('team-a/llm')!.metadata.generation = 2;
    expect(t.firstRead()?.metadata.generation).toBe(2);
    // A Secret of the target name this resource does not own: refused before any read.
    t.cache.set('team-a/llm', { metadata: { name: 'llm', namespace: 'team-a' }, data: {} });
    expect(t.firstRead()).toBeUndefined();
    expect(setup({ target: { creationPolicy: 'Merge' } }).firstRead()).toBeUndefined();
    const forced = setup();
    forced.kube.resources.get('team-a/llm')!.metadata.annotations = { [FORCE_SYNC_ANNOTATION]: 'now' };
    expect(forced.firstRead()).toBeUndefined();
    expect(t.source.calls).toEqual([]);
  });

  it('drifted (someone edited the Secret): restored from a value up to driftMaxAge old, no due refresh needed', async () => {
    const t = setup();
    await t.synced();
    const edited = t.kube.secrets.get('team-a/llm')!;
    edited.data = { OPENAI_API_KEY: Buffer.from('tampered').toString('base64') };
    t.syncCache();
    await t.run();
    expect(t.source.reads).toEqual([{ maxAgeMs: 60_000, tags: false, readAhead: false }]);
    expect(t.secretValue()).toBe('sk-1');
  });

  it('force-sync: a fresh read (maxAge 0), and the token is acknowledged in status', async () => {
    const t = setup();
    await t.synced();
    t.kube.resources.get('team-a/llm')!.metadata.annotations = { [FORCE_SYNC_ANNOTATION]: 'now' };
    await t.run();
    expect(t.source.reads).toEqual([{ maxAgeMs: 0, tags: false, readAhead: true }]);
    expect(t.kube.resources.get('team-a/llm')!.status?.forceSyncToken).toBe('now');
  });

  it('409 on a stale cache: one GET of that Secret, re-planned, no failure', async () => {
    const t = setup();
    await t.synced();
    // The source rotated and someone else (an earlier reconcile) wrote it already; our cache is old.
    t.source.version = 'v2'; t.source.value = '{"api_key":"sk-2"}';
    const server = t.kube.secrets.get('team-a/llm')!;
    server.data = { OPENAI_API_KEY: Buffer.from('sk-2').toString('base64') };
    server.metadata!.resourceVersion = String(++t.kube.rv);
    t.kube.resources.get('team-a/llm')!.metadata.annotations = { [FORCE_SYNC_ANNOTATION]: 'rotated' };
    const result = await t.run();
    expect(t.kube.calls).toEqual(['update llm', 'get llm', 'status llm']);
    expect(t.ready()).toMatchObject({ status: 'True', reason: 'Synced' });
    expect(result.retry).toBeUndefined();
  });

  it('a refused role: Ready=False RoleNotPermitted, no read, the Secret untouched, rechecked after 30 s', async () => {
    const t = setup();
    await t.synced();
    t.source.failOpen = new SyncError(Reason.RoleNotPermitted, 'role refused for team-a');
    t.kube.resources.get('team-a/llm')!.metadata.annotations = { [FORCE_SYNC_ANNOTATION]: 'x' };
    const result = await t.run();
    expect(t.source.calls).toEqual(['open']);
    expect(t.kube.writes()).toEqual(['status llm']);
    expect(t.ready()).toMatchObject({ status: 'False', reason: 'RoleNotPermitted' });
    expect(t.secretValue()).toBe('sk-1');
    expect(result.requeueAfterMs).toBe(30_000);
    expect(t.events).toEqual(['Warning SyncFailed']);
  });

  it('a failure retrying cannot fix backs off from 30 s to the refresh interval, and a spec change or force-sync looks at once and starts again from 30 s', async () => {
    const t = setup({ refreshInterval: '10m' });
    await t.synced();
    t.advance(11 * 60_000);
    t.source.failOpen = new SyncError(Reason.AccessDenied, 'GetSecretValue: AccessDeniedException');
    const waits: Array<number | undefined> = [];
    for (let i = 0; i < 7; i++) {
      const result = await t.run();
      expect(result.retry, 'not the retry path').toBeUndefined();
      waits.push(result.requeueAfterMs);
      // Early: not due, no call to the source.
      const opens = t.source.calls.length;
      t.advance(result.requeueAfterMs! - 1_000);
      expect((await t.run()).requeueAfterMs).toBe(1_000);
      expect(t.source.calls.length, 'nothing read before it is due').toBe(opens);
      t.advance(1_000);
    }
    // random() = 0.5: no jitter. 30 s, doubling, capped at the 10 m interval.
    expect(waits).toEqual([30_000, 60_000, 120_000, 240_000, 480_000, 600_000, 600_000]);
    expect(t.source.calls.filter((c) => c === 'open')).toHaveLength(7);

    // A spec change: due at once, and the backoff starts again.
    const opens = t.source.calls.length;
    const els = t.kube.resources.get('team-a/llm')!;
    els.metadata.generation = 2;
    expect((await t.run()).requeueAfterMs).toBe(30_000);
    expect(t.source.calls.length).toBe(opens + 1);
    expect((await t.run()).requeueAfterMs, 'not due again right away').toBe(30_000);
    t.advance(30_000);
    expect((await t.run()).requeueAfterMs).toBe(60_000);
    // A force-sync: the same.
    els.metadata.annotations = { [FORCE_SYNC_ANNOTATION]: 'now' };
    expect((await t.run()).requeueAfterMs).toBe(30_000);
    expect(t.source.calls.length).toBe(opens + 3);
    // Fixed: a success, and the refresh interval again.
    t.source.failOpen = undefined;
    t.advance(30_000);
    const fixed = await t.run();
    expect(t.ready()).toMatchObject({ status: 'True', reason: 'Synced' });
    expect(fixed.requeueAfterMs).toBe(600_000);
  });

  it('keys envFrom cannot use: Ready=True, an EnvVarNames=False condition with the fix and one Warning event; gone once the keys are renamed', async () => {
    const t = setup({ provider: undefined, dataFrom: {} });
    t.source.value = '{"api-key":"sk-1","OK":"x"}';
    await t.run();
    expect(t.ready()).toMatchObject({ status: 'True', reason: 'Synced' });
    const condition = () => t.kube.resources.get('team-a/llm')!.status?.conditions?.find((c) => c.type === 'EnvVarNames');
    expect(condition()).toMatchObject({ status: 'False', reason: 'NotEnvVarNames', message: expect.stringContaining('api-key → API_KEY') as string });
    expect(condition()?.message).toContain('dataFrom.rewrite: [{transform: UpperSnakeCase}]');
    expect(t.events).toEqual(['Warning NotEnvVarNames', 'Normal Synced']);
    // A new version, same keys: no second warning.
    t.syncCache(); t.events.length = 0;
    t.source.version = 'v2'; t.source.value = '{"api-key":"sk-2","OK":"x"}';
    t.advance(2 * 3_600_000);
    await t.run();
    expect(t.events).toEqual(['Normal Updated']);
    // Renamed: the condition goes.
    t.syncCache(); t.events.length = 0;
    const els = t.kube.resources.get('team-a/llm')!;
    els.spec = { ...els.spec, dataFrom: { rewrite: [{ transform: 'UpperSnakeCase' }] } };
    els.metadata.generation = 2;
    await t.run();
    expect(condition()).toBeUndefined();
    expect(t.ready()).toMatchObject({ status: 'True' });
  });

  it('a sync-once resource (refreshInterval 0) that fails backs off up to the default refresh interval', async () => {
    const t = setup({ refreshInterval: '0' });
    t.source.failOpen = new SyncError(Reason.ResourceNotFound, 'no such secret');
    const waits: Array<number | undefined> = [];
    for (let i = 0; i < 10; i++) {
      const result = await t.run();
      waits.push(result.requeueAfterMs);
      t.advance(result.requeueAfterMs!);
    }
    expect(waits.slice(0, 3)).toEqual([30_000, 60_000, 120_000]);
    expect(waits.at(-1)).toBe(3_600_000);
  });

  it('a retryable source error: Ready=False with the reason, the Secret untouched, retried within the refresh interval', async () => {
    const t = setup({ refreshInterval: '30s' });
    await t.synced();
    t.advance(60_000);
    t.source.failOpen = new SyncError(Reason.EndpointError, 'ListSecrets: ECONNRESET', { retryable: true });
    const result = await t.run();
    expect(t.ready()).toMatchObject({ status: 'False', reason: 'EndpointError' });
    expect(t.secretValue()).toBe('sk-1');
    expect(result).toEqual({ retry: { maxDelayMs: 30_000 } });
  });

  it('status-only repair: a drift repair failed on the apiserver; once the Secret is right again, Ready=True with no read and no Secret write', async () => {
    const t = setup();
    await t.synced();
    const server = t.kube.secrets.get('team-a/llm')!;
    const good = server.data;
    server.data = { OPENAI_API_KEY: Buffer.from('tampered').toString('base64') };
    t.syncCache();
    t.kube.failWrites = Object.assign(new Error('unavailable'), { code: 503 });
    expect((await t.run()).retry).toBeDefined();
    expect(t.ready()).toMatchObject({ status: 'False', reason: 'KubernetesError' });
    // Someone puts the right data back; writes still fail, and none is needed.
    server.data = good;
    t.syncCache();
    t.source.calls.length = 0; t.kube.calls.length = 0;
    await t.run();
    expect(t.source.calls).toEqual([]);
    expect(t.kube.writes()).toEqual(['status llm']);
    expect(t.ready()).toMatchObject({ status: 'True', reason: 'Synced' });
  });

  it('a namespace being deleted: the refused create is not a failure (no status, no event), and the namespace is left alone after', async () => {
    const t = setup();
    t.kube.failWrites = Object.assign(new Error('forbidden'), {
      code: 403,
      body: JSON.stringify({ kind: 'Status', code: 403, reason: 'Forbidden', message: 'secrets "llm" is forbidden: unable to create new content in namespace team-a because it is being terminated', details: { causes: [{ reason: 'NamespaceTerminating', message: 'namespace team-a is being terminated', field: 'metadata.namespace' }] } }),
    });
    const first = await t.run();
    expect(t.kube.writes()).toEqual(['create llm']);
    expect(t.events).toEqual([]);
    expect(t.ready()).toBeUndefined();
    expect(first).toEqual({ requeueAfterMs: 60_000 });
    t.source.calls.length = 0; t.kube.calls.length = 0;
    expect(await t.run()).toEqual({ requeueAfterMs: 60_000 });
    expect(t.source.calls).toEqual([]);
    expect(t.kube.calls).toEqual([]);
  });

  it('a missing expiry tag fails the sync before anything is written', async () => {
    const t = setup({ expiry: { tag: 'expires-at' } });
    await t.run();
    expect(t.source.reads).toEqual([{ maxAgeMs: 5_000, tags: true, readAhead: true }]);
    expect(t.ready()).toMatchObject({ status: 'False', reason: 'MissingProperty' });
    expect(t.kube.secrets.has('team-a/llm'), 'no Secret written').toBe(false);
    t.source.tags = { 'expires-at': '2099-01-01T00:00:00Z' };
    t.kube.resources.get('team-a/llm')!.metadata.annotations = { [FORCE_SYNC_ANNOTATION]: 'tagged' };
    await t.run();
    expect(t.ready()?.status).toBe('True');
    expect(t.kube.resources.get('team-a/llm')!.status?.expiresAt).toBe('2099-01-01T00:00:00.000Z');
  });

  describe('a new hash key', () => {
    const newKey = Buffer.from('another-reconciler-test-hash-key-0123456789');
    const targets = { rolloutRestartTargets: [{ kind: 'Deployment' as const, name: 'app' }] };
    const status = (t: ReturnType<typeof setup>) => t.kube.resources.get('team-a/llm')!.status!;

    it('one read, one status write, no Secret write and no restart; the restart baseline follows the new key', async () => {
      const t = setup(targets);
      await t.synced();
      const old = status(t).dataHash;
      t.restartWithKey(newKey);
      await t.run();
      expect(t.source.calls).toEqual(['open', 'read']);
      expect(t.kube.writes()).toEqual(['status llm']);
      expect(status(t).dataHash).not.toBe(old);
      expect(status(t).restartedForHash).toBe(status(t).dataHash);
      expect(t.ready()?.status).toBe('True');
      // And then it is in sync: nothing more.
      t.kube.calls.length = 0; t.source.calls.length = 0;
      await t.run();
      expect(t.source.calls).toEqual([]);
      expect(t.kube.writes()).toEqual([]);
    });

    it('a drift repair under the new key restores the Secret and restarts nothing, as under the same key', async () => {
      const t = setup(targets);
      await t.synced();
      t.kube.secrets.get('team-a/llm')!.data = { OPENAI_API_KEY: Buffer.from('tampered').toString('base64') };
      t.syncCache();
      t.restartWithKey(newKey);
      await t.run();
      expect(t.kube.writes()).toEqual(['update llm', 'status llm']);
      expect(t.secretValue()).toBe('sk-1');
      expect(status(t).restartedForHash).toBe(status(t).dataHash);
    });

    it('a hash of the earlier format (no key id) is treated the same way', async () => {
      const t = setup(targets);
      await t.synced();
      status(t).dataHash = `hmac-sha256:${'0'.repeat(64)}`;
      status(t).restartedForHash = status(t).dataHash;
      await t.run();
      expect(t.kube.writes()).toEqual(['status llm']);
      expect(status(t).restartedForHash).toBe(status(t).dataHash);
    });

    it.each([
      ['a crash after the Secret write of a new version, before its status', (t: ReturnType<typeof setup>) => {
        t.source.version = 'v2'; t.source.value = '{"api_key":"sk-2"}';
        t.kube.secrets.get('team-a/llm')!.data = { OPENAI_API_KEY: Buffer.from('sk-2').toString('base64') };
        t.syncCache();
      }],
      ['a crash after the Secret write of a spec change, before its status', (t: ReturnType<typeof setup>) => {
        const els = t.kube.resources.get('team-a/llm')!;
        els.metadata.generation = 2;
        els.spec.data = [{ secretKey: 'EXTRA', property: 'api_key' }];
        t.kube.secrets.get('team-a/llm')!.data = { OPENAI_API_KEY: Buffer.from('sk-1').toString('base64'), EXTRA: Buffer.from('sk-1').toString('base64') };
        t.syncCache();
      }],
      ['a restart that was still pending', (t: ReturnType<typeof setup>) => {
        status(t).restartedForHash = 'hmac-sha256:pending-from-before';
      }],
    ])('still restarts after %s', async (_, act) => {
      const t = setup(targets);
      await t.synced();
      act(t);
      t.restartWithKey(newKey);
      await t.run();
      expect(t.kube.writes()).toEqual(['restart Deployment app', 'status llm']);
      expect(status(t).restartedForHash).toBe(status(t).dataHash);
    });
  });
});
