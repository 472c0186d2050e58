// Writes the target Secret as planned (plan.ts decides; this only carries it out), and reads one
// Secret straight from the apiserver when the cache cannot be trusted.
import type { V1Secret } from '@kubernetes/client-node';
import { apiMessage, httpCode, isConflict, type KubeClient } from '../kube/client.js';
import { planSecret, type DesiredSecret, type SecretPlan } from '../sync/plan.js';
import { Reason, SyncError, isSyncError } from '../sync/reasons.js';

type SecretApi = Pick<KubeClient, 'getSecret' | 'createSecret' | 'replaceSecret'>;

/**
 * Creates or updates the Secret as planned. A 409 means the cache was stale (the Secret exists
 * already, or changed since the cache saw it): decide again against a fresh read of that one
 * object, once, rather than failing the sync and waiting for the watch to catch up.
 */
export async function writeSecret(kube: SecretApi, desired: DesiredSecret, live: V1Secret | undefined): Promise<{ plan: SecretPlan; changedKeys: string[]; written?: V1Secret }> {
  for (let attempt = 0; ; attempt++) {
    const plan = planSecret(desired, live);
    try {
      switch (plan.action) {
        case 'refuse': throw new SyncError(plan.reason, plan.message, { retryable: plan.retryable });
        case 'create': return { plan, changedKeys: Object.keys(desired.data), written: await kube.createSecret(plan.body) };
        case 'update': return { plan, changedKeys: plan.changedKeys, written: await kube.replaceSecret(plan.body) };
        case 'none': return { plan, changedKeys: [] };
      }
    } catch (err) {
      if (isSyncError(err)) throw err;
      if (!isConflict(err) || attempt > 0) {
        const code = httpCode(err);
        const retryable = isConflict(err) || code === undefined || code >= 500 || code === 429;
        throw new SyncError(Reason.KubernetesError, `writing Secret ${desired.name}: ${apiMessage(err)}`, { retryable, cause: err });
      }
      live = await readSecret(kube, desired.namespace, desired.name);
    }
  }
}

export async function readSecret(kube: SecretApi, namespace: string, name: string): Promise<V1Secret | undefined> {
  try {
    return await kube.getSecret(namespace, name);
  } catch (err) {
    throw new SyncError(Reason.KubernetesError, `reading Secret ${namespace}/${name}: ${apiMessage(err)}`, { retryable: true, cause: err });
  }
}
