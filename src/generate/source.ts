// The generated-key adapter behind the SecretSource port (spec.generate): short-term Bedrock API
// keys and STS session credentials, minted from a dedicated session of the resource's role and
// renewed before they expire. Nothing is stored anywhere but the target Secret.
//   open():      policy only (deny by default, like the AWS adapter; a refusal costs no STS call)
//   isCurrent(): pure: current until the renewal point, so refreshes cost nothing
//   read():      a dedicated STS session from the CredentialBroker, then the key
import { getToken } from '@aws/bedrock-token-generator';
import { createHash } from 'node:crypto';
import type { DedicatedSession, CredentialBroker } from '../aws/credentials.js';
import { awsScope } from '../aws/source.js';
import type { ExternalLLMSecret } from '../crds/types.js';
import { decideGenerate, decideRole, type AccessRule, type GenerateKind } from '../policy/access.js';
import { sourceLabel } from '../source/label.js';
import type { Currency, ReadOptions, SecretSource, SourceRead, SourceSession } from '../source/port.js';
import { GENERATED } from '../source/registry.js';
import { parseDuration } from '../sync/duration.js';
import { Reason, SyncError } from '../sync/reasons.js';
import {
  DEFAULT_RENEW_AT_PERCENT, MAX_BEDROCK_KEY_SECONDS, decodeBedrockKey, formatSeconds, parseVersionId, renewAtOf, versionIdOf,
} from './token.js';

/** Sessions for a Bedrock API key: the key cannot outlive them, and STS caps chained ones at 1 hour. */
export const BEDROCK_SESSION_SECONDS = 3600;
/** A session outlives the key it signs by this much (the clock moves between STS and the signing). */
const SESSION_MARGIN_SECONDS = 60;
export const DEFAULT_CREDENTIALS_SECONDS = 3600;

export type MintBedrockKey = (credentials: DedicatedSession['credentials'], region: string, expiresInSeconds: number) => Promise<string>;

/** The official generator: a SigV4 presigned bedrock:CallWithBearerToken request, base64. */
export const mintWithGenerator: MintBedrockKey = (credentials, region, expiresInSeconds) => getToken({ credentials, region, expiresInSeconds });

export interface GeneratedSourceDeps {
  broker: Pick<CredentialBroker, 'dedicatedSession'>;
  accessRules: AccessRule[];
  defaultRegion: string;
  /** Resources without spec.auth mint from sessions of this role (when granted). */
  generatorRole?: string;
  mintBedrockKey?: MintBedrockKey;
  now?: () => number;
}

interface Minted {
  read: SourceRead & { expiresAt: Date; renewAt: Date };
  /** The spec and identity it was minted for: another one needs another key. */
  fingerprint: string;
}

export class GeneratedSource implements SecretSource {
  readonly name = GENERATED;
  readonly #d: GeneratedSourceDeps;
  readonly #now: () => number;
  /** The key last minted per resource, until its renewal point: a drift repair restores it. */
  readonly #minted = new Map<string, Minted>();

  constructor(deps: GeneratedSourceDeps) {
    this.#d = deps;
    this.#now = deps.now ?? Date.now;
  }

  scopeOf(els: ExternalLLMSecret): string {
    return awsScope(regionOf(els, this.#d.defaultRegion));
  }

  async open(els: ExternalLLMSecret): Promise<SourceSession> {
    const kind = kindOf(els);
    this.#authorize(els, kind);
    return new GeneratedSession(this, els, kind);
  }

  /**
   * Deny by default, before any AWS call. A generated key hands a role's power to the namespace,
   * which is more than the operator reading a secret with it:
   *   no spec.auth      → a "generate" grant for the kind, and the operator's --generator-role
   *   roleArn           → a roles grant for the role AND a "generate" grant for the kind
   *   serviceAccountRef → the namespace's own identity: IAM decides (a chained roleArn follows
   *                       the roles rules, as for stored secrets)
   */
  #authorize(els: ExternalLLMSecret, kind: GenerateKind): void {
    const { namespace } = els.metadata;
    const auth = els.spec.auth ?? {};
    const rules = this.#d.accessRules;
    if (auth.roleArn) {
      const role = decideRole(rules, namespace, auth.roleArn, auth.serviceAccountRef !== undefined);
      if (!role.allowed) throw new SyncError(Reason.RoleNotPermitted, role.why);
      if (!auth.serviceAccountRef) {
        const grant = decideGenerate(rules, namespace, kind, 'role');
        if (!grant.allowed) throw new SyncError(Reason.SourceNotPermitted, grant.why);
      }
    } else if (!auth.serviceAccountRef) {
      const grant = decideGenerate(rules, namespace, kind, 'generator-role');
      if (!grant.allowed) throw new SyncError(Reason.SourceNotPermitted, grant.why);
      if (!this.#d.generatorRole) {
        throw new SyncError(Reason.SourceNotPermitted, `a generated key without spec.auth is minted from the operator's --generator-role, which is not set: set spec.auth (roleArn or serviceAccountRef)`);
      }
    }
  }

  /** Fresh key (a new dedicated session), or the one minted last while it is before its renewal point. */
  async read(els: ExternalLLMSecret, kind: GenerateKind, options: ReadOptions): Promise<SourceRead> {
    const key = `${els.metadata.namespace}/${els.metadata.name}`;
    const fingerprint = fingerprintOf(els, this.#d.generatorRole);
    const now = this.#now();
    this.#sweep(now);
    const last = this.#minted.get(key);
    if (last && options.maxAgeMs > 0 && last.fingerprint === fingerprint && now < last.read.renewAt.getTime()) return last.read;
    const read = kind === 'bedrockApiKey' ? await this.#mintBedrockKey(els) : await this.#mintCredentials(els);
    this.#minted.set(key, { read, fingerprint });
    return read;
  }

  now(): number {
    return this.#now();
  }

  async #mintBedrockKey(els: ExternalLLMSecret): Promise<Minted['read']> {
    const spec = els.spec.generate!.bedrockApiKey!;
    const region = regionOf(els, this.#d.defaultRegion);
    const asked = spec.lifetime ? Math.floor(parseDuration(spec.lifetime)! / 1000) : undefined;
    const session = await this.#d.broker.dedicatedSession(els, { roleArn: this.#generatorRoleFor(els), seconds: Math.min((asked ?? BEDROCK_SESSION_SECONDS) + SESSION_MARGIN_SECONDS, BEDROCK_SESSION_SECONDS) });
    // Never longer than asked, than 12 hours, or than the session whose credentials sign it.
    const sessionLeft = Math.floor((session.expiresAt.getTime() - this.#now()) / 1000);
    const seconds = Math.min(asked ?? MAX_BEDROCK_KEY_SECONDS, MAX_BEDROCK_KEY_SECONDS, sessionLeft);
    if (seconds < 1) throw new SyncError(Reason.AssumeRoleFailed, `AssumeRole ${session.roleArn}: the session STS returned has already expired`, { retryable: true });
    let token: string;
    try {
      token = await (this.#d.mintBedrockKey ?? mintWithGenerator)(session.credentials, region, seconds);
    } catch (err) {
      // The generator's message is not ours to pass on: name the error type only.
      throw new SyncError(Reason.ProviderError, `minting a Bedrock API key for ${region} failed (${err instanceof Error ? err.name : typeof err})`, { retryable: true });
    }
    const parts = decodeBedrockKey(token);
    const detail = asked !== undefined && seconds < asked
      ? `lifetime ${spec.lifetime} cut to ${formatSeconds(seconds)}: a key never outlives the role session that signs it (${formatSeconds(session.seconds)}${session.chained ? ', the most STS gives a chained role' : ''})`
      : undefined;
    return this.#result(els, 'bedrockApiKey', region, parts.accessKeyId, parts.signedAt, parts.expiresAt, { AWS_BEARER_TOKEN_BEDROCK: token, AWS_REGION: region }, detail);
  }

  async #mintCredentials(els: ExternalLLMSecret): Promise<Minted['read']> {
    const spec = els.spec.generate!.awsCredentials!;
    const region = regionOf(els, this.#d.defaultRegion);
    const asked = spec.duration ? Math.floor(parseDuration(spec.duration)! / 1000) : DEFAULT_CREDENTIALS_SECONDS;
    const session = await this.#d.broker.dedicatedSession(els, { roleArn: this.#generatorRoleFor(els), seconds: asked });
    const { accessKeyId, secretAccessKey, sessionToken } = session.credentials;
    const detail = session.seconds < asked
      ? `duration ${spec.duration} cut to ${formatSeconds(session.seconds)}: STS caps a role assumed on top of another session at 1 hour`
      : undefined;
    return this.#result(els, 'awsCredentials', region, accessKeyId, new Date(this.#now()), session.expiresAt, {
      AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey, ...(sessionToken ? { AWS_SESSION_TOKEN: sessionToken } : {}),
      AWS_CREDENTIAL_EXPIRATION: session.expiresAt.toISOString(), AWS_REGION: region,
    }, detail);
  }

  #result(els: ExternalLLMSecret, kind: GenerateKind, region: string, keyId: string, issuedAt: Date, expiresAt: Date, values: Record<string, string>, detail: string | undefined): Minted['read'] {
    const versionId = versionIdOf(kind, region, keyId, issuedAt, expiresAt);
    return {
      secretId: sourceLabel(els), versionId, createdDate: issuedAt, secretString: JSON.stringify(values),
      expiresAt, renewAt: renewAtOf(versionId, issuedAt, expiresAt, renewPercentOf(els)), ...(detail ? { detail } : {}),
    };
  }

  #generatorRoleFor(els: ExternalLLMSecret): string | undefined {
    const auth = els.spec.auth ?? {};
    return auth.roleArn || auth.serviceAccountRef ? undefined : this.#d.generatorRole;
  }

  /** Keys past their renewal point are never served again: forget them (and deleted resources' keys). */
  #sweep(now: number): void {
    for (const [key, m] of this.#minted) if (now >= m.read.renewAt.getTime()) this.#minted.delete(key);
  }
}

class GeneratedSession implements SourceSession {
  readonly scope: string;

  constructor(private readonly source: GeneratedSource, private readonly els: ExternalLLMSecret, private readonly kind: GenerateKind) {
    this.scope = source.scopeOf(els);
  }

  /** Current until the renewal point, which the version id itself says: no call, no clock but ours. */
  async isCurrent(syncedVersionId: string): Promise<Currency> {
    const times = parseVersionId(syncedVersionId);
    if (!times) return { current: false };
    const renewAt = renewAtOf(syncedVersionId, times.issuedAt, times.expiresAt, renewPercentOf(this.els));
    return this.source.now() < renewAt.getTime() ? { current: true, renewAt, expiresAt: times.expiresAt } : { current: false };
  }

  read(options: ReadOptions): Promise<SourceRead> {
    return this.source.read(this.els, this.kind, options);
  }
}

export function kindOf(els: ExternalLLMSecret): GenerateKind {
  const g = els.spec.generate;
  if (g?.bedrockApiKey) return 'bedrockApiKey';
  if (g?.awsCredentials) return 'awsCredentials';
  throw new SyncError(Reason.InvalidSpec, 'spec.generate names no kind of key: set bedrockApiKey or awsCredentials');
}

function regionOf(els: ExternalLLMSecret, fallback: string): string {
  const g = els.spec.generate;
  return g?.bedrockApiKey?.region ?? g?.awsCredentials?.region ?? fallback;
}

function renewPercentOf(els: ExternalLLMSecret): number {
  return els.spec.generate?.renewAtPercent ?? DEFAULT_RENEW_AT_PERCENT;
}

/** What a minted key depends on (hashed: the spec may carry an external ID). */
function fingerprintOf(els: ExternalLLMSecret, generatorRole: string | undefined): string {
  return createHash('sha256').update(JSON.stringify([els.metadata.uid, els.spec.generate, els.spec.auth, generatorRole])).digest('hex');
}
