// Status and conditions. Pure: the reconciler passes in the time.
import type { Condition, ExternalLLMSecretStatus } from '../crds/types.js';

export const ConditionType = {
  Ready: 'Ready',
  KeyExpiring: 'KeyExpiring',
  KeyExpired: 'KeyExpired',
  RolloutRestart: 'RolloutRestart',
  /** False while some key cannot be used through envFrom (sync/envfrom.ts); absent otherwise. */
  EnvVarNames: 'EnvVarNames',
} as const;

/** Sets one condition; lastTransitionTime moves only when the status flips. */
export function setCondition(conditions: readonly Condition[] | undefined, next: Omit<Condition, 'lastTransitionTime'>, now: Date): Condition[] {
  const list = [...(conditions ?? [])];
  const i = list.findIndex((c) => c.type === next.type);
  const prev = i >= 0 ? list[i] : undefined;
  const merged: Condition = {
    ...next,
    lastTransitionTime: prev && prev.status === next.status ? prev.lastTransitionTime : now.toISOString(),
  };
  if (i >= 0) list[i] = merged; else list.push(merged);
  return list;
}

export function removeCondition(conditions: readonly Condition[] | undefined, type: string): Condition[] {
  return (conditions ?? []).filter((c) => c.type !== type);
}

export function getCondition(status: ExternalLLMSecretStatus | undefined, type: string): Condition | undefined {
  return status?.conditions?.find((c) => c.type === type);
}

/** Deep equality on the JSON form, ignoring key order. */
export function sameStatus(a: ExternalLLMSecretStatus | undefined, b: ExternalLLMSecretStatus | undefined): boolean {
  return jsonEqual(a ?? {}, b ?? {});
}

/**
 * Deep equality of two JSON values as they would serialize: key order does not matter and a key
 * holding undefined counts as absent (util.isDeepStrictEqual tells those apart). Allocates
 * nothing: it runs on every reconcile, and building canonical strings to compare was the largest
 * source of garbage in a cold start.
 */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!jsonEqual(a[i], b[i])) return false;
    return true;
  }
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  let keys = 0;
  for (const k in x) {
    if (!Object.hasOwn(x, k) || x[k] === undefined) continue;
    if (!Object.hasOwn(y, k) || !jsonEqual(x[k], y[k])) return false;
    keys++;
  }
  for (const k in y) if (Object.hasOwn(y, k) && y[k] !== undefined) keys--;
  return keys === 0;
}

/**
 * A JSON merge patch that turns `from` into `to` at the top level of status: changed keys are
 * set, keys that disappeared are nulled.
 */
export function statusPatch(from: ExternalLLMSecretStatus | undefined, to: ExternalLLMSecretStatus): Record<string, unknown> {
  const patch: Record<string, unknown> = { ...to };
  for (const key of Object.keys(from ?? {})) if (!(key in to) || (to as Record<string, unknown>)[key] === undefined) patch[key] = null;
  return patch;
}
