// When each resource refreshes next. In memory on purpose: writing the schedule to status on
// every refresh would turn every unchanged refresh into an apiserver write. After a restart a
// resource is due at once (cheap: change detection answers without reading values), except a
// sync-once resource already Ready at its generation. Clock and randomness are injected.
import { FORCE_SYNC_ANNOTATION } from '../crds/constants.js';
import type { ExternalLLMSecret } from '../crds/types.js';
import { ConditionType, getCondition } from '../sync/status.js';
import { jitteredInterval, nextAlignedRefresh } from './backoff.js';

interface Memory {
  at: number;
  /** The key's markDue count when the refresh that set this memory began. */
  marks: number;
  generation: number | undefined;
  forceToken: string | undefined;
  intervalMs: number;
}

export class RefreshSchedule {
  readonly #memory = new Map<string, Memory>();
  /** markDue counts per key, and the count each refresh in progress began with. */
  readonly #marks = new Map<string, number>();
  readonly #checking = new Map<string, number>();
  readonly #now: () => number;
  readonly #random: () => number;

  constructor(opts: { now?: () => number; random?: () => number } = {}) {
    this.#now = opts.now ?? Date.now;
    this.#random = opts.random ?? Math.random;
  }

  /** Due: never synced here, spec or force-sync token changed, or the interval has passed. */
  isDue(key: string, els: ExternalLLMSecret, intervalMs: number): boolean {
    const memory = this.#memory.get(key);
    const forceToken = els.metadata.annotations?.[FORCE_SYNC_ANNOTATION];
    const marks = this.#marks.get(key) ?? 0;
    this.#checking.set(key, marks);
    if (!memory) {
      const settled = getCondition(els.status, ConditionType.Ready)?.status === 'True'
        && els.status?.observedGeneration === els.metadata.generation
        && (forceToken === undefined || forceToken === els.status?.forceSyncToken);
      return !(settled && intervalMs === 0);
    }
    if (memory.generation !== els.metadata.generation || memory.forceToken !== forceToken) return true;
    if (memory.intervalMs === 0) return false;
    if (marks > memory.marks) return true;
    return this.#now() >= memory.at + memory.intervalMs;
  }

  /**
   * Refreshed now: next due one jittered interval later, or, with gridKey, on the grid shared by
   * every resource whose checks share one listing (so they share it again next cycle).
   */
  remember(key: string, els: ExternalLLMSecret, intervalMs: number, gridKey?: string): void {
    const now = this.#now();
    const aligned = gridKey !== undefined && intervalMs > 0;
    const wait = intervalMs === 0 ? 0 : aligned ? intervalMs : jitteredInterval(intervalMs, this.#random);
    const marks = this.#checking.get(key) ?? this.#memory.get(key)?.marks ?? 0;
    this.#checking.delete(key);
    this.#memory.set(key, {
      marks,
      at: aligned ? nextAlignedRefresh(now, intervalMs, `${gridKey}|${intervalMs}`) - wait : now,
      generation: els.metadata.generation,
      forceToken: els.metadata.annotations?.[FORCE_SYNC_ANNOTATION],
      intervalMs: wait,
    });
  }

  /** Milliseconds until the next refresh; undefined for sync-once or unknown resources. */
  untilNext(key: string): number | undefined {
    const memory = this.#memory.get(key);
    if (!memory || memory.intervalMs === 0) return undefined;
    return Math.max(0, memory.at + memory.intervalMs - this.#now());
  }

  /**
   * Due at the next check, whatever the interval (a change event named the key's source; sync-once
   * resources excepted). A mark made while a refresh is in progress holds for the next one: that
   * refresh may have looked before the change.
   */
  markDue(key: string): void {
    this.#marks.set(key, (this.#marks.get(key) ?? 0) + 1);
  }

  forget(key: string): void {
    this.#memory.delete(key);
    this.#marks.delete(key);
    this.#checking.delete(key);
  }
}
