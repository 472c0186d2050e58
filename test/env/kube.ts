// Kubernetes helpers for tests: admin and ServiceAccount clients, throwaway namespaces, CRDs,
// and counting the requests the apiserver served (to assert how many writes the operator made).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApiException, ApiextensionsV1Api, CoreV1Api, KubeConfig, loadAllYaml, type V1CustomResourceDefinition } from '@kubernetes/client-node';
import { adminRequest } from './cluster.js';
import { getTestEnv, type TestEnv } from './environment.js';
import { waitFor } from './proc.js';
import { repoRoot } from './tools.js';

export function adminKubeConfig(env: TestEnv = getTestEnv()): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(env.kubeconfigPath);
  return kc;
}

export const isApiError = (error: unknown, code: number): boolean => error instanceof ApiException && error.code === code;

const randomSuffix = () => Math.random().toString(36).slice(2, 8);

/** Creates `${prefix}-${random}` and returns its name. */
export async function createTestNamespace(prefix: string): Promise<string> {
  const name = `${prefix}-${randomSuffix()}`.toLowerCase().slice(0, 63);
  await adminKubeConfig().makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name } } });
  return name;
}

/** Deletes a namespace; the namespace controller removes its contents in the background. */
export async function deleteTestNamespace(name: string): Promise<void> {
  try {
    await adminKubeConfig().makeApiClient(CoreV1Api).deleteNamespace({ name });
  } catch (error) {
    if (!isApiError(error, 404)) throw error;
  }
}

/** A bound token for the ServiceAccount (created if missing) via the TokenRequest API. */
export async function serviceAccountToken(namespace: string, saName: string, expirationSeconds = 3600): Promise<string> {
  const core = adminKubeConfig().makeApiClient(CoreV1Api);
  try {
    await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: saName } } });
  } catch (error) {
    if (!isApiError(error, 409)) throw error;
  }
  const result = await core.createNamespacedServiceAccountToken({ name: saName, namespace, body: { spec: { audiences: [], expirationSeconds } } });
  const token = result.status?.token;
  if (!token) throw new Error(`TokenRequest for ${namespace}/${saName} returned no token`);
  return token;
}

/** A client config that authenticates as the ServiceAccount, so RBAC applies as in a real pod. */
export async function kubeConfigForServiceAccount(namespace: string, saName: string): Promise<KubeConfig> {
  const env = getTestEnv();
  const token = await serviceAccountToken(namespace, saName);
  const kc = new KubeConfig();
  const user = `system:serviceaccount:${namespace}:${saName}`;
  kc.loadFromOptions({
    clusters: [{ name: 'els-test', server: env.server, caData: Buffer.from(env.caPem).toString('base64') }],
    users: [{ name: user, token }],
    contexts: [{ name: user, cluster: 'els-test', user, namespace }],
    currentContext: user,
  });
  return kc;
}

/** Verbs as apiserver_request_total labels them; server-side apply is "APPLY", not "PATCH". */
export const WRITE_VERBS = ['POST', 'PUT', 'PATCH', 'APPLY', 'DELETE', 'DELETECOLLECTION'];

export interface RequestFilter { verb?: string[]; resource?: string; code?: string; group?: string; subresource?: string }

function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const match of text.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[match[1]!] = match[2]!;
  return labels;
}

function matches(labels: Record<string, string>, filter: RequestFilter): boolean {
  if (filter.verb && !filter.verb.includes(labels.verb ?? '')) return false;
  for (const key of ['resource', 'code', 'group', 'subresource'] as const) {
    if (filter[key] !== undefined && labels[key] !== filter[key]) return false;
  }
  return true;
}

/** Sums the apiserver's own apiserver_request_total samples that match `filter` (a counter since start). */
export async function apiserverRequestCount(filter: RequestFilter = {}): Promise<number> {
  const { status, body } = await adminRequest(getTestEnv(), '/metrics');
  if (status !== 200) throw new Error(`GET /metrics: HTTP ${status}`);
  let total = 0;
  for (const line of body.split('\n')) {
    const sample = /^apiserver_request_total\{(.*)\} (\S+)$/.exec(line);
    if (sample && matches(parseLabels(sample[1]!), filter)) total += Number(sample[2]);
  }
  return total;
}

/** Creates or replaces a CRD and waits until it is Established (served). */
export async function applyCrd(crd: V1CustomResourceDefinition, kc: KubeConfig = adminKubeConfig()): Promise<void> {
  const api = kc.makeApiClient(ApiextensionsV1Api);
  const name = crd.metadata!.name!;
  try {
    await api.createCustomResourceDefinition({ body: crd });
  } catch (error) {
    if (!isApiError(error, 409)) throw error;
    const current = await api.readCustomResourceDefinition({ name });
    await api.replaceCustomResourceDefinition({ name, body: { ...crd, metadata: { ...crd.metadata, resourceVersion: current.metadata!.resourceVersion } } });
  }
  await waitFor(`CRD ${name} Established`, async () => {
    const current = await api.readCustomResourceDefinition({ name });
    return current.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ? true : undefined;
  }, { timeoutMs: 30_000 });
}

/** Applies every CustomResourceDefinition in the YAML files of `dir` (default deploy/crds). */
export async function applyCrds(dir = join(repoRoot, 'deploy', 'crds'), kc?: KubeConfig): Promise<string[]> {
  const names: string[] = [];
  for (const file of readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort()) {
    // loadAllYaml turns JSON field names into client-node's model (x-kubernetes-validations →
    // xKubernetesValidations, enum → _enum...); a plain parsed object would lose those fields
    // silently when the client serialises it.
    for (const doc of loadAllYaml(readFileSync(join(dir, file), 'utf8'))) {
      const crd = doc as V1CustomResourceDefinition | null;
      if (crd?.kind !== 'CustomResourceDefinition') continue;
      await applyCrd(crd, kc);
      names.push(crd.metadata!.name!);
    }
  }
  return names;
}
