// Pure helpers for generated keys: what a Bedrock API key says about itself (it is a base64
// presigned URL), the version id that names a minted key without containing it, and the renewal
// point. No clock, no I/O.
import { createHash } from 'node:crypto';

export const BEDROCK_KEY_PREFIX = 'bedrock-api-key-';
/** The longest a Bedrock API key can be valid. */
export const MAX_BEDROCK_KEY_SECONDS = 12 * 3600;
export const DEFAULT_RENEW_AT_PERCENT = 80;
/** The renewal point moves earlier by up to this fraction of itself, spreading renewals. */
export const RENEW_JITTER = 0.1;

export interface BedrockKeyParts {
  host: string;
  action: string | null;
  version: string | null;
  accessKeyId: string;
  /** The credential scope's date, region and service (yyyymmdd/region/bedrock/aws4_request). */
  scope: { date: string; region: string; service: string };
  signedAt: Date;
  expiresInSeconds: number;
  expiresAt: Date;
  /** The presigned URL's query, for checking a signature (tests). */
  query: URLSearchParams;
}

/** Decodes a Bedrock API key; throws on anything else. The result holds the key's parts: treat it as secret. */
export function decodeBedrockKey(token: string): BedrockKeyParts {
  if (!token.startsWith(BEDROCK_KEY_PREFIX)) throw new Error('not a Bedrock API key');
  const url = new URL(`https://${Buffer.from(token.slice(BEDROCK_KEY_PREFIX.length), 'base64').toString('utf8')}`);
  const q = url.searchParams;
  const [accessKeyId = '', date = '', region = '', service = ''] = (q.get('X-Amz-Credential') ?? '').split('/');
  const m = /^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/.exec(q.get('X-Amz-Date') ?? '');
  const expiresInSeconds = Number(q.get('X-Amz-Expires'));
  if (!m || !accessKeyId || !Number.isInteger(expiresInSeconds)) throw new Error('a Bedrock API key without X-Amz-Credential, X-Amz-Date or X-Amz-Expires');
  const signedAt = new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!));
  return {
    host: url.host, action: q.get('Action'), version: q.get('Version'), accessKeyId, scope: { date, region, service },
    signedAt, expiresInSeconds, expiresAt: new Date(signedAt.getTime() + expiresInSeconds * 1000), query: q,
  };
}

/**
 * Names one minted key: when it was issued and expires, and a hash of what identifies it (kind,
 * region, the signing access key id, the times). Never the key: status, events and logs carry it.
 */
export function versionIdOf(kind: string, region: string, keyId: string, issuedAt: Date, expiresAt: Date): string {
  const [i, e] = [Math.floor(issuedAt.getTime() / 1000), Math.floor(expiresAt.getTime() / 1000)];
  const hash = createHash('sha256').update([kind, region, keyId, i, e].join('|')).digest('hex').slice(0, 12);
  return `gen-${i}-${e}-${hash}`;
}

export function parseVersionId(versionId: string): { issuedAt: Date; expiresAt: Date } | undefined {
  const m = /^gen-(\d+)-(\d+)-[0-9a-f]{12}$/.exec(versionId);
  if (!m) return undefined;
  const [issued, expires] = [Number(m[1]) * 1000, Number(m[2]) * 1000];
  return expires > issued ? { issuedAt: new Date(issued), expiresAt: new Date(expires) } : undefined;
}

/**
 * When to renew: `percent` of the lifetime, moved earlier by up to RENEW_JITTER of that, by an
 * amount drawn from the version id, so every reconcile (and a restarted operator) computes the
 * same point while many keys minted together spread their renewals.
 */
export function renewAtOf(versionId: string, issuedAt: Date, expiresAt: Date, percent = DEFAULT_RENEW_AT_PERCENT): Date {
  const u = createHash('sha256').update(versionId).digest().readUInt32BE(0) / 2 ** 32;
  const lifetime = expiresAt.getTime() - issuedAt.getTime();
  return new Date(issuedAt.getTime() + Math.floor(lifetime * (percent / 100) * (1 - RENEW_JITTER * u)));
}

/** 3723 s → "1h2m3s". */
export function formatSeconds(seconds: number): string {
  const h = Math.floor(seconds / 3600); const m = Math.floor((seconds % 3600) / 60); const s = seconds % 60;
  return `${h ? `${h}h` : ''}${m ? `${m}m` : ''}${s || (!h && !m) ? `${s}s` : ''}`;
}
