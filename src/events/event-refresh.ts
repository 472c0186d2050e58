// Event-driven refresh, put together: the SQS queue an EventBridge rule fills with Secrets
// Manager change events, consumed on the leader; what the operator wires (operator.ts):
//   start/stop with leadership, pollIntervalMs for the reconciler (refreshInterval × the
//   multiplier while the queue answers, refreshInterval while it does not), afterSecretWrite for
//   the latency histogram, and a note for /readyz.
// When the queue stops answering, every resource is checked once at once (changes made while it
// is down would otherwise wait out the long interval) and polls at its refreshInterval until it
// answers again. Messages kept in the queue meanwhile are handled when it does.
import type { Logger } from 'pino';
import type { AwsClientFactory, Credentials } from '../aws/clients.js';
import type { SecretMatch } from '../aws/version-index.js';
import type { ExternalLLMSecret } from '../crds/types.js';
import type { Metrics } from '../observability/metrics.js';
import { EventConsumer } from './consumer.js';
import { EventDispatcher } from './dispatcher.js';
import { EventLatency } from './latency.js';
import { LONG_POLL_SECONDS, regionOfQueueUrl, SqsEventQueue, type EventQueue } from './sqs-queue.js';

export interface EventRefreshOptions {
  queueUrl: string;
  pollMultiplier: number;
  defaultRegion: string;
  clients: AwsClientFactory;
  credentials?: Credentials;
  resources(): ExternalLLMSecret[];
  regionOf(els: ExternalLLMSecret): string;
  invalidate(match: SecretMatch): void;
  markDue(key: string): void;
  queue: { add(key: string): void; readonly accepting: boolean };
  metrics: Metrics;
  log: Logger;
  /** Tests: a queue other than SQS. */
  eventQueue?: EventQueue;
}

/** A full recheck when the queue goes down, at most this often (a flapping queue). */
const RECHECK_MIN_GAP_MS = 60_000;

export class EventRefresh {
  readonly latency: EventLatency;
  readonly #o: EventRefreshOptions;
  readonly #consumer: EventConsumer;
  readonly #sqs: SqsEventQueue | undefined;
  #lastRecheck = 0;

  constructor(opts: EventRefreshOptions) {
    this.#o = opts;
    const log = opts.log.child({ events: 'sqs' });
    this.latency = new EventLatency(opts.metrics.eventToSecret);
    if (!opts.eventQueue) {
      const region = regionOfQueueUrl(opts.queueUrl) ?? opts.defaultRegion;
      this.#sqs = new SqsEventQueue(opts.clients.sqs(region, opts.credentials, LONG_POLL_SECONDS), opts.queueUrl);
    }
    const dispatcher = new EventDispatcher({
      resources: opts.resources, regionOf: opts.regionOf, invalidate: opts.invalidate, markDue: opts.markDue,
      queue: opts.queue, latency: this.latency, metrics: opts.metrics, log,
    });
    this.#consumer = new EventConsumer({
      queue: opts.eventQueue ?? this.#sqs!, handle: (m) => dispatcher.handle(m), log,
      onDown: (code) => this.#down(code),
      onUp: () => opts.metrics.eventsQueueUp.set(1),
    });
    opts.metrics.eventsQueueUp.set(1);
  }

  /** Polling interval for a refreshInterval: stretched while events flow. */
  pollIntervalMs(refreshIntervalMs: number): number {
    return this.#consumer.up ? refreshIntervalMs * this.#o.pollMultiplier : refreshIntervalMs;
  }

  get up(): boolean {
    return this.#consumer.up;
  }

  /** For /readyz detail: empty while events flow. */
  get note(): string {
    return this.#consumer.note;
  }

  start(): void {
    this.#consumer.start();
  }

  async stop(): Promise<void> {
    await this.#consumer.stop();
    this.#sqs?.destroy();
  }

  #down(code: string): void {
    this.#o.metrics.eventsQueueUp.set(0);
    const now = Date.now();
    if (now - this.#lastRecheck < RECHECK_MIN_GAP_MS || !this.#o.queue.accepting) return;
    this.#lastRecheck = now;
    // Changes made meanwhile would otherwise wait out the stretched interval: check everything
    // once now (change detection: one listing per account and region, no value read unless
    // changed), after which each resource polls at its refreshInterval.
    const resources = this.#o.resources();
    for (const els of resources) {
      const key = `${els.metadata.namespace}/${els.metadata.name}`;
      this.#o.markDue(key);
      this.#o.queue.add(key);
    }
    this.#o.log.warn({ code, rechecked: resources.length }, 'events queue down: checked every resource once; polling at refreshInterval until it answers');
  }
}
