import { describe, expect, it } from 'vitest';
import { parseDuration } from './duration.js';

describe('parseDuration', () => {
  it.each([['0', 0], ['90s', 90_000], ['1h30m', 5_400_000], ['30d', 2_592_000_000], ['250ms', 250]])('%s', (t, ms) => expect(parseDuration(t)).toBe(ms));
  it.each(['', '1', '1x', '-1s', '1h ', 'h'])('rejects %j', (t) => expect(parseDuration(t)).toBeUndefined());
});
