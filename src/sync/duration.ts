// Durations as written in the CRD: "0", "90s", "1h30m", "30d", "250ms".
const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const PART = /([0-9]+)(ms|s|m|h|d)/g;
const WHOLE = /^(0|([0-9]+(ms|s|m|h|d))+)$/;

/** Milliseconds of a duration string, or undefined when it is not one. */
export function parseDuration(text: string): number | undefined {
  if (!WHOLE.test(text)) return undefined;
  if (text === '0') return 0;
  let total = 0;
  for (const [, amount, unit] of text.matchAll(PART)) {
    total += Number(amount) * UNIT_MS[unit as keyof typeof UNIT_MS];
  }
  return total;
}

/** What a duration looks like, for messages (flags and the CRD's validation). */
export const DURATION_FORMAT = 'a whole number and a unit (ms, s, m, h, d), several in a row allowed, no spaces or decimals: for example 30s, 5m, 1h, 1h30m or 7d';

/** Why a text is not a duration, with the nearest valid spelling when there is an obvious one. */
export function durationProblem(text: string): string {
  const words: Record<string, string> = { millisecond: 'ms', second: 's', sec: 's', minute: 'm', min: 'm', hour: 'h', hr: 'h', day: 'd' };
  const spelled = /^\s*(\d+)\s*([a-z]+?)s?\s*$/i.exec(text);
  if (spelled && words[spelled[2]!.toLowerCase()]) return `write ${spelled[1]}${words[spelled[2]!.toLowerCase()]}, not "${text}"`;
  const decimal = /^(\d*)\.(\d+)(h|m|d)$/.exec(text);
  if (decimal) {
    const [, whole, fraction, unit] = decimal;
    const smaller = { d: ['h', 24], h: ['m', 60], m: ['s', 60] } as const;
    const [next, factor] = smaller[unit as 'd' | 'h' | 'm'];
    const rest = Math.round(Number(`0.${fraction}`) * factor);
    const suggestion = `${Number(whole) > 0 ? `${Number(whole)}${unit}` : ''}${rest > 0 ? `${rest}${next}` : ''}`;
    if (suggestion && Number.isInteger(Number(`0.${fraction}`) * factor)) return `no decimals: write ${suggestion}, not "${text}"`;
    return `no decimals: use a smaller unit, not "${text}"`;
  }
  if (/^\d+$/.test(text)) return `"${text}" has no unit: write ${text}s, ${text}m or ${text}h`;
  return `"${text}" is not ${DURATION_FORMAT}`;
}
