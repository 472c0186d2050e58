// What a reconcile tells the outside: metrics, one log line per outcome, and the recovery board
// (a success proves its dependencies answer again; a retryable failure waits for one).
import type { Logger } from 'pino';
import type { ExternalLLMSecret } from '../crds/types.js';
import type { Metrics } from '../observability/metrics.js';
import { sourceLabel } from '../source/label.js';
import type { SecretPlan } from '../sync/plan.js';
import { Reason, type SyncError } from '../sync/reasons.js';
import { KUBE_SCOPE, type RecoveryBoard } from './recovery.js';

export interface SyncOutcome {
  /** skipped: nothing due; unchanged: checked, nothing to write; written: Secret or status written. */
  outcome: 'skipped' | 'unchanged' | 'written';
  requeueAfterMs?: number;
  versionId?: string;
  action?: SecretPlan['action'];
  changedKeys?: string[];
  /** The source dependency this sync reached successfully, if it called the source. */
  scope?: string;
  /** A rollout restart failed and must be retried (the Secret itself is in sync). */
  restartFailed?: boolean;
}

export class SyncReporter {
  constructor(private readonly metrics: Metrics, private readonly log: Logger, private readonly recovery?: RecoveryBoard) {}

  succeeded(key: string, els: ExternalLLMSecret, result: SyncOutcome, started: number): void {
    const { namespace, name } = els.metadata;
    this.#observe(els, result.outcome, Reason.Synced, started);
    this.recovery?.succeeded(key);
    for (const scope of [result.scope, result.outcome === 'written' ? KUBE_SCOPE : undefined]) {
      const requeued = scope ? this.recovery?.recovered(scope) ?? 0 : 0;
      if (requeued > 0) {
        this.metrics.recoveryRequeues.inc({ scope }, requeued);
        this.log.info({ scope, requeued }, 'dependency answered again; requeued the resources that failed on it');
      }
    }
    // Refreshes that found nothing to do only at debug level.
    const line = {
      namespace, name, secretId: sourceLabel(els), versionId: result.versionId ?? els.status?.syncedVersionId,
      outcome: result.outcome, action: result.action, changedKeys: result.changedKeys,
      durationMs: Math.round(performance.now() - started), reason: Reason.Synced,
    };
    if (result.outcome === 'written') this.log.info(line, 'synced'); else this.log.debug(line, 'in sync');
  }

  /** `scope`: what a retryable failure waits for (undefined when retrying cannot help). */
  failed(key: string, els: ExternalLLMSecret, failure: SyncError, scope: string | undefined, started: number): void {
    const { namespace, name } = els.metadata;
    this.#observe(els, 'error', failure.reason, started);
    if (scope) this.recovery?.failed(scope, key);
    this.log.warn({
      namespace, name, secretId: sourceLabel(els), reason: failure.reason, retryable: failure.retryable,
      durationMs: Math.round(performance.now() - started), err: failure.message,
    }, 'sync failed');
  }

  /** A refresh that found the Secret current, or a sync that wrote it; `expiresAt`: a generated key's expiry. */
  fresh(els: ExternalLLMSecret, now: Date, versionCreated: string | undefined, expiresAt?: Date): void {
    const { namespace, name } = els.metadata;
    this.metrics.lastSuccess.set({ namespace, name }, now.getTime() / 1000);
    if (versionCreated) this.metrics.versionAge.set({ namespace, name }, (now.getTime() - new Date(versionCreated).getTime()) / 1000);
    if (expiresAt) this.metrics.generatedExpiry.set({ namespace, name }, expiresAt.getTime() / 1000);
  }

  forget(key: string, namespace: string, name: string): void {
    this.recovery?.succeeded(key);
    this.metrics.forgetResource(namespace, name);
  }

  #observe(els: ExternalLLMSecret, result: string, reason: string, started: number): void {
    const { namespace, name } = els.metadata;
    this.metrics.observeSync(namespace, name, result, (performance.now() - started) / 1000);
    this.metrics.syncs.inc({ result, reason });
    this.metrics.ready.set({ namespace, name }, result === 'error' ? 0 : 1);
  }
}
