// Keys a Secret may hold but that make poor environment variables. A Secret key may contain "-"
// and "." and start with a digit; loaded with envFrom, such a key becomes a variable that shells
// (sh, dash, busybox) drop before they start the program, that code reading $NAME or
// os.environ["NAME"] in the usual spelling never finds, and that kubelets before relaxed
// environment variable validation (Kubernetes 1.34) skip when it starts with a digit. Pure: it
// says which keys and what to change; the reconciler turns that into a condition and an event.
import type { Condition, ExternalLLMSecretSpec, ExternalLLMSecretStatus } from '../crds/types.js';
import { Reason } from './reasons.js';
import { toUpperSnakeCase } from './rewrite.js';
import { ConditionType, getCondition, removeCondition, setCondition } from './status.js';

/** A portable environment variable name (POSIX: letters, digits, underscore; no leading digit). */
export const ENV_VAR_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The name to use instead: api-key → API_KEY, 1password → _1PASSWORD. */
export function envVarNameFor(key: string): string {
  const snake = toUpperSnakeCase(key) || '_';
  return /^[0-9]/.test(snake) ? `_${snake}` : snake;
}

export interface EnvFromWarning {
  keys: string[];
  message: string;
}

/** undefined when every key is a portable environment variable name. */
export function envFromWarning(spec: Pick<ExternalLLMSecretSpec, 'dataFrom' | 'data'>, keys: readonly string[]): EnvFromWarning | undefined {
  const bad = keys.filter((k) => !ENV_VAR_NAME.test(k)).sort();
  if (bad.length === 0) return undefined;
  const shown = bad.slice(0, 5).map((k) => `${k} → ${envVarNameFor(k)}`).join(', ');
  const more = bad.length > 5 ? ` and ${bad.length - 5} more` : '';
  const fromDataFrom = spec.dataFrom !== undefined && !(spec.data ?? []).some((d) => bad.includes(d.secretKey));
  const fix = fromDataFrom
    ? 'add dataFrom.rewrite: [{transform: UpperSnakeCase}]'
    : 'rename them in data[].secretKey (or add dataFrom.rewrite: [{transform: UpperSnakeCase}] for dataFrom keys)';
  const message = `${bad.length === 1 ? 'key' : 'keys'} ${shown}${more}: not environment variable names, so a pod that loads this Secret with envFrom cannot use ${bad.length === 1 ? 'it' : 'them'} (shells drop such variables; code looks up the usual NAME). Fix: ${fix}; a Secret mounted as a volume reads any key as a file`;
  return { keys: bad, message };
}

/** The EnvVarNames condition (set while some key is unusable by envFrom, removed otherwise), and
 * the warning to record as an event when it appears or names other keys. */
export function envFromConditions(
  warning: EnvFromWarning | undefined, previous: ExternalLLMSecretStatus | undefined, conditions: Condition[], now: Date, generation: number | undefined,
): { conditions: Condition[]; warnings: Array<{ reason: string; message: string }> } {
  if (!warning) return { conditions: removeCondition(conditions, ConditionType.EnvVarNames), warnings: [] };
  const next = setCondition(conditions, { type: ConditionType.EnvVarNames, status: 'False', reason: Reason.NotEnvVarNames, message: warning.message, observedGeneration: generation }, now);
  const before = getCondition(previous, ConditionType.EnvVarNames);
  const changed = before?.status !== 'False' || before.message !== warning.message;
  return { conditions: next, warnings: changed ? [{ reason: Reason.NotEnvVarNames, message: warning.message }] : [] };
}
