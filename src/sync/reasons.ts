// Condition reasons users see in status, events and metrics. Documented in the README.
export const Reason = {
  Synced: 'Synced',
  // AWS source
  ResourceNotFound: 'ResourceNotFound',
  SecretDeleted: 'SecretDeleted',
  AccessDenied: 'AccessDenied',
  DecryptionFailure: 'DecryptionFailure',
  Throttled: 'Throttled',
  ProviderError: 'ProviderError',
  EndpointError: 'EndpointError',
  VersionNotFound: 'VersionNotFound',
  // identity
  RoleNotPermitted: 'RoleNotPermitted',
  SourceNotPermitted: 'SourceNotPermitted',
  AssumeRoleFailed: 'AssumeRoleFailed',
  InvalidWebIdentityToken: 'InvalidWebIdentityToken',
  ServiceAccountError: 'ServiceAccountError',
  ExternalIdError: 'ExternalIdError',
  // content
  InvalidJSON: 'InvalidJSON',
  MissingProperty: 'MissingProperty',
  InvalidValue: 'InvalidValue',
  InvalidKey: 'InvalidKey',
  DuplicateKey: 'DuplicateKey',
  ValueTooLarge: 'ValueTooLarge',
  BinaryNotSupported: 'BinaryNotSupported',
  // target
  SecretConflict: 'SecretConflict',
  MergeTargetMissing: 'MergeTargetMissing',
  SecretTypeImmutable: 'SecretTypeImmutable',
  KubernetesError: 'KubernetesError',
  InvalidSpec: 'InvalidSpec',
  // conditions other than Ready
  RestartFailed: 'RestartFailed',
  KeyExpiring: 'KeyExpiring',
  KeyExpired: 'KeyExpired',
  NotEnvVarNames: 'NotEnvVarNames',
} as const;
export type Reason = (typeof Reason)[keyof typeof Reason];

/**
 * A failure that carries its reason from where it happens to the status condition.
 * `retryable`: a retry with backoff may help (throttling, outages); otherwise the resource waits
 * for its next refresh or a spec change, because retrying cannot fix it.
 * The message must never contain a secret value: name the secret id and the AWS error code.
 */
export class SyncError extends Error {
  readonly reason: Reason;
  readonly retryable: boolean;
  constructor(reason: Reason, message: string, options: { retryable?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SyncError';
    this.reason = reason;
    this.retryable = options.retryable ?? false;
  }
}

export const isSyncError = (e: unknown): e is SyncError => e instanceof SyncError;
