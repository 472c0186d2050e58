// Small helpers over the real apiserver for ExternalLLMSecret tests.
import { CoreV1Api, CustomObjectsApi, type CoreV1Event, type V1Secret } from '@kubernetes/client-node';
import { API_VERSION, GROUP, KIND, PLURAL, VERSION } from '../../src/crds/constants.js';
import type { Condition, ExternalLLMSecret, ExternalLLMSecretSpec } from '../../src/crds/types.js';
import { adminKubeConfig } from '../env/index.js';

export const core = () => adminKubeConfig().makeApiClient(CoreV1Api);
export const custom = () => adminKubeConfig().makeApiClient(CustomObjectsApi);

export async function createEls(namespace: string, name: string, spec: ExternalLLMSecretSpec, meta: { annotations?: Record<string, string>; labels?: Record<string, string> } = {}): Promise<ExternalLLMSecret> {
  return custom().createNamespacedCustomObject({
    group: GROUP, version: VERSION, namespace, plural: PLURAL,
    body: { apiVersion: API_VERSION, kind: KIND, metadata: { name, namespace, ...meta }, spec },
  }) as Promise<ExternalLLMSecret>;
}

export async function getEls(namespace: string, name: string): Promise<ExternalLLMSecret> {
  return custom().getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: PLURAL, name }) as Promise<ExternalLLMSecret>;
}

export async function patchEls(namespace: string, name: string, patch: object): Promise<void> {
  const { PatchStrategy, setHeaderOptions } = await import('@kubernetes/client-node');
  await custom().patchNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: PLURAL, name, body: patch }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
}

export async function deleteEls(namespace: string, name: string): Promise<void> {
  await custom().deleteNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: PLURAL, name });
}

export const ready = (els: ExternalLLMSecret): Condition | undefined => els.status?.conditions?.find((c) => c.type === 'Ready');

/** Polls until the resource's Ready condition satisfies `check`. */
export async function waitForReady(namespace: string, name: string, check: (c: Condition, els: ExternalLLMSecret) => boolean, timeoutMs = 20_000): Promise<ExternalLLMSecret> {
  const deadline = Date.now() + timeoutMs;
  let last: ExternalLLMSecret | undefined;
  while (Date.now() < deadline) {
    last = await getEls(namespace, name);
    const c = ready(last);
    if (c && check(c, last)) return last;
    await sleep(150);
  }
  throw new Error(`timed out waiting on ${namespace}/${name}; last Ready: ${JSON.stringify(last && ready(last))}`);
}

export const isReady = (c: Condition) => c.status === 'True';
export const hasReason = (reason: string) => (c: Condition) => c.status === 'False' && c.reason === reason;

export async function readSecret(namespace: string, name: string): Promise<V1Secret | undefined> {
  try {
    return await core().readNamespacedSecret({ namespace, name });
  } catch (err) {
    if ((err as { code?: number }).code === 404) return undefined;
    throw err;
  }
}

export function decoded(secret: V1Secret | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(secret?.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
}

export async function waitForSecret(namespace: string, name: string, check: (data: Record<string, string>, s: V1Secret) => boolean, timeoutMs = 20_000): Promise<V1Secret> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const s = await readSecret(namespace, name);
    if (s && check(decoded(s), s)) return s;
    await sleep(150);
  }
  throw new Error(`timed out waiting for Secret ${namespace}/${name}; last keys: ${Object.keys(decoded(await readSecret(namespace, name))).join(',')}`);
}

export async function events(namespace: string, name: string): Promise<CoreV1Event[]> {
  const list = await core().listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=${name}` });
  return list.items;
}

export async function waitForEvent(namespace: string, name: string, reason: string, timeoutMs = 10_000): Promise<CoreV1Event> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const e = (await events(namespace, name)).find((ev) => ev.reason === reason);
    if (e) return e;
    await sleep(200);
  }
  throw new Error(`no ${reason} event for ${namespace}/${name}; saw ${(await events(namespace, name)).map((e) => e.reason).join(',')}`);
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
