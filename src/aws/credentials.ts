// The credential broker: which AWS identity reads the secret for one ExternalLLMSecret.
//   operator identity (SDK default chain: IRSA / Pod Identity on EKS)
//   namespace ServiceAccount → TokenRequest → AssumeRoleWithWebIdentity
//   either of those → AssumeRole(roleArn, externalId, session tags)
//   operator identity with --reader-role → AssumeRole(reader role, tagged with the namespace), so
//     IAM itself can keep each namespace to its own secrets (ABAC)
// STS credentials and service-account tokens are cached per identity (LRU-bounded) and renewed at
// 80% of their lifetime, so STS calls grow with the number of distinct identities, not resources.
// Session names and tags are the operator's: `els-<namespace>[-<tenant suffix>]`, and tag keys
// under our own `llmsecrets-` prefix, which can never collide with the transitive tags EKS Pod
// Identity sets (kubernetes-namespace, eks-cluster-name, ...): STS refuses a colliding key.
import { AssumeRoleCommand, AssumeRoleWithWebIdentityCommand, type Tag } from '@aws-sdk/client-sts';
import { createHash } from 'node:crypto';
import type { ExternalLLMSecret } from '../crds/types.js';
import type { KubeClient } from '../kube/client.js';
import { apiMessage, httpCode } from '../kube/client.js';
import type { Metrics } from '../observability/metrics.js';
import { parseDuration } from '../sync/duration.js';
import { Reason, SyncError } from '../sync/reasons.js';
import type { AwsClientFactory, Credentials } from './clients.js';
import { mapStsError } from './errors.js';

export const IRSA_ROLE_ANNOTATION = 'eks.amazonaws.com/role-arn';
export const DEFAULT_AUDIENCE = 'sts.amazonaws.com';
export const DEFAULT_SESSION_SECONDS = 3600;
export const TOKEN_SECONDS = 3600;
/** Renew cached credentials and tokens when this fraction of their lifetime has passed. */
export const RENEW_AT_FRACTION = 0.8;
export const SESSION_TAG_NAMESPACE = 'llmsecrets-namespace';
export const SESSION_TAG_NAME = 'llmsecrets-name';
/** STS caps a chained AssumeRole (on top of an assumed role or web identity session) at 1 hour. */
export const MAX_CHAINED_SESSION_SECONDS = 3600;
/** Identities kept at once (credentials, tokens); the least recently used go first. */
export const DEFAULT_MAX_IDENTITIES = 1000;

export type SessionTagMode = 'off' | 'namespace' | 'namespace-and-name';

export interface ResolvedIdentity {
  /** Names the identity for caches and clients; never contains a credential or external ID. */
  key: string;
  credentials: Credentials | undefined;
  /** The role reached, for messages. */
  roleArn?: string;
}

/** Credentials of a session made for one generated key, with what was asked and granted. */
export interface DedicatedSession {
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  expiresAt: Date;
  roleArn: string;
  /** The DurationSeconds asked of STS (after the 1-hour cap on chained roles). */
  seconds: number;
  /** Assumed on top of another session: STS caps it at 1 hour. */
  chained: boolean;
}

function dedicated(fresh: { value: Credentials; expiresAt: number }, roleArn: string, seconds: number, chained: boolean): DedicatedSession {
  const c = fresh.value as { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  return { credentials: { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey, sessionToken: c.sessionToken }, expiresAt: new Date(fresh.expiresAt), roleArn, seconds, chained };
}

export interface BrokerOptions {
  clients: AwsClientFactory;
  kube: Pick<KubeClient, 'createServiceAccountToken' | 'getServiceAccount' | 'getSecret'>;
  stsRegion: string;
  sessionTags: SessionTagMode;
  /** Explicit operator credentials; undefined means the SDK default chain. */
  operatorCredentials?: Credentials;
  /** Resources without spec.auth read through this role, in a session tagged with their namespace. */
  readerRole?: string;
  /** LRU bound on cached identities and tokens. */
  maxIdentities?: number;
  /** Called when an identity leaves the cache (its SDK clients can go too). */
  onEvict?: (identityKey: string) => void;
  metrics?: Metrics;
  now?: () => number;
}

interface Cached<T> {
  promise: Promise<T>;
  renewAt: number;
}

const OPERATOR = 'operator';

export class CredentialBroker {
  readonly #opts: BrokerOptions;
  readonly #cache = new Map<string, Cached<Credentials>>();
  readonly #tokens = new Map<string, Cached<string>>();
  readonly #now: () => number;

  constructor(opts: BrokerOptions) {
    this.#opts = opts;
    this.#now = opts.now ?? Date.now;
  }

  async resolve(els: ExternalLLMSecret): Promise<ResolvedIdentity> {
    const auth = els.spec.auth ?? {};
    const { namespace, name } = els.metadata;
    let base: ResolvedIdentity = { key: OPERATOR, credentials: this.#opts.operatorCredentials };
    let chainRole = auth.roleArn;
    const sessionName = sessionNameFor(namespace, auth.sessionName);

    if (!auth.serviceAccountRef && !auth.roleArn && this.#opts.readerRole) {
      // ABAC: the namespace tag rides on the session whatever --session-tags says.
      return this.#assumeRole(base, this.#opts.readerRole, undefined, sessionNameFor(namespace), MAX_CHAINED_SESSION_SECONDS, [{ Key: SESSION_TAG_NAMESPACE, Value: namespace }]);
    }

    if (auth.serviceAccountRef) {
      const sa = auth.serviceAccountRef;
      const { annotated, webRole } = await this.#webRoleOf(namespace, sa.name, auth.roleArn);
      if (!annotated) chainRole = undefined;
      base = await this.#webIdentity(namespace, sa.name, sa.audience ?? DEFAULT_AUDIENCE, webRole, sessionName);
    }
    if (!chainRole) return base;
    const seconds = sessionSeconds(auth.sessionDuration, chainRole);
    const externalId = await this.#externalId(els);
    return this.#assumeRole(base, chainRole, externalId, sessionName, seconds, this.#sessionTags(namespace, name));
  }

  /** The role a ServiceAccount's web identity assumes: its IRSA annotation, else spec.auth.roleArn. */
  async #webRoleOf(namespace: string, saName: string, roleArn: string | undefined): Promise<{ annotated?: string; webRole: string }> {
    const annotated = await this.#serviceAccountRole(namespace, saName);
    const webRole = annotated ?? roleArn;
    if (!webRole) {
      throw new SyncError(Reason.ServiceAccountError, `ServiceAccount ${namespace}/${saName} has no ${IRSA_ROLE_ANNOTATION} annotation and spec.auth.roleArn is not set`);
    }
    return { annotated, webRole };
  }

  async #serviceAccountRole(namespace: string, saName: string): Promise<string | undefined> {
    try {
      const sa = await this.#opts.kube.getServiceAccount(namespace, saName);
      return sa.metadata?.annotations?.[IRSA_ROLE_ANNOTATION];
    } catch (err) {
      throw new SyncError(Reason.ServiceAccountError, `ServiceAccount ${namespace}/${saName}: ${apiMessage(err)}`, { retryable: httpCode(err) !== 404, cause: err });
    }
  }

  async #token(namespace: string, saName: string, audience: string): Promise<string> {
    const key = `${namespace}/${saName}/${audience}`;
    return this.#cached(this.#tokens, key, async () => {
      try {
        const { token, expiresAt } = await this.#opts.kube.createServiceAccountToken(namespace, saName, audience, TOKEN_SECONDS);
        return { value: token, expiresAt: expiresAt.getTime() };
      } catch (err) {
        throw new SyncError(Reason.ServiceAccountError, `token request for ServiceAccount ${namespace}/${saName}: ${apiMessage(err)}`, { retryable: httpCode(err) !== 404 && httpCode(err) !== 403, cause: err });
      }
    });
  }

  async #webIdentity(namespace: string, saName: string, audience: string, roleArn: string, sessionName: string): Promise<ResolvedIdentity> {
    const key = `sa:${namespace}/${saName}${audience === DEFAULT_AUDIENCE ? '' : `@${audience}`}>${roleArn}|${sessionName}`;
    const credentials = await this.#provider(key, () => this.#callWebIdentity(namespace, saName, audience, roleArn, sessionName));
    return { key, credentials, roleArn };
  }

  async #callWebIdentity(namespace: string, saName: string, audience: string, roleArn: string, sessionName: string, seconds?: number): Promise<{ value: Credentials; expiresAt: number }> {
    const token = await this.#token(namespace, saName, audience);
    // AssumeRoleWithWebIdentity is not signed: the token is the credential.
    const sts = this.#opts.clients.sts('anonymous', this.#opts.stsRegion, { accessKeyId: '', secretAccessKey: '' });
    let out;
    try {
      out = await sts.send(new AssumeRoleWithWebIdentityCommand({ RoleArn: roleArn, RoleSessionName: sessionName, WebIdentityToken: token, ...(seconds ? { DurationSeconds: seconds } : {}) }));
    } catch (err) {
      throw mapStsError(err, roleArn, 'AssumeRoleWithWebIdentity');
    }
    return toCredentials(out.Credentials, this.#now());
  }

  async #assumeRole(base: ResolvedIdentity, roleArn: string, externalId: string | undefined, sessionName: string, seconds: number, tags: Tag[]): Promise<ResolvedIdentity> {
    const key = [
      `${base.key}>${roleArn}`, sessionName, seconds,
      externalId === undefined ? '' : `x:${createHash('sha256').update(externalId).digest('hex').slice(0, 16)}`,
      tags.map((t) => `${t.Key}=${t.Value}`).join(','),
    ].join('|');
    const credentials = await this.#provider(key, () => this.#callAssumeRole(base, roleArn, externalId, sessionName, seconds, tags));
    return { key, credentials, roleArn };
  }

  async #callAssumeRole(base: ResolvedIdentity, roleArn: string, externalId: string | undefined, sessionName: string, seconds: number, tags: Tag[]): Promise<{ value: Credentials; expiresAt: number }> {
    const sts = this.#opts.clients.sts(base.key, this.#opts.stsRegion, base.credentials);
    let out;
    try {
      out = await sts.send(new AssumeRoleCommand({
        RoleArn: roleArn,
        RoleSessionName: sessionName,
        DurationSeconds: seconds,
        ...(externalId !== undefined ? { ExternalId: externalId } : {}),
        ...(tags.length > 0 ? { Tags: tags, TransitiveTagKeys: tags.map((t) => t.Key!) } : {}),
      }));
    } catch (err) {
      throw mapStsError(err, roleArn, 'AssumeRole');
    }
    return toCredentials(out.Credentials, this.#now());
  }

  /**
   * A dedicated session for a key the operator hands out (spec.generate): the last hop (the
   * AssumeRole, or the ServiceAccount's AssumeRoleWithWebIdentity when that is the last) is made
   * for this call alone, never cached nor shared with the sessions the operator reads with; the
   * hops before it come from the cache as usual. It always ends in a role: the operator's own
   * credentials are never handed out. `roleArn` stands in for spec.auth.roleArn (the
   * --generator-role of a resource without spec.auth). Session name: els-<namespace>-<the
   * tenant's sessionName, or gen-<resource name>>.
   */
  async dedicatedSession(els: ExternalLLMSecret, opts: { roleArn?: string; seconds: number }): Promise<DedicatedSession> {
    const auth = els.spec.auth ?? {};
    const { namespace, name } = els.metadata;
    const sessionName = sessionNameFor(namespace, auth.sessionName ?? `gen-${name}`);
    const chainRole = opts.roleArn ?? auth.roleArn;
    let base: ResolvedIdentity = { key: OPERATOR, credentials: this.#opts.operatorCredentials };
    if (auth.serviceAccountRef) {
      const sa = auth.serviceAccountRef;
      const { annotated, webRole } = await this.#webRoleOf(namespace, sa.name, auth.roleArn);
      const audience = sa.audience ?? DEFAULT_AUDIENCE;
      if (!annotated || !chainRole) {
        // The web identity session is the last hop: not chained, so up to the role's maximum.
        const fresh = await this.#callWebIdentity(namespace, sa.name, audience, webRole, sessionName, opts.seconds);
        return dedicated(fresh, webRole, opts.seconds, false);
      }
      base = await this.#webIdentity(namespace, sa.name, audience, annotated, sessionNameFor(namespace, auth.sessionName));
    }
    if (!chainRole) {
      throw new SyncError(Reason.InvalidSpec, 'a generated key is minted from a role session: set spec.auth.roleArn or spec.auth.serviceAccountRef (the operator never hands out its own credentials)');
    }
    const seconds = Math.min(Math.max(900, opts.seconds), MAX_CHAINED_SESSION_SECONDS);
    const externalId = await this.#externalId(els);
    const fresh = await this.#callAssumeRole(base, chainRole, externalId, sessionName, seconds, this.#sessionTags(namespace, name));
    return dedicated(fresh, chainRole, seconds, true);
  }

  #sessionTags(namespace: string, name: string): Tag[] {
    switch (this.#opts.sessionTags) {
      case 'off': return [];
      case 'namespace': return [{ Key: SESSION_TAG_NAMESPACE, Value: namespace }];
      case 'namespace-and-name': return [{ Key: SESSION_TAG_NAMESPACE, Value: namespace }, { Key: SESSION_TAG_NAME, Value: name }];
    }
  }

  async #externalId(els: ExternalLLMSecret): Promise<string | undefined> {
    const ref = els.spec.auth?.externalId;
    if (!ref) return undefined;
    if (ref.value !== undefined) return ref.value;
    const { name, key } = ref.secretKeyRef!;
    const ns = els.metadata.namespace;
    let secret;
    try {
      secret = await this.#opts.kube.getSecret(ns, name);
    } catch (err) {
      throw new SyncError(Reason.ExternalIdError, `external ID Secret ${ns}/${name}: ${apiMessage(err)}`, { retryable: true, cause: err });
    }
    const encoded = secret?.data?.[key];
    if (encoded === undefined) throw new SyncError(Reason.ExternalIdError, `external ID Secret ${ns}/${name} has no key ${key}`);
    return Buffer.from(encoded, 'base64').toString('utf8');
  }

  /**
   * Resolves the credentials once (so STS errors surface to the reconcile that caused them) and
   * returns a provider that serves them from the cache and renews them when due. The SDK client
   * for this identity keeps calling the provider, so it never holds expired credentials.
   */
  async #provider(key: string, make: () => Promise<{ value: Credentials; expiresAt: number }>): Promise<Credentials> {
    await this.#cached(this.#cache, key, make);
    return async () => (await this.#cached(this.#cache, key, make)) as Awaited<ReturnType<Exclude<Credentials, { accessKeyId: string }>>>;
  }

  async #cached<T>(map: Map<string, Cached<T>>, key: string, make: () => Promise<{ value: T; expiresAt: number }>): Promise<T> {
    const now = this.#now();
    const hit = map.get(key);
    if (hit && now < hit.renewAt) {
      this.#opts.metrics?.credentialCache.inc({ result: 'hit' });
      map.delete(key); // most recently used last
      map.set(key, hit);
      return hit.promise;
    }
    this.#opts.metrics?.credentialCache.inc({ result: 'miss' });
    const entry: Cached<T> = { promise: undefined as unknown as Promise<T>, renewAt: Number.POSITIVE_INFINITY };
    entry.promise = make().then(({ value, expiresAt }) => {
      entry.renewAt = now + (expiresAt - now) * RENEW_AT_FRACTION;
      return value;
    }, (err: unknown) => {
      if (map.get(key) === entry) map.delete(key);
      throw err;
    });
    map.delete(key);
    map.set(key, entry);
    this.#bound(map);
    return entry.promise;
  }

  /** Drops the least recently used entries beyond the bound (one tenant's many session names
   * must not grow the operator without limit). */
  #bound<T>(map: Map<string, Cached<T>>): void {
    const max = this.#opts.maxIdentities ?? DEFAULT_MAX_IDENTITIES;
    for (const key of map.keys()) {
      if (map.size <= max) break;
      map.delete(key);
      this.#opts.metrics?.credentialCache.inc({ result: 'evicted' });
      if (map === (this.#cache as Map<string, unknown>)) this.#opts.onEvict?.(key);
    }
  }
}

function toCredentials(c: { AccessKeyId?: string; SecretAccessKey?: string; SessionToken?: string; Expiration?: Date } | undefined, now: number): { value: Credentials; expiresAt: number } {
  if (!c?.AccessKeyId || !c.SecretAccessKey) throw new SyncError(Reason.AssumeRoleFailed, 'STS returned no credentials', { retryable: true });
  const expiresAt = c.Expiration?.getTime() ?? now + DEFAULT_SESSION_SECONDS * 1000;
  return { value: { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.SessionToken, expiration: c.Expiration }, expiresAt };
}

/**
 * The session name, the operator's: `els-<namespace>`, so resources of a namespace share a
 * session (and its cached credentials) and CloudTrail and `sts:RoleSessionName` conditions see
 * which namespace asked. A tenant's spec.auth.sessionName is only a suffix, cut to fit STS's 64
 * characters; it can never stand in for the namespace.
 */
export function sessionNameFor(namespace: string, suffix?: string): string {
  const clean = (s: string) => s.replace(/[^A-Za-z0-9+=,.@_-]/g, '-');
  const base = clean(`els-${namespace}`).slice(0, 64);
  const tail = suffix ? clean(suffix).slice(0, Math.max(0, 64 - base.length - 1)) : '';
  return tail ? `${base}-${tail}` : base;
}

/**
 * The AssumeRole duration. Every AssumeRole the operator makes for a resource is chained (on top
 * of its own IRSA / Pod Identity session or a ServiceAccount's web identity), which STS caps at
 * 1 hour: a longer sessionDuration is refused here, with no STS call, instead of by STS.
 */
function sessionSeconds(text: string | undefined, roleArn: string): number {
  const ms = text ? parseDuration(text) : undefined;
  if (ms === undefined) return DEFAULT_SESSION_SECONDS;
  const seconds = Math.round(ms / 1000);
  if (seconds > MAX_CHAINED_SESSION_SECONDS) {
    throw new SyncError(Reason.InvalidSpec, `spec.auth.sessionDuration ${text} is longer than 1h: assuming ${roleArn || 'the role'} is role chaining (on top of the operator's or a ServiceAccount's session), which STS caps at 1 hour`);
  }
  return Math.max(900, seconds);
}
