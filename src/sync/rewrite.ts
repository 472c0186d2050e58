// Key rewrites for dataFrom. Pure; property-tested.
import type { RewriteStep } from '../crds/types.js';

/** api-key, apiKey, api.key, "api key" → API_KEY. */
export function toUpperSnakeCase(key: string): string {
  return key
    .replace(/([a-z])([A-Z])/g, '$1_$2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1_$2')
    .replace(/[^A-Za-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '')
    .toUpperCase();
}

/** Compiles a user regexp anchored at both ends: a partial match is no match. */
export function anchored(source: string): RegExp {
  return new RegExp(`^(?:${source})$`);
}

export function applyRewrite(key: string, step: RewriteStep): string {
  if (step.prefix !== undefined) return step.prefix + key;
  if (step.regexp !== undefined) {
    const re = anchored(step.regexp.source);
    return re.test(key) ? key.replace(re, step.regexp.target) : key;
  }
  return toUpperSnakeCase(key);
}

export function rewriteKey(key: string, steps: readonly RewriteStep[] = []): string {
  return steps.reduce(applyRewrite, key);
}
