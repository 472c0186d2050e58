import { describe, expect, it } from 'vitest';
import { envFromConditions, envFromWarning, envVarNameFor, ENV_VAR_NAME } from './envfrom.js';

describe('envFromWarning', () => {
  it.each(['OPENAI_API_KEY', 'a', '_x', 'Api_Key2'])('%s is fine', (key) => {
    expect(ENV_VAR_NAME.test(key)).toBe(true);
    expect(envFromWarning({}, [key])).toBeUndefined();
  });

  it.each([
    ['api-key', 'API_KEY'], ['base.url', 'BASE_URL'], ['1password', '_1PASSWORD'], ['.hidden', 'HIDDEN'], ['---', '_'],
  ])('%s is not, and becomes %s', (key, name) => {
    expect(envFromWarning({ data: [{ secretKey: key }] }, [key])?.keys).toEqual([key]);
    expect(envVarNameFor(key)).toBe(name);
  });

  it('names the keys with their replacement and the fix for dataFrom keys', () => {
    const w = envFromWarning({ dataFrom: {} }, ['OK', 'api-key', 'base.url']);
    expect(w?.keys).toEqual(['api-key', 'base.url']);
    expect(w?.message).toBe('keys api-key → API_KEY, base.url → BASE_URL: not environment variable names, so a pod that loads this Secret with envFrom cannot use them (shells drop such variables; code looks up the usual NAME). Fix: add dataFrom.rewrite: [{transform: UpperSnakeCase}]; a Secret mounted as a volume reads any key as a file');
  });

  it('for a data entry, says to rename its secretKey; lists five keys at most', () => {
    expect(envFromWarning({ data: [{ secretKey: 'api-key' }] }, ['api-key'])?.message).toMatch(/^key api-key → API_KEY: .* cannot use it .*Fix: rename them in data\[\]\.secretKey/);
    const many = Array.from({ length: 7 }, (_, i) => `k-${i}`);
    expect(envFromWarning({ dataFrom: {} }, many)?.message).toContain('k-4 → K_4 and 2 more');
  });
});

describe('envFromConditions', () => {
  const now = new Date('2026-11-29T10:00:00Z');
  const warning = envFromWarning({ dataFrom: {} }, ['api-key'])!;

  it('sets EnvVarNames=False and warns once; removes it when the keys are fixed', () => {
    const first = envFromConditions(warning, undefined, [], now, 1);
    expect(first.conditions).toEqual([{ type: 'EnvVarNames', status: 'False', reason: 'NotEnvVarNames', message: warning.message, observedGeneration: 1, lastTransitionTime: now.toISOString() }]);
    expect(first.warnings).toEqual([{ reason: 'NotEnvVarNames', message: warning.message }]);
    const again = envFromConditions(warning, { conditions: first.conditions }, first.conditions, now, 1);
    expect(again.warnings, 'no second event for the same keys').toEqual([]);
    const other = envFromWarning({ dataFrom: {} }, ['api-key', 'b.c'])!;
    expect(envFromConditions(other, { conditions: first.conditions }, first.conditions, now, 1).warnings).toHaveLength(1);
    expect(envFromConditions(undefined, { conditions: first.conditions }, first.conditions, now, 2).conditions).toEqual([]);
  });
});
