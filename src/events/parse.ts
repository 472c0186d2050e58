// What an SQS message from the EventBridge rule says: the Secrets Manager secrets a change event
// names, or why the message is ignored. Pure; never keeps or returns any other part of the body
// (CloudTrail events carry request parameters, never secret values, but nothing else is needed).
import { refOf, type SecretRef } from './secret-ref.js';

/** Secrets Manager calls and service events after which a value, a stage, a tag or existence may differ. */
export const CHANGE_EVENTS: ReadonlySet<string> = new Set([
  'CreateSecret', 'PutSecretValue', 'UpdateSecret', 'UpdateSecretVersionStage', 'RotateSecret',
  'DeleteSecret', 'RestoreSecret', 'TagResource', 'UntagResource',
  'RotationSucceeded', 'RotationFailed', 'RotationAbandoned',
]);

export const DETAIL_TYPES: ReadonlySet<string> = new Set(['AWS API Call via CloudTrail', 'AWS Service Event via CloudTrail']);

export type IgnoreReason = 'malformed' | 'foreign' | 'irrelevant' | 'unused' | 'duplicate';

export type ParsedEvent =
  | { kind: 'change'; id: string; eventName: string; timeMs: number | undefined; refs: SecretRef[] }
  | { kind: 'ignored'; reason: Extract<IgnoreReason, 'malformed' | 'foreign' | 'irrelevant'>; eventName?: string };

type Json = Record<string, unknown>;
const obj = (v: unknown): Json | undefined => (v !== null && typeof v === 'object' && !Array.isArray(v) ? v as Json : undefined);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/** A name of a change event, or undefined: names are from a fixed list, so safe to log. */
const known = (name: string | undefined) => (name !== undefined && CHANGE_EVENTS.has(name) ? name : undefined);

export function parseEventMessage(body: string | undefined): ParsedEvent {
  let event: Json | undefined;
  try {
    event = obj(JSON.parse(body ?? ''));
  } catch {
    return { kind: 'ignored', reason: 'malformed' };
  }
  const detail = obj(event?.detail);
  const detailType = str(event?.['detail-type']);
  if (!event || !detail || !detailType || !str(event.source)) return { kind: 'ignored', reason: 'malformed' };
  if (event.source !== 'aws.secretsmanager' || !DETAIL_TYPES.has(detailType)) return { kind: 'ignored', reason: 'foreign' };
  if (detail.eventSource !== undefined && detail.eventSource !== 'secretsmanager.amazonaws.com') return { kind: 'ignored', reason: 'foreign' };
  const eventName = known(str(detail.eventName));
  if (!eventName) return { kind: 'ignored', reason: 'irrelevant' };
  // A failed call changed nothing.
  if (str(detail.errorCode)) return { kind: 'ignored', reason: 'irrelevant', eventName };
  const region = str(detail.awsRegion) ?? str(event.region);
  if (!region) return { kind: 'ignored', reason: 'malformed', eventName };

  const request = obj(detail.requestParameters);
  const response = obj(detail.responseElements);
  const extra = obj(detail.additionalEventData);
  const ids = new Set<string>();
  for (const v of [
    request?.secretId, request?.name, request?.SecretId, response?.arn, response?.name, response?.ARN, response?.Name,
    extra?.SecretId, extra?.secretId,
  ]) {
    const id = str(v);
    if (id) ids.add(id);
  }
  for (const r of Array.isArray(event.resources) ? event.resources : []) {
    const id = str(r) ?? str(obj(r)?.ARN);
    if (id?.includes(':secretsmanager:')) ids.add(id);
  }
  for (const r of Array.isArray(detail.resources) ? detail.resources : []) {
    const id = str(obj(r)?.ARN);
    if (id?.includes(':secretsmanager:')) ids.add(id);
  }
  if (ids.size === 0) return { kind: 'ignored', reason: 'malformed', eventName };
  const time = Date.parse(str(detail.eventTime) ?? str(event.time) ?? '');
  return {
    kind: 'change',
    id: str(event.id) ?? `${eventName}|${[...ids].sort().join(',')}|${str(event.time) ?? ''}`,
    eventName,
    timeMs: Number.isFinite(time) ? time : undefined,
    refs: [...ids].map((id) => refOf(id, region)),
  };
}
