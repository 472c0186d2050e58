import { describe, expect, it } from 'vitest';
import { Reason, SyncError } from '../sync/reasons.js';
import { awsErrorCode, mapSecretsManagerError, mapStsError } from './errors.js';

/** Text only the service could have written: it must never reach a message. */
const MARKER = 'SECRETVALUE-x';
const SECRET_ID = 'prod/openai/api-key';
const ROLE_ARN = 'arn:aws:iam::123456789012:role/llm-reader';

/** An AWS SDK v3 service exception as the SDK raises it: the code in `name`. */
function sdkError(name: string, opts: { message?: string; status?: number } = {}): Error {
  const e = new Error(opts.message ?? `the service says ${MARKER}`) as Error & { $metadata?: { httpStatusCode?: number } };
  e.name = name;
  if (opts.status !== undefined) e.$metadata = { httpStatusCode: opts.status };
  return e;
}

/** A Node system error: `name` is plain "Error", the code in `.code`. */
function nodeError(code: string, name = 'Error'): Error {
  const e = new Error(`connect ${code} 10.0.0.1:443 ${MARKER}`) as Error & { code?: string };
  e.name = name;
  e.code = code;
  return e;
}

/** The message names the operation, the secret or role and the code, and nothing the service wrote. */
function expectClean(err: SyncError, operation: string, subject: string, code: string): void {
  expect(err).toBeInstanceOf(SyncError);
  expect(err.message).toContain(operation);
  expect(err.message).toContain(subject);
  expect(err.message).toContain(code);
  expect(err.message).not.toContain(MARKER);
  expect(String(err)).not.toContain(MARKER);
  expect(JSON.stringify({ message: err.message, reason: err.reason })).not.toContain(MARKER);
}

/** One table row: the reason, the retryability, a clean message, and the AWS error kept as cause. */
function expectMapped(mapped: SyncError, [, err, reason, retryable, code]: Row, operation: string, subject: string): void {
  expect(mapped.reason).toBe(reason);
  expect(mapped.retryable).toBe(retryable);
  expectClean(mapped, operation, subject, code);
  if (err !== undefined) expect(mapped.cause).toBe(err);
}

/** [label, error, reason, retryable, code the message names] */
type Row = [string, unknown, Reason, boolean, string];

/** Throttling and network failures: both mappers make them retryable, whatever the operation. */
const TRANSIENT: Row[] = [
  ['ThrottlingException', sdkError('ThrottlingException', { status: 400 }), Reason.Throttled, true, 'ThrottlingException'],
  ['Throttling', sdkError('Throttling', { status: 400 }), Reason.Throttled, true, 'Throttling'],
  ['TooManyRequestsException', sdkError('TooManyRequestsException', { status: 429 }), Reason.Throttled, true, 'TooManyRequestsException'],
  ['RequestLimitExceeded', sdkError('RequestLimitExceeded', { status: 400 }), Reason.Throttled, true, 'RequestLimitExceeded'],
  ['LimitExceededException', sdkError('LimitExceededException', { status: 400 }), Reason.Throttled, true, 'LimitExceededException'],
  ['SlowDown', sdkError('SlowDown', { status: 503 }), Reason.Throttled, true, 'SlowDown'],
  ['TimeoutError (SDK socket timeout)', sdkError('TimeoutError'), Reason.EndpointError, true, 'TimeoutError'],
  ['RequestTimeout', sdkError('RequestTimeout'), Reason.EndpointError, true, 'RequestTimeout'],
  ['NetworkingError', sdkError('NetworkingError'), Reason.EndpointError, true, 'NetworkingError'],
  ['Node ECONNRESET', nodeError('ECONNRESET'), Reason.EndpointError, true, 'ECONNRESET'],
  ['Node ECONNREFUSED', nodeError('ECONNREFUSED'), Reason.EndpointError, true, 'ECONNREFUSED'],
  ['Node ENOTFOUND', nodeError('ENOTFOUND'), Reason.EndpointError, true, 'ENOTFOUND'],
  ['Node EAI_AGAIN', nodeError('EAI_AGAIN'), Reason.EndpointError, true, 'EAI_AGAIN'],
  ['Node ETIMEDOUT', nodeError('ETIMEDOUT'), Reason.EndpointError, true, 'ETIMEDOUT'],
  ['Node EPIPE', nodeError('EPIPE'), Reason.EndpointError, true, 'EPIPE'],
];

describe('awsErrorCode', () => {
  it.each<[string, unknown, string]>([
    ['SDK exception: the name', sdkError('ThrottlingException'), 'ThrottlingException'],
    ['Node system error: the code', nodeError('ECONNRESET'), 'ECONNRESET'],
    ['named error with a code: the name wins', nodeError('ECONNRESET', 'FetchError'), 'FetchError'],
    ['plain object with a code', { code: 'EPIPE' }, 'EPIPE'],
    ['plain Error', new Error('x'), 'UnknownError'],
    ['undefined', undefined, 'UnknownError'],
    ['null', null, 'UnknownError'],
    ['a string', 'boom', 'UnknownError'],
  ])('%s', (_label, err, code) => expect(awsErrorCode(err)).toBe(code));
});

describe('mapSecretsManagerError', () => {
  it.each<Row>([
    ['no such secret', sdkError('ResourceNotFoundException', { message: `Secrets Manager can't find the specified secret. ${MARKER}`, status: 400 }), Reason.ResourceNotFound, false, 'ResourceNotFoundException'],
    ['no such staging label', sdkError('ResourceNotFoundException', { message: `Secrets Manager can't find the specified secret value for staging label: AWSPENDING ${MARKER}`, status: 400 }), Reason.VersionNotFound, false, 'ResourceNotFoundException'],
    ['no such VersionId', sdkError('ResourceNotFoundException', { message: `Secrets Manager can't find the specified secret value for VersionId: 0123 ${MARKER}`, status: 400 }), Reason.VersionNotFound, false, 'ResourceNotFoundException'],
    ['no such version (lower case)', sdkError('ResourceNotFoundException', { message: `no such version ${MARKER}` }), Reason.VersionNotFound, false, 'ResourceNotFoundException'],
    ['ResourceNotFound without a message', { name: 'ResourceNotFoundException' }, Reason.ResourceNotFound, false, 'ResourceNotFoundException'],
    ['secret marked for deletion', sdkError('InvalidRequestException', { message: `You can't perform this operation on the secret because it was marked for deletion. ${MARKER}`, status: 400 }), Reason.SecretDeleted, false, 'InvalidRequestException'],
    ['secret deleted', sdkError('InvalidRequestException', { message: `secret was deleted ${MARKER}` }), Reason.SecretDeleted, false, 'InvalidRequestException'],
    ['other invalid request (4xx)', sdkError('InvalidRequestException', { message: `bad parameter ${MARKER}`, status: 400 }), Reason.ProviderError, false, 'InvalidRequestException'],
    ['AccessDeniedException', sdkError('AccessDeniedException', { status: 400 }), Reason.AccessDenied, false, 'AccessDeniedException'],
    ['AccessDenied', sdkError('AccessDenied', { status: 403 }), Reason.AccessDenied, false, 'AccessDenied'],
    ['UnrecognizedClientException', sdkError('UnrecognizedClientException', { status: 400 }), Reason.AccessDenied, false, 'UnrecognizedClientException'],
    ['InvalidSignatureException', sdkError('InvalidSignatureException', { status: 400 }), Reason.AccessDenied, false, 'InvalidSignatureException'],
    ['ExpiredTokenException: retryable (new credentials help)', sdkError('ExpiredTokenException', { status: 400 }), Reason.AccessDenied, true, 'ExpiredTokenException'],
    ['DecryptionFailure', sdkError('DecryptionFailure', { status: 400 }), Reason.DecryptionFailure, false, 'DecryptionFailure'],
    ['DecryptionFailureException', sdkError('DecryptionFailureException', { status: 400 }), Reason.DecryptionFailure, false, 'DecryptionFailureException'],
    ...TRANSIENT,
    // The SDK may wrap a system error under its own name and keep the errno code in `.code`.
    ['named error whose .code is ECONNRESET', nodeError('ECONNRESET', 'FetchError'), Reason.EndpointError, true, 'FetchError'],
    ['InternalServiceError (500): retryable', sdkError('InternalServiceError', { status: 500 }), Reason.ProviderError, true, 'InternalServiceError'],
    ['ServiceUnavailable (503): retryable', sdkError('ServiceUnavailable', { status: 503 }), Reason.ProviderError, true, 'ServiceUnavailable'],
    ['InvalidParameterException (400): not retryable', sdkError('InvalidParameterException', { status: 400 }), Reason.ProviderError, false, 'InvalidParameterException'],
    ['unknown 404: not retryable', sdkError('SomethingNew', { status: 404 }), Reason.ProviderError, false, 'SomethingNew'],
    ['unknown error without a status: retryable', sdkError('SomethingNew'), Reason.ProviderError, true, 'SomethingNew'],
    ['plain Error', new Error(MARKER), Reason.ProviderError, true, 'UnknownError'],
    ['undefined', undefined, Reason.ProviderError, true, 'UnknownError'],
  ])('%s', (...row) => expectMapped(mapSecretsManagerError(row[1], SECRET_ID), row, 'GetSecretValue', SECRET_ID));

  it('names the operation it is given and the HTTP status', () => {
    const mapped = mapSecretsManagerError(sdkError('AccessDeniedException', { status: 403 }), SECRET_ID, 'DescribeSecret');
    expect(mapped.message).toBe(`DescribeSecret ${SECRET_ID}: AccessDeniedException (HTTP 403)`);
  });

  it('says why a deleted secret fails, in its own words', () => {
    const mapped = mapSecretsManagerError(sdkError('InvalidRequestException', { message: `marked for deletion ${MARKER}`, status: 400 }), SECRET_ID, 'BatchGetSecretValue');
    expect(mapped.message).toBe(`BatchGetSecretValue ${SECRET_ID}: InvalidRequestException (HTTP 400): the secret is scheduled for deletion`);
  });

  it('maps a BatchGetSecretValue per-secret error (name and message only)', () => {
    // batch-fetcher.ts passes { name: ErrorCode, message: Message } for each failed id.
    const mapped = mapSecretsManagerError({ name: 'ResourceNotFoundException', message: `Secrets Manager can't find the specified secret. ${MARKER}` }, SECRET_ID, 'BatchGetSecretValue');
    expect(mapped.reason).toBe(Reason.ResourceNotFound);
    expectClean(mapped, 'BatchGetSecretValue', SECRET_ID, 'ResourceNotFoundException');
  });
});

describe('mapStsError', () => {
  it.each<Row>([
    ['AccessDenied (trust policy, external id)', sdkError('AccessDenied', { status: 403 }), Reason.AssumeRoleFailed, false, 'AccessDenied'],
    ['AccessDeniedException', sdkError('AccessDeniedException', { status: 403 }), Reason.AssumeRoleFailed, false, 'AccessDeniedException'],
    ['InvalidIdentityToken: retryable (a new token may help)', sdkError('InvalidIdentityToken', { status: 400 }), Reason.InvalidWebIdentityToken, true, 'InvalidIdentityToken'],
    ['InvalidIdentityTokenException', sdkError('InvalidIdentityTokenException', { status: 400 }), Reason.InvalidWebIdentityToken, true, 'InvalidIdentityTokenException'],
    ['ExpiredTokenException', sdkError('ExpiredTokenException', { status: 400 }), Reason.InvalidWebIdentityToken, true, 'ExpiredTokenException'],
    ['IDPCommunicationError: retryable', sdkError('IDPCommunicationError', { status: 400 }), Reason.InvalidWebIdentityToken, true, 'IDPCommunicationError'],
    ['IDPRejectedClaim: not retryable', sdkError('IDPRejectedClaim', { status: 403 }), Reason.InvalidWebIdentityToken, false, 'IDPRejectedClaim'],
    ['RegionDisabledException', sdkError('RegionDisabledException', { status: 403 }), Reason.EndpointError, false, 'RegionDisabledException'],
    ...TRANSIENT,
    ['MalformedPolicyDocument (400): not retryable', sdkError('MalformedPolicyDocument', { status: 400 }), Reason.AssumeRoleFailed, false, 'MalformedPolicyDocument'],
    ['PackedPolicyTooLarge (400): not retryable', sdkError('PackedPolicyTooLarge', { status: 400 }), Reason.AssumeRoleFailed, false, 'PackedPolicyTooLarge'],
    ['InternalFailure (500): retryable', sdkError('InternalFailure', { status: 500 }), Reason.AssumeRoleFailed, true, 'InternalFailure'],
    ['unknown without a status: retryable', sdkError('SomethingNew'), Reason.AssumeRoleFailed, true, 'SomethingNew'],
    ['undefined', undefined, Reason.AssumeRoleFailed, true, 'UnknownError'],
  ])('%s', (...row) => expectMapped(mapStsError(row[1], ROLE_ARN, 'AssumeRoleWithWebIdentity'), row, 'AssumeRoleWithWebIdentity', ROLE_ARN));

  it('tells what to check when the role refuses', () => {
    const mapped = mapStsError(sdkError('AccessDenied', { status: 403 }), ROLE_ARN, 'AssumeRole');
    expect(mapped.message).toBe(`AssumeRole ${ROLE_ARN}: AccessDenied (HTTP 403): check the role's trust policy and external ID`);
  });

  // Fixed: both mappers look at `.code` as well as the name
  // (errors.ts:48), mapStsError does not (errors.ts:74): a wrapped ECONNRESET from STS becomes
  // AssumeRoleFailed instead of EndpointError.
  it('treats a named error whose .code is ECONNRESET as an endpoint failure, like mapSecretsManagerError', () => {
    expect(mapStsError(nodeError('ECONNRESET', 'FetchError'), ROLE_ARN, 'AssumeRole').reason).toBe(Reason.EndpointError);
  });
});
