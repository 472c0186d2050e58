// Recovery without waiting (issue: truthful status after outages, retries bounded by the refresh
// interval, restarts that survive a crash). Faults are placed exactly with KubeFaultProxy (which
// sees requests: the Secret watch can stay down while the ExternalLLMSecret watch comes back) and
// HttpFaultProxy in front of moto, so the sequences below do not depend on backoff timing.
import { randomBytes } from 'node:crypto';
import { AdmissionregistrationV1Api, AppsV1Api, type V1Deployment } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FORCE_SYNC_ANNOTATION, RESTARTED_FOR_ANNOTATION } from '../src/crds/constants.js';
import type { ExternalLLMSecret, ExternalLLMSecretSpec } from '../src/crds/types.js';
import { HttpFaultProxy } from './env/fault-proxy.js';
import { everything, KubeFaultProxy, secretCollection, secretWrites } from './env/kube-fault-proxy.js';
import { adminKubeConfig, applyCrds, createSecret, createTestNamespace, getTestEnv, putSecretValue } from './env/index.js';
import { core, createEls, decoded, events, getEls, isReady, patchEls, readSecret, ready, sleep, until, waitForReady, waitForSecret } from './helpers/els.js';
import { startTestOperator, type TestOperator } from './helpers/operator.js';
import { startOperatorProcess, type OperatorProcess } from './helpers/process.js';

/** Values carry the leak-scan marker (test/zz-leak-scan.test.ts). */
const value = () => `SECRETVALUE-${randomBytes(8).toString('hex')}`;
const runId = `${process.pid}-${Date.now().toString(36)}`;
const sid = (name: string) => `recovery-${runId}/${name}`;
const apps = () => adminKubeConfig().makeApiClient(AppsV1Api);
const spec = (secretId: string, extra: Partial<ExternalLLMSecretSpec> = {}): ExternalLLMSecretSpec => ({
  source: { secretId }, refreshInterval: '1h', data: [{ secretKey: 'K', property: 'api_key' }], ...extra,
});
const forceSync = (ns: string, name: string, token: string) => patchEls(ns, name, { metadata: { annotations: { [FORCE_SYNC_ANNOTATION]: token } } });
const synced = (token: string) => (c: { status: string }, e: ExternalLLMSecret) => c.status === 'True' && e.status?.forceSyncToken === token;

/** Figures for the README and the closing note. */
const figures: Record<string, unknown> = {};
let moto: string;
beforeAll(async () => {
  moto = getTestEnv().motoEndpoint;
  await applyCrds();
});
afterAll(() => {
  process.stderr.write(`[recovery] figures ${JSON.stringify(figures)}\n`);
});

describe('stale caches and Kubernetes failures', () => {
  let proxy: KubeFaultProxy;
  let operator: TestOperator | undefined;
  beforeAll(async () => { proxy = await KubeFaultProxy.start(getTestEnv()); });
  afterAll(async () => { await operator?.stop(); await proxy.close(); });

  it('the Secret watch comes back after the ExternalLLMSecret watch: writes against the stale cache are re-planned on one GET and status never says False', async () => {
    const ns = await createTestNamespace('stale');
    const items = [0, 1, 2].map((i) => ({ name: `a${i}`, id: sid(`stale-a${i}`), v: value() }));
    for (const it of items) await createSecret(moto, it.id, { api_key: it.v });
    operator = await startTestOperator({ namespaces: [ns], kubeConfig: proxy.kubeConfig(), args: ['--relist-interval', '10m'] });
    for (const it of items) await createEls(ns, it.name, spec(it.id));
    for (const it of items) await waitForReady(ns, it.name, isReady, 30_000);

    // The outage: every request fails. Meanwhile the sources rotate and are force-synced.
    proxy.fail({ mode: 'reset', match: everything });
    const undoSecretWatch = proxy.fail({ mode: 'reset', match: secretCollection(ns) });
    for (const it of items) { it.v = value(); await putSecretValue(moto, it.id, { api_key: it.v }); await forceSync(ns, it.name, 'cut'); }
    await sleep(1_000);
    // The apiserver is back, but the Secret list and watch stay down: the operator's Secret
    // cache holds the old data and resourceVersions from here on.
    proxy.clear();
    proxy.fail({ mode: 'reset', match: secretCollection(ns) });
    for (const it of items) await waitForSecret(ns, it.name, (d) => d.K === it.v, 60_000);
    for (const it of items) await waitForReady(ns, it.name, synced('cut'), 30_000);

    // Reconciles that plan against the stale cache: an unchanged forced refresh (the cache says
    // the data is old: drift), and a real rotation (the cache's resourceVersion is old: 409).
    const failures = () => operator!.lines.filter((l) => l.msg === 'sync failed').map((l) => `${String(l.name)}: ${String(l.reason)}`);
    const failedBefore = failures().length;
    const watched: string[] = [];
    const watching = (async () => {
      const stopAt = Date.now() + 20_000;
      while (Date.now() < stopAt) {
        for (const it of items) {
          const c = ready(await getEls(ns, it.name));
          if (c?.status !== 'True') watched.push(`${it.name}: ${c?.reason} ${c?.message}`);
        }
        await sleep(200);
      }
    })();
    const before = new Map(await Promise.all(items.map(async (it) => [it.name, (await readSecret(ns, it.name))!.metadata!.resourceVersion] as const)));
    await forceSync(ns, 'a0', 'again');
    await waitForReady(ns, 'a0', synced('again'), 30_000);
    items[1]!.v = value();
    await putSecretValue(moto, items[1]!.id, { api_key: items[1]!.v });
    await forceSync(ns, 'a1', 'rotated');
    await waitForSecret(ns, 'a1', (d) => d.K === items[1]!.v, 30_000);
    await waitForReady(ns, 'a1', synced('rotated'), 30_000);
    await watching;
    expect(watched, 'Ready never left True while the Secret cache was stale').toEqual([]);
    expect((await readSecret(ns, 'a0'))!.metadata!.resourceVersion, 'the unchanged refresh wrote nothing').toBe(before.get('a0'));
    expect(failures().slice(failedBefore), 'no reconcile failed against the stale cache').toEqual([]);

    undoSecretWatch();
    proxy.clear();
    await sleep(500);
    for (const it of items) expect(ready(await getEls(ns, it.name))?.status).toBe('True');
    await operator.stop();
    operator = undefined;
  }, 240_000);

  it('a drift repair that failed on the apiserver: Ready=False KubernetesError, then True as soon as the Secret is right again, with no write needed', async () => {
    const ns = await createTestNamespace('repair');
    const it0 = { name: 'r0', id: sid('repair-r0'), v: value() };
    await createSecret(moto, it0.id, { api_key: it0.v });
    operator = await startTestOperator({ namespaces: [ns], kubeConfig: proxy.kubeConfig() });
    await createEls(ns, it0.name, spec(it0.id));
    await waitForReady(ns, it0.name, isReady, 30_000);
    const undo = proxy.fail({ mode: 503, match: secretWrites(ns, it0.name) });
    try {
      // Someone edits the Secret; the operator's repair fails.
      const tampered = { K: Buffer.from('tampered').toString('base64') };
      await core().patchNamespacedSecret({ namespace: ns, name: it0.name, body: { data: tampered } }, (await import('@kubernetes/client-node')).setHeaderOptions('Content-Type', (await import('@kubernetes/client-node')).PatchStrategy.MergePatch));
      const failed = await waitForReady(ns, it0.name, (c) => c.status === 'False' && c.reason === 'KubernetesError', 30_000);
      expect(ready(failed)?.message).toContain(`writing Secret ${it0.name}`);
      // Someone puts the right data back. The operator's writes still fail, and need not happen.
      await core().patchNamespacedSecret({ namespace: ns, name: it0.name, body: { data: { K: Buffer.from(it0.v).toString('base64') } } }, (await import('@kubernetes/client-node')).setHeaderOptions('Content-Type', (await import('@kubernetes/client-node')).PatchStrategy.MergePatch));
      const started = Date.now();
      await waitForReady(ns, it0.name, isReady, 30_000);
      figures.statusRepairMs = Date.now() - started;
      // The event is recorded after the status write that turned Ready True: wait for it.
      const back = await until('a Synced "in sync with … again" event', async () =>
        (await events(ns, it0.name)).find((e) => e.reason === 'Synced' && /in sync with .* again/.test(e.message ?? '')), 10_000);
      expect(back.type).toBe('Normal');
    } finally {
      undo();
      await operator.stop();
      operator = undefined;
    }
  }, 120_000);

  it('resources that failed on the apiserver are requeued when it answers again, not after their backoff', async () => {
    const ns = await createTestNamespace('kreq');
    const items = Array.from({ length: 8 }, (_, i) => ({ name: `k${i}`, id: sid(`kreq-k${i}`), v: value() }));
    for (const it of items) await createSecret(moto, it.id, { api_key: it.v });
    operator = await startTestOperator({ namespaces: [ns], kubeConfig: proxy.kubeConfig() });
    for (const it of items) await createEls(ns, it.name, spec(it.id));
    for (const it of items) await waitForReady(ns, it.name, isReady, 30_000);
    // Secret writes fail for 40 s while every source rotates: each resource retries with growing
    // backoff (1, 2, 4, 8, 16 s ...), so at the end each waits 8-32 s for its next attempt.
    const undo = proxy.fail({ mode: 503, match: secretWrites(ns) });
    for (const it of items) { it.v = value(); await putSecretValue(moto, it.id, { api_key: it.v }); await forceSync(ns, it.name, 'rot'); }
    for (const it of items) await waitForReady(ns, it.name, (c) => c.status === 'False' && c.reason === 'KubernetesError', 30_000);
    await sleep(40_000);
    // Then a short full outage, as when the apiserver restarts: the watches fail and come back.
    proxy.fail({ mode: 'reset', match: everything });
    await sleep(2_000);
    undo();
    proxy.clear();
    const healed = Date.now();
    for (const it of items) await waitForSecret(ns, it.name, (d) => d.K === it.v, 60_000);
    for (const it of items) await waitForReady(ns, it.name, synced('rot'), 30_000);
    const recoverMs = Date.now() - healed;
    figures.kubeRecoveryMs = recoverMs;
    const requeued = (await operator.metrics.recoveryRequeues.get()).values.filter((v) => v.labels.scope === 'kube').reduce((a, v) => a + v.value, 0);
    // The first resource to succeed (by its own backoff, or after the watches came back) requeues
    // every other one still waiting; how many that is depends on which came first.
    expect(requeued, 'resources requeued when the apiserver answered again').toBeGreaterThan(0);
    expect(operator.lines.some((l) => typeof l.msg === 'string' && /requeued the resources that failed/.test(l.msg)), 'the requeue is logged').toBe(true);
    // The watches come back within their 10 s backoff cap; the requeue follows at once (plain
    // backoff would leave some resources waiting up to 32 s more).
    expect(recoverMs).toBeLessThan(25_000);
    await operator.stop();
    operator = undefined;
  }, 240_000);
});

describe('AWS outage at refreshInterval 30s', () => {
  it('2 minutes of AWS failures: Ready=False with the reason, Secrets byte-identical throughout, Ready=True for all within 45 s of the return', async () => {
    const RESOURCES = 20;
    const OUTAGE_MS = Number(process.env.ELS_AWS_OUTAGE_MS ?? 120_000);
    const proxy = await HttpFaultProxy.start(moto);
    const ns = await createTestNamespace('awsout');
    const items = Array.from({ length: RESOURCES }, (_, i) => ({ name: `o${i}`, id: sid(`awsout-${i}`), v: value() }));
    for (const it of items) await createSecret(moto, it.id, { api_key: it.v });
    let operator: TestOperator | undefined;
    try {
      operator = await startTestOperator({ namespaces: [ns], awsEndpoint: proxy.url });
      for (const it of items) await createEls(ns, it.name, spec(it.id, { refreshInterval: '30s' }));
      for (const it of items) await waitForReady(ns, it.name, isReady, 60_000);
      const before = new Map((await core().listNamespacedSecret({ namespace: ns })).items.map((s) => [s.metadata!.name!, JSON.stringify([s.metadata!.resourceVersion, s.data])]));

      // Half the outage 503s, half reset connections.
      proxy.add({ kind: 'error503', durationMs: OUTAGE_MS / 2 });
      proxy.add({ kind: 'reset', delayMs: OUTAGE_MS / 2, durationMs: OUTAGE_MS / 2 });
      const healAt = Date.now() + OUTAGE_MS;
      const reasons = new Set<string>();
      const changed: string[] = [];
      while (Date.now() < healAt) {
        for (const s of (await core().listNamespacedSecret({ namespace: ns })).items) {
          if (before.get(s.metadata!.name!) !== JSON.stringify([s.metadata!.resourceVersion, s.data])) changed.push(s.metadata!.name!);
        }
        for (const it of items) {
          const c = ready(await getEls(ns, it.name));
          if (c?.status === 'False') reasons.add(c.reason);
        }
        await sleep(1_000);
      }
      expect([...reasons].sort(), 'failures said why').toEqual(expect.arrayContaining(['EndpointError']));
      expect([...reasons].every((r) => ['EndpointError', 'ProviderError'].includes(r)), [...reasons].join()).toBe(true);

      // Back: every resource is Ready=True again, each timed from the return.
      const back = Date.now();
      const recoveredAt = new Map<string, number>();
      while (recoveredAt.size < RESOURCES && Date.now() - back < 90_000) {
        for (const it of items) {
          if (recoveredAt.has(it.name)) continue;
          if (ready(await getEls(ns, it.name))?.status === 'True') recoveredAt.set(it.name, Date.now() - back);
        }
        await sleep(250);
      }
      const times = [...recoveredAt.values()].sort((a, b) => a - b);
      figures.awsOutage = { outageMs: OUTAGE_MS, resources: RESOURCES, recoveredMs: { p50: times[Math.floor(times.length / 2)], p100: times.at(-1) }, reasons: [...reasons] };
      process.stderr.write(`[recovery] AWS outage ${OUTAGE_MS} ms: Ready=True after the return in p50 ${times[Math.floor(times.length / 2)]} ms, p100 ${times.at(-1)} ms\n`);
      expect(recoveredAt.size, 'every resource recovered').toBe(RESOURCES);
      expect(times.at(-1)!, 'p100 time to Ready=True after the return').toBeLessThan(45_000);
      const after = new Map((await core().listNamespacedSecret({ namespace: ns })).items.map((s) => [s.metadata!.name!, JSON.stringify([s.metadata!.resourceVersion, s.data])]));
      for (const [name, was] of before) if (after.get(name) !== was) changed.push(name);
      expect(changed, 'Secrets byte-identical throughout').toEqual([]);
    } finally {
      await operator?.stop();
      await proxy.close();
    }
  }, 360_000);
});

function deployment(name: string, secret: string): V1Deployment {
  return {
    metadata: { name },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image: 'example.invalid/app:1', envFrom: [{ secretRef: { name: secret } }] }] } },
    },
  };
}

const restartedFor = async (ns: string, name: string) => {
  const d = await apps().readNamespacedDeployment({ namespace: ns, name });
  return { generation: d.metadata!.generation!, hash: d.spec?.template.metadata?.annotations?.[RESTARTED_FOR_ANNOTATION] };
};

describe('rollout restarts that survive crashes and failures', () => {
  it('SIGKILL right after the Secret write, before the workload patch: the next operator restarts it exactly once', async () => {
    const ns = await createTestNamespace('crash');
    const id = sid('crash');
    let v = value();
    await createSecret(moto, id, { api_key: v });
    await apps().createNamespacedDeployment({ namespace: ns, body: deployment('app', 'llm') });
    const els = spec(id, { rolloutRestartTargets: [{ kind: 'Deployment', name: 'app' }] });
    let proc: OperatorProcess | undefined;
    try {
      proc = await startOperatorProcess(['--namespaces', ns]);
      await createEls(ns, 'llm', els);
      await waitForReady(ns, 'llm', isReady, 60_000);
      proc.kill('SIGTERM');
      await proc.exited;
      const start = await restartedFor(ns, 'app');

      // An operator that dies the moment it has written the rotated Secret.
      v = value();
      await putSecretValue(moto, id, { api_key: v });
      proc = await startOperatorProcess(['--namespaces', ns], { env: { ELS_TEST_KILL_AFTER_SECRET_WRITE: `${ns}/llm` } });
      await forceSync(ns, 'llm', 'crash');
      const code = await proc.exited;
      expect(proc.child.signalCode, `the operator died by SIGKILL (exit ${code})`).toBe('SIGKILL');
      expect(decoded(await readSecret(ns, 'llm')).K, 'the Secret was written').toBe(v);
      expect(await restartedFor(ns, 'app'), 'the workload was not restarted yet').toEqual(start);

      // A fresh operator finds the restart pending and does it, once.
      proc = await startOperatorProcess(['--namespaces', ns]);
      const done = await waitForReady(ns, 'llm', (c, e) => c.status === 'True' && e.status?.forceSyncToken === 'crash' && e.status?.restartedForHash === e.status?.dataHash, 60_000);
      const after = await restartedFor(ns, 'app');
      expect(after.hash).toBe(done.status?.dataHash);
      expect(after.generation, 'exactly one restart').toBe(start.generation + 1);
      await until('a RolloutRestarted event', async () => (await events(ns, 'llm')).find((e) => e.reason === 'RolloutRestarted'), 10_000);

      // Nothing more: another forced refresh of the same data restarts nothing.
      await forceSync(ns, 'llm', 'after');
      await waitForReady(ns, 'llm', synced('after'), 30_000);
      expect((await restartedFor(ns, 'app')).generation).toBe(start.generation + 1);
      expect((await events(ns, 'llm')).filter((e) => e.reason === 'RolloutRestarted').reduce((n, e) => n + (e.count ?? 1), 0)).toBe(1);
    } finally {
      if (proc && proc.child.exitCode === null && proc.child.signalCode === null) { proc.kill('SIGTERM'); await proc.exited; }
    }
  }, 240_000);

  it('a refused workload patch is reported (condition, event, metric) and retried with backoff until it lands, once', async () => {
    const ns = await createTestNamespace('frozen');
    const id = sid('frozen');
    let v = value();
    await createSecret(moto, id, { api_key: v });
    await apps().createNamespacedDeployment({ namespace: ns, body: deployment('app', 'llm') });
    const operator = await startTestOperator({ namespaces: [ns] });
    const admission = adminKubeConfig().makeApiClient(AdmissionregistrationV1Api);
    const policy = `freeze-${ns}`;
    try {
      await createEls(ns, 'llm', spec(id, { rolloutRestartTargets: [{ kind: 'Deployment', name: 'app' }] }));
      await waitForReady(ns, 'llm', isReady, 30_000);
      const start = await restartedFor(ns, 'app');
      // A ValidatingAdmissionPolicy that refuses every Deployment update in the namespace.
      await admission.createValidatingAdmissionPolicy({ body: {
        metadata: { name: policy },
        spec: {
          failurePolicy: 'Fail',
          matchConstraints: { resourceRules: [{ apiGroups: ['apps'], apiVersions: ['v1'], operations: ['UPDATE'], resources: ['deployments'] }] },
          validations: [{ expression: 'false', message: 'deployments are frozen (test)' }],
        },
      } });
      await admission.createValidatingAdmissionPolicyBinding({ body: {
        metadata: { name: policy },
        spec: { policyName: policy, validationActions: ['Deny'], matchResources: { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } } } },
      } });
      // The policy takes effect within a moment: probe with a dry-run patch.
      const { PatchStrategy, setHeaderOptions } = await import('@kubernetes/client-node');
      const probe = () => apps().patchNamespacedDeployment({ namespace: ns, name: 'app', dryRun: 'All', body: { spec: { template: { metadata: { annotations: { probe: String(Date.now()) } } } } } }, setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch));
      await until('the freeze policy to refuse updates', async () => { try { await probe(); return undefined; } catch { return true; } }, 30_000);

      v = value();
      await putSecretValue(moto, id, { api_key: v });
      await forceSync(ns, 'llm', 'frozen');
      await waitForSecret(ns, 'llm', (d) => d.K === v, 30_000);
      const reported = await until('a RolloutRestart=False condition', async () => {
        const e = await getEls(ns, 'llm');
        const c = e.status?.conditions?.find((x) => x.type === 'RolloutRestart');
        return c?.status === 'False' ? { e, c } : undefined;
      }, 30_000);
      expect(reported.c.reason).toBe('RestartFailed');
      expect(reported.c.message).toMatch(/Deployment .*\/app: .*frozen.*\(retrying\)/);
      expect(ready(reported.e)?.status, 'the Secret is in sync: Ready stays True').toBe('True');
      expect(reported.e.status?.restartedForHash, 'the restart is still pending').not.toBe(reported.e.status?.dataHash);
      await until('a RolloutRestartFailed event', async () => (await events(ns, 'llm')).find((e) => e.reason === 'RolloutRestartFailed'), 10_000);
      // Retried: the failure count grows while the policy holds.
      await until('two failed attempts', async () => {
        const failed = (await operator.metrics.rolloutRestarts.get()).values.find((x) => x.labels.result === 'failed')?.value ?? 0;
        return failed >= 2 ? failed : undefined;
      }, 30_000);

      await admission.deleteValidatingAdmissionPolicyBinding({ name: policy });
      await admission.deleteValidatingAdmissionPolicy({ name: policy });
      const done = await waitForReady(ns, 'llm', (c, e) => c.status === 'True' && e.status?.restartedForHash === e.status?.dataHash, 90_000);
      expect(done.status?.conditions?.some((c) => c.type === 'RolloutRestart'), 'the condition is cleared').toBe(false);
      const after = await restartedFor(ns, 'app');
      expect(after.hash).toBe(done.status?.dataHash);
      expect(after.generation, 'restarted exactly once').toBe(start.generation + 1);
    } finally {
      await admission.deleteValidatingAdmissionPolicyBinding({ name: policy }).catch(() => undefined);
      await admission.deleteValidatingAdmissionPolicy({ name: policy }).catch(() => undefined);
      await operator.stop();
    }
  }, 240_000);
});

describe('quiet teardown', () => {
  it('deleting a namespace with 20 resources: no failed syncs, no failed events, no Secret re-created', async () => {
    const ns = await createTestNamespace('teardown');
    const items = Array.from({ length: 20 }, (_, i) => ({ name: `t${i}`, id: sid(`teardown-${i}`) }));
    for (const it of items) await createSecret(moto, it.id, { api_key: value() });
    const operator = await startTestOperator({ namespaces: [ns] });
    try {
      for (const it of items) await createEls(ns, it.name, spec(it.id));
      for (const it of items) await waitForReady(ns, it.name, isReady, 60_000);
      const from = operator.lines.length;
      await core().deleteNamespace({ name: ns });
      await until('the namespace to be gone', async () => {
        try { await core().readNamespace({ name: ns }); return undefined; } catch (err) { return (err as { code?: number }).code === 404 ? true : undefined; }
      }, 120_000, 500);
      const noisy = operator.lines.slice(from).filter((l) => l.namespace === ns && (l.level === 'warn' || (typeof l.level === 'number' && l.level >= 40)));
      expect(noisy.map((l) => String(l.msg)), 'warnings while the namespace went away').toEqual([]);
      const refusedCreates = (await operator.metrics.kubeRequests.get()).values.filter((v) => v.labels.verb === 'create' && v.labels.resource === 'secrets' && v.labels.code === '403').reduce((a, v) => a + v.value, 0);
      figures.teardownRefusedCreates = refusedCreates;
      // The first create the terminating namespace refuses marks it; the rest are left alone.
      expect(refusedCreates, 'Secret creates attempted in the terminating namespace').toBeLessThanOrEqual(10);
    } finally {
      await operator.stop();
    }
  }, 240_000);
});
