// The AWS Secrets Manager adapter behind the SecretSource port: role policy, identity (IRSA,
// web identity, chained roles), change detection on shared ListSecrets listings, batched and
// shared reads, and AWS errors mapped to reasons. Nothing outside src/aws knows it is AWS.
import { FORCE_SYNC_ANNOTATION } from '../crds/constants.js';
import type { ExternalLLMSecret } from '../crds/types.js';
import { decideRole, decideSecret, type AccessRule } from '../policy/access.js';
import type { Currency, ReadOptions, SecretSource, SourceRead, SourceSession } from '../source/port.js';
import { AWS_SECRETS_MANAGER } from '../source/registry.js';
import { Reason, SyncError } from '../sync/reasons.js';
import type { SourceSecret } from '../sync/source.js';
import type { BatchFetcher } from './batch-fetcher.js';
import type { AwsClientFactory } from './clients.js';
import type { CredentialBroker } from './credentials.js';
import { describeTags, regionOfArn } from './secrets-manager.js';
import type { SourceCache, SourceKey } from './source-cache.js';
import type { SecretMatch, VersionIndex } from './version-index.js';

export interface AwsSourceDeps {
  broker: Pick<CredentialBroker, 'resolve'>;
  clients: AwsClientFactory;
  sources: SourceCache;
  fetcher: BatchFetcher;
  /** Change detection; undefined when switched off. */
  versions?: VersionIndex;
  accessRules: AccessRule[];
  defaultRegion: string;
}

/** Outages of Secrets Manager and STS endpoints are regional. */
export const awsScope = (region: string): string => `aws:${region}`;

export class AwsSecretsManagerSource implements SecretSource {
  readonly name = AWS_SECRETS_MANAGER;
  readonly #d: AwsSourceDeps;

  constructor(deps: AwsSourceDeps) {
    this.#d = deps;
  }

  scopeOf(els: ExternalLLMSecret): string {
    return awsScope(this.#region(els));
  }

  open(els: ExternalLLMSecret): Promise<SourceSession> {
    return this.#open(els);
  }

  /**
   * Reads ahead, through the same policy and identity as open: the reads of one identity and
   * region then reach the BatchFetcher together (full batches) instead of one per worker, and
   * each value waits, claimed, for its resource's own read. A refusal costs no AWS call; any
   * failure is left for the resource's reconcile.
   */
  prefetch(resources: ExternalLLMSecret[], options: Pick<ReadOptions, 'maxAgeMs'>): void {
    for (const els of resources) {
      this.#open(els).then((session) => session.prefetch(options.maxAgeMs), () => undefined);
    }
  }

  async #open(els: ExternalLLMSecret): Promise<AwsSession> {
    this.#authorize(els);
    const identity = await this.#d.broker.resolve(els);
    const region = this.#region(els);
    // The account of the role reached (or the operator's own): listings are shared per account.
    const account = identity.roleArn?.split(':')[4] ?? 'operator';
    return new AwsSession(this.#d, els, {
      identityKey: identity.key, region,
      client: this.#d.clients.secretsManager(identity.key, region, identity.credentials),
      listKey: `${account}|${region}`,
    });
  }

  /**
   * Deny by default, before any AWS call. The operator's own identity (no serviceAccountRef, no
   * roleArn) reads only secrets an access rule grants to the namespace; a roleArn on top of the
   * operator's identity needs a rule; through the namespace's own ServiceAccount, IAM decides.
   */
  #authorize(els: ExternalLLMSecret): void {
    const { namespace } = els.metadata;
    const auth = els.spec.auth ?? {};
    if (auth.roleArn) {
      const decision = decideRole(this.#d.accessRules, namespace, auth.roleArn, auth.serviceAccountRef !== undefined);
      if (!decision.allowed) throw new SyncError(Reason.RoleNotPermitted, decision.why);
    } else if (!auth.serviceAccountRef) {
      const decision = decideSecret(this.#d.accessRules, namespace, sourceOf(els).secretId);
      if (!decision.allowed) throw new SyncError(Reason.SourceNotPermitted, decision.why);
    }
  }

  /**
   * A change event named these secrets (src/events): forget their cached values and versions, so
   * the next check of each asks AWS once more (one DescribeSecret, one read, shared by every
   * resource on the secret), not once per resource.
   */
  invalidate(match: SecretMatch): void {
    this.#d.versions?.invalidate(match);
    this.#d.sources.invalidate(match);
  }

  /** The region a resource reads from: spec.source.region, its ARN's, or the default. */
  regionOf(els: ExternalLLMSecret): string {
    return this.#region(els);
  }

  #region(els: ExternalLLMSecret): string {
    const source = sourceOf(els);
    return source.region ?? regionOfArn(source.secretId) ?? this.#d.defaultRegion;
  }
}

/** spec.source; the registry sends only resources that have one here. */
function sourceOf(els: ExternalLLMSecret): NonNullable<ExternalLLMSecret['spec']['source']> {
  if (!els.spec.source) throw new SyncError(Reason.InvalidSpec, 'spec.source is not set');
  return els.spec.source;
}

interface Access {
  identityKey: string;
  region: string;
  client: ReturnType<AwsClientFactory['secretsManager']>;
  /** account|region: ListSecrets listings are shared within it. */
  listKey: string;
}

class AwsSession implements SourceSession {
  readonly scope: string;

  constructor(private readonly d: AwsSourceDeps, private readonly els: ExternalLLMSecret, private readonly access: Access) {
    this.scope = awsScope(access.region);
  }

  async isCurrent(syncedVersionId: string): Promise<Currency> {
    const { secretId, versionId, versionStage } = sourceOf(this.els);
    if (versionId !== undefined) return versionId === syncedVersionId ? { current: true } : { current: false };
    if (!this.d.versions) return { current: false };
    const { listKey, identityKey, client } = this.access;
    const found = await this.d.versions.lookup(listKey, identityKey, client, secretId, versionStage ?? 'AWSCURRENT');
    return found.known && found.versionId === syncedVersionId ? { current: true, gridKey: listKey } : { current: false };
  }

  async read(options: ReadOptions): Promise<SourceRead> {
    const value = await this.d.sources.get(this.#key(), options.maxAgeMs, () => this.#fetch(), options.readAhead ? claimOf(this.els) : undefined);
    return options.tags ? { ...value, tags: await describeTags(this.access.client, sourceOf(this.els).secretId) } : value;
  }

  prefetch(maxAgeMs: number): void {
    this.d.sources.prefetch(this.#key(), maxAgeMs, () => this.#fetch(), claimOf(this.els));
  }

  #key(): SourceKey {
    const { secretId, versionId, versionStage } = sourceOf(this.els);
    return { identityKey: this.access.identityKey, region: this.access.region, secretId, versionId, versionStage };
  }

  #fetch(): Promise<SourceSecret> {
    const { secretId, versionId, versionStage } = sourceOf(this.els);
    const { identityKey, region, client } = this.access;
    return this.d.fetcher.get(`${identityKey}|${region}`, client, { secretId, versionId, versionStage });
  }
}

/** A value read ahead for a resource is kept for this resource at this generation and force-sync token. */
const claimOf = ({ metadata: m }: ExternalLLMSecret): string =>
  JSON.stringify([m.uid ?? `${m.namespace}/${m.name}`, m.generation ?? 0, m.annotations?.[FORCE_SYNC_ANNOTATION] ?? '']);
