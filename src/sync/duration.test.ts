import { describe, expect, it } from 'vitest';
import { DURATION_FORMAT, durationProblem, parseDuration } from './duration.js';

describe('parseDuration', () => {
  it.each([['0', 0], ['90s', 90_000], ['1h30m', 5_400_000], ['30d', 2_592_000_000], ['250ms', 250]])('%s', (t, ms) => expect(parseDuration(t)).toBe(ms));
  it.each(['', '1', '1x', '-1s', '1h ', 'h'])('rejects %j', (t) => expect(parseDuration(t)).toBeUndefined());
});

describe('durationProblem', () => {
  it.each([
    ['5 minutes', 'write 5m, not "5 minutes"'],
    ['30 seconds', 'write 30s, not "30 seconds"'],
    ['2hours', 'write 2h, not "2hours"'],
    ['1.5h', 'no decimals: write 1h30m, not "1.5h"'],
    ['.5m', 'no decimals: write 30s, not ".5m"'],
    ['1.5d', 'no decimals: write 1d12h, not "1.5d"'],
    ['0.33h', 'no decimals: use a smaller unit, not "0.33h"'],
    ['300', '"300" has no unit: write 300s, 300m or 300h'],
  ])('%j: %s', (text, message) => {
    expect(parseDuration(text)).toBeUndefined();
    expect(durationProblem(text)).toBe(message);
  });

  it('otherwise names the format with examples', () => {
    expect(durationProblem('soon')).toBe(`"soon" is not ${DURATION_FORMAT}`);
    expect(DURATION_FORMAT).toContain('30s, 5m, 1h, 1h30m');
  });
});
