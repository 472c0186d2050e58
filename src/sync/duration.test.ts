import { describe, expect, it } from 'vitest';
import { parseDuration } from './duration.js';
import { setCondition, statusPatch } from './status.js';

describe('parseDuration', () => {
  it.each([['0', 0], ['90s', 90_000], ['1h30m', 5_400_000], ['30d', 2_592_000_000], ['250ms', 250]])('%s', (t, ms) => expect(parseDuration(t)).toBe(ms));
  it.each(['', '1', '1x', '-1s', '1h ', 'h'])('rejects %j', (t) => expect(parseDuration(t)).toBeUndefined());
});

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
