// When a synced key expires, from spec.expiry. Pure.
import type { ExpirySpec } from '../crds/types.js';
import { parseDuration } from './duration.js';
import { lookup } from './render.js';
import { Reason, SyncError } from './reasons.js';

export const DEFAULT_WARNING_WINDOW_MS = 7 * 86_400_000;

export interface ExpiryInputs {
  secretId: string;
  createdDate?: Date;
  secretString?: string;
  tags?: Record<string, string>;
}

export function expiresAt(spec: ExpirySpec, input: ExpiryInputs): Date | undefined {
  if (spec.maxAge !== undefined) {
    const ms = parseDuration(spec.maxAge);
    return input.createdDate && ms !== undefined ? new Date(input.createdDate.getTime() + ms) : undefined;
  }
  let text: unknown;
  if (spec.property !== undefined) {
    try {
      text = lookup(JSON.parse(input.secretString ?? '') as Record<string, never>, spec.property);
    } catch {
      text = undefined;
    }
  } else if (spec.tag !== undefined) {
    text = input.tags?.[spec.tag];
  }
  if (text === undefined) {
    throw new SyncError(Reason.MissingProperty, `secret ${input.secretId}: expiry ${spec.property !== undefined ? `property "${spec.property}"` : `tag "${spec.tag}"`} not found`);
  }
  const date = typeof text === 'string' || typeof text === 'number' ? new Date(text) : new Date(NaN);
  if (Number.isNaN(date.getTime())) {
    throw new SyncError(Reason.InvalidValue, `secret ${input.secretId}: expiry ${spec.property !== undefined ? `property "${spec.property}"` : `tag "${spec.tag}"`} is not an RFC 3339 time`);
  }
  return date;
}

export type ExpiryState = 'ok' | 'expiring' | 'expired';

export function expiryState(expires: Date, now: Date, warningWindowMs: number): ExpiryState {
  const left = expires.getTime() - now.getTime();
  if (left <= 0) return 'expired';
  return left <= warningWindowMs ? 'expiring' : 'ok';
}
