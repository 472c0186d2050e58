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
  return canonical(a ?? {}) === canonical(b ?? {});
}

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined).sort(([a], [b]) => a.localeCompare(b));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
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
