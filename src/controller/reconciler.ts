// ExternalLLMSecretReconciler: one reconcile of one resource, level-based (it acts on current
// state, never on the event that queued it). The flow, top to bottom in #sync:
//   read from cache → due or drifted? → open the source (policy, identity) → still current?
//   → read → render → plan → write the Secret → rollout restarts → status and events.
// Its parts live beside it: schedule.ts (when), status-writer.ts, rollout.ts, recovery.ts, the
// SecretSource port (src/source) and the pure sync code (src/sync). Every failure goes through
// #fail(): a condition, an event on transition, a counter, and the last good Secret untouched.
import type { V1Secret } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { FORCE_SYNC_ANNOTATION } from '../crds/constants.js';
import type { ExternalLLMSecret, ExternalLLMSecretStatus } from '../crds/types.js';
import { DEFAULT_REFRESH_INTERVAL_MS } from '../defaults.js';
import { isNamespaceTerminating, type KubeClient } from '../kube/client.js';
import { EventReason, type EventSink } from '../kube/events.js';
import type { Metrics } from '../observability/metrics.js';
import type { SourceRead } from '../source/port.js';
import { sourceLabel } from '../source/label.js';
import type { SourceRegistry } from '../source/registry.js';
import { parseDuration } from '../sync/duration.js';
import { envFromConditions, envFromWarning } from '../sync/envfrom.js';
import { expiredOnFailure, expiresAt, expiryConditions } from '../sync/expiry.js';
import { dataHash } from '../sync/hash.js';
import { desiredSecret, liveDataHash, planSecret, type SecretPlan } from '../sync/plan.js';
import { Reason, SyncError, isSyncError } from '../sync/reasons.js';
import { renderSecretData, type RenderLimits, type RenderedData } from '../sync/render.js';
import { ConditionType, getCondition, sameStatus, setCondition } from '../sync/status.js';
import { errorSummary } from './informer.js';
import { KUBE_SCOPE, type RecoveryBoard } from './recovery.js';
import { SyncReporter, type SyncOutcome } from './sync-report.js';
import { restartIfPending, withRekeyedBaseline } from './rollout.js';
import { readSecret, writeSecret } from './secret-writer.js';
import type { OwnWrites } from './own-writes.js';
import { RefreshSchedule } from './schedule.js';
import { StatusWriter } from './status-writer.js';

export interface ReconcilerConfig {
  hashKey: Buffer;
  limits: RenderLimits;
  /** A due refresh reuses a value another resource read this recently (shared refreshes). */
  refreshShareWindowMs: number;
  /** A drift repair may reuse a value up to this old instead of reading it again. */
  driftMaxAgeMs: number;
}

export interface ReconcilerDeps {
  getResource(namespace: string, name: string): ExternalLLMSecret | undefined;
  /** Managed Secrets from the label-selected informer cache. */
  getCachedSecret(namespace: string, name: string): V1Secret | undefined;
  kube: Pick<KubeClient, 'getSecret' | 'createSecret' | 'replaceSecret' | 'patchStatus' | 'readWorkload' | 'patchWorkloadTemplateAnnotation'>;
  events: EventSink;
  sources: SourceRegistry;
  metrics: Metrics;
  log: Logger;
  config: ReconcilerConfig;
  /** Requeues resources waiting in backoff when what they failed on answers again. */
  recovery?: RecoveryBoard;
  /** Told of each Secret this operator wrote, so its watch echo does not requeue the owner. */
  ownWrites?: Pick<OwnWrites, 'around'>;
  /** Test hook: runs right after a Secret write, before rollout restarts and status. */
  afterSecretWrite?: (key: string) => void;
  /** The polling interval for a refreshInterval (event-driven refresh stretches it; src/events). */
  pollIntervalMs?: (refreshIntervalMs: number) => number;
  now?: () => Date;
  random?: () => number;
}

export interface ReconcileResult {
  requeueAfterMs?: number;
  /** Retry after backoff, never later than maxDelayMs (the refresh interval). */
  retry?: { maxDelayMs?: number };
}

export class ExternalLLMSecretReconciler {
  readonly #d: ReconcilerDeps;
  readonly #now: () => Date;
  readonly #schedule: RefreshSchedule;
  readonly #status: StatusWriter;
  readonly #report: SyncReporter;
  /** Resources whose last sync failed with a retryable reason (an outage, a stale cache): their
   * Ready=False is repaired as soon as the Secret is seen in sync, whatever path finds it. */
  readonly #transient = new Set<string>();
  /** Namespaces whose deletion refused a write, until when: their resources are about to go, so
   * they are left alone quietly instead of failing (and re-creating Secrets) once each. */
  readonly #terminating = new Map<string, number>();

  constructor(deps: ReconcilerDeps) {
    this.#d = deps;
    this.#now = deps.now ?? (() => new Date());
    this.#schedule = new RefreshSchedule({ now: () => this.#now().getTime(), random: deps.random });
    this.#status = new StatusWriter(deps.kube, deps.log);
    this.#report = new SyncReporter(deps.metrics, deps.log, deps.recovery);
  }

  async reconcile(key: string): Promise<ReconcileResult> {
    const [namespace, name] = splitKey(key);
    const cached = this.#d.getResource(namespace, name);
    if (!cached || cached.metadata.deletionTimestamp) {
      // Gone: the owner reference (deletionPolicy Delete) lets the garbage collector remove the
      // Secret; Retain leaves it, with no owner reference to follow.
      this.#forget(key, namespace, name);
      return {};
    }
    const els = this.#status.freshest(key, cached);
    if ((this.#terminating.get(namespace) ?? 0) > this.#now().getTime()) return { requeueAfterMs: TERMINATING_RECHECK_MS };
    const started = performance.now();
    const intervalMs = parseDuration(els.spec.refreshInterval ?? '') ?? DEFAULT_REFRESH_INTERVAL_MS;
    // Retries never wait longer than the refresh interval: a resource is never staler than it asks.
    const retry = { maxDelayMs: intervalMs === 0 ? undefined : intervalMs };
    try {
      const result = await this.#sync(key, els, this.#d.pollIntervalMs?.(intervalMs) ?? intervalMs);
      this.#transient.delete(key);
      this.#report.succeeded(key, els, result, started);
      return result.restartFailed ? { retry } : { requeueAfterMs: result.requeueAfterMs };
    } catch (err) {
      const failure = toSyncError(err);
      if (isNamespaceTerminating(failure.cause)) {
        this.#terminating.set(namespace, this.#now().getTime() + TERMINATING_RECHECK_MS);
        this.#d.log.debug({ namespace, name }, 'namespace is being deleted; leaving its resources alone');
        return { requeueAfterMs: TERMINATING_RECHECK_MS };
      }
      await this.#fail(els, failure);
      this.#report.failed(key, els, failure, this.#waitsFor(key, els, failure), started);
      if (failure.retryable) return { retry };
      // Retrying cannot fix this one (bad content, a conflict, a refused role), but it may be
      // fixed outside Kubernetes: look again after 30 s, backing off to the refresh interval
      // (a sync-once resource: to the default one). A spec change or force-sync looks at once.
      this.#schedule.rememberFailure(key, els, intervalMs === 0 ? DEFAULT_REFRESH_INTERVAL_MS : intervalMs);
      return { requeueAfterMs: this.#schedule.untilNext(key) };
    }
  }

  /**
   * The resource, when its next reconcile will read the source for a first sync at its
   * generation (new, spec changed, or never synced): what read-ahead.ts may read ahead. Not a
   * refresh (those ask isCurrent first), a force-sync (it wants a read made after it), a target
   * the plan refuses or a Merge target.
   */
  firstReadOf(key: string): ExternalLLMSecret | undefined {
    const [namespace, name] = splitKey(key);
    const cached = this.#d.getResource(namespace, name);
    if (!cached || cached.metadata.deletionTimestamp) return undefined;
    const els = this.#status.freshest(key, cached);
    if (isSettled(els) || this.#schedule.remembers(key, els) || els.spec.target?.creationPolicy === 'Merge' || isForced(els)) return undefined;
    const live = this.#d.getCachedSecret(namespace, els.spec.target?.name ?? name);
    return planSecret(desiredSecret(els, {}), live).action === 'refuse' ? undefined : els;
  }

  /** A change event named this resource's source: its next reconcile checks it (src/events). */
  markDue(key: string): void {
    this.#schedule.markDue(key);
  }

  async #sync(key: string, els: ExternalLLMSecret, intervalMs: number): Promise<SyncOutcome> {
    const { namespace } = els.metadata;
    const policy = els.spec.target?.creationPolicy ?? 'Owner';
    const targetName = els.spec.target?.name ?? els.metadata.name;
    // A Merge target is foreign by definition, so never in the managed cache: read it. For the
    // others a cache miss usually means "not created yet", and a create finds out otherwise
    // (409) without a GET per new resource.
    const live = this.#d.getCachedSecret(namespace, targetName) ?? (policy === 'Merge' ? await readSecret(this.#d.kube, namespace, targetName) : undefined);
    const now = this.#now();
    const due = this.#schedule.isDue(key, els, intervalMs);
    const drifted = live === undefined || liveDataHash(this.#d.config.hashKey, els.metadata, live, policy) !== els.status?.dataHash;
    if (!due && !drifted) return { ...(await this.#settleInSync(key, els, now)), requeueAfterMs: this.#schedule.untilNext(key) };

    // What the target alone refuses (a foreign or typed Secret, a Merge target that does not opt
    // in) is refused before the source is asked: a refusal costs no AWS call.
    const early = planSecret(desiredSecret(els, {}), live);
    if (early.action === 'refuse') throw new SyncError(early.reason, early.message, { retryable: early.retryable });
    const session = await this.#d.sources.for(els).open(els);
    const currency = drifted || !isSettled(els) ? undefined : await session.isCurrent(els.status!.syncedVersionId!);
    if (currency?.current) {
      // A refresh with nothing new: no value read, no write.
      this.#schedule.remember(key, els, intervalMs, currency.gridKey, currency.renewAt);
      this.#report.fresh(els, now, els.status?.syncedVersionCreatedAt, currency.expiresAt);
      const settled = await this.#settleInSync(key, els, now);
      return { outcome: settled.outcome === 'skipped' ? 'unchanged' : 'written', restartFailed: settled.restartFailed, scope: session.scope, requeueAfterMs: this.#schedule.untilNext(key) };
    }
    // force-sync means a fresh read; a due refresh may share a read made a moment ago by
    // another resource; a drift repair may reuse any value still cached.
    const forced = isForced(els);
    const read = await session.read({
      maxAgeMs: forced ? 0 : due ? this.#d.config.refreshShareWindowMs : this.#d.config.driftMaxAgeMs, tags: els.spec.expiry?.tag !== undefined,
      readAhead: !this.#schedule.remembers(key, els),
    });
    const rendered = renderSecretData(els.spec, read, this.#d.config.limits);
    // Everything that can fail on the content is known before the write: no written Secret is
    // ever left behind a Ready=False status.
    const expires = els.spec.expiry ? expiresAt(els.spec.expiry, read) : undefined;
    const desired = desiredSecret(els, rendered.data);
    const write = () => writeSecret(this.#d.kube, desired, live);
    const { plan, changedKeys } = await (this.#d.ownWrites?.around(desired.namespace, desired.name, write) ?? write());
    if (plan.action !== 'none') this.#d.afterSecretWrite?.(key);

    const result = await this.#writeSyncedStatus(els, { read, rendered, expires, action: plan.action }, now);
    await this.#announce(els, plan.action, changedKeys, targetName, read.versionId);
    this.#schedule.remember(key, els, intervalMs, undefined, read.renewAt);
    this.#report.fresh(els, now, read.createdDate?.toISOString(), read.expiresAt);
    return {
      outcome: plan.action === 'none' && !result.wrote ? 'unchanged' : 'written', versionId: read.versionId, action: plan.action,
      changedKeys, scope: session.scope, restartFailed: result.restartFailed, requeueAfterMs: this.#schedule.untilNext(key),
    };
  }

  /** Status after a sync that read the source: Ready, restarts, expiry, what was synced. */
  async #writeSyncedStatus(els: ExternalLLMSecret, s: { read: SourceRead; rendered: RenderedData; expires?: Date; action: SecretPlan['action'] }, now: Date): Promise<{ wrote: boolean; restartFailed: boolean }> {
    const { metadata: { generation }, spec, status } = els;
    const hash = dataHash(this.#d.config.hashKey, els.metadata, s.rendered.data);
    const targetName = spec.target?.name ?? els.metadata.name;
    const ready = setCondition(status?.conditions, {
      type: ConditionType.Ready, status: 'True', reason: Reason.Synced,
      message: `Secret ${targetName} holds version ${s.read.versionId} of ${sourceLabel(els)}${s.read.detail ? `: ${s.read.detail}` : ''}`, observedGeneration: generation,
    }, now);
    const restarts = await restartIfPending(this.#d, withRekeyedBaseline(els, hash, s.read), hash, ready, now);
    const expiry = expiryConditions(spec.expiry, s.expires, status, restarts.conditions, now, sourceLabel(els), generation);
    const envNames = envFromConditions(envFromWarning(spec, s.rendered.keys.map((k) => k.secretKey)), status, expiry.conditions, now, generation);
    for (const w of [...expiry.warnings, ...envNames.warnings]) await this.#d.events.record(els, 'Warning', w.reason, w.message);
    const forceToken = els.metadata.annotations?.[FORCE_SYNC_ANNOTATION];
    const next: ExternalLLMSecretStatus = {
      observedGeneration: generation,
      conditions: envNames.conditions,
      secretName: targetName,
      syncedVersionId: s.read.versionId,
      ...(s.read.createdDate ? { syncedVersionCreatedAt: s.read.createdDate.toISOString() } : {}),
      syncedAt: status?.syncedAt,
      dataHash: hash,
      ...(restarts.restartedForHash ? { restartedForHash: restarts.restartedForHash } : {}),
      keys: s.rendered.keys,
      ...(forceToken ? { forceSyncToken: forceToken } : {}),
      ...(expiry.expiresAt ?? s.read.expiresAt ? { expiresAt: expiry.expiresAt ?? s.read.expiresAt!.toISOString() } : {}),
    };
    // syncedAt moves only when something changed, so an unchanged refresh writes nothing.
    if (s.action !== 'none' || !sameStatus(status, next)) next.syncedAt = now.toISOString();
    return { wrote: await this.#status.write(els, next), restartFailed: restarts.retry };
  }

  /**
   * The Secret already holds status.dataHash. Repairs what status says if it is stale: a
   * Ready=False left by a retryable failure that no longer holds (a due refresh that failed
   * stays due, so such a failure came from a drift repair or a stale cache), and a pending
   * rollout restart. Failures the source caused stay until the next read says otherwise.
   */
  async #settleInSync(key: string, els: ExternalLLMSecret, now: Date): Promise<Pick<SyncOutcome, 'outcome' | 'restartFailed'>> {
    const status = els.status ?? {};
    const targetName = els.spec.target?.name ?? els.metadata.name;
    const repair = getCondition(status, ConditionType.Ready)?.status === 'False' && this.#transient.has(key);
    const conditions = repair ? setCondition(status.conditions, {
      type: ConditionType.Ready, status: 'True', reason: Reason.Synced,
      message: `Secret ${targetName} holds version ${status.syncedVersionId ?? 'unknown'} of ${sourceLabel(els)}`,
      observedGeneration: els.metadata.generation,
    }, now) : status.conditions ?? [];
    const restarts = await restartIfPending(this.#d, els, status.dataHash!, conditions, now);
    const next: ExternalLLMSecretStatus = { ...status, conditions: restarts.conditions };
    // A restart can only be pending here when restartedForHash is set; it moves once the restart is done.
    if (status.restartedForHash !== undefined && restarts.restartedForHash) next.restartedForHash = restarts.restartedForHash;
    if (!(await this.#status.write(els, next))) return { outcome: 'skipped', restartFailed: restarts.retry };
    if (repair) await this.#announce(els, 'none', [], targetName, status.syncedVersionId);
    return { outcome: 'written', restartFailed: restarts.retry };
  }

  async #announce(els: ExternalLLMSecret, action: SecretPlan['action'], changedKeys: string[], targetName: string, versionId: string | undefined): Promise<void> {
    const id = sourceLabel(els);
    const wasReady = getCondition(els.status, ConditionType.Ready);
    if (action === 'create') await this.#d.events.record(els, 'Normal', EventReason.Synced, `Created Secret ${targetName} from ${id} (version ${versionId})`);
    else if (action === 'update' && changedKeys.length > 0) await this.#d.events.record(els, 'Normal', EventReason.Updated, `Updated keys ${changedKeys.join(', ')} of Secret ${targetName} from ${id} (version ${versionId})`);
    else if (wasReady && wasReady.status !== 'True') await this.#d.events.record(els, 'Normal', EventReason.Synced, `Secret ${targetName} is in sync with ${id} again`);
  }

  /** What a retryable failure waits for: the apiserver, or the source's own dependency. */
  #waitsFor(key: string, els: ExternalLLMSecret, failure: SyncError): string | undefined {
    if (!failure.retryable) { this.#transient.delete(key); return undefined; }
    this.#transient.add(key);
    const onKube = failure.reason === Reason.KubernetesError || failure.reason === Reason.ServiceAccountError;
    return onKube ? KUBE_SCOPE : this.#d.sources.for(els).scopeOf(els);
  }

  async #fail(els: ExternalLLMSecret, failure: SyncError): Promise<void> {
    const previous = getCondition(els.status, ConditionType.Ready);
    const generation = els.metadata.generation;
    const failed = setCondition(els.status?.conditions, { type: ConditionType.Ready, status: 'False', reason: failure.reason, message: failure.message, observedGeneration: generation }, this.#now());
    // What the Secret still holds may have expired meanwhile (a generated key not renewed in time).
    const expired = expiredOnFailure(els.status, failed, this.#now(), sourceLabel(els), generation);
    await this.#status.writeQuietly(els, { ...els.status, observedGeneration: generation, conditions: expired.conditions });
    if (previous?.status !== 'False' || previous.reason !== failure.reason) {
      await this.#d.events.record(els, 'Warning', failure.reason === Reason.SecretConflict ? EventReason.Conflict : EventReason.SyncFailed, `${failure.reason}: ${failure.message}`);
    }
    if (expired.warning) await this.#d.events.record(els, 'Warning', expired.warning.reason, expired.warning.message);
  }

  #forget(key: string, namespace: string, name: string): void {
    this.#schedule.forget(key);
    this.#status.forget(key);
    this.#transient.delete(key);
    this.#report.forget(key, namespace, name);
  }
}

/** Ready at this generation, with no force-sync pending: a refresh may ask the source whether the
 * synced version is still current instead of reading the value. Expiry needs the value. */
function isSettled(els: ExternalLLMSecret): boolean {
  const { status, metadata } = els;
  const forceToken = metadata.annotations?.[FORCE_SYNC_ANNOTATION];
  return status?.syncedVersionId !== undefined
    && getCondition(status, ConditionType.Ready)?.status === 'True'
    && status.observedGeneration === metadata.generation
    && (forceToken === undefined || forceToken === status.forceSyncToken)
    && els.spec.expiry === undefined;
}

/** A force-sync not yet acknowledged: it asks for a fresh read. */
function isForced({ metadata, status }: ExternalLLMSecret): boolean {
  const forceToken = metadata.annotations?.[FORCE_SYNC_ANNOTATION];
  return forceToken !== undefined && forceToken !== status?.forceSyncToken;
}

/** How long a namespace that refused a write as terminating is left alone (it is usually gone first). */
const TERMINATING_RECHECK_MS = 60_000;

export function splitKey(key: string): [string, string] {
  const i = key.indexOf('/');
  return [key.slice(0, i), key.slice(i + 1)];
}

function toSyncError(err: unknown): SyncError {
  if (isSyncError(err)) return err;
  // Unexpected: keep the type of error, not its text (it may quote a response body).
  return new SyncError(Reason.KubernetesError, `unexpected ${errorSummary(err)}`, { retryable: true, cause: err });
}
