// Pods really read the keys: a real node (containerd + kubelet, test/env/node.ts) runs pods that
// consume the Secret the in-process operator syncs from moto, through envFrom and a Secret volume,
// and sees a rotation arrive in a running pod's volume and, through a rollout restart, in a new
// pod's environment. Values are compared as SHA-256 hashes computed inside the pods; no value is
// ever printed. Skips, saying why, where a node cannot run (not root, not Debian, ELS_SKIP_NODE).
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AppsV1Api, CoreV1Api, type V1Container, type V1PodSpec } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FORCE_SYNC_ANNOTATION } from '../src/crds/constants.js';
import { adminKubeConfig, applyCrds, createSecret, createTestNamespace, deleteTestNamespace, getTestEnv, putSecretValue } from './env/index.js';
import { nodeUnavailableReason, startNode, type TestNode } from './env/node.js';
import { createEls, isReady, patchEls, until, waitForReady, waitForSecret } from './helpers/els.js';
import { startTestOperator, type TestOperator } from './helpers/operator.js';

const unavailable = nodeUnavailableReason();
if (unavailable) process.stderr.write(`[pods.test] SKIPPED: no test node on this machine: ${unavailable}\n`);

// Pod start, rotation and restarts on a busy 2-core machine: conditions with generous deadlines.
const POD_MS = 180_000;
const sha = (value: string) => createHash('sha256').update(value).digest('hex');
const core = () => adminKubeConfig().makeApiClient(CoreV1Api);
const apps = () => adminKubeConfig().makeApiClient(AppsV1Api);
const report = (message: string) => process.stderr.write(`[pods.test] ${message}\n`);

let node: TestNode;
let operator: TestOperator;
let ns: string;
let moto: string;
const id = (n: string) => `pods/${Date.now()}/${n}`;

/** A host-network pod spec pinned to the test node, /out = a per-namespace hostPath dir. */
function podSpec(container: Omit<V1Container, 'image' | 'imagePullPolicy'>, extra: Partial<V1PodSpec> = {}): V1PodSpec {
  return {
    nodeName: node.name,
    hostNetwork: true,
    automountServiceAccountToken: false,
    enableServiceLinks: false,
    restartPolicy: 'Always',
    terminationGracePeriodSeconds: 2,
    ...extra,
    containers: [{
      image: node.image, imagePullPolicy: 'Never', ...container,
      volumeMounts: [{ name: 'out', mountPath: '/out' }, ...(container.volumeMounts ?? [])],
    }],
    volumes: [{ name: 'out', hostPath: { path: join(node.hostDir, ns), type: 'DirectoryOrCreate' } }, ...(extra.volumes ?? [])],
  };
}

// sh as PID 1 ignores SIGTERM unless it traps it; a loop keeps the container running.
const keepRunning = "trap 'exit 0' TERM; while :; do sleep 1; done";
const readOut = (file: string): string | undefined => {
  const path = join(node.hostDir, ns, file);
  return existsSync(path) ? readFileSync(path, 'utf8').trim() || undefined : undefined;
};

async function rotate(secretId: string, value: string, token: string): Promise<number> {
  const t0 = Date.now();
  await putSecretValue(moto, secretId, { api_key: value });
  await patchEls(ns, 'llm', { metadata: { annotations: { [FORCE_SYNC_ANNOTATION]: token } } });
  return t0;
}

describe.skipIf(unavailable !== undefined)('pods on a real node', () => {
  const first = 'SECRETVALUE-pods-openai-1';
  const second = 'SECRETVALUE-pods-openai-2';
  let secretId: string;

  beforeAll(async () => {
    moto = getTestEnv().motoEndpoint;
    node = await startNode();
    report(`node ${node.name} started in ${node.startSeconds.toFixed(1)} s`);
    await applyCrds();
    ns = await createTestNamespace('pods');
    operator = await startTestOperator({ namespaces: [ns] });
    secretId = id('llm');
    await createSecret(moto, secretId, { api_key: first });
    await apps().createNamespacedDeployment({
      namespace: ns,
      body: {
        metadata: { name: 'app' },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: 'app' } },
          strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
          template: {
            metadata: { labels: { app: 'app' } },
            spec: podSpec({
              name: 'app',
              env: [{ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }],
              envFrom: [{ secretRef: { name: 'llm' } }],
              command: ['sh', '-c', `printf %s "$OPENAI_API_KEY" | sha256sum | cut -c1-64 > "/out/deploy-$POD_NAME"; ${keepRunning}`],
            }),
          },
        },
      },
    });
    await createEls(ns, 'llm', { source: { secretId }, provider: 'openai', rolloutRestartTargets: [{ kind: 'Deployment', name: 'app' }] });
    await waitForReady(ns, 'llm', isReady);
    await waitForSecret(ns, 'llm', (d) => d.OPENAI_API_KEY === first);
  }, 600_000);

  afterAll(async () => {
    await operator?.stop();
    if (ns) await deleteTestNamespace(ns);
    await node?.stop();
  }, 120_000);

  it('a pod with envFrom of the synced Secret sees OPENAI_API_KEY', async () => {
    const t0 = Date.now();
    await core().createNamespacedPod({
      namespace: ns,
      body: {
        metadata: { name: 'env-reader' },
        spec: podSpec({
          name: 'reader',
          envFrom: [{ secretRef: { name: 'llm' } }],
          command: ['sh', '-c', `printf %s "$OPENAI_API_KEY" | sha256sum | cut -c1-64 > /out/env; ${keepRunning}`],
        }),
      },
    });
    const seen = await until('the env pod to write its hash', () => readOut('env'), POD_MS, 250);
    report(`envFrom pod: created → key hash written in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    expect(seen).toBe(sha(first));
  }, POD_MS + 30_000);

  it('a running pod sees a rotated value arrive in its Secret volume', async () => {
    const t0 = Date.now();
    await core().createNamespacedPod({
      namespace: ns,
      body: {
        metadata: { name: 'volume-reader' },
        spec: podSpec({
          name: 'reader',
          volumeMounts: [{ name: 'llm', mountPath: '/secret', readOnly: true }],
          // Re-hashes the mounted file every second; the hash file is replaced atomically.
          command: ['sh', '-c', "trap 'exit 0' TERM; while :; do sha256sum < /secret/OPENAI_API_KEY | cut -c1-64 > /out/vol.tmp && mv /out/vol.tmp /out/vol; sleep 1; done"],
        }, { volumes: [{ name: 'llm', secret: { secretName: 'llm' } }] }),
      },
    });
    await until('the volume pod to hash the mounted key', () => (readOut('vol') === sha(first) ? true : undefined), POD_MS, 250);
    report(`volume pod: created → mounted key hashed in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const pod = await core().readNamespacedPod({ namespace: ns, name: 'volume-reader' });
    const restarts = pod.status?.containerStatuses?.[0]?.restartCount ?? 0;

    const rotatedAt = await rotate(secretId, second, 'volume');
    await waitForSecret(ns, 'llm', (d) => d.OPENAI_API_KEY === second, POD_MS);
    const secretAt = Date.now();
    await until('the running pod to see the rotated key in its volume', () => (readOut('vol') === sha(second) ? true : undefined), POD_MS, 250);
    const seenAt = Date.now();
    report(`rotation → Secret updated ${((secretAt - rotatedAt) / 1000).toFixed(1)} s → file in the running pod ${((seenAt - rotatedAt) / 1000).toFixed(1)} s (kubelet syncFrequency 5 s)`);
    // The same container saw both values: it was not restarted.
    const after = await core().readNamespacedPod({ namespace: ns, name: 'volume-reader' });
    expect(after.metadata?.uid).toBe(pod.metadata?.uid);
    expect(after.status?.containerStatuses?.[0]?.restartCount ?? 0).toBe(restarts);
  }, 2 * POD_MS + 30_000);

  it('a Bedrock-shaped pair and a LiteLLM-style bundle (dataFrom) reach a pod through envFrom', async () => {
    const bedrock = { access_key_id: 'SECRETVALUE-pods-akid', secret_access_key: 'SECRETVALUE-pods-sak', region: 'eu-central-1' };
    const bundle = { litellm_master_key: 'SECRETVALUE-pods-master', anthropic_api_key: 'SECRETVALUE-pods-anthropic' };
    const [bedrockId, litellmId] = [id('bedrock'), id('litellm')];
    await createSecret(moto, bedrockId, bedrock);
    await createSecret(moto, litellmId, bundle);
    await createEls(ns, 'bedrock', { source: { secretId: bedrockId }, provider: 'bedrock-iam' });
    await createEls(ns, 'litellm', { source: { secretId: litellmId }, dataFrom: { rewrite: [{ transform: 'UpperSnakeCase' }] } });
    await waitForReady(ns, 'bedrock', isReady);
    await waitForReady(ns, 'litellm', isReady);
    const names = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_REGION', 'LITELLM_MASTER_KEY', 'ANTHROPIC_API_KEY'];
    const script = names.map((n) => `printf '%s=' ${n}; printf %s "$${n}" | sha256sum | cut -c1-64`).join('; ');
    await core().createNamespacedPod({
      namespace: ns,
      body: {
        metadata: { name: 'bundle-reader' },
        spec: podSpec({
          name: 'reader',
          envFrom: [{ secretRef: { name: 'bedrock' } }, { secretRef: { name: 'litellm' } }],
          command: ['sh', '-c', `{ ${script}; } > /out/bundle.tmp && mv /out/bundle.tmp /out/bundle; ${keepRunning}`],
        }),
      },
    });
    const seen = await until('the bundle pod to write its hashes', () => readOut('bundle'), POD_MS, 250);
    expect(Object.fromEntries(seen.split('\n').map((l) => l.split('=') as [string, string]))).toEqual({
      AWS_ACCESS_KEY_ID: sha(bedrock.access_key_id), AWS_SECRET_ACCESS_KEY: sha(bedrock.secret_access_key), AWS_REGION: sha(bedrock.region),
      LITELLM_MASTER_KEY: sha(bundle.litellm_master_key), ANTHROPIC_API_KEY: sha(bundle.anthropic_api_key),
    });
  }, POD_MS + 60_000);

  it('a Deployment in rolloutRestartTargets rolls, and its new pod sees the new value in its env', async () => {
    // The volume test above rotated to `second` and restarted the Deployment; wait for that roll
    // to settle, then rotate once more and measure this one.
    const third = 'SECRETVALUE-pods-openai-3';
    const settled = async () => {
      const d = await apps().readNamespacedDeployment({ namespace: ns, name: 'app' });
      const s = d.status;
      return s && s.observedGeneration === d.metadata?.generation && s.updatedReplicas === 1 && s.replicas === 1 && s.availableReplicas === 1 ? d : undefined;
    };
    await until('the Deployment to settle', settled, POD_MS, 500);
    const podsOf = async () => (await core().listNamespacedPod({ namespace: ns, labelSelector: 'app=app' })).items.filter((p) => !p.metadata?.deletionTimestamp);
    const oldPods = (await podsOf()).map((p) => p.metadata!.name!);
    expect(oldPods).toHaveLength(1);
    await until('the current app pod to write its hash', () => readOut(`deploy-${oldPods[0]}`), POD_MS, 250);
    const oldRs = (await apps().listNamespacedReplicaSet({ namespace: ns })).items.map((r) => r.metadata!.name!);

    const rotatedAt = await rotate(secretId, third, 'deployment');
    const newPod = await until('a new app pod from a new ReplicaSet', async () => {
      const pods = await podsOf();
      const fresh = pods.find((p) => !oldPods.includes(p.metadata!.name!) && !oldRs.includes(p.metadata?.ownerReferences?.[0]?.name ?? ''));
      return fresh?.metadata?.name;
    }, POD_MS, 500);
    const hash = await until('the new pod to write its env hash', () => readOut(`deploy-${newPod}`), POD_MS, 250);
    const seenAt = Date.now();
    expect(hash).toBe(sha(third));
    await until('the old pod to be gone', async () => {
      const all = (await core().listNamespacedPod({ namespace: ns, labelSelector: 'app=app' })).items.map((p) => p.metadata!.name!);
      return all.some((n) => oldPods.includes(n)) ? undefined : true;
    }, POD_MS, 500);
    const goneAt = Date.now();
    report(`rotation → new pod sees the new key in its env ${((seenAt - rotatedAt) / 1000).toFixed(1)} s → old pod gone ${((goneAt - rotatedAt) / 1000).toFixed(1)} s`);
  }, 4 * POD_MS);
});
