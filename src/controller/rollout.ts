// Rollout restarts that survive crashes and failed patches. The intent is durable without a
// write of its own: status.restartedForHash names the data the workloads were last restarted
// for, and it moves to the new status.dataHash only once every target has been handled. Until
// then every reconcile (after a crash, after a failed patch) finds the restart pending. The
// patch itself is idempotent: the pod template carries the hash it was restarted for, and a
// target that already carries it is not patched again, so each change restarts exactly once.
import { RESTARTED_AT_ANNOTATION, RESTARTED_FOR_ANNOTATION } from '../crds/constants.js';
import type { Condition, ExternalLLMSecret, ExternalLLMSecretStatus, RolloutTarget } from '../crds/types.js';
import { apiMessage, isNotFound, type KubeClient } from '../kube/client.js';
import { EventReason, type EventSink } from '../kube/events.js';
import type { Metrics } from '../observability/metrics.js';
import type { SourceRead } from '../source/port.js';
import { hashKeyIdOf } from '../sync/hash.js';
import { Reason } from '../sync/reasons.js';
import { ConditionType, getCondition, removeCondition, setCondition } from '../sync/status.js';

type WorkloadApi = Pick<KubeClient, 'readWorkload' | 'patchWorkloadTemplateAnnotation'>;

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

export async function restartTargets(kube: WorkloadApi, els: ExternalLLMSecret, hash: string, now: Date): Promise<RestartOutcome> {
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

export interface RestartDeps {
  kube: WorkloadApi;
  events: EventSink;
  metrics: Pick<Metrics, 'rolloutRestarts'>;
}

export interface RestartResult {
  conditions: Condition[];
  /** What status.restartedForHash should say (undefined: no targets, leave it out). */
  restartedForHash?: string;
  /** A target failed: retry with backoff. */
  retry: boolean;
}

/**
 * Restarts the targets when a restart is pending for `hash`, and says what status should record:
 * the RolloutRestart condition, and restartedForHash (it stays at the old hash while a target
 * failed, so the restart stays pending). Events for each restart and each new problem.
 */
export async function restartIfPending(d: RestartDeps, els: ExternalLLMSecret, hash: string, conditions: Condition[], now: Date): Promise<RestartResult> {
  if (!els.spec.rolloutRestartTargets?.length) return { conditions, retry: false };
  if (!pendingRestart(els, els.status, hash)) return { conditions, restartedForHash: hash, retry: false };
  const outcome = await restartTargets(d.kube, els, hash, now);
  for (const result of ['restarted', 'failed', 'skipped'] as const) {
    if (outcome[result].length) d.metrics.rolloutRestarts.inc({ result }, outcome[result].length);
  }
  for (const what of outcome.restarted) await d.events.record(els, 'Normal', EventReason.RolloutRestarted, `Restarted ${what} after the secret changed`);
  const restartedForHash = outcome.failed.length ? (els.status?.restartedForHash ?? els.status?.dataHash) : hash;
  const problems = [...outcome.skipped, ...outcome.failed];
  if (problems.length === 0) return { conditions: removeCondition(conditions, ConditionType.RolloutRestart), restartedForHash, retry: false };
  const message = `Could not restart: ${problems.join('; ')}${outcome.failed.length ? ' (retrying)' : ''}`;
  if (getCondition(els.status, ConditionType.RolloutRestart)?.message !== message) {
    await d.events.record(els, 'Warning', EventReason.RolloutRestartFailed, message);
  }
  return {
    conditions: setCondition(conditions, { type: ConditionType.RolloutRestart, status: 'False', reason: Reason.RestartFailed, message, observedGeneration: els.metadata.generation }, now),
    restartedForHash, retry: outcome.failed.length > 0,
  };
}

/**
 * A status.dataHash made under another hash key (a rotated key, an operator without a stable key,
 * a hash of an earlier format) cannot say whether the data changed, so every hash looks new and
 * every rolloutRestartTarget would restart. When this sync read the version status names, at the
 * generation status observed, and no restart was pending, the data is what the workloads already
 * run with (or a drift repair restores it, which restarts nothing either): the restart baseline
 * moves to the new hash. Anything less certain (a crash between the Secret write of a new version
 * or spec and its status) still restarts.
 */
export function withRekeyedBaseline(els: ExternalLLMSecret, hash: string, read: Pick<SourceRead, 'versionId'>): ExternalLLMSecret {
  const status = els.status;
  if (status?.dataHash === undefined || hashKeyIdOf(status.dataHash) === hashKeyIdOf(hash)) return els;
  if ((status.restartedForHash ?? status.dataHash) !== status.dataHash) return els;
  if (read.versionId !== status.syncedVersionId || status.observedGeneration !== els.metadata.generation) return els;
  return { ...els, status: { ...status, restartedForHash: hash } };
}
