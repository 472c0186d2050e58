// The shipped container image, end to end: build the Dockerfile, start the image with testcontainers
// as a user would (flags, env, a read-only kubeconfig mount, read-only root filesystem, no added
// capabilities, host network so it only ever talks to loopback), and check it syncs a Secret, serves
// /healthz, /readyz and /metrics, runs as uid 10001 and exits 0 on SIGTERM within the grace period.
//
// Engine: test/env/container.ts (Docker or podman socket; on Debian as root with none, podman is
// installed and the Node 24 base image assembled locally, first run only, progress on stderr).
// Without any engine the tests skip and the describe name and output say why.
//
// Backend: the suite's own kube-apiserver + moto (default), or, with ELS_E2E_BACKEND=k3s-localstack,
// a k3s and a LocalStack container from @testcontainers/k3s and @testcontainers/localstack (needs a
// registry to pull rancher/k3s and localstack/localstack; not exercised on our CI).
import { chmodSync, chownSync, createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { GenericContainer, getContainerRuntimeClient, type StartedTestContainer } from 'testcontainers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_VERSION, GROUP, KIND, PLURAL, VERSION } from '../src/crds/constants.js';
import type { ExternalLLMSecret } from '../src/crds/types.js';
import {
  buildImage, engineCli, ensureBaseImage, ensureContainerEngine, planContainerEngine, useForTestcontainers, type ContainerEngine,
} from './env/container.js';
import { applyCrds, createSecret, freePort, getTestEnv, repoRoot } from './env/index.js';
import { metricValue } from './helpers/process.js';
import { ALLOW_ALL_RULES } from './helpers/operator.js';

const TAG = 'localhost/external-llm-secrets:test';
const GRACE_MS = 10_000; // docker/podman stop's default; Kubernetes gives 30 s
const backendName = process.env.ELS_E2E_BACKEND ?? 'local';
const plan = await planContainerEngine();
const skip = 'skip' in plan ? plan.skip : backendName === 'local' || backendName === 'k3s-localstack' ? undefined : `unknown ELS_E2E_BACKEND=${backendName} (local or k3s-localstack)`;
if (skip) console.log(`[image] SKIPPED the container image tests: ${skip}`);
const title = skip ? `container image (SKIPPED: ${skip})` : `container image (${'describe' in plan ? plan.describe : ''}; backend ${backendName})`;

const log = (message: string) => process.stderr.write(`[image] ${message}\n`);

/** Where the operator container points: a kube-apiserver and an AWS endpoint, both on loopback. */
interface Backend {
  kubeconfigText: string;
  kc: KubeConfig;
  awsEndpoint: string;
  logsDir: string;
  stop(): Promise<void>;
}

async function localBackend(): Promise<Backend> {
  const env = getTestEnv();
  const kc = new KubeConfig();
  kc.loadFromFile(env.kubeconfigPath);
  return { kubeconfigText: readFileSync(env.kubeconfigPath, 'utf8'), kc, awsEndpoint: env.motoEndpoint, logsDir: join(env.logsDir, 'operator'), stop: async () => {} };
}

async function k3sLocalStackBackend(): Promise<Backend> {
  const [{ K3sContainer }, { LocalstackContainer }] = await Promise.all([import('@testcontainers/k3s'), import('@testcontainers/localstack')]);
  log('starting k3s and LocalStack containers (pulls rancher/k3s and localstack/localstack)');
  const started = await Promise.allSettled([
    new K3sContainer(process.env.ELS_K3S_IMAGE ?? 'rancher/k3s:v1.31.2-k3s1').start(),
    new LocalstackContainer(process.env.ELS_LOCALSTACK_IMAGE ?? 'localstack/localstack:4.0').withEnvironment({ SERVICES: 'secretsmanager,sts' }).start(),
  ] as const);
  const [k3sResult, localstackResult] = started;
  if (k3sResult.status === 'rejected' || localstackResult.status === 'rejected') {
    await Promise.allSettled(started.map((r) => (r.status === 'fulfilled' ? r.value.stop() : undefined)));
    throw (k3sResult.status === 'rejected' ? k3sResult.reason : (localstackResult as PromiseRejectedResult).reason) as Error;
  }
  const [k3s, localstack] = [k3sResult.value, localstackResult.value];
  const kubeconfigText = k3s.getKubeConfig();
  const kc = new KubeConfig();
  kc.loadFromString(kubeconfigText);
  const logsDir = mkdtempSync(join(tmpdir(), 'els-image-k3s-'));
  return {
    kubeconfigText, kc, awsEndpoint: localstack.getConnectionUri(), logsDir,
    async stop() { await Promise.allSettled([k3s.stop(), localstack.stop()]); },
  };
}


async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 30_000, alive?: () => Promise<void>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) { last = err; }
    await alive?.();
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out after ${timeoutMs} ms: ${what}${last instanceof Error ? ` (${last.message})` : ''}`);
}

/** GenericContainer with a read-only root filesystem (testcontainers 12 has no builder method for it). */
class ReadOnlyRootContainer extends GenericContainer {
  withReadOnlyRootFilesystem(): this {
    this.hostConfig.ReadonlyRootfs = true;
    return this;
  }
}

let engine: ContainerEngine;
let backend: Backend | undefined;
let container: StartedTestContainer | undefined;
let kubeconfigDir: string | undefined;
let namespace: string;
let metricsPort: number;
let healthPort: number;
const secretId = `image/${Date.now()}/openai`;
const seeded = `SECRETVALUE-image-${Math.random().toString(36).slice(2, 10)}`;
const timings: string[] = [];

async function timed<T>(what: string, fn: () => Promise<T>): Promise<T> {
  const started = Date.now();
  try {
    return await fn();
  } finally {
    timings.push(`${what} ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
}

async function containerState(): Promise<{ Running: boolean; ExitCode: number; Status: string }> {
  const client = await getContainerRuntimeClient();
  const info = await client.container.inspect(client.container.getById(container!.getId()));
  return info.State as unknown as { Running: boolean; ExitCode: number; Status: string };
}

async function assertRunning(): Promise<void> {
  if (container && !(await containerState()).Running) throw new Error(`the operator container exited; see ${join(backend!.logsDir, 'image-container.jsonl')}`);
}

describe(title, () => {
  beforeAll(async () => {
    if (skip) return;
    engine = await timed('engine set-up', () => ensureContainerEngine(plan));
    useForTestcontainers(engine);
    const base = await timed('base image', () => ensureBaseImage(engine));
    backend = await timed(`backend ${backendName}`, () => (backendName === 'local' ? localBackend() : k3sLocalStackBackend()));
    mkdirSync(backend.logsDir, { recursive: true });
    await timed('image build', () => buildImage(engine, { baseImage: base, tag: TAG, logPath: join(backend!.logsDir, 'image-build.log') }));

    await applyCrds(undefined, backend.kc);
    namespace = `image-${Math.random().toString(36).slice(2, 8)}`;
    await backend.kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: namespace } } });
    await createSecret({ endpoint: backend.awsEndpoint, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } }, secretId, { api_key: seeded, organization: 'org-image' });

    // The kubeconfig holds admin credentials (mode 0600, root's): a private copy readable by the
    // container's user only, mounted read-only.
    kubeconfigDir = mkdtempSync(join(tmpdir(), 'els-image-kubeconfig-'));
    const kubeconfigFile = join(kubeconfigDir, 'kubeconfig');
    writeFileSync(kubeconfigFile, backend.kubeconfigText, { mode: 0o400 });
    try { chownSync(kubeconfigFile, 10001, 10001); } catch { chmodSync(kubeconfigFile, 0o444); }

    [metricsPort, healthPort] = [await freePort(), await freePort()];
    const logFile = createWriteStream(join(backend.logsDir, 'image-container.jsonl'));
    container = await timed('container start', () => new ReadOnlyRootContainer(TAG)
      .withReadOnlyRootFilesystem()
      .withNetworkMode('host')
      .withDroppedCapabilities('ALL')
      .withSecurityOpt('no-new-privileges')
      .withBindMounts([{ source: kubeconfigFile, target: '/config/kubeconfig', mode: 'ro' }])
      .withEnvironment({ AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', AWS_REGION: 'us-east-1', ELS_HASH_KEY: 'image-test-hash-key-not-secret-0123456789' })
      .withCommand([
        '--kubeconfig', '/config/kubeconfig', '--aws-endpoint', backend!.awsEndpoint, '--sts-endpoint', backend!.awsEndpoint,
        '--namespaces', namespace, '--access-rules', ALLOW_ALL_RULES, '--metrics-port', String(metricsPort), '--health-port', String(healthPort), '--log-level', 'debug',
      ])
      .withPullPolicy({ shouldPull: () => false })
      .withLogConsumer((stream) => stream.pipe(logFile))
      .start());
    await until('/readyz from the container', async () => ((await fetch(`http://127.0.0.1:${healthPort}/readyz`)).status === 200 ? true : undefined), 60_000, assertRunning);
  }, 45 * 60_000);

  afterAll(async () => {
    if (timings.length) log(`timings: ${timings.join(', ')}`);
    await container?.stop({ timeout: 0 }).catch(() => {});
    await backend?.stop();
    if (kubeconfigDir) rmSync(kubeconfigDir, { recursive: true, force: true });
  }, 120_000);

  it.skipIf(skip)('runs as uid 10001 with a read-only root filesystem and no capabilities', async () => {
    const [image] = JSON.parse(engineCli(engine, ['image', 'inspect', TAG])) as Array<{ Config: { User: string }; Size: number }>;
    expect(image?.Config.User).toBe('10001:10001');
    log(`image ${TAG}: ${image?.Size} bytes (${((image?.Size ?? 0) / 1e6).toFixed(0)} MB)`);

    const client = await getContainerRuntimeClient();
    const info = await client.container.inspect(client.container.getById(container!.getId()));
    expect(info.HostConfig.ReadonlyRootfs).toBe(true);
    expect(info.HostConfig.CapAdd ?? []).toEqual([]);
    expect(info.HostConfig.Privileged).toBe(false);
    expect(info.HostConfig.NetworkMode).toBe('host');

    const status = (await container!.exec(['cat', '/proc/1/status'])).output;
    const field = (name: string) => new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status)?.[1] ?? '';
    expect(field('Uid').split(/\s+/)).toEqual(['10001', '10001', '10001', '10001']);
    expect(field('Gid').split(/\s+/)[0]).toBe('10001');
    expect(field('CapEff')).toBe('0000000000000000');
    expect(field('CapPrm')).toBe('0000000000000000');
    expect(field('NoNewPrivs')).toBe('1');
    // node itself is PID 1 (no shell in between): it receives SIGTERM.
    const cmdline = (await container!.exec(['cat', '/proc/1/cmdline'])).output.split('\0').filter(Boolean);
    expect(cmdline.slice(0, 4)).toEqual(['node', '--max-semi-space-size=4', '--heap-growing-percent=10', 'dist/operator.mjs']);

    // Nothing under / is writable, the app's own files included.
    const write = await container!.exec(['node', '-e', `for (const p of ['/app/x', '/x', '/app/dist/x']) { try { require('fs').writeFileSync(p, ''); console.log(p, 'WRITABLE'); } catch (e) { console.log(p, e.code); } }`]);
    expect(write.output.trim().split('\n')).toEqual(['/app/x EROFS', '/x EROFS', '/app/dist/x EROFS']);
  });

  it.skipIf(skip)('syncs an ExternalLLMSecret into a Secret', async () => {
    const custom = backend!.kc.makeApiClient(CustomObjectsApi);
    await custom.createNamespacedCustomObject({
      group: GROUP, version: VERSION, namespace, plural: PLURAL,
      body: { apiVersion: API_VERSION, kind: KIND, metadata: { name: 'openai', namespace }, spec: { source: { secretId }, provider: 'openai' } },
    });
    const core = backend!.kc.makeApiClient(CoreV1Api);
    const secret = await until('Secret openai synced', async () => {
      const s = await core.readNamespacedSecret({ namespace, name: 'openai' });
      return s.data?.OPENAI_API_KEY ? s : undefined;
    }, 30_000, assertRunning);
    expect(Buffer.from(secret.data!.OPENAI_API_KEY ?? '', 'base64').toString()).toBe(seeded);
    expect(Buffer.from(secret.data!.OPENAI_ORG_ID ?? '', 'base64').toString()).toBe('org-image');
    // Status is written after the Secret.
    const ready = await until('Ready=True', async () => {
      const els = await custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: PLURAL, name: 'openai' }) as ExternalLLMSecret;
      return els.status?.conditions?.find((c) => c.type === 'Ready' && c.status === 'True');
    }, 15_000, assertRunning);
    expect(ready.reason).toBe('Synced');
  });

  it.skipIf(skip)('serves /healthz, /readyz and /metrics on loopback', async () => {
    expect((await fetch(`http://127.0.0.1:${healthPort}/healthz`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${healthPort}/readyz`)).status).toBe(200);
    const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(metricValue(text, 'externalllmsecret_ready', { namespace, name: 'openai' })).toBe(1);
    expect(metricValue(text, 'externalllmsecret_syncs_total', { result: 'written', reason: 'Synced' })).toBeGreaterThanOrEqual(1);
    expect(metricValue(text, 'externalllmsecret_aws_api_calls_total', { service: 'sts', operation: 'GetCallerIdentity', outcome: 'success' })).toBe(1);
    expect(text).toContain('process_resident_memory_bytes');
    expect(text).not.toContain(seeded);
  });

  it.skipIf(skip)(`exits 0 on SIGTERM within ${GRACE_MS / 1000} s`, async () => {
    const client = await getContainerRuntimeClient();
    const handle = client.container.getById(container!.getId());
    const started = Date.now();
    await handle.kill({ signal: 'SIGTERM' });
    const state = await until('container exit', async () => {
      const s = await containerState();
      return s.Running ? undefined : s;
    }, GRACE_MS);
    const took = Date.now() - started;
    log(`container exited ${state.ExitCode} ${took} ms after SIGTERM`);
    expect(state.ExitCode).toBe(0);
    expect(took).toBeLessThan(GRACE_MS);
  }, GRACE_MS + 30_000);
});
