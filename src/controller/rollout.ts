// Rollout restarts that survive crashes and failed patches. The intent is durable without a
// write of its own: status.restartedForHash names the data the workloads were last restarted
// for, and it moves to the new status.dataHash only once every target has been handled. Until
// then every reconcile (after a crash, after a failed patch) finds the restart pending. The
// patch itself is idempotent: the pod template carries the hash it was restarted for, and a
// target that already carries it is not patched again, so each change restarts exactly once.
import { RESTARTED_AT_ANNOTATION, RESTARTED_FOR_ANNOTATION } from '../crds/constants.js';
import type { ExternalLLMSecret, ExternalLLMSecretStatus, RolloutTarget } from '../crds/types.js';
import { apiMessage, isNotFound, type KubeClient } from '../kube/client.js';

/**
 * The data hash the workloads still have to be restarted for, or undefined. Nothing is pending
 * for the first sync (no pod ran with an older key) or when there are no targets.
 */
export function pendingRestart(els: ExternalLLMSecret, status: ExternalLLMSecretStatus | undefined, currentHash: string): string | undefined {
  if (!els.spec.rolloutRestartTargets?.length) return undefined;
  // Status written before restartedForHash existed: its dataHash is what the pods were started with.
  const baseline = status?.restartedForHash ?? status?.dataHash;
  return baseline !== undefined && baseline !== currentHash ? currentHash : undefined;
}

export interface RestartOutcome {
  restarted: string[];
  /** Targets that cannot be restarted as they are (paused, missing): reported, not retried. */
  skipped: string[];
  /** Targets whose read or patch failed: reported and retried with backoff. */
  failed: string[];
}

export async function restartTargets(kube: Pick<KubeClient, 'readWorkload' | 'patchWorkloadTemplateAnnotation'>, els: ExternalLLMSecret, hash: string, now: Date): Promise<RestartOutcome> {
  const { namespace } = els.metadata;
  const outcome: RestartOutcome = { restarted: [], skipped: [], failed: [] };
  for (const target of els.spec.rolloutRestartTargets ?? []) {
    const what = describeTarget(target, namespace);
    try {
      const workload = await kube.readWorkload(target.kind, namespace, target.name);
      if (workload.spec?.paused) { outcome.skipped.push(`${what} is paused`); continue; }
      // Restarted for this data already (before a crash, or by an earlier partial attempt).
      if (workload.spec?.template?.metadata?.annotations?.[RESTARTED_FOR_ANNOTATION] === hash) continue;
      await kube.patchWorkloadTemplateAnnotation(target.kind, namespace, target.name, {
        [RESTARTED_AT_ANNOTATION]: now.toISOString(),
        [RESTARTED_FOR_ANNOTATION]: hash,
      });
      outcome.restarted.push(what);
    } catch (err) {
      if (isNotFound(err)) outcome.skipped.push(`${what} not found`);
      else outcome.failed.push(`${what}: ${apiMessage(err)}`);
    }
  }
  return outcome;
}

export const describeTarget = (target: RolloutTarget, namespace: string): string => `${target.kind} ${namespace}/${target.name}`;
