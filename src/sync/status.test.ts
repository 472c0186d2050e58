import { describe, expect, it } from 'vitest';
import { jsonEqual, sameStatus, setCondition, statusPatch } from './status.js';

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

describe('jsonEqual (status comparison)', () => {
  it('ignores key order and keys holding undefined, as JSON does', () => {
    expect(jsonEqual({ a: 1, b: { c: [1, { d: 'x' }] } }, { b: { c: [1, { d: 'x' }] }, a: 1 })).toBe(true);
    expect(jsonEqual({ a: 1, gone: undefined }, { a: 1 })).toBe(true);
    expect(jsonEqual({ a: 1 }, { a: 1, gone: undefined })).toBe(true);
    expect(sameStatus(undefined, {})).toBe(true);
  });

  it('tells apart every difference JSON would show', () => {
    expect(jsonEqual({ a: 1 }, { a: 2 })).toBe(false);
    expect(jsonEqual({ a: 1 }, { a: 1, b: null })).toBe(false);
    expect(jsonEqual({ a: 1, b: 2 }, { a: 1, c: 2 })).toBe(false);
    expect(jsonEqual([1, 2], [2, 1])).toBe(false);
    expect(jsonEqual([1], [1, 1])).toBe(false);
    expect(jsonEqual({ 0: 'x' }, ['x'])).toBe(false);
    expect(jsonEqual('1', 1)).toBe(false);
    expect(jsonEqual(null, {})).toBe(false);
    expect(sameStatus({ syncedAt: 'a', conditions: [{ type: 'Ready', status: 'True', reason: 'Synced', message: 'm', lastTransitionTime: 't' }] },
      { syncedAt: 'a', conditions: [{ type: 'Ready', status: 'False', reason: 'Synced', message: 'm', lastTransitionTime: 't' }] })).toBe(false);
  });
});
