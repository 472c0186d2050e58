// Prometheus metrics. Names follow Prometheus conventions (base units, _total on counters) and
// label sets stay bounded: per-resource series only where the issue asks for them, and those are
// removed when the resource goes away.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export const METRIC_PREFIX = 'externalllmsecret_';
const SYNC_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export class Metrics {
  readonly registry = new Registry();
  readonly perResourceNames: boolean;
  readonly syncDuration: Histogram<string>;
  readonly syncs: Counter<'result' | 'reason'>;
  readonly ready: Gauge<'namespace' | 'name'>;
  readonly lastSuccess: Gauge<'namespace' | 'name'>;
  readonly versionAge: Gauge<'namespace' | 'name'>;
  readonly generatedExpiry: Gauge<'namespace' | 'name'>;
  readonly awsCalls: Counter<'service' | 'operation' | 'outcome'>;
  readonly kubeRequests: Counter<'verb' | 'resource' | 'code'>;
  readonly queueDepth: Gauge;
  readonly queueAdds: Counter;
  readonly queueRetries: Counter;
  readonly queueLongestRunning: Gauge;
  readonly credentialCache: Counter<'result'>;
  readonly sourceCache: Counter<'result'>;
  readonly rolloutRestarts: Counter<'result'>;
  readonly recoveryRequeues: Counter<'scope'>;
  readonly kubeEventsDropped: Counter<'reason'>;
  // Event-driven refresh (src/events).
  readonly eventsReceived: Counter;
  readonly eventsMatched: Counter;
  readonly eventsIgnored: Counter<'reason'>;
  readonly eventRequeues: Counter;
  readonly eventToSecret: Histogram;
  readonly eventsQueueUp: Gauge;

  constructor(opts: { perResourceNames?: boolean; processMetrics?: boolean } = {}) {
    const registers = [this.registry];
    this.perResourceNames = opts.perResourceNames ?? false;
    if (opts.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
    this.syncDuration = new Histogram({
      name: `${METRIC_PREFIX}sync_duration_seconds`,
      help: 'Time from dequeue to written status for one reconcile.',
      labelNames: this.perResourceNames ? ['namespace', 'name', 'result'] : ['namespace', 'result'],
      buckets: SYNC_BUCKETS,
      registers,
    });
    this.syncs = new Counter({ name: `${METRIC_PREFIX}syncs_total`, help: 'Reconciles by result and reason.', labelNames: ['result', 'reason'], registers });
    this.ready = new Gauge({ name: `${METRIC_PREFIX}ready`, help: '1 when the resource is Ready, 0 otherwise.', labelNames: ['namespace', 'name'], registers });
    this.lastSuccess = new Gauge({ name: `${METRIC_PREFIX}last_success_timestamp_seconds`, help: 'Unix time of the last successful sync.', labelNames: ['namespace', 'name'], registers });
    this.versionAge = new Gauge({ name: `${METRIC_PREFIX}source_version_age_seconds`, help: 'Seconds since the synced AWS secret version was created.', labelNames: ['namespace', 'name'], registers });
    this.generatedExpiry = new Gauge({ name: `${METRIC_PREFIX}generated_expiry_timestamp_seconds`, help: 'Unix time at which the generated key (spec.generate) now in the Secret expires.', labelNames: ['namespace', 'name'], registers });
    this.awsCalls = new Counter({ name: `${METRIC_PREFIX}aws_api_calls_total`, help: 'AWS API calls (every HTTP attempt, retries included).', labelNames: ['service', 'operation', 'outcome'], registers });
    this.kubeRequests = new Counter({ name: `${METRIC_PREFIX}kube_api_requests_total`, help: 'Kubernetes API requests made by the operator (every request; long-lived watches are not counted).', labelNames: ['verb', 'resource', 'code'], registers });
    this.queueDepth = new Gauge({ name: `${METRIC_PREFIX}workqueue_depth`, help: 'Keys waiting in the work queue.', registers });
    this.queueAdds = new Counter({ name: `${METRIC_PREFIX}workqueue_adds_total`, help: 'Keys added to the work queue.', registers });
    this.queueRetries = new Counter({ name: `${METRIC_PREFIX}workqueue_retries_total`, help: 'Keys re-added after a failure.', registers });
    this.queueLongestRunning = new Gauge({ name: `${METRIC_PREFIX}workqueue_longest_running_processor_seconds`, help: 'How long the longest-running reconcile has been running.', registers });
    this.credentialCache = new Counter({ name: `${METRIC_PREFIX}credential_cache_requests_total`, help: 'Credential cache look-ups by result (hit, miss).', labelNames: ['result'], registers });
    this.rolloutRestarts = new Counter({ name: `${METRIC_PREFIX}rollout_restarts_total`, help: 'Rollout-restart targets by result (restarted, failed: retried with backoff, skipped: paused or missing).', labelNames: ['result'], registers });
    this.recoveryRequeues = new Counter({ name: `${METRIC_PREFIX}recovery_requeues_total`, help: 'Resources requeued at once because the dependency they failed on (kube, or aws:<region>) answered again.', labelNames: ['scope'], registers });
    this.kubeEventsDropped = new Counter({ name: `${METRIC_PREFIX}kube_events_dropped_total`, help: 'Normal Kubernetes Events not written because they were over the operator-wide budget (a burst of 50, then 2 a second), by event reason. Status conditions still record every outcome.', labelNames: ['reason'], registers });
    this.eventsReceived = new Counter({ name: `${METRIC_PREFIX}events_received_total`, help: 'Messages received from the events queue.', registers });
    this.eventsMatched = new Counter({ name: `${METRIC_PREFIX}events_matched_total`, help: 'Change events that named a secret some resource uses (those resources were requeued).', registers });
    this.eventsIgnored = new Counter({ name: `${METRIC_PREFIX}events_ignored_total`, help: 'Messages ignored (and deleted) by reason: malformed, foreign (not Secrets Manager), irrelevant (a read or failed call), unused (no resource uses the secret), duplicate (event id seen).', labelNames: ['reason'], registers });
    this.eventRequeues = new Counter({ name: `${METRIC_PREFIX}event_requeues_total`, help: 'Resources requeued by change events.', registers });
    this.eventToSecret = new Histogram({ name: `${METRIC_PREFIX}event_to_secret_seconds`, help: 'From the change (the event time) to the Secret write it caused.', buckets: [0.5, 1, 2, 3, 5, 10, 30, 60, 120, 300], registers });
    this.eventsQueueUp = new Gauge({ name: `${METRIC_PREFIX}events_queue_up`, help: '1 while the events queue answers, 0 while refresh has fallen back to polling at refreshInterval.', registers });
    this.sourceCache = new Counter({ name: `${METRIC_PREFIX}source_cache_requests_total`, help: 'Secret value cache look-ups by result (hit, miss, shared, prefetched).', labelNames: ['result'], registers });
  }

  observeSync(namespace: string, name: string, result: string, seconds: number): void {
    const labels = this.perResourceNames ? { namespace, name, result } : { namespace, result };
    this.syncDuration.observe(labels, seconds);
  }

  /** Removes the per-resource series of a deleted resource. */
  forgetResource(namespace: string, name: string): void {
    for (const g of [this.ready, this.lastSuccess, this.versionAge, this.generatedExpiry]) g.remove({ namespace, name });
  }
}
