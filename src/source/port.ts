// The port between the reconciler and wherever secret values come from. AWS Secrets Manager is
// one adapter (src/aws/source.ts), generated short-term keys another (src/generate/source.ts);
// each is chosen by name (registry.ts) without the reconciler changing. The reconciler imports
// nothing from src/aws, src/generate or @aws-sdk.
import type { ExternalLLMSecret } from '../crds/types.js';
import type { SourceSecret } from '../sync/source.js';

/** One version of a secret, with the tags spec.expiry.tag reads, in one result. */
export interface SourceRead extends SourceSecret {
  tags?: Record<string, string>;
  /** A value that expires by itself (a generated key): when. */
  expiresAt?: Date;
  /** Ask again no later than this, whatever refreshInterval says (a generated key's renewal point). */
  renewAt?: Date;
  /** Said next to the version in the Ready message (e.g. why a lifetime was cut short); never a value. */
  detail?: string;
}

export interface ReadOptions {
  /** A value read this recently (by any resource) may be reused; 0 asks for a fresh read. */
  maxAgeMs: number;
  /** Also return the secret's tags. */
  tags: boolean;
  /**
   * The resource's first read at this generation and force-sync token: a value read ahead for it
   * (SecretSource.prefetch) serves, whatever its age. Later reads never take one.
   */
  readAhead?: boolean;
}

/** Whether the version synced last is still the one the spec asks for; renewAt/expiresAt as in SourceRead. */
export type Currency =
  /** gridKey: resources whose checks share one listing; their next checks are aligned on it. */
  | { current: true; gridKey?: string; renewAt?: Date; expiresAt?: Date }
  | { current: false };

/** A resource's way in, once policy allowed it and its identity is resolved. */
export interface SourceSession {
  /** The dependency a retryable failure waits for; see controller/recovery.ts. */
  readonly scope: string;
  /** Answers without reading the value (a pinned version, or a shared listing). */
  isCurrent(syncedVersionId: string): Promise<Currency>;
  read(options: ReadOptions): Promise<SourceRead>;
}

export interface SecretSource {
  readonly name: string;
  /** The dependency scope of a resource, known before (or without) opening a session. */
  scopeOf(els: ExternalLLMSecret): string;
  /** Policy first (a refusal costs no call to the backend), then identity. Throws SyncError. */
  open(els: ExternalLLMSecret): Promise<SourceSession>;
  /**
   * A hint: these resources, queued, will read their values soon (with maxAgeMs). A source may
   * start the reads now, together, and keep each value for its resource's own read. Policy
   * first, as in open; failures are left for the resource's own reconcile to meet and report.
   */
  prefetch?(resources: ExternalLLMSecret[], options: Pick<ReadOptions, 'maxAgeMs'>): void;
}
