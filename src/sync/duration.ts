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
