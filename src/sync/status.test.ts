import { describe, expect, it } from 'vitest';
import { setCondition, statusPatch } from './status.js';

describe('conditions and status patches', () => {
  const t0 = new Date('2026-01-01T00:00:00Z');
  const t1 = new Date('2026-01-01T01:00:00Z');
  it('moves lastTransitionTime only when status flips', () => {
    const a = setCondition(undefined, { type: 'Ready', status: 'True', reason: 'Synced', message: 'm' }, t0);
    const b = setCondition(a, { type: 'Ready', status: 'True', reason: 'Synced', message: 'm2' }, t1);
    expect(b[0]!.lastTransitionTime).toBe(t0.toISOString());
    const c = setCondition(b, { type: 'Ready', status: 'False', reason: 'AccessDenied', message: 'm' }, t1);
    expect(c[0]!.lastTransitionTime).toBe(t1.toISOString());
  });
  it('nulls fields that disappear', () => {
    expect(statusPatch({ expiresAt: 'x', secretName: 's' }, { secretName: 's' })).toEqual({ secretName: 's', expiresAt: null });
  });
});
