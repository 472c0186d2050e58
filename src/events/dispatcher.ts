// From a batch of queue messages to requeued resources. For each change event: the resources
// that use the secret (from the informer cache), the AWS adapter's caches for that secret
// invalidated once (so their reconciles share one DescribeSecret and one read), each resource
// marked due and added to the work queue. A message is done (deleted) once its requeues are
// accepted, or at once when it is ignored; an event id seen before is a duplicate and costs nothing.
import type { Logger } from 'pino';
import type { SecretMatch } from '../aws/version-index.js';
import type { ExternalLLMSecret } from '../crds/types.js';
import type { Metrics } from '../observability/metrics.js';
import type { BatchOutcome } from './consumer.js';
import type { EventLatency } from './latency.js';
import { parseEventMessage } from './parse.js';
import type { QueueMessage } from './sqs-queue.js';
import { secretMatcher, UsageIndex } from './usage-index.js';

export interface DispatcherDeps {
  /** The informer cache. */
  resources(): Iterable<ExternalLLMSecret>;
  regionOf(els: ExternalLLMSecret): string;
  /** Drops what the AWS adapter caches for the matching secrets. */
  invalidate(match: SecretMatch): void;
  /** The reconciler's schedule: the key is due at its next reconcile. */
  markDue(key: string): void;
  queue: { add(key: string): void; readonly accepting: boolean };
  latency: EventLatency;
  metrics: Metrics;
  log: Logger;
}

const SEEN_IDS = 10_000;

export class EventDispatcher {
  readonly #d: DispatcherDeps;
  /** Event ids handled lately, oldest first (SQS delivers at least once). */
  readonly #seen = new Set<string>();

  constructor(deps: DispatcherDeps) {
    this.#d = deps;
  }

  handle(messages: QueueMessage[]): BatchOutcome {
    const { metrics, log } = this.#d;
    const done: QueueMessage[] = [];
    let index: UsageIndex | undefined;
    for (const message of messages) {
      metrics.eventsReceived.inc();
      const event = parseEventMessage(message.body);
      if (event.kind === 'ignored') {
        metrics.eventsIgnored.inc({ reason: event.reason });
        // The message id and the reason; never the body.
        log.info({ messageId: message.id, reason: event.reason, eventName: event.eventName }, 'events queue: message ignored');
        done.push(message);
        continue;
      }
      if (this.#seen.has(event.id)) {
        metrics.eventsIgnored.inc({ reason: 'duplicate' });
        log.debug({ messageId: message.id, eventName: event.eventName }, 'events queue: duplicate event');
        done.push(message);
        continue;
      }
      index ??= new UsageIndex(this.#d.resources(), (els) => this.#d.regionOf(els));
      const keys = index.using(event.refs);
      if (keys.size === 0) {
        metrics.eventsIgnored.inc({ reason: 'unused' });
        log.debug({ messageId: message.id, eventName: event.eventName }, 'events queue: no resource uses that secret');
        this.#remember(event.id);
        done.push(message);
        continue;
      }
      if (!this.#d.queue.accepting) return { done, stop: true };
      this.#d.invalidate(secretMatcher(event.refs));
      for (const key of keys) {
        this.#d.markDue(key);
        this.#d.queue.add(key);
        this.#d.latency.expect(key, event.timeMs);
      }
      metrics.eventsMatched.inc();
      metrics.eventRequeues.inc(keys.size);
      log.info({ messageId: message.id, eventName: event.eventName, requeued: keys.size }, 'change event: requeued the resources of the secret');
      this.#remember(event.id);
      done.push(message);
    }
    return { done };
  }

  #remember(id: string): void {
    this.#seen.add(id);
    if (this.#seen.size > SEEN_IDS) this.#seen.delete(this.#seen.values().next().value!);
  }
}
