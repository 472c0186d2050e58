// AWS failures → SyncError with a reason. Messages carry the operation, the secret id or role,
// and the AWS error code: never the service's own message text, which this code does not control.
import { Reason, SyncError } from '../sync/reasons.js';

interface AwsErrorShape {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $retryable?: unknown;
}

const THROTTLING = new Set(['ThrottlingException', 'Throttling', 'TooManyRequestsException', 'RequestLimitExceeded', 'LimitExceededException', 'SlowDown']);
const NETWORK = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EPIPE', 'TimeoutError', 'RequestTimeout', 'NetworkingError']);

export function awsErrorCode(err: unknown): string {
  const e = (err ?? {}) as AwsErrorShape;
  return e.name && e.name !== 'Error' ? e.name : e.code ?? 'UnknownError';
}

/** A network failure, by the SDK's name for it or by the Node error code underneath. */
function isNetworkError(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  return NETWORK.has(awsErrorCode(err)) || (typeof code === 'string' && NETWORK.has(code));
}

export function mapSecretsManagerError(err: unknown, secretId: string, operation = 'GetSecretValue'): SyncError {
  const e = (err ?? {}) as AwsErrorShape;
  const code = awsErrorCode(err);
  const status = e.$metadata?.httpStatusCode;
  const text = `${operation} ${secretId}: ${code}${status ? ` (HTTP ${status})` : ''}`;
  const message = e.message ?? '';
  switch (code) {
    case 'ResourceNotFoundException':
      // The same code says "no such secret" and "no such version or stage".
      if (/staging label|VersionId|version/i.test(message)) return new SyncError(Reason.VersionNotFound, text, { cause: err });
      return new SyncError(Reason.ResourceNotFound, text, { cause: err });
    case 'InvalidRequestException':
      if (/deleted|deletion/i.test(message)) return new SyncError(Reason.SecretDeleted, `${text}: the secret is scheduled for deletion`, { cause: err });
      return new SyncError(Reason.ProviderError, text, { cause: err });
    case 'AccessDeniedException':
    case 'AccessDenied':
    case 'UnrecognizedClientException':
    case 'InvalidSignatureException':
    case 'ExpiredTokenException':
      return new SyncError(Reason.AccessDenied, text, { cause: err, retryable: code === 'ExpiredTokenException' });
    case 'DecryptionFailure':
    case 'DecryptionFailureException':
      return new SyncError(Reason.DecryptionFailure, text, { cause: err });
    default:
      break;
  }
  if (THROTTLING.has(code)) return new SyncError(Reason.Throttled, text, { cause: err, retryable: true });
  if (isNetworkError(err)) return new SyncError(Reason.EndpointError, text, { cause: err, retryable: true });
  return new SyncError(Reason.ProviderError, text, { cause: err, retryable: status === undefined || status >= 500 });
}

export function mapStsError(err: unknown, roleArn: string, operation: string): SyncError {
  const code = awsErrorCode(err);
  const status = ((err ?? {}) as AwsErrorShape).$metadata?.httpStatusCode;
  const text = `${operation} ${roleArn}: ${code}${status ? ` (HTTP ${status})` : ''}`;
  switch (code) {
    case 'AccessDenied':
    case 'AccessDeniedException':
      return new SyncError(Reason.AssumeRoleFailed, `${text}: check the role's trust policy and external ID`, { cause: err });
    case 'InvalidIdentityToken':
    case 'InvalidIdentityTokenException':
    case 'ExpiredTokenException':
    case 'IDPRejectedClaim':
    case 'IDPCommunicationError':
      return new SyncError(Reason.InvalidWebIdentityToken, text, { cause: err, retryable: code !== 'IDPRejectedClaim' });
    case 'RegionDisabledException':
      return new SyncError(Reason.EndpointError, text, { cause: err });
    default:
      break;
  }
  if (THROTTLING.has(code)) return new SyncError(Reason.Throttled, text, { cause: err, retryable: true });
  if (isNetworkError(err)) return new SyncError(Reason.EndpointError, text, { cause: err, retryable: true });
  return new SyncError(Reason.AssumeRoleFailed, text, { cause: err, retryable: status === undefined || status >= 500 });
}
