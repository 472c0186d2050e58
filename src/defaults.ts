// Defaults of the ExternalLLMSecret API, defined once: the CRD schema, the reconciler and the docs
// use these. (Flag defaults live in config.ts's DEFAULTS.)
import { parseDuration } from './sync/duration.js';

/** spec.refreshInterval when unset. */
export const DEFAULT_REFRESH_INTERVAL = '1h';
export const DEFAULT_REFRESH_INTERVAL_MS = parseDuration(DEFAULT_REFRESH_INTERVAL)!;
/** spec.expiry.warningWindow when unset. */
export const DEFAULT_WARNING_WINDOW = '7d';
export const DEFAULT_WARNING_WINDOW_MS = parseDuration(DEFAULT_WARNING_WINDOW)!;
/** A non-retryable failure is looked at again after this long, then twice as long each time up
 * to the refresh interval (controller/schedule.ts failedRecheckDelay): the source may be fixed. */
export const FAILED_RECHECK_FIRST_MS = 30_000;
