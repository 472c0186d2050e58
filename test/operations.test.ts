// Operations, with the operator as its own process: probes, /metrics, AWS calls counted per HTTP
// attempt (retries included), events with reporting fields, leader election handover on SIGKILL
// and SIGTERM, and shards that never touch each other's resources.
import { createServer, type Server } from 'node:http';
import { CoordinationV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminKubeConfig, applyCrds, createSecret, createTestNamespace, freePort, getTestEnv } from './env/index.js';
import { createEls, deleteEls, hasReason, isReady, readSecret, until, waitForEvent, waitForReady, events } from './helpers/els.js';
import { startTestOperator, syncOutcomes } from './helpers/operator.js';
import { metricValue, scrape, startOperatorProcess, type OperatorProcess } from './helpers/process.js';

const procs: OperatorProcess[] = [];
let moto: string;
const secretId = `ops/${Date.now()}/key`;

beforeAll(async () => {
  moto = getTestEnv().motoEndpoint;
  await applyCrds();
  await createSecret(moto, secretId, { api_key: 'SECRETVALUE-ops-1' });
});

afterAll(async () => {
  for (const p of procs) p.kill('SIGKILL');
});

async function start(args: string[], opts: Parameters<typeof startOperatorProcess>[1] = {}): Promise<OperatorProcess> {
  const p = await startOperatorProcess(args, opts);
  procs.push(p);
  return p;
}

/** An operator process starting (tsx compiles src/ as it loads) is slow on a loaded machine. */
const START_MS = 60_000;

describe('probes, metrics and events', () => {
  it('serves /healthz, /readyz and /metrics, and counts syncs', async () => {
    const ns = await createTestNamespace('ops');
    const p = await start(['--namespaces', ns]);
    await until('/readyz', async () => ((await fetch(`${p.healthUrl}/readyz`)).status === 200 ? true : undefined), START_MS);
    expect((await fetch(`${p.healthUrl}/healthz`)).status).toBe(200);
    await createEls(ns, 'm', { source: { secretId }, data: [{ secretKey: 'K', property: 'api_key' }] });
    await waitForReady(ns, 'm', isReady);
    // The sync metrics are recorded as the reconcile ends, a moment after the status write.
    const text = await until('the first sync in /metrics', async () => {
      const t = await scrape(p.metricsUrl);
      return metricValue(t, 'externalllmsecret_ready', { namespace: ns, name: 'm' }) === 1 ? t : undefined;
    });
    for (const name of [
      'externalllmsecret_sync_duration_seconds_bucket', 'externalllmsecret_syncs_total', 'externalllmsecret_ready',
      'externalllmsecret_last_success_timestamp_seconds', 'externalllmsecret_source_version_age_seconds',
      'externalllmsecret_aws_api_calls_total', 'externalllmsecret_workqueue_depth', 'externalllmsecret_workqueue_adds_total',
      'externalllmsecret_kube_api_requests_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds',
    ]) expect(text, name).toContain(name);
    expect(metricValue(text, 'externalllmsecret_ready', { namespace: ns, name: 'm' })).toBe(1);
    expect(metricValue(text, 'externalllmsecret_syncs_total', { result: 'written', reason: 'Synced' })).toBeGreaterThanOrEqual(1);
    expect(metricValue(text, 'externalllmsecret_aws_api_calls_total', { service: 'secretsmanager', operation: 'GetSecretValue', outcome: 'success' })).toBeGreaterThanOrEqual(1);
    expect(metricValue(text, 'externalllmsecret_aws_api_calls_total', { service: 'sts', operation: 'GetCallerIdentity', outcome: 'success' })).toBe(1);
    expect(text).not.toContain('SECRETVALUE');
    const ev = await waitForEvent(ns, 'm', 'Synced');
    expect(ev).toMatchObject({ type: 'Normal', reportingComponent: 'external-llm-secrets', source: { component: 'external-llm-secrets' } });
    expect(ev.reportingInstance).toMatch(/.+/);
    // The outcome line is written as the reconcile ends and reaches us through a pipe.
    const line = await until('the "synced" log line', () => syncOutcomes(p.lines, ns, 'm', 'synced')[0]);
    expect(line).toMatchObject({ secretId, reason: 'Synced', versionId: expect.stringMatching(/.+/), durationMs: expect.any(Number) });
    p.kill('SIGTERM');
    expect(await p.exited).toBe(0);
  }, 120_000);

  it('counts every HTTP attempt, retries included, with the AWS error code', async () => {
    const failing = await alwaysUnavailable();
    const ns = await createTestNamespace('ops');
    const p = await start(['--namespaces', ns, '--aws-max-attempts', '3', '--no-aws-identity-check'], { awsEndpoint: failing.url });
    await createEls(ns, 'down', { source: { secretId }, data: [{ secretKey: 'K', property: 'api_key' }] });
    await waitForReady(ns, 'down', hasReason('ProviderError'), 30_000);
    // Stop further retries and wait until the operator has handled the deletion (the resource's
    // series is gone) and no reconcile is half-way: every "sync failed" line stands for 3
    // attempts, and both sides have counted all of them. Then compare both counts.
    await deleteEls(ns, 'down');
    const counted = await until('the last attempts to finish', async () => {
      const text = await scrape(p.metricsUrl);
      const n = metricValue(text, 'externalllmsecret_aws_api_calls_total', { service: 'secretsmanager', operation: 'GetSecretValue', outcome: 'ServiceUnavailableException' });
      const gone = !text.split('\n').some((l) => l.startsWith('externalllmsecret_ready{') && l.includes(`namespace="${ns}"`) && l.includes('name="down"'));
      return gone && n === failing.requests() && n === 3 * syncOutcomes(p.lines, ns, 'down', 'sync failed').length ? n : undefined;
    });
    expect(counted).toBeGreaterThanOrEqual(3);
    expect(counted).toBe(failing.requests());
    expect(counted % 3).toBe(0);
    p.kill('SIGKILL');
    failing.server.close();
  }, 120_000);
});

describe('leader election', () => {
  const leaseName = () => `els-test-${Math.random().toString(36).slice(2, 8)}`;
  const coordination = () => adminKubeConfig().makeApiClient(CoordinationV1Api);
  async function holder(ns: string, name: string): Promise<string | undefined> {
    const lease = await coordination().readNamespacedLease({ namespace: ns, name });
    return lease.spec?.holderIdentity || undefined;
  }

  it('a standby takes over within the lease duration after the leader is SIGKILLed, and in under 3 s after SIGTERM', async () => {
    const ns = await createTestNamespace('ha');
    const lease = leaseName();
    const args = ['--namespaces', ns, '--leader-elect', '--leader-election-namespace', ns, '--leader-election-id', lease];
    const a = await start(args);
    const b = await start(args);
    const first = await until('a leader', () => holder(ns, lease), START_MS);
    const [leader, standby] = first.endsWith(`_${a.pid}`) ? [a, b] : [b, a];
    await until('standby ready', async () => ((await fetch(`${standby.healthUrl}/readyz`)).status === 200 ? true : undefined), START_MS);

    // SIGKILL: no release; the standby waits out the lease (15 s) and takes over.
    leader.kill('SIGKILL');
    const killedAt = Date.now();
    await createEls(ns, 'after-kill', { source: { secretId }, data: [{ secretKey: 'K', property: 'api_key' }] });
    await waitForReady(ns, 'after-kill', isReady, 30_000);
    const takeover = Date.now() - killedAt;
    expect(takeover).toBeLessThan(15_000 + 2_000 + 5_000);
    expect(await holder(ns, lease)).toMatch(new RegExp(`_${standby.pid}$`));

    // A third process joins as standby; SIGTERM on the leader releases the lease at once.
    const c = await start(args);
    await until('c ready', async () => ((await fetch(`${c.healthUrl}/readyz`)).status === 200 ? true : undefined), START_MS);
    const termAt = Date.now();
    standby.kill('SIGTERM');
    await until('c leads', async () => ((await holder(ns, lease))?.endsWith(`_${c.pid}`) ? true : undefined), 10_000);
    const handover = Date.now() - termAt;
    expect(handover).toBeLessThan(3_000);
    expect(await standby.exited).toBe(0);
    await createEls(ns, 'after-term', { source: { secretId }, data: [{ secretKey: 'K', property: 'api_key' }] });
    await waitForReady(ns, 'after-term', isReady);
    console.log(`leader election: takeover after SIGKILL ${takeover} ms, handover after SIGTERM ${handover} ms`);
  }, 240_000);
});

describe('sharding', () => {
  it('two shards with their own selectors and leases never touch each other\'s resources', async () => {
    const ns = await createTestNamespace('shard');
    const a = await startTestOperator({ namespaces: [ns], args: ['--selector', 'shard=a', '--leader-elect', '--leader-election-namespace', ns, '--leader-election-id', 'shard-a'] });
    const b = await startTestOperator({ namespaces: [ns], args: ['--selector', 'shard=b', '--leader-elect', '--leader-election-namespace', ns, '--leader-election-id', 'shard-b'] });
    try {
      for (const shard of ['a', 'b']) {
        for (let i = 0; i < 3; i++) await createEls(ns, `${shard}-${i}`, { source: { secretId }, data: [{ secretKey: 'K', property: 'api_key' }] }, { labels: { shard } });
      }
      for (const shard of ['a', 'b']) for (let i = 0; i < 3; i++) await waitForReady(ns, `${shard}-${i}`, isReady, 30_000);
      const touched = (op: typeof a) => new Set(op.lines.filter((l) => l.namespace === ns && typeof l.name === 'string').map((l) => String(l.name).split('-')[0]));
      expect([...touched(a)]).toEqual(['a']);
      expect([...touched(b)]).toEqual(['b']);
      expect(await readSecret(ns, 'a-0')).toBeDefined();
      expect((await events(ns, 'b-0')).every((e) => e.reportingInstance !== undefined)).toBe(true);
    } finally {
      await a.stop();
      await b.stop();
    }
  }, 90_000);
});

/** An AWS endpoint that answers every call with 503 ServiceUnavailableException. */
async function alwaysUnavailable(): Promise<{ url: string; server: Server; requests: () => number }> {
  let n = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      n++;
      const body = JSON.stringify({ __type: 'ServiceUnavailableException', message: 'unavailable' });
      res.writeHead(503, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-errortype': 'ServiceUnavailableException' }).end(body);
    });
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  return { url: `http://127.0.0.1:${port}`, server, requests: () => n };
}
