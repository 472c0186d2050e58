// ExternalLLMSecretReconciler: one reconcile of one resource, level-based (it acts on current
// state, never on the event that queued it). The flow:
//   read from cache → due or drifted? → policy → identity → source → render → plan → write
//   → rollout restarts → status and events only when something changed → next refresh.
// Every failure goes through #fail(): a condition, an event on transition, a counter, and the
// last good Secret left exactly as it was.
import type { V1OwnerReference, V1Secret } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { API_VERSION, FORCE_SYNC_ANNOTATION, KIND, MANAGED_BY_LABEL, MANAGED_BY_VALUE, MERGED_KEYS_ANNOTATION, OWNER_ANNOTATION } from '../crds/constants.js';
import type { Condition, ExternalLLMSecret, ExternalLLMSecretStatus } from '../crds/types.js';
import type { CredentialBroker } from '../aws/credentials.js';
import type { AwsClientFactory } from '../aws/clients.js';
import type { SourceCache } from '../aws/source-cache.js';
import { describeTags, regionOfArn } from '../aws/secrets-manager.js';
import type { BatchFetcher } from '../aws/batch-fetcher.js';
import type { VersionIndex } from '../aws/version-index.js';
import { apiMessage, httpCode, isConflict, isNotFound, type KubeClient } from '../kube/client.js';
import { EventReason, type EventSink } from '../kube/events.js';
import type { Metrics } from '../observability/metrics.js';
import { decideRole, type RoleRule } from '../policy/roles.js';
import { parseDuration } from '../sync/duration.js';
import { DEFAULT_WARNING_WINDOW_MS, expiresAt, expiryState } from '../sync/expiry.js';
import { dataHash } from '../sync/hash.js';
import { decodeData, parseMergedKeys, planSecret, type DesiredSecret, type SecretPlan } from '../sync/plan.js';
import { Reason, SyncError, isSyncError } from '../sync/reasons.js';
import { renderSecretData, type RenderLimits } from '../sync/render.js';
import type { SourceSecret } from '../sync/source.js';
import { ConditionType, getCondition, removeCondition, sameStatus, setCondition, statusPatch } from '../sync/status.js';
import { jitteredInterval, nextAlignedRefresh } from './backoff.js';
import { errorSummary } from './informer.js';
import { awsScope, KUBE_SCOPE, type RecoveryBoard } from './recovery.js';
import { pendingRestart, restartTargets } from './rollout.js';

export const DEFAULT_REFRESH_INTERVAL = '1h';
/** Non-retryable failures are looked at again after at most this long (the source may be fixed). */
export const FAILED_RECHECK_MS = 5 * 60_000;

export interface ReconcilerConfig {
  defaultRegion: string;
  roleRules?: RoleRule[];
  hashKey: Buffer;
  limits: RenderLimits;
  /** A due refresh reuses a value another resource read this recently (shared refreshes). */
  refreshShareWindowMs: number;
  /** A drift repair may reuse a value up to this old instead of calling AWS again. */
  driftMaxAgeMs: number;
}

export interface ReconcilerDeps {
  getResource(namespace: string, name: string): ExternalLLMSecret | undefined;
  /** Managed Secrets from the label-selected informer cache. */
  getCachedSecret(namespace: string, name: string): V1Secret | undefined;
  kube: KubeClient;
  events: EventSink;
  broker: Pick<CredentialBroker, 'resolve'>;
  clients: AwsClientFactory;
  sources: SourceCache;
  fetcher: BatchFetcher;
  /** Change detection; undefined when switched off. */
  versions?: VersionIndex;
  metrics: Metrics;
  log: Logger;
  config: ReconcilerConfig;
  /** Requeues resources waiting in backoff when what they failed on answers again. */
  recovery?: RecoveryBoard;
  /** Test hook: runs right after a Secret write, before rollout restarts and status. */
  afterSecretWrite?: (key: string) => void;
  now?: () => Date;
}

interface Access {
  identityKey: string;
  region: string;
  client: SecretsManagerClient;
  /** identity|region: batched reads are shared within it. */
  groupKey: string;
  /** account|region: ListSecrets listings are shared within it. */
  listKey: string;
}

interface RefreshMemory {
  at: number;
  generation: number | undefined;
  forceToken: string | undefined;
  intervalMs: number;
}

interface SyncOutcome {
  /** skipped: nothing due; unchanged: checked, nothing to write; written: Secret or status written. */
  outcome: 'skipped' | 'unchanged' | 'written';
  requeueAfterMs?: number;
  versionId?: string;
  action?: string;
  changedKeys?: string[];
  /** The AWS region this sync reached successfully, if it called AWS. */
  awsRegion?: string;
  /** A rollout restart failed and must be retried (the Secret itself is in sync). */
  restartFailed?: boolean;
}

export interface ReconcileResult {
  requeueAfterMs?: number;
  /** Retry after backoff, never later than maxDelayMs (the refresh interval). */
  retry?: { maxDelayMs?: number };
}

export class ExternalLLMSecretReconciler {
  readonly #d: ReconcilerDeps;
  readonly #now: () => Date;
  /** When each resource last read its source. In memory on purpose: writing it to status on every
   * refresh would turn every unchanged refresh into an apiserver write. */
  readonly #refreshed = new Map<string, RefreshMemory>();
  /** Our last status write as the apiserver returned it (uid, resourceVersion, status only). The
   * informer cache catches up a moment later; a reconcile in between must not mistake the old
   * status for drift and write again. */
  readonly #written = new Map<string, Pick<ExternalLLMSecret, 'status'> & { metadata: { uid: string; resourceVersion?: string } }>();
  /** Resources whose last sync failed with a retryable reason (an outage, a stale cache): their
   * Ready=False is repaired as soon as the Secret is seen in sync, whatever path finds it. */
  readonly #transient = new Set<string>();

  constructor(deps: ReconcilerDeps) {
    this.#d = deps;
    this.#now = deps.now ?? (() => new Date());
  }

  async reconcile(key: string): Promise<ReconcileResult> {
    const [namespace, name] = splitKey(key);
    const cached = this.#d.getResource(namespace, name);
    if (!cached || cached.metadata.deletionTimestamp) {
      // Gone: the owner reference (deletionPolicy Delete) lets the garbage collector remove the
      // Secret; Retain leaves it, with no owner reference to follow.
      this.#refreshed.delete(key);
      this.#written.delete(key);
      this.#transient.delete(key);
      this.#d.recovery?.succeeded(key);
      this.#d.metrics.forgetResource(namespace, name);
      return {};
    }
    const els = this.#freshest(key, cached);
    const started = performance.now();
    const intervalMs = parseDuration(els.spec.refreshInterval ?? DEFAULT_REFRESH_INTERVAL) ?? 3_600_000;
    // Retries never wait longer than the refresh interval: a resource is never staler than it asks.
    const retry = { maxDelayMs: intervalMs === 0 ? undefined : intervalMs };
    try {
      const result = await this.#sync(key, els, intervalMs);
      this.#observe(els, result.outcome, Reason.Synced, started);
      this.#transient.delete(key);
      this.#recovered(key, result);
      // One line per sync outcome; refreshes that found nothing to do only at debug level.
      const line = {
        namespace, name, secretId: els.spec.source.secretId, versionId: result.versionId ?? els.status?.syncedVersionId,
        outcome: result.outcome, action: result.action, changedKeys: result.changedKeys,
        durationMs: Math.round(performance.now() - started), reason: Reason.Synced,
      };
      if (result.outcome === 'written') this.#d.log.info(line, 'synced');
      else this.#d.log.debug(line, 'in sync');
      return result.restartFailed ? { retry } : { requeueAfterMs: result.requeueAfterMs };
    } catch (err) {
      const failure = toSyncError(err);
      await this.#fail(els, failure);
      this.#observe(els, 'error', failure.reason, started);
      this.#d.log.warn({
        namespace, name, secretId: els.spec.source.secretId, reason: failure.reason, retryable: failure.retryable,
        durationMs: Math.round(performance.now() - started), err: failure.message,
      }, 'sync failed');
      if (failure.retryable) this.#transient.add(key); else this.#transient.delete(key);
      if (failure.retryable) {
        this.#d.recovery?.failed(failureScope(failure, this.#regionOf(els)), key);
        return { retry };
      }
      // Retrying cannot fix this one (bad content, a conflict, a refused role): look again at
      // the next refresh, or sooner, since the cause may be fixed outside Kubernetes.
      const recheckMs = intervalMs === 0 ? FAILED_RECHECK_MS : Math.min(FAILED_RECHECK_MS, intervalMs);
      this.#remember(key, els, recheckMs);
      return { requeueAfterMs: this.#untilNextRefresh(key, this.#now().getTime()) };
    }
  }

  /** A success proves its dependencies answer: resources waiting on them need not wait out backoff. */
  #recovered(key: string, result: SyncOutcome): void {
    const recovery = this.#d.recovery;
    if (!recovery) return;
    recovery.succeeded(key);
    const scopes = [...(result.awsRegion ? [awsScope(result.awsRegion)] : []), ...(result.outcome === 'written' ? [KUBE_SCOPE] : [])];
    for (const scope of scopes) {
      const requeued = recovery.recovered(scope);
      if (requeued > 0) {
        this.#d.metrics.recoveryRequeues.inc({ scope }, requeued);
        this.#d.log.info({ scope, requeued }, 'dependency answered again; requeued the resources that failed on it');
      }
    }
  }

  async #sync(key: string, els: ExternalLLMSecret, intervalMs: number): Promise<SyncOutcome> {
    const { namespace, name } = els.metadata;
    const targetName = els.spec.target?.name ?? name;
    const policy = els.spec.target?.creationPolicy ?? 'Owner';
    // A Merge target is foreign by definition, so never in the managed cache: read it. For the
    // others a cache miss usually means "not created yet", and the create below finds out
    // otherwise (409) without a GET per new resource.
    const live = policy === 'Merge' ? await this.#liveSecret(namespace, targetName) : this.#d.getCachedSecret(namespace, targetName);
    const now = this.#now();
    const due = this.#isDue(key, els, intervalMs, now.getTime());
    const drifted = live === undefined || this.#hashLive(live, policy) !== els.status?.dataHash;
    if (!due && !drifted) {
      // Nothing to read; but status must still tell the truth (a failure that no longer holds)
      // and a restart left pending by a crash or a failed patch is finished.
      const settled = await this.#settleInSync(key, els, targetName, now);
      return { ...settled, requeueAfterMs: this.#untilNextRefresh(key, now.getTime()) };
    }

    const access = await this.#access(els);
    const current = drifted ? undefined : await this.#stillCurrent(els, access);
    if (current) {
      // A refresh with nothing new: no value read, no write. The next one lands on the grid of
      // this account and region, so its resources share one ListSecrets per cycle.
      this.#remember(key, els, intervalMs, current.listed ? nextAlignedRefresh(now.getTime(), intervalMs, `${access.listKey}|${intervalMs}`) : undefined);
      const created = els.status?.syncedVersionCreatedAt;
      this.#recordSuccess(els, created ? new Date(created) : undefined, now);
      const settled = await this.#settleInSync(key, els, targetName, now);
      return { ...settled, outcome: settled.outcome === 'skipped' ? 'unchanged' : settled.outcome, awsRegion: access.region, requeueAfterMs: intervalMs === 0 ? undefined : this.#untilNextRefresh(key, now.getTime()) };
    }
    // force-sync means a fresh read; a due refresh may share a read made a moment ago by
    // another resource; a drift repair may reuse any value still cached.
    const forceToken = els.metadata.annotations?.[FORCE_SYNC_ANNOTATION];
    const forced = forceToken !== undefined && forceToken !== els.status?.forceSyncToken;
    const maxAgeMs = forced ? 0 : due ? this.#d.config.refreshShareWindowMs : this.#d.config.driftMaxAgeMs;
    const source = await this.#readSource(els, access, maxAgeMs);
    const rendered = renderSecretData(els.spec, source, this.#d.config.limits);
    // Expiry tags are read before anything is written: a failed read must not leave a freshly
    // written Secret behind a Ready=False status.
    const tags = els.spec.expiry?.tag !== undefined ? await describeTags(access.client, els.spec.source.secretId) : undefined;
    const desired = this.#desired(els, targetName, rendered.data);
    const { plan, changedKeys } = await this.#writeSecret(desired, live);
    if (plan.action !== 'none') this.#d.afterSecretWrite?.(key);

    const hash = dataHash(this.#d.config.hashKey, rendered.data);
    let conditions = setCondition(els.status?.conditions, {
      type: ConditionType.Ready, status: 'True', reason: Reason.Synced,
      message: `Secret ${targetName} holds version ${source.versionId} of ${els.spec.source.secretId}`,
      observedGeneration: els.metadata.generation,
    }, now);
    const restarts = await this.#restart(els, hash, conditions, now);
    conditions = restarts.conditions;
    const expiry = this.#expiry(els, { ...source, tags }, conditions, now);

    const next: ExternalLLMSecretStatus = {
      observedGeneration: els.metadata.generation,
      conditions: expiry.conditions,
      secretName: targetName,
      syncedVersionId: source.versionId,
      ...(source.createdDate ? { syncedVersionCreatedAt: source.createdDate.toISOString() } : {}),
      syncedAt: els.status?.syncedAt,
      dataHash: hash,
      ...(restarts.restartedForHash ? { restartedForHash: restarts.restartedForHash } : {}),
      keys: rendered.keys,
      ...(els.metadata.annotations?.[FORCE_SYNC_ANNOTATION] ? { forceSyncToken: els.metadata.annotations[FORCE_SYNC_ANNOTATION] } : {}),
      ...(expiry.expiresAt ? { expiresAt: expiry.expiresAt } : {}),
    };
    const statusChanged = !sameStatus(els.status, next) || plan.action !== 'none';
    if (statusChanged) {
      next.syncedAt = now.toISOString();
      await this.#writeStatus(els, next);
    }
    await this.#announce(els, plan.action, changedKeys, targetName, source.versionId);
    this.#remember(key, els, intervalMs);
    this.#recordSuccess(els, source.createdDate, now);
    return {
      outcome: plan.action === 'none' && !statusChanged ? 'unchanged' : 'written',
      versionId: source.versionId,
      action: plan.action,
      changedKeys,
      awsRegion: access.region,
      restartFailed: restarts.retry,
      requeueAfterMs: intervalMs === 0 ? undefined : this.#untilNextRefresh(key, now.getTime()),
    };
  }

  /**
   * The Secret already holds status.dataHash. Repairs what status says if it is stale: a failure
   * condition left by a retryable error that no longer holds (a write that failed on a stale
   * cache, an apiserver or AWS outage during a drift repair), and a pending rollout restart.
   * Failures the source caused (bad content, access) stay until the next read says otherwise.
   * (A due refresh that failed stays due, so a failure seen here came from a drift repair.)
   */
  async #settleInSync(key: string, els: ExternalLLMSecret, targetName: string, now: Date): Promise<Pick<SyncOutcome, 'outcome' | 'restartFailed'>> {
    const status = els.status ?? {};
    const hash = status.dataHash!;
    let conditions = status.conditions ?? [];
    const ready = getCondition(status, ConditionType.Ready);
    const repair = ready?.status === 'False' && this.#transient.has(key);
    if (repair) {
      conditions = setCondition(conditions, {
        type: ConditionType.Ready, status: 'True', reason: Reason.Synced,
        message: `Secret ${targetName} holds version ${status.syncedVersionId ?? 'unknown'} of ${els.spec.source.secretId}`,
        observedGeneration: els.metadata.generation,
      }, now);
    }
    const restarts = pendingRestart(els, status, hash) ? await this.#restart(els, hash, conditions, now) : undefined;
    if (restarts) conditions = restarts.conditions;
    const next: ExternalLLMSecretStatus = { ...status, conditions, ...(restarts?.restartedForHash ? { restartedForHash: restarts.restartedForHash } : {}) };
    if (sameStatus(status, next)) return { outcome: 'skipped' };
    await this.#writeStatus(els, next);
    if (repair) await this.#announce(els, 'none', [], targetName, status.syncedVersionId);
    return { outcome: 'written', restartFailed: restarts?.retry };
  }

  /**
   * Creates or updates the Secret as planned. A 409 means the cache was stale (the Secret exists
   * already, or changed since the cache saw it): decide again against a fresh read of that one
   * object, once, rather than failing the sync and waiting for the watch to catch up.
   */
  async #writeSecret(desired: DesiredSecret, live: V1Secret | undefined): Promise<{ plan: SecretPlan; changedKeys: string[] }> {
    for (let attempt = 0; ; attempt++) {
      const plan = planSecret(desired, live);
      try {
        switch (plan.action) {
          case 'refuse':
            throw new SyncError(plan.reason, plan.message, { retryable: plan.retryable });
          case 'create':
            await this.#d.kube.createSecret(plan.body);
            return { plan, changedKeys: Object.keys(desired.data) };
          case 'update':
            await this.#d.kube.replaceSecret(plan.body);
            return { plan, changedKeys: plan.changedKeys };
          case 'none':
            return { plan, changedKeys: [] };
        }
      } catch (err) {
        if (isSyncError(err)) throw err;
        if (!isConflict(err) || attempt > 0) throw this.#writeError(err, desired.name);
        live = await this.#readSecret(desired.namespace, desired.name);
      }
    }
  }

  /** The live target Secret: from the managed-Secret cache, or a GET when the cache lacks it. */
  async #liveSecret(namespace: string, name: string): Promise<V1Secret | undefined> {
    return this.#d.getCachedSecret(namespace, name) ?? this.#readSecret(namespace, name);
  }

  async #readSecret(namespace: string, name: string): Promise<V1Secret | undefined> {
    try {
      return await this.#d.kube.getSecret(namespace, name);
    } catch (err) {
      throw new SyncError(Reason.KubernetesError, `reading Secret ${namespace}/${name}: ${apiMessage(err)}`, { retryable: true, cause: err });
    }
  }

  #rememberWrite(written: ExternalLLMSecret): void {
    const { namespace, name, uid, resourceVersion } = written.metadata;
    this.#written.set(`${namespace}/${name}`, { metadata: { uid, resourceVersion }, status: written.status });
  }

  #freshest(key: string, cached: ExternalLLMSecret): ExternalLLMSecret {
    const written = this.#written.get(key);
    if (!written || written.metadata.uid !== cached.metadata.uid) return cached;
    if (newerVersion(cached.metadata.resourceVersion, written.metadata.resourceVersion)) {
      this.#written.delete(key);
      return cached;
    }
    // Our write is newer than the cache: its status with the cache's spec and metadata.
    return { ...cached, status: written.status };
  }

  #isDue(key: string, els: ExternalLLMSecret, intervalMs: number, now: number): boolean {
    const memory = this.#refreshed.get(key);
    const forceToken = els.metadata.annotations?.[FORCE_SYNC_ANNOTATION];
    const ready = getCondition(els.status, ConditionType.Ready)?.status === 'True';
    if (!memory) {
      // After a restart: a sync-once resource that is Ready at this generation stays as it is.
      const settled = ready && els.status?.observedGeneration === els.metadata.generation && (forceToken === undefined || forceToken === els.status?.forceSyncToken);
      return !(settled && intervalMs === 0);
    }
    if (memory.generation !== els.metadata.generation || memory.forceToken !== forceToken) return true;
    if (memory.intervalMs === 0) return false;
    return now >= memory.at + memory.intervalMs;
  }

  /** The next refresh: at `dueAt` when given (aligned), otherwise one jittered interval from now. */
  #remember(key: string, els: ExternalLLMSecret, intervalMs: number, dueAt?: number): void {
    const wait = intervalMs === 0 ? 0 : dueAt !== undefined ? intervalMs : jitteredInterval(intervalMs);
    this.#refreshed.set(key, {
      at: dueAt !== undefined ? dueAt - wait : Date.now(),
      generation: els.metadata.generation,
      forceToken: els.metadata.annotations?.[FORCE_SYNC_ANNOTATION],
      intervalMs: wait,
    });
  }

  #untilNextRefresh(key: string, now: number): number | undefined {
    const memory = this.#refreshed.get(key);
    if (!memory || memory.intervalMs === 0) return undefined;
    return Math.max(0, memory.at + memory.intervalMs - now);
  }

  #hashLive(live: V1Secret, policy: string): string {
    const data = decodeData(live.data);
    if (policy !== 'Merge') return dataHash(this.#d.config.hashKey, data);
    const merged = parseMergedKeys(live.metadata?.annotations?.[MERGED_KEYS_ANNOTATION]);
    return dataHash(this.#d.config.hashKey, Object.fromEntries(merged.filter((k) => Object.hasOwn(data, k)).map((k) => [k, data[k]!])));
  }

  /** Policy first (a refused role costs no AWS call), then the identity and its client. */
  async #access(els: ExternalLLMSecret): Promise<Access> {
    const { namespace } = els.metadata;
    const roleArn = els.spec.auth?.roleArn;
    if (roleArn) {
      const decision = decideRole(this.#d.config.roleRules, namespace, roleArn, els.spec.auth?.serviceAccountRef !== undefined);
      if (!decision.allowed) throw new SyncError(Reason.RoleNotPermitted, decision.why);
    }
    const identity = await this.#d.broker.resolve(els);
    const region = this.#regionOf(els);
    const client = this.#d.clients.secretsManager(identity.key, region, identity.credentials);
    // The account of the role reached (or the operator's own): listings are shared per account.
    const account = identity.roleArn?.split(':')[4] ?? 'operator';
    return { identityKey: identity.key, region, client, groupKey: `${identity.key}|${region}`, listKey: `${account}|${region}` };
  }

  #regionOf(els: ExternalLLMSecret): string {
    return els.spec.source.region ?? regionOfArn(els.spec.source.secretId) ?? this.#d.config.defaultRegion;
  }

  /**
   * True when the version synced last is still the one the spec asks for, so the Secret (whose
   * hash matched) already holds the right data: a pinned versionId, or change detection saying
   * the stage still points at it.
   */
  async #stillCurrent(els: ExternalLLMSecret, access: Access): Promise<{ listed: boolean } | undefined> {
    const status = els.status;
    const synced = status?.syncedVersionId;
    const forceToken = els.metadata.annotations?.[FORCE_SYNC_ANNOTATION];
    const settled = synced !== undefined
      && getCondition(status, ConditionType.Ready)?.status === 'True'
      && status?.observedGeneration === els.metadata.generation
      && (forceToken === undefined || forceToken === status?.forceSyncToken)
      && els.spec.expiry === undefined;
    if (!settled) return undefined;
    const { secretId, versionId, versionStage } = els.spec.source;
    if (versionId !== undefined) return versionId === synced ? { listed: false } : undefined;
    if (!this.#d.versions) return undefined;
    const found = await this.#d.versions.lookup(access.listKey, access.identityKey, access.client, secretId, versionStage ?? 'AWSCURRENT');
    return found.known && found.versionId === synced ? { listed: true } : undefined;
  }

  async #readSource(els: ExternalLLMSecret, access: Access, maxAgeMs: number): Promise<SourceSecret> {
    const { secretId, versionId, versionStage } = els.spec.source;
    return this.#d.sources.get(
      { identityKey: access.identityKey, region: access.region, secretId, versionId, versionStage },
      maxAgeMs,
      () => this.#d.fetcher.get(access.groupKey, access.client, { secretId, versionId, versionStage }),
    );
  }

  #desired(els: ExternalLLMSecret, targetName: string, data: Record<string, Buffer>): DesiredSecret {
    const { namespace, name, uid } = els.metadata;
    const target = els.spec.target ?? {};
    const policy = target.creationPolicy ?? 'Owner';
    const ownerReference: V1OwnerReference | undefined = policy === 'Owner' && target.deletionPolicy === 'Delete'
      ? { apiVersion: API_VERSION, kind: KIND, name, uid, controller: true, blockOwnerDeletion: false }
      : undefined;
    return {
      namespace,
      name: targetName,
      type: target.type ?? 'Opaque',
      owner: `${namespace}/${name}`,
      policy,
      labels: { ...target.labels, [MANAGED_BY_LABEL]: MANAGED_BY_VALUE },
      annotations: { ...target.annotations, [OWNER_ANNOTATION]: `${namespace}/${name}` },
      data,
      ownerReference,
      ownerUid: uid,
    };
  }

  #writeError(err: unknown, targetName: string): SyncError {
    // 409: someone changed or created the Secret since we looked; retry against the new state.
    const code = httpCode(err);
    const retryable = isConflict(err) || code === undefined || code >= 500 || code === 429;
    return new SyncError(Reason.KubernetesError, `writing Secret ${targetName}: ${apiMessage(err)}`, { retryable, cause: err });
  }

  /**
   * Restarts the rollout targets when a restart is pending for `hash` (see rollout.ts). Returns
   * the conditions, the restartedForHash to record, and whether a failed target needs a retry.
   */
  async #restart(els: ExternalLLMSecret, hash: string, conditions: Condition[], now: Date): Promise<{ conditions: Condition[]; restartedForHash?: string; retry: boolean }> {
    if (!els.spec.rolloutRestartTargets?.length) return { conditions, retry: false };
    if (!pendingRestart(els, els.status, hash)) return { conditions, restartedForHash: hash, retry: false };
    const outcome = await restartTargets(this.#d.kube, els, hash, now);
    const m = this.#d.metrics.rolloutRestarts;
    if (outcome.restarted.length) m.inc({ result: 'restarted' }, outcome.restarted.length);
    if (outcome.failed.length) m.inc({ result: 'failed' }, outcome.failed.length);
    if (outcome.skipped.length) m.inc({ result: 'skipped' }, outcome.skipped.length);
    for (const what of outcome.restarted) await this.#d.events.record(els, 'Normal', EventReason.RolloutRestarted, `Restarted ${what} after the secret changed`);
    const problems = [...outcome.skipped, ...outcome.failed];
    // A failed target keeps the restart pending: the old hash stays the baseline until it is done.
    const restartedForHash = outcome.failed.length ? (els.status?.restartedForHash ?? els.status?.dataHash) : hash;
    if (problems.length === 0) return { conditions: removeCondition(conditions, ConditionType.RolloutRestart), restartedForHash, retry: false };
    const message = `Could not restart: ${problems.join('; ')}${outcome.failed.length ? ' (retrying)' : ''}`;
    if (getCondition(els.status, ConditionType.RolloutRestart)?.message !== message) {
      await this.#d.events.record(els, 'Warning', EventReason.RolloutRestartFailed, message);
    }
    return {
      conditions: setCondition(conditions, { type: ConditionType.RolloutRestart, status: 'False', reason: 'RestartFailed', message, observedGeneration: els.metadata.generation }, now),
      restartedForHash, retry: outcome.failed.length > 0,
    };
  }

  #expiry(els: ExternalLLMSecret, source: SourceSecret & { tags?: Record<string, string> }, conditions: Condition[], now: Date): { conditions: Condition[]; expiresAt?: string } {
    const spec = els.spec.expiry;
    let list = removeCondition(removeCondition(conditions, ConditionType.KeyExpiring), ConditionType.KeyExpired);
    if (!spec) return { conditions: list };
    const at = expiresAt(spec, source);
    if (!at) return { conditions: list };
    const windowMs = (spec.warningWindow ? parseDuration(spec.warningWindow) : undefined) ?? DEFAULT_WARNING_WINDOW_MS;
    const state = expiryState(at, now, windowMs);
    const gen = els.metadata.generation;
    const previous = (type: string) => getCondition(els.status, type);
    if (state === 'expiring') {
      list = setCondition(list, { type: ConditionType.KeyExpiring, status: 'True', reason: 'KeyExpiring', message: `The key of ${els.spec.source.secretId} expires at ${at.toISOString()}`, observedGeneration: gen }, now);
      if (previous(ConditionType.KeyExpiring)?.status !== 'True') void this.#d.events.record(els, 'Warning', EventReason.KeyExpiring, `The key of ${els.spec.source.secretId} expires at ${at.toISOString()}`);
    } else if (state === 'expired') {
      list = setCondition(list, { type: ConditionType.KeyExpired, status: 'True', reason: 'KeyExpired', message: `The key of ${els.spec.source.secretId} expired at ${at.toISOString()}`, observedGeneration: gen }, now);
      if (previous(ConditionType.KeyExpired)?.status !== 'True') void this.#d.events.record(els, 'Warning', EventReason.KeyExpired, `The key of ${els.spec.source.secretId} expired at ${at.toISOString()}`);
    }
    return { conditions: list, expiresAt: at.toISOString() };
  }

  async #writeStatus(els: ExternalLLMSecret, next: ExternalLLMSecretStatus): Promise<void> {
    const { namespace, name } = els.metadata;
    try {
      this.#rememberWrite(await this.#d.kube.patchStatus(namespace, name, statusPatch(els.status, next)));
    } catch (err) {
      if (isNotFound(err)) return; // deleted while we worked
      throw new SyncError(Reason.KubernetesError, `writing status of ${namespace}/${name}: ${apiMessage(err)}`, { retryable: true, cause: err });
    }
  }

  async #announce(els: ExternalLLMSecret, action: string, changedKeys: string[], targetName: string, versionId: string | undefined): Promise<void> {
    const wasReady = getCondition(els.status, ConditionType.Ready);
    const id = els.spec.source.secretId;
    if (action === 'create') {
      await this.#d.events.record(els, 'Normal', EventReason.Synced, `Created Secret ${targetName} from ${id} (version ${versionId})`);
    } else if (action === 'update' && changedKeys.length > 0) {
      await this.#d.events.record(els, 'Normal', EventReason.Updated, `Updated keys ${changedKeys.join(', ')} of Secret ${targetName} from ${id} (version ${versionId})`);
    } else if (wasReady && wasReady.status !== 'True') {
      await this.#d.events.record(els, 'Normal', EventReason.Synced, `Secret ${targetName} is in sync with ${id} again`);
    }
  }

  async #fail(els: ExternalLLMSecret, failure: SyncError): Promise<void> {
    const { namespace, name } = els.metadata;
    const now = this.#now();
    const previous = getCondition(els.status, ConditionType.Ready);
    const next: ExternalLLMSecretStatus = {
      ...els.status,
      observedGeneration: els.metadata.generation,
      conditions: setCondition(els.status?.conditions, {
        type: ConditionType.Ready, status: 'False', reason: failure.reason, message: failure.message, observedGeneration: els.metadata.generation,
      }, now),
    };
    if (sameStatus(els.status, next)) return;
    try {
      this.#rememberWrite(await this.#d.kube.patchStatus(namespace, name, statusPatch(els.status, next)));
    } catch (err) {
      this.#d.log.warn({ namespace, name, err: errorSummary(err) }, 'could not write failure status');
    }
    if (previous?.status !== 'False' || previous.reason !== failure.reason) {
      const eventReason = failure.reason === Reason.SecretConflict ? EventReason.Conflict : EventReason.SyncFailed;
      await this.#d.events.record(els, 'Warning', eventReason, `${failure.reason}: ${failure.message}`);
    }
  }

  #observe(els: ExternalLLMSecret, result: string, reason: string, started: number): void {
    const { namespace, name } = els.metadata;
    const m = this.#d.metrics;
    m.observeSync(namespace, name, result, (performance.now() - started) / 1000);
    m.syncs.inc({ result, reason });
    m.ready.set({ namespace, name }, result === 'error' ? 0 : 1);
  }

  #recordSuccess(els: ExternalLLMSecret, versionCreated: Date | undefined, now: Date): void {
    const { namespace, name } = els.metadata;
    this.#d.metrics.lastSuccess.set({ namespace, name }, now.getTime() / 1000);
    if (versionCreated) this.#d.metrics.versionAge.set({ namespace, name }, (now.getTime() - versionCreated.getTime()) / 1000);
  }
}

/**
 * True when resourceVersion a is at least b. Resource versions are opaque to clients in
 * principle; the apiserver's are etcd revisions, so a numeric compare holds, and anything else
 * counts as newer (the cache wins, which costs at most one extra write).
 */
export function newerVersion(a: string | undefined, b: string | undefined): boolean {
  if (!a || !b || !/^\d+$/.test(a) || !/^\d+$/.test(b)) return true;
  return BigInt(a) >= BigInt(b);
}

export function splitKey(key: string): [string, string] {
  const i = key.indexOf('/');
  return [key.slice(0, i), key.slice(i + 1)];
}

/** What a retryable failure waits for: the apiserver, or the AWS endpoints of the region. */
function failureScope(failure: SyncError, region: string): string {
  return failure.reason === Reason.KubernetesError || failure.reason === Reason.ServiceAccountError ? KUBE_SCOPE : awsScope(region);
}

function toSyncError(err: unknown): SyncError {
  if (isSyncError(err)) return err;
  // Unexpected: keep the type of error, not its text (it may quote a response body).
  return new SyncError(Reason.KubernetesError, `unexpected ${errorSummary(err)}`, { retryable: true, cause: err });
}
