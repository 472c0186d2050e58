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

/**
 * Deadlines of the wait helpers: generous, because a wait returns as soon as its condition holds
 * and the suites must hold on a 2-core machine with its cores saturated (`npm test -- --load`).
 */
export const WAIT_MS = 30_000;

/** Polls until the resource's Ready condition satisfies `check`. */
export async function waitForReady(namespace: string, name: string, check: (c: Condition, els: ExternalLLMSecret) => boolean, timeoutMs = WAIT_MS): Promise<ExternalLLMSecret> {
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

export async function waitForSecret(namespace: string, name: string, check: (data: Record<string, string>, s: V1Secret) => boolean, timeoutMs = WAIT_MS): Promise<V1Secret> {
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

export async function waitForEvent(namespace: string, name: string, reason: string, timeoutMs = WAIT_MS): Promise<CoreV1Event> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const e = (await events(namespace, name)).find((ev) => ev.reason === reason);
    if (e) return e;
    await sleep(200);
  }
  throw new Error(`no ${reason} event for ${namespace}/${name}; saw ${(await events(namespace, name)).map((e) => e.reason).join(',')}`);
}

/**
 * Polls `check` until it returns a value other than undefined (errors count as "not yet"), every
 * `intervalMs`, for at most `timeoutMs`.
 */
export async function until<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = WAIT_MS, intervalMs = 150): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      lastError = err;
    }
    await sleep(intervalMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError instanceof Error ? `: ${lastError.message}` : ''}`);
}

/**
 * Polls `read` until its value has not changed for `quietMs` (a counter that stopped moving), and
 * returns that value. For "nothing more happens" checks: it waits for activity to end rather
 * than assuming it ends within a fixed time.
 */
export async function settled<T>(what: string, read: () => Promise<T>, quietMs = 1_500, timeoutMs = WAIT_MS * 2): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = await read();
  let since = Date.now();
  while (Date.now() < deadline) {
    await sleep(Math.min(300, quietMs));
    const next = await read();
    if (JSON.stringify(next) !== JSON.stringify(value)) { value = next; since = Date.now(); continue; }
    if (Date.now() - since >= quietMs) return value;
  }
  throw new Error(`${what} still changing after ${timeoutMs} ms; last: ${JSON.stringify(value)}`);
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
