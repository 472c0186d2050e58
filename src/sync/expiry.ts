// When a synced key expires, from spec.expiry, and the conditions that say so. Pure.
import type { Condition, ExpirySpec, ExternalLLMSecretStatus } from '../crds/types.js';
import { DEFAULT_WARNING_WINDOW_MS } from '../defaults.js';
import { parseDuration } from './duration.js';
import { lookup } from './render.js';
import { Reason, SyncError } from './reasons.js';
import { ConditionType, getCondition, removeCondition, setCondition } from './status.js';


export interface ExpiryInputs {
  secretId: string;
  createdDate?: Date;
  secretString?: string;
  tags?: Record<string, string>;
}

const RFC3339 = /^\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)$/;

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
  // Strings must be RFC 3339 (Date would accept local-time formats); numbers are epoch milliseconds.
  const date = typeof text === 'number' ? new Date(text) : typeof text === 'string' && RFC3339.test(text) ? new Date(text) : new Date(NaN);
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

export interface ExpiryConditions {
  conditions: Condition[];
  expiresAt?: string;
  /** Warnings to record as events: only on the transition into a state. */
  warnings: Array<{ reason: string; message: string }>;
}

/** KeyExpiring / KeyExpired for a key that expires `at` (undefined: no expiry known). */
export function expiryConditions(
  spec: ExpirySpec | undefined, at: Date | undefined, previous: ExternalLLMSecretStatus | undefined,
  conditions: Condition[], now: Date, secretId: string, generation: number | undefined,
): ExpiryConditions {
  let list = removeCondition(removeCondition(conditions, ConditionType.KeyExpiring), ConditionType.KeyExpired);
  if (!spec || !at) return { conditions: list, warnings: [] };
  const windowMs = (spec.warningWindow ? parseDuration(spec.warningWindow) : undefined) ?? DEFAULT_WARNING_WINDOW_MS;
  const state = expiryState(at, now, windowMs);
  const warnings: ExpiryConditions['warnings'] = [];
  if (state !== 'ok') {
    const [type, reason, verb] = state === 'expiring'
      ? [ConditionType.KeyExpiring, Reason.KeyExpiring, 'expires'] as const
      : [ConditionType.KeyExpired, Reason.KeyExpired, 'expired'] as const;
    const message = `The key of ${secretId} ${verb} at ${at.toISOString()}`;
    list = setCondition(list, { type, status: 'True', reason, message, observedGeneration: generation }, now);
    if (getCondition(previous, type)?.status !== 'True') warnings.push({ reason, message });
  }
  return { conditions: list, expiresAt: at.toISOString(), warnings };
}

/**
 * After a failed sync: the key status.expiresAt names has expired and is still what the Secret
 * holds (a generated key whose renewal failed, or a stored key past its expiry), so KeyExpired,
 * with a warning on the transition into it. Unchanged before expiry or without an expiry.
 */
export function expiredOnFailure(
  previous: ExternalLLMSecretStatus | undefined, conditions: Condition[], now: Date, label: string, generation: number | undefined,
): { conditions: Condition[]; warning?: { reason: string; message: string } } {
  const at = previous?.expiresAt ? new Date(previous.expiresAt) : undefined;
  if (!at || Number.isNaN(at.getTime()) || at.getTime() > now.getTime()) return { conditions };
  const message = `The key of ${label} expired at ${at.toISOString()}`;
  const list = setCondition(conditions, { type: ConditionType.KeyExpired, status: 'True', reason: Reason.KeyExpired, message, observedGeneration: generation }, now);
  return getCondition(previous, ConditionType.KeyExpired)?.status === 'True' ? { conditions: list } : { conditions: list, warning: { reason: Reason.KeyExpired, message } };
}
