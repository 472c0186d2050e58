// A real `helm install` whose ServiceAccount then runs the operator (in-process) through a full
// sync, cluster-scoped and namespace-scoped.
import { AppsV1Api, CoordinationV1Api, type V1Deployment } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { adminKubeConfig, createSecret, getTestEnv, kubeConfigForServiceAccount } from './env/index.js';
import { core, createEls, isReady, waitForReady, waitForSecret } from './helpers/els.js';
import { CHART, helmOk, inProcessArgs, suffix, useHelmCluster, valuesFile } from './helpers/helm.js';
import { startTestOperator, type TestOperator } from './helpers/operator.js';

const { freshNamespace, trackRelease } = useHelmCluster();

async function installRelease(values: object): Promise<{ release: string; namespace: string; deployment: V1Deployment; sa: string }> {
  const env = getTestEnv();
  const namespace = await freshNamespace('helm-install');
  const release = `els-${suffix()}`;
  // crds.install=false: the CRD is already in the shared cluster (applyCrds), without Helm's
  // ownership labels, so Helm would refuse to adopt it. The rendered CRD is dry-run above.
  helmOk(['install', release, CHART, '--namespace', namespace, '--kubeconfig', env.kubeconfigPath, '--set', 'image.tag=test', '--set', 'crds.install=false', '-f', valuesFile(values)]);
  trackRelease({ name: release, namespace });
  const deployments = await adminKubeConfig().makeApiClient(AppsV1Api).listNamespacedDeployment({ namespace });
  expect(deployments.items).toHaveLength(1);
  const deployment = deployments.items[0]!;
  expect(deployment.spec!.template.spec!.containers[0]!.image).toMatch(/:test$/);
  return { release, namespace, deployment, sa: deployment.spec!.template.spec!.serviceAccountName! };
}

async function fullSync(op: TestOperator, ns: string, name: string): Promise<void> {
  const secretId = `helm-${process.pid}-${suffix()}/${name}`;
  await createSecret(getTestEnv().motoEndpoint, secretId, { api_key: 'x' });
  await createEls(ns, name, { source: { secretId }, data: [{ secretKey: 'K', property: 'api_key' }] });
  await waitForReady(ns, name, isReady);
  await waitForSecret(ns, name, (d) => d.K === 'x');
  expect(op.isLeader()).toBe(true);
}

describe('helm install', () => {
  it('installs; the chart ServiceAccount runs a full sync (cluster scope, leader election)', async () => {
    const { namespace, deployment, sa, release } = await installRelease({});
    const work = await freshNamespace('helm-work');
    const op = await startTestOperator({ namespaces: [work], kubeConfig: await kubeConfigForServiceAccount(namespace, sa), args: inProcessArgs(deployment) });
    try {
      await fullSync(op, work, 'chart-sa');
      const lease = await adminKubeConfig().makeApiClient(CoordinationV1Api).readNamespacedLease({ namespace, name: `${release}-external-llm-secrets-leader` });
      expect(lease.spec?.holderIdentity).toMatch(/.+/);
    } finally {
      await op.stop();
    }
    // The hash key survives an upgrade (lookup), so status.dataHash stays valid across it.
    const keyBefore = (await core().readNamespacedSecret({ namespace, name: `${release}-external-llm-secrets-hash-key` })).data!['hash-key'];
    helmOk(['upgrade', release, CHART, '--namespace', namespace, '--kubeconfig', getTestEnv().kubeconfigPath, '--reuse-values', '--set', 'concurrent=4']);
    const keyAfter = (await core().readNamespacedSecret({ namespace, name: `${release}-external-llm-secrets-hash-key` })).data!['hash-key'];
    expect(keyAfter).toBe(keyBefore);
    expect(Buffer.from(keyAfter!, 'base64').length).toBeGreaterThanOrEqual(32);
  });

  it('namespace-scoped install: Roles only, and the ServiceAccount syncs in its namespaces', async () => {
    const work = await freshNamespace('helm-scoped');
    const other = await freshNamespace('helm-other');
    const { namespace, deployment, sa } = await installRelease({ scope: { namespaces: [work] } });
    const kc = await kubeConfigForServiceAccount(namespace, sa);
    const op = await startTestOperator({ namespaces: [work], kubeConfig: kc, args: inProcessArgs(deployment) });
    try {
      await fullSync(op, work, 'scoped');
    } finally {
      await op.stop();
    }
    // No access outside the listed namespaces.
    await expect(startTestOperator({ namespaces: [other], kubeConfig: kc, args: inProcessArgs(deployment) })).rejects.toThrow(/cannot list ExternalLLMSecrets/);
  });
});
