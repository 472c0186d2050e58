// Reliability under faults: AWS throttling storms, AWS outages, an apiserver outage between the
// operator and the cluster, an operator SIGKILLed again and again, and slow AWS. Through all of
// them a sampler reads every managed Secret every 250 ms and fails the test if one ever holds data
// that is not a version of its source, or disappears once written. Durations are shortened from
// the issue's (60 s storm, 2 min outage) to keep CI time sane; each test name says what it uses.
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FORCE_SYNC_ANNOTATION, MANAGED_BY_LABEL, MANAGED_BY_VALUE, OWNER_ANNOTATION } from '../src/crds/constants.js';
import type { ExternalLLMSecretSpec } from '../src/crds/types.js';
import { HttpFaultProxy, TcpFaultProxy } from './env/fault-proxy.js';
import { adminKubeConfig, apiserverRequestCount, applyCrds, createSecret, createTestNamespace, getTestEnv, putSecretValue } from './env/index.js';
import { core, createEls, deleteEls, events, getEls, patchEls, ready, sleep, until } from './helpers/els.js';
import { startTestOperator, type TestOperator } from './helpers/operator.js';
import { startOperatorProcess } from './helpers/process.js';

/** Values seeded by this suite carry the leak-scan marker (test/zz-leak-scan.test.ts). */
const secretValue = () => `SECRETVALUE-${randomBytes(8).toString('hex')}`;
const runId = `${process.pid}-${Date.now().toString(36)}`;
const sid = (name: string) => `faults-${runId}/${name}`;

/** Figures for the README's Reliability section, printed at the end. */
const figures = { faultsInjected: 0, secretsSampled: 0, violations: 0, kills: 0 };

let moto: string;
beforeAll(async () => {
  moto = getTestEnv().motoEndpoint;
  await applyCrds();
});
afterAll(() => {
  process.stderr.write(`[faults] figures ${JSON.stringify(figures)}\n`);
});

type Data = Record<string, string>;
const dataKey = (d: Data) => JSON.stringify(Object.keys(d).sort().map((k) => [k, d[k]]));
const expectedData = (v: string): Data => ({ K: v, ORG: `${v}-org` });
const awsValue = (v: string) => ({ api_key: v, org: `${v}-org` });
const spec = (secretId: string, extra: Partial<ExternalLLMSecretSpec> = {}): ExternalLLMSecretSpec => ({
  source: { secretId }, refreshInterval: '1h',
  data: [{ secretKey: 'K', property: 'api_key' }, { secretKey: 'ORG', property: 'org' }],
  ...extra,
});

/**
 * Reads every managed Secret of the namespaces every 250 ms (admin client, straight to the
 * apiserver). A violation: data that is not one of the allowed versions for that Secret (wrong or
 * partial data), or a Secret that disappears after it was seen (lost), unless released.
 */
class Sampler {
  readonly #allowed = new Map<string, Set<string>>();
  readonly #seen = new Set<string>();
  readonly #released = new Set<string>();
  readonly violations: string[] = [];
  samples = 0;
  #running = false;
  #loop: Promise<void> | undefined;
  constructor(private readonly namespaces: string[]) {}

  allow(ns: string, name: string, data: Data): void {
    const key = `${ns}/${name}`;
    if (!this.#allowed.has(key)) this.#allowed.set(key, new Set());
    this.#allowed.get(key)!.add(dataKey(data));
  }

  /** The Secret may go away from now on (its resource was deleted with deletionPolicy Delete). */
  release(ns: string, name: string): void {
    this.#released.add(`${ns}/${name}`);
  }

  start(intervalMs = 250): void {
    this.#running = true;
    this.#loop = (async () => {
      while (this.#running) {
        const started = Date.now();
        await this.sample().catch(() => undefined); // the apiserver may be busy; the next sample covers it
        await sleep(Math.max(0, intervalMs - (Date.now() - started)));
      }
    })();
  }

  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    await this.#loop;
    await this.sample();
    figures.secretsSampled += this.samples;
    figures.violations += this.violations.length;
  }

  async sample(): Promise<void> {
    const present = new Set<string>();
    for (const ns of this.namespaces) {
      const list = await core().listNamespacedSecret({ namespace: ns, labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}` });
      for (const s of list.items) {
        const key = `${ns}/${s.metadata!.name}`;
        present.add(key);
        this.#seen.add(key);
        this.samples++;
        const data: Data = Object.fromEntries(Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
        const allowed = this.#allowed.get(key);
        if (!allowed?.has(dataKey(data))) this.violations.push(`${new Date().toISOString()} ${key} holds data that is no version of its source (keys ${Object.keys(data).join(',')})`);
      }
    }
    for (const key of this.#seen) {
      if (!present.has(key) && !this.#released.has(key)) {
        this.violations.push(`${new Date().toISOString()} ${key} disappeared`);
        this.#seen.delete(key);
      }
    }
  }
}

async function inBatches<T>(items: T[], size: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(fn));
}

/** Polls until every resource is Ready=True and its Secret holds `expected`; returns ms taken. */
async function waitConverged(items: Array<{ ns: string; name: string; value: () => string }>, timeoutMs: number): Promise<number> {
  const started = Date.now();
  let pending = items;
  while (Date.now() - started < timeoutMs) {
    const byNs = new Map<string, Map<string, Data>>();
    for (const ns of new Set(pending.map((i) => i.ns))) {
      const list = await core().listNamespacedSecret({ namespace: ns, labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}` });
      byNs.set(ns, new Map(list.items.map((s) => [s.metadata!.name!, Object.fromEntries(Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]))])));
    }
    const left: typeof pending = [];
    for (const item of pending) {
      const data = byNs.get(item.ns)?.get(item.name);
      if (!data || dataKey(data) !== dataKey(expectedData(item.value()))) { left.push(item); continue; }
      const c = ready(await getEls(item.ns, item.name));
      if (c?.status !== 'True') left.push(item);
    }
    pending = left;
    if (pending.length === 0) return Date.now() - started;
    await sleep(500);
  }
  throw new Error(`${pending.length} resources did not converge in ${timeoutMs} ms, e.g. ${pending.slice(0, 5).map((i) => `${i.ns}/${i.name}`).join(', ')}`);
}

describe('AWS faults', () => {
  it('throttling storm: 50% of AWS calls throttled for 25 s (issue: 60 s) over 200 resources — all converge, retries bounded, no Secret lost', async () => {
    const RESOURCES = 200;
    const WINDOW_MS = 25_000;
    const proxy = await HttpFaultProxy.start(moto);
    const namespaces = await Promise.all([createTestNamespace('storm'), createTestNamespace('storm')]);
    const sampler = new Sampler(namespaces);
    const items = Array.from({ length: RESOURCES }, (_, i) => ({ ns: namespaces[i % 2]!, name: `r${i}`, id: sid(`storm-${i}`), v: secretValue() }));
    await inBatches(items, 25, async (it) => { await createSecret(moto, it.id, awsValue(it.v)); sampler.allow(it.ns, it.name, expectedData(it.v)); });
    let operator: TestOperator | undefined;
    try {
      operator = await startTestOperator({ namespaces, awsEndpoint: proxy.url, args: ['--concurrent', '10'] });
      proxy.resetStats();
      proxy.add({ kind: 'throttle', probability: 0.5, durationMs: WINDOW_MS });
      const windowEnds = Date.now() + WINDOW_MS;
      sampler.start();
      await inBatches(items, 20, (it) => createEls(it.ns, it.name, spec(it.id, { refreshInterval: '10s' })));
      // Rotate a fifth of them in the middle of the storm.
      await sleep(Math.max(0, windowEnds - Date.now() - WINDOW_MS / 2));
      await inBatches(items.filter((_, i) => i % 5 === 0), 10, async (it) => {
        const next = secretValue();
        sampler.allow(it.ns, it.name, expectedData(next));
        await putSecretValue(moto, it.id, awsValue(next));
        it.v = next;
      });
      await sleep(Math.max(0, windowEnds - Date.now()));
      const throttledDuringWindow = proxy.stats.faults.throttle;
      const convergeMs = await waitConverged(items.map((it) => ({ ns: it.ns, name: it.name, value: () => it.v })), 120_000);
      await sampler.stop();
      const requests = proxy.stats.requests;
      process.stderr.write(`[faults] storm: ${requests} AWS requests (${JSON.stringify(proxy.stats.byOperation)}), ${throttledDuringWindow} throttled, converged ${convergeMs} ms after the window\n`);
      figures.faultsInjected += proxy.faultCount;
      expect(sampler.violations).toEqual([]);
      // Full batches (read-ahead) make the whole cold start a few dozen calls (38–101 measured), so
      // the storm throttles 13–47 of them: enough that reconciles see Throttled (next assertion).
      expect(throttledDuringWindow, 'the storm happened').toBeGreaterThanOrEqual(5);
      const throttledSyncs = (await operator.metrics.syncs.get()).values.filter((v) => v.labels.reason === 'Throttled').reduce((a, v) => a + v.value, 0);
      expect(throttledSyncs, 'reconciles saw Throttled').toBeGreaterThan(0);
      // Backoff with jitter (base 1 s, doubling) allows about log2(25 s / 0.5 s) + 2 = 8 failed
      // attempts per resource in the window; a retry loop without backoff would make thousands.
      expect(requests, 'AWS requests through the proxy').toBeLessThan(RESOURCES * 8);
    } finally {
      await sampler.stop().catch(() => undefined);
      await operator?.stop();
      await proxy.close();
    }
  }, 300_000);

  it('AWS outage for 30 s (issue: 2 min): 15 s of 503s then 15 s of reset connections — Ready=False with a clear reason, Secrets intact, recovery without a restart', async () => {
    const RESOURCES = 20;
    const proxy = await HttpFaultProxy.start(moto);
    const ns = await createTestNamespace('outage');
    const sampler = new Sampler([ns]);
    const items = Array.from({ length: RESOURCES }, (_, i) => ({ ns, name: `o${i}`, id: sid(`outage-${i}`), v: secretValue() }));
    await Promise.all(items.map(async (it) => { await createSecret(moto, it.id, awsValue(it.v)); sampler.allow(ns, it.name, expectedData(it.v)); }));
    let operator: TestOperator | undefined;
    try {
      operator = await startTestOperator({ namespaces: [ns], awsEndpoint: proxy.url });
      await Promise.all(items.map((it) => createEls(ns, it.name, spec(it.id))));
      await waitConverged(items.map((it) => ({ ns, name: it.name, value: () => it.v })), 60_000);
      const before = new Map((await core().listNamespacedSecret({ namespace: ns })).items.map((s) => [s.metadata!.name!, s.metadata!.resourceVersion]));
      sampler.start();

      proxy.add({ kind: 'error503', durationMs: 15_000 });
      proxy.add({ kind: 'reset', delayMs: 15_000, durationMs: 15_000 });
      const healAt = Date.now() + 30_000;
      // The source rotates during the outage, and every resource is told to refresh now.
      await Promise.all(items.map(async (it) => {
        const next = secretValue();
        await putSecretValue(moto, it.id, awsValue(next));
        sampler.allow(ns, it.name, expectedData(next));
        it.v = next;
      }));
      await Promise.all(items.map((it) => patchEls(ns, it.name, { metadata: { annotations: { [FORCE_SYNC_ANNOTATION]: 'outage' } } })));

      // Every resource notices within the 503 phase, with reason ProviderError naming the status.
      const seen503 = new Set<string>();
      const seenReset = new Set<string>();
      while (Date.now() < healAt - 1_000) {
        for (const it of items) {
          const c = ready(await getEls(ns, it.name));
          if (c?.status === 'False' && c.reason === 'ProviderError' && /503/.test(c.message)) seen503.add(it.name);
          if (c?.status === 'False' && c.reason === 'EndpointError') seenReset.add(it.name);
        }
        await sleep(1_000);
      }
      expect(seen503.size, 'resources showing Ready=False ProviderError (HTTP 503)').toBe(RESOURCES);
      expect(seenReset.size, 'resources showing Ready=False EndpointError (connection reset)').toBeGreaterThan(0);
      const warned = await events(ns, items[0]!.name);
      expect(warned.some((e) => e.type === 'Warning' && e.reason === 'SyncFailed' && /ProviderError/.test(e.message ?? ''))).toBe(true);
      // Nothing was written to the Secrets during the outage.
      const during = new Map((await core().listNamespacedSecret({ namespace: ns })).items.map((s) => [s.metadata!.name!, s.metadata!.resourceVersion]));
      for (const it of items) expect(during.get(it.name), `${it.name} untouched during the outage`).toBe(before.get(it.name));

      await sleep(Math.max(0, healAt - Date.now()));
      const convergeMs = await waitConverged(items.map((it) => ({ ns, name: it.name, value: () => it.v })), 120_000);
      await sampler.stop();
      process.stderr.write(`[faults] outage: ${proxy.stats.faults.error503} x 503, ${proxy.stats.faults.reset} resets; recovered ${convergeMs} ms after the heal\n`);
      figures.faultsInjected += proxy.faultCount;
      expect(sampler.violations).toEqual([]);
      for (const it of items) expect((await getEls(ns, it.name)).status?.forceSyncToken).toBe('outage');
    } finally {
      await sampler.stop().catch(() => undefined);
      await operator?.stop();
      await proxy.close();
    }
  }, 300_000);

  it('slow AWS (2 s per call): with --concurrent 10, 20 resources are Ready in far less than 20 x 2 s', async () => {
    const proxy = await HttpFaultProxy.start(moto);
    const ns = await createTestNamespace('slow');
    const items = Array.from({ length: 20 }, (_, i) => ({ ns, name: `s${i}`, id: sid(`slow-${i}`), v: secretValue() }));
    await Promise.all(items.map((it) => createSecret(moto, it.id, awsValue(it.v))));
    let operator: TestOperator | undefined;
    try {
      // One read per resource (no BatchGetSecretValue), so concurrency is what makes it fast.
      operator = await startTestOperator({ namespaces: [ns], awsEndpoint: proxy.url, args: ['--concurrent', '10', '--no-batch-get', '--no-aws-identity-check'] });
      proxy.add({ kind: 'latency', latencyMs: 2_000 });
      const started = Date.now();
      await Promise.all(items.map((it) => createEls(ns, it.name, spec(it.id))));
      await waitConverged(items.map((it) => ({ ns, name: it.name, value: () => it.v })), 60_000);
      const elapsed = Date.now() - started;
      process.stderr.write(`[faults] slow AWS: 20 resources Ready in ${elapsed} ms (${proxy.stats.byOperation.GetSecretValue} GetSecretValue at 2 s each)\n`);
      figures.faultsInjected += proxy.faultCount;
      expect(proxy.stats.byOperation.GetSecretValue ?? 0).toBeGreaterThanOrEqual(20);
      expect(elapsed, 'serial would take 40 s').toBeLessThan(16_000);
    } finally {
      await operator?.stop();
      await proxy.close();
    }
  }, 120_000);
});

/** ELS_APISERVER_OUTAGE_REPEATS=20 runs the apiserver outage that many times (the issue's 20-run check). */
const apiserverOutageRuns = Math.max(1, Number(process.env.ELS_APISERVER_OUTAGE_REPEATS ?? 1));
const apiserverConverged: number[] = [];
afterAll(() => {
  if (apiserverConverged.length > 1) {
    const sorted = [...apiserverConverged].sort((a, b) => a - b);
    process.stderr.write(`[faults] apiserver outage, ${sorted.length} runs: converged after the heal in ms ${JSON.stringify(sorted)} (p50 ${sorted[Math.floor(sorted.length / 2)]}, max ${sorted.at(-1)})\n`);
  }
});

describe('apiserver faults', () => {
  it.each(Array.from({ length: apiserverOutageRuns }, (_, i) => i + 1))('apiserver unreachable from the operator for 30 s (20 s reset, 10 s partition): watches resume, resources created meanwhile sync, nothing synced twice, converged within 30 s of the heal (run %i)', async () => {
    const env = getTestEnv();
    const tcp = await TcpFaultProxy.start(env.server);
    const admin = adminKubeConfig();
    const proxied = new KubeConfig();
    proxied.loadFromOptions({
      clusters: admin.clusters.map((c) => ({ ...c, server: `https://127.0.0.1:${tcp.port}` })),
      users: admin.users, contexts: admin.contexts, currentContext: admin.currentContext,
    });
    const ns = await createTestNamespace('apiout');
    const sampler = new Sampler([ns]);
    const run = Date.now().toString(36); // repeats (ELS_APISERVER_OUTAGE_REPEATS) need their own secrets
    const first = Array.from({ length: 10 }, (_, i) => ({ ns, name: `a${i}`, id: sid(`apiout-${run}-a${i}`), v: secretValue() }));
    const second = Array.from({ length: 10 }, (_, i) => ({ ns, name: `b${i}`, id: sid(`apiout-${run}-b${i}`), v: secretValue() }));
    await Promise.all([...first, ...second].map(async (it) => { await createSecret(moto, it.id, awsValue(it.v)); sampler.allow(ns, it.name, expectedData(it.v)); }));
    let operator: TestOperator | undefined;
    try {
      operator = await startTestOperator({ namespaces: [ns], kubeConfig: proxied, args: ['--relist-interval', '10m'] });
      await Promise.all(first.map((it) => createEls(ns, it.name, spec(it.id))));
      await waitConverged(first.map((it) => ({ ns, name: it.name, value: () => it.v })), 60_000);
      const uids = new Map((await core().listNamespacedSecret({ namespace: ns })).items.map((s) => [s.metadata!.name!, s.metadata!.uid]));
      sampler.start();
      const postsBefore = await apiserverRequestCount({ verb: ['POST'], resource: 'secrets' });
      const deletesBefore = await apiserverRequestCount({ verb: ['DELETE'], resource: 'secrets' });

      tcp.cut('reset');
      const healAt = Date.now() + 30_000;
      await sleep(2_000);
      // Meanwhile, straight on the apiserver: new resources, and three rotations with force-sync.
      await Promise.all(second.map((it) => createEls(ns, it.name, spec(it.id))));
      for (const it of first.slice(0, 3)) {
        const next = secretValue();
        sampler.allow(ns, it.name, expectedData(next));
        await putSecretValue(moto, it.id, awsValue(next));
        it.v = next;
        await patchEls(ns, it.name, { metadata: { annotations: { [FORCE_SYNC_ANNOTATION]: 'apiout' } } });
      }
      await sleep(18_000);
      tcp.cut('pause');
      await sleep(Math.max(0, healAt - Date.now()));
      const during = await core().listNamespacedSecret({ namespace: ns });
      expect(during.items.filter((s) => s.metadata!.name!.startsWith('b')), 'no Secret could be written during the outage').toEqual([]);
      tcp.heal();

      const convergeMs = await waitConverged([...first, ...second].map((it) => ({ ns, name: it.name, value: () => it.v })), 90_000);
      apiserverConverged.push(convergeMs);
      // Each reconcile records its event after the status write that made it Ready: wait for the
      // "Created Secret" event of every resource created during the outage.
      const createdEvents = async (name: string) => (await events(ns, name)).filter((e) => e.reason === 'Synced' && /^Created Secret/.test(e.message ?? ''));
      await until('a "Created Secret" event for every resource created during the outage', async () => {
        for (const it of second) if ((await createdEvents(it.name)).length === 0) return undefined;
        return true;
      });
      await sampler.stop();
      process.stderr.write(`[faults] apiserver outage: ${tcp.stats.reset} connections reset, ${tcp.stats.paused} paused; converged ${convergeMs} ms after the heal\n`);
      figures.faultsInjected += tcp.stats.reset + tcp.stats.paused;
      expect(sampler.violations).toEqual([]);
      expect(tcp.stats.reset, 'the cut really cut connections').toBeGreaterThan(0);
      // Watches restart within their 10 s backoff cap; whatever failed on the apiserver is requeued then.
      expect(convergeMs, 'converged within 30 s of the heal').toBeLessThan(30_000);
      // Old Secrets were updated in place, never recreated; each new one was created once.
      const after = await core().listNamespacedSecret({ namespace: ns });
      for (const it of first) expect(after.items.find((s) => s.metadata!.name === it.name)?.metadata?.uid).toBe(uids.get(it.name));
      expect(await apiserverRequestCount({ verb: ['POST'], resource: 'secrets' }) - postsBefore, 'Secret creates').toBe(second.length);
      expect(await apiserverRequestCount({ verb: ['DELETE'], resource: 'secrets' }) - deletesBefore, 'Secret deletes').toBe(0);
      for (const it of second) expect((await createdEvents(it.name)).length, `${it.name}: one "Created Secret" event`).toBe(1);
    } finally {
      await sampler.stop().catch(() => undefined);
      tcp.heal();
      await operator?.stop();
      await tcp.close();
    }
  }, 240_000);
});

describe('operator killed', () => {
  it('SIGKILLed at random points 20 times while resources are created, rotated and deleted; a final start converges with no partial, duplicated or orphaned Secrets', async () => {
    const ns = await createTestNamespace('kill');
    const sampler = new Sampler([ns]);
    const TOTAL = 30;
    const items = Array.from({ length: TOTAL }, (_, i) => ({ ns, name: `k${i}`, id: sid(`kill-${i}`), v: secretValue(), created: false, deleted: false }));
    await Promise.all(items.map(async (it) => { await createSecret(moto, it.id, awsValue(it.v)); sampler.allow(ns, it.name, expectedData(it.v)); }));

    let child: ChildProcess | undefined;
    let runs = 0;
    // The operator as its own process (test/helpers/process.ts), as a pod runs it.
    const startChild = async (): Promise<ChildProcess> => (await startOperatorProcess(['--namespaces', ns])).child;
    /** Resolves when the child logs "caches synced" (it is about to reconcile), or after timeoutMs. */
    const started = (proc: ChildProcess, timeoutMs: number) => new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      let seen = '';
      proc.stdout!.on('data', (chunk: Buffer) => {
        seen = (seen + chunk.toString()).slice(-4096);
        if (seen.includes('caches synced')) { clearTimeout(timer); resolve(); }
      });
      proc.once('exit', () => { clearTimeout(timer); resolve(); });
    });
    const exited = (proc: ChildProcess) => new Promise<void>((r) => { if (proc.exitCode !== null || proc.signalCode !== null) r(); else proc.once('exit', () => r()); });

    // The workload: create resources one by one, rotate and force-sync, delete a few.
    let driving = true;
    const driver = (async () => {
      let step = 0;
      while (driving) {
        const todo = items.find((it) => !it.created);
        if (todo) {
          const deletable = Number(todo.name.slice(1)) % 6 === 5;
          await createEls(ns, todo.name, spec(todo.id, deletable ? { target: { deletionPolicy: 'Delete' } } : {}));
          todo.created = true;
        }
        const live = items.filter((it) => it.created && !it.deleted);
        if (step % 2 === 1 && live.length > 0) {
          const it = live[Math.floor(Math.random() * live.length)]!;
          const next = secretValue();
          sampler.allow(ns, it.name, expectedData(next));
          await putSecretValue(moto, it.id, awsValue(next));
          it.v = next;
          await patchEls(ns, it.name, { metadata: { annotations: { [FORCE_SYNC_ANNOTATION]: `r${step}` } } });
        }
        if (step % 9 === 8) {
          const victim = live.find((it) => Number(it.name.slice(1)) % 6 === 5);
          if (victim) { victim.deleted = true; sampler.release(ns, victim.name); await deleteEls(ns, victim.name); }
        }
        step++;
        await sleep(700);
      }
    })();

    try {
      sampler.start();
      for (let i = 0; i < 20; i++) {
        child = await startChild();
        // One kill in four lands during start-up; the others 0-2.5 s into reconciling.
        if (i % 4 === 0) await sleep(Math.random() * 3_000);
        else {
          await started(child, 30_000);
          await sleep(Math.random() * 2_500);
        }
        child.kill('SIGKILL');
        await exited(child);
        figures.kills++;
      }
      driving = false;
      await driver;
      child = await startChild();
      await started(child, 30_000);
      const live = items.filter((it) => it.created && !it.deleted);
      const convergeMs = await waitConverged(live.map((it) => ({ ns, name: it.name, value: () => it.v })), 120_000);
      // Secrets of deleted resources (deletionPolicy Delete) are garbage-collected: no orphans.
      const deadline = Date.now() + 60_000;
      let managed = await core().listNamespacedSecret({ namespace: ns, labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}` });
      while (managed.items.length > live.length && Date.now() < deadline) {
        await sleep(500);
        managed = await core().listNamespacedSecret({ namespace: ns, labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}` });
      }
      await sampler.stop();
      process.stderr.write(`[faults] kill: ${items.filter((it) => it.created).length} created, ${items.filter((it) => it.deleted).length} deleted; converged ${convergeMs} ms after the final start\n`);
      expect(sampler.violations).toEqual([]);
      expect(managed.items.map((s) => s.metadata!.name).sort(), 'exactly one Secret per live resource').toEqual(live.map((it) => it.name).sort());
      for (const s of managed.items) {
        expect(s.metadata?.annotations?.[OWNER_ANNOTATION]).toBe(`${ns}/${s.metadata!.name}`);
        const it = live.find((x) => x.name === s.metadata!.name)!;
        const els = await getEls(ns, it.name);
        expect(els.status?.secretName).toBe(it.name);
      }
      expect(items.filter((it) => it.deleted).length, 'some resources were deleted during the run').toBeGreaterThan(0);
    } finally {
      driving = false;
      await driver.catch(() => undefined);
      await sampler.stop().catch(() => undefined);
      if (child && child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await Promise.race([exited(child), sleep(10_000)]);
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      }
    }
  }, 600_000);
});
