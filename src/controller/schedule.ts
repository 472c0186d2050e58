// When each resource refreshes next. In memory on purpose: writing the schedule to status on
// every refresh would turn every unchanged refresh into an apiserver write. After a restart a
// resource is due at once (cheap: change detection answers without reading values), except a
// sync-once resource already Ready at its generation. Clock and randomness are injected.
import { FORCE_SYNC_ANNOTATION } from '../crds/constants.js';
import type { ExternalLLMSecret } from '../crds/types.js';
import { FAILED_RECHECK_FIRST_MS } from '../defaults.js';
import { ConditionType, getCondition } from '../sync/status.js';
import { jitteredInterval, nextAlignedRefresh } from './backoff.js';

interface Memory {
  at: number;
  /** The key's markDue count when the refresh that set this memory began. */
  marks: number;
  generation: number | undefined;
  forceToken: string | undefined;
  intervalMs: number;
  /** Non-retryable failures in a row at this generation and force-sync token. */
  failures?: number;
}

/**
 * When to look again after the n-th non-retryable failure in a row (AccessDenied, a missing
 * secret, bad content): 30 s, then doubling, never later than capMs (the refresh interval), so a
 * broken resource costs a handful of reads in its first hour and one per interval after that,
 * not one every few minutes. A fix outside Kubernetes (an IAM grant, the secret created) is
 * seen within the current wait; a spec change or force-sync is looked at at once (isDue).
 */
export function failedRecheckDelay(failures: number, capMs: number, firstMs = FAILED_RECHECK_FIRST_MS): number {
  const first = Math.min(firstMs, capMs);
  return Math.min(capMs, first * 2 ** Math.min(Math.max(failures - 1, 0), 30));
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
      // A generated key expires: never "synced once" (its renewal point says when to ask again).
      return !(settled && intervalMs === 0 && els.spec.generate === undefined);
    }
    if (memory.generation !== els.metadata.generation || memory.forceToken !== forceToken) return true;
    if (memory.intervalMs === 0) return false;
    if (marks > memory.marks) return true;
    return this.#now() >= memory.at + memory.intervalMs;
  }

  /**
   * Refreshed now: next due one jittered interval later, or, with gridKey, on the grid shared by
   * every resource whose checks share one listing (so they share it again next cycle). `dueBy`
   * (a generated key's renewal point) brings it forward, sync-once resources included: a key
   * that expires must be renewed whatever refreshInterval says.
   */
  remember(key: string, els: ExternalLLMSecret, intervalMs: number, gridKey?: string, dueBy?: Date): void {
    const now = this.#now();
    const aligned = gridKey !== undefined && intervalMs > 0 && dueBy === undefined;
    let wait = intervalMs === 0 ? 0 : aligned ? intervalMs : jitteredInterval(intervalMs, this.#random);
    // At least 1 ms: a wait of 0 means "never again" (sync once).
    if (dueBy !== undefined) wait = Math.max(1, wait === 0 ? dueBy.getTime() - now : Math.min(wait, dueBy.getTime() - now));
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

  /**
   * A non-retryable failure: next look after failedRecheckDelay of the failures in a row, which
   * a success, a spec change or a new force-sync token starts again from the first delay.
   */
  rememberFailure(key: string, els: ExternalLLMSecret, capMs: number): void {
    const memory = this.#memory.get(key);
    const forceToken = els.metadata.annotations?.[FORCE_SYNC_ANNOTATION];
    const same = memory !== undefined && memory.generation === els.metadata.generation && memory.forceToken === forceToken;
    const failures = (same ? memory.failures ?? 0 : 0) + 1;
    this.remember(key, els, failedRecheckDelay(failures, capMs));
    this.#memory.get(key)!.failures = failures;
  }

  /** Synced or failed here at this generation and force-sync token: its next look is a refresh. */
  remembers(key: string, els: ExternalLLMSecret): boolean {
    const memory = this.#memory.get(key);
    return memory !== undefined && memory.generation === els.metadata.generation
      && memory.forceToken === els.metadata.annotations?.[FORCE_SYNC_ANNOTATION];
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
