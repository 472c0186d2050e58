// The receive loop (leader only): long-polls the events queue, hands each batch to the
// dispatcher, deletes what it says is done. A failed receive marks the queue down (refresh falls
// back to polling at refreshInterval: see event-refresh.ts) and retries with backoff; the next
// receive that answers marks it up again. Messages are never logged, only their ids and counts.
import type { Logger } from 'pino';
import { awsErrorCode } from '../aws/errors.js';
import { backoffDelay } from '../controller/backoff.js';
import type { EventQueue, QueueMessage } from './sqs-queue.js';

export interface BatchOutcome {
  /** Handled (requeued, or ignored for good): delete these. */
  done: QueueMessage[];
  /** The work queue stopped taking keys (leadership lost, shutting down): stop receiving; the
   * messages not in `done` come back after their visibility timeout, for the next leader. */
  stop?: boolean;
}

export interface ConsumerOptions {
  queue: EventQueue;
  handle(messages: QueueMessage[]): BatchOutcome;
  log: Logger;
  /** The queue stopped answering / answers again. */
  onDown(code: string): void;
  onUp(): void;
  random?: () => number;
}

const RETRY = { baseMs: 1_000, maxMs: 30_000 };

export class EventConsumer {
  readonly #o: ConsumerOptions;
  #abort: AbortController | undefined;
  #loop: Promise<void> | undefined;
  #up = true;
  #downSince: Date | undefined;
  #lastCode = '';

  constructor(opts: ConsumerOptions) {
    this.#o = opts;
  }

  /** True until a receive fails, and again once one answers. */
  get up(): boolean {
    return this.#up;
  }

  /** For /readyz: empty while up. */
  get note(): string {
    return this.#up ? '' : `events queue unreachable since ${this.#downSince?.toISOString()} (${this.#lastCode}): polling at refreshInterval`;
  }

  start(): void {
    if (this.#loop) return;
    const abort = (this.#abort = new AbortController());
    this.#loop = this.#run(abort.signal);
  }

  async stop(): Promise<void> {
    this.#abort?.abort();
    await this.#loop;
    this.#loop = undefined;
  }

  async #run(signal: AbortSignal): Promise<void> {
    const { queue, log } = this.#o;
    try {
      const attrs = await queue.describe();
      log.info({ approximateMessages: attrs.ApproximateNumberOfMessages, visibilityTimeoutSeconds: attrs.VisibilityTimeout }, 'events queue: consuming change events');
    } catch (err) {
      if (signal.aborted) return;
      log.warn({ code: awsErrorCode(err) }, 'events queue: GetQueueAttributes failed; receiving anyway');
    }
    let failures = 0;
    while (!signal.aborted) {
      let messages: QueueMessage[];
      try {
        messages = await queue.receive(signal);
      } catch (err) {
        if (signal.aborted) break;
        const code = awsErrorCode(err);
        this.#down(code);
        const delay = backoffDelay(failures++, this.#o.random, RETRY);
        log.warn({ code, retryInMs: delay }, 'events queue: receive failed; polling covers changes meanwhile');
        await sleep(delay, signal);
        continue;
      }
      failures = 0;
      this.#markUp();
      if (messages.length === 0) continue;
      const outcome = this.#o.handle(messages);
      try {
        const refused = await queue.delete(outcome.done);
        if (refused > 0) log.warn({ refused }, 'events queue: some deletes refused; those messages come back and count as duplicates');
      } catch (err) {
        log.warn({ code: awsErrorCode(err), messages: outcome.done.length }, 'events queue: delete failed; those messages come back and count as duplicates');
      }
      if (outcome.stop) break;
    }
  }

  #down(code: string): void {
    this.#lastCode = code;
    if (!this.#up) return;
    this.#up = false;
    this.#downSince = new Date();
    this.#o.onDown(code);
  }

  #markUp(): void {
    if (this.#up) return;
    this.#up = true;
    this.#o.log.info({ downSince: this.#downSince?.toISOString() }, 'events queue answers again');
    this.#downSince = undefined;
    this.#o.onUp();
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() { clearTimeout(t); signal.removeEventListener('abort', done); resolve(); }
    signal.addEventListener('abort', done, { once: true });
  });
}
