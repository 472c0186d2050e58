// Timeouts everywhere: endpoints that accept a connection and then never answer. An AWS endpoint
// black-holed behind a fault proxy (the request is read, no answer ever comes), an AWS listener
// that never completes a connection, and the apiserver behind a paused TCP proxy. Each test waits
// on conditions; the bounds come from the configured timeouts, with a margin for a loaded machine.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AwsClientFactory } from '../src/aws/clients.js';
import { mapSecretsManagerError } from '../src/aws/errors.js';
import { FORCE_SYNC_ANNOTATION } from '../src/crds/constants.js';
import type { ExternalLLMSecretSpec } from '../src/crds/types.js';
import { apiMessage, httpCode, KubeClient } from '../src/kube/client.js';
import { KubeRequestTimeoutError } from '../src/kube/http.js';
import { HttpFaultProxy, TcpFaultProxy } from './env/fault-proxy.js';
import { adminKubeConfig, applyCrds, createSecret, createTestNamespace, getTestEnv, TEST_CREDENTIALS } from './env/index.js';
import { createEls, hasReason, isReady, patchEls, readSecret, sleep, waitForReady } from './helpers/els.js';
import { startTestOperator, type TestOperator } from './helpers/operator.js';

/** Values seeded by this suite carry the leak-scan marker (test/zz-leak-scan.test.ts). */
const secretValue = () => `SECRETVALUE-${randomBytes(8).toString('hex')}`;
const runId = `${process.pid}-${Date.now().toString(36)}`;
const sid = (name: string) => `timeouts-${runId}/${name}`;
const spec = (secretId: string): ExternalLLMSecretSpec => ({
  source: { secretId }, refreshInterval: '1h', data: [{ secretKey: 'K', property: 'api_key' }],
});

let moto: string;
beforeAll(async () => {
  moto = getTestEnv().motoEndpoint;
  await applyCrds();
});

const log = (line: string) => process.stderr.write(`[timeouts] ${line}\n`);

/** A kubeconfig like the admin one, but through a local TCP proxy. */
function proxiedKubeConfig(port: number): KubeConfig {
  const admin = adminKubeConfig();
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: admin.clusters.map((c) => ({ ...c, server: `https://127.0.0.1:${port}` })),
    users: admin.users, contexts: admin.contexts, currentContext: admin.currentContext,
  });
  return kc;
}

describe('AWS timeouts', () => {
  it('a black-holed Secrets Manager endpoint: Ready=False EndpointError within attempts x --aws-request-timeout, the Secret untouched, the one worker free again', async () => {
    const REQUEST_TIMEOUT_MS = 2_000;
    const ATTEMPTS = 2;
    const proxy = await HttpFaultProxy.start(moto);
    const ns = await createTestNamespace('blackhole');
    const items = ['a', 'b'].map((name) => ({ name, id: sid(`blackhole-${name}`), v: secretValue() }));
    await Promise.all(items.map((it) => createSecret(moto, it.id, { api_key: it.v })));
    let operator: TestOperator | undefined;
    try {
      // One worker: were it held by a hung call, the second resource would never be looked at.
      operator = await startTestOperator({
        namespaces: [ns], awsEndpoint: proxy.url,
        args: ['--concurrent', '1', '--aws-max-attempts', String(ATTEMPTS), '--aws-request-timeout', `${REQUEST_TIMEOUT_MS}ms`, '--aws-connect-timeout', '1s'],
      });
      await Promise.all(items.map((it) => createEls(ns, it.name, spec(it.id))));
      for (const it of items) await waitForReady(ns, it.name, isReady, 30_000);
      const before = new Map(await Promise.all(items.map(async (it) => {
        const s = await readSecret(ns, it.name);
        return [it.name, { rv: s!.metadata!.resourceVersion, data: JSON.stringify(s!.data) }] as const;
      })));

      proxy.add({ kind: 'blackhole' });
      const started = Date.now();
      await Promise.all(items.map((it) => patchEls(ns, it.name, { metadata: { annotations: { [FORCE_SYNC_ANNOTATION]: 'blackhole' } } })));
      // A sync makes at most two AWS calls in a row (ListSecrets, then the read); each gives up
      // after ATTEMPTS attempts of REQUEST_TIMEOUT_MS plus the SDK's short retry delay (< 1 s).
      // The two resources share one worker, so the second waits for the first.
      const chainMs = ATTEMPTS * REQUEST_TIMEOUT_MS + 1_000;
      const boundMs = items.length * 2 * chainMs + 10_000;
      const failedAt: Record<string, number> = {};
      await Promise.all(items.map(async (it) => {
        const els = await waitForReady(ns, it.name, (c) => hasReason('EndpointError')(c) && /TimeoutError/.test(c.message), boundMs);
        failedAt[it.name] = Date.now() - started;
        const message = els.status!.conditions!.find((c) => c.type === 'Ready')!.message;
        expect(message).toContain(it.id);
        expect(message).not.toContain(it.v);
      }));
      log(`black hole: Ready=False EndpointError after ${JSON.stringify(failedAt)} ms (bound ${boundMs} ms; ${proxy.stats.faults.blackhole} requests black-holed, ${JSON.stringify(proxy.stats.byOperation)})`);
      expect(proxy.stats.faults.blackhole, 'requests reached the black hole').toBeGreaterThanOrEqual(ATTEMPTS);
      // The last good Secret stays byte for byte: no write happened.
      for (const it of items) {
        const s = await readSecret(ns, it.name);
        expect({ rv: s!.metadata!.resourceVersion, data: JSON.stringify(s!.data) }, `${it.name} untouched`).toEqual(before.get(it.name));
      }

      // The worker is free: once the endpoint answers again, a force-sync of each goes through.
      proxy.clear();
      const healed = Date.now();
      await Promise.all(items.map((it) => patchEls(ns, it.name, { metadata: { annotations: { [FORCE_SYNC_ANNOTATION]: 'healed' } } })));
      for (const it of items) await waitForReady(ns, it.name, (c, els) => isReady(c) && els.status?.forceSyncToken === 'healed', boundMs);
      log(`black hole: both Ready again ${Date.now() - healed} ms after the endpoint answered`);
    } finally {
      // The proxy first: closing it ends any call still held, so a failure here cannot hang stop().
      await proxy.close();
      await operator?.stop();
    }
  }, 180_000);

  it('a listener that never completes the TCP handshake: the connection timeout ends the attempt, as a retryable EndpointError', async (ctx) => {
    // Node accepts every connection it can; python's listen(0) with its backlog filled leaves new
    // SYNs unanswered, which is what a black-holed address looks like from the client.
    let py: ChildProcess | undefined;
    try {
      py = spawn('python3', ['-c', [
        'import socket, sys, time',
        's = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(0)',
        'fill = []',
        'for _ in range(4):',
        '    c = socket.socket(); c.setblocking(False)',
        '    try: c.connect(s.getsockname())',
        '    except BlockingIOError: pass',
        '    fill.append(c)',
        'print(s.getsockname()[1], flush=True)',
        'sys.stdin.read()',
      ].join('\n')], { stdio: ['pipe', 'pipe', 'inherit'] });
      const port = await new Promise<string | undefined>((resolve) => {
        py!.once('error', () => resolve(undefined));
        createInterface(py!.stdout!).once('line', resolve);
      });
      if (!port) { ctx.skip(); return; }
      const factory = new AwsClientFactory({ secretsManagerEndpoint: `http://127.0.0.1:${port}`, maxAttempts: 1, connectTimeoutMs: 1_000, requestTimeoutMs: 30_000 });
      const started = Date.now();
      const err = await factory.secretsManager('op', 'us-east-1', TEST_CREDENTIALS).send(new GetSecretValueCommand({ SecretId: 'prod/connect' })).then(() => undefined, (e: unknown) => e);
      const elapsed = Date.now() - started;
      factory.destroy();
      log(`connect timeout: ${(err as Error | undefined)?.name} after ${elapsed} ms (connect timeout 1000 ms)`);
      expect((err as Error).name).toBe('TimeoutError');
      expect((err as Error).message).toMatch(/did not establish a connection/);
      expect(elapsed).toBeGreaterThanOrEqual(950);
      expect(elapsed, 'ended by the 1 s connect timeout, not the 30 s request timeout').toBeLessThan(10_000);
      const mapped = mapSecretsManagerError(err, 'prod/connect');
      expect({ reason: mapped.reason, retryable: mapped.retryable, message: mapped.message }).toEqual({ reason: 'EndpointError', retryable: true, message: 'GetSecretValue prod/connect: TimeoutError' });
    } finally {
      py?.kill();
    }
  }, 60_000);
});

describe('Kubernetes API timeouts', () => {
  let tcp: TcpFaultProxy;
  beforeAll(async () => { tcp = await TcpFaultProxy.start(getTestEnv().server); });
  afterAll(async () => { await tcp.close(); });

  it('a request to an apiserver that stops answering fails after --kube-request-timeout with a retryable error, and the client works again after', async () => {
    tcp.heal();
    const ns = await createTestNamespace('kubetimeout');
    const kube = new KubeClient(proxiedKubeConfig(tcp.port), undefined, 1_000);
    expect(await kube.getSecret(ns, 'none')).toBeUndefined();
    tcp.cut('pause');
    try {
      for (const call of [() => kube.getSecret(ns, 'none'), () => kube.listExternalLLMSecrets(ns), () => kube.getLease(ns, 'x')]) {
        const started = Date.now();
        const err = await call().then(() => undefined, (e: unknown) => e);
        const elapsed = Date.now() - started;
        expect(err).toBeInstanceOf(KubeRequestTimeoutError);
        expect(httpCode(err), 'no HTTP code: callers treat it as retryable').toBeUndefined();
        expect(apiMessage(err)).toMatch(new RegExp(`^GET /.*/namespaces/${ns}/.*: no answer from the apiserver within 1000 ms$`));
        expect(elapsed).toBeGreaterThanOrEqual(950);
        expect(elapsed).toBeLessThan(6_000);
        log(`kube request timeout: ${apiMessage(err)} after ${elapsed} ms`);
      }
    } finally {
      tcp.heal();
    }
    expect(await kube.getSecret(ns, 'none')).toBeUndefined();
  }, 60_000);

  it('watches are not cut by the request timeout: an operator with --kube-request-timeout 1s keeps its watches for many times that', async () => {
    tcp.heal();
    const ns = await createTestNamespace('kubewatch');
    const first = { id: sid('watch-a'), v: secretValue() };
    const second = { id: sid('watch-b'), v: secretValue() };
    await createSecret(moto, first.id, { api_key: first.v });
    await createSecret(moto, second.id, { api_key: second.v });
    const operator = await startTestOperator({ namespaces: [ns], args: ['--kube-request-timeout', '1s'] });
    try {
      await createEls(ns, 'a', spec(first.id));
      await waitForReady(ns, 'a', isReady, 30_000);
      // To show that something does not time out, it has to outlive the timeout: 4 x 1 s.
      await sleep(4_000);
      await createEls(ns, 'b', spec(second.id));
      await waitForReady(ns, 'b', isReady, 30_000);
      const restarts = operator.lines.filter((l) => l.msg === 'watch failed; restarting' || l.msg === 'relisting');
      expect(restarts, 'no watch was restarted').toEqual([]);
      const timeouts = (await operator.metrics.kubeRequests.get()).values.filter((v) => v.labels.code === 'timeout');
      expect(timeouts).toEqual([]);
    } finally {
      await operator.stop();
    }
  }, 90_000);

  it('a leader whose apiserver stops answering steps down within --renew-deadline, not after the 30 s request timeout', async () => {
    tcp.heal();
    const ns = await createTestNamespace('kubeleader');
    const operator = await startTestOperator({
      namespaces: [ns], kubeConfig: proxiedKubeConfig(tcp.port),
      args: ['--leader-elect', '--leader-election-namespace', ns, '--lease-duration', '6s', '--renew-deadline', '3s', '--retry-period', '1s', '--kube-request-timeout', '30s'],
    });
    try {
      const deadline = Date.now() + 30_000;
      while (!operator.isLeader() && Date.now() < deadline) await sleep(100);
      expect(operator.isLeader()).toBe(true);
      tcp.cut('pause');
      const started = Date.now();
      while (operator.isLeader() && Date.now() - started < 40_000) await sleep(100);
      const elapsed = Date.now() - started;
      log(`leader stepped down ${elapsed} ms after the apiserver stopped answering (renew deadline 3 s, request timeout 30 s)`);
      expect(operator.isLeader()).toBe(false);
      // At most the renew deadline since the last renew (which was before the cut), plus a margin.
      expect(elapsed).toBeLessThan(3_000 + 5_000);
      expect(operator.lines.some((l) => l.msg === 'lost leadership: could not renew within the deadline')).toBe(true);
    } finally {
      tcp.heal();
      await operator.stop();
    }
  }, 90_000);
});
