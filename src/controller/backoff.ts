// Retry and refresh timing: pure functions of their inputs; randomness is passed in so tests
// can pin it.
export const BACKOFF_DEFAULTS = { baseMs: 1_000, maxMs: 300_000 } as const;
/** Refreshes land within ±JITTER_FRACTION of their interval, so resources spread out. */
export const JITTER_FRACTION = 0.1;

/** Exponential backoff with "equal jitter": between half and all of base * 2^attempt, capped. */
export function backoffDelay(attempt: number, random: () => number = Math.random, opts: { baseMs: number; maxMs: number } = BACKOFF_DEFAULTS): number {
  const ceiling = Math.min(opts.maxMs, opts.baseMs * 2 ** Math.max(0, attempt));
  return Math.round(ceiling / 2 + (ceiling / 2) * random());
}

/** The interval with up to ±JITTER_FRACTION of random jitter. */
export function jitteredInterval(intervalMs: number, random: () => number = Math.random): number {
  return Math.round(intervalMs * (1 - JITTER_FRACTION + 2 * JITTER_FRACTION * random()));
}

/**
 * The first moment after `now` on a grid of `intervalMs`, shifted by a phase derived from `key`.
 * Refreshes that change detection answers are cheap for everyone at once (one shared listing),
 * so resources of one account and region are put on a common grid: they come due together and
 * share one ListSecrets per cycle. The phase differs per key, so accounts do not all list at once.
 */
export function nextAlignedRefresh(now: number, intervalMs: number, key: string): number {
  const phase = fnv1a(key) % intervalMs;
  return phase + (Math.floor((now - phase) / intervalMs) + 1) * intervalMs;
}

function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}
