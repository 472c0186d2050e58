// The events queue on SQS: long-poll receives (20 s, up to 10 messages), batched deletes, one
// GetQueueAttributes at start. Nothing else in src/events knows it is SQS.
import { DeleteMessageBatchCommand, GetQueueAttributesCommand, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';

export const LONG_POLL_SECONDS = 20;
export const BATCH_SIZE = 10;

export interface QueueMessage {
  id: string;
  receiptHandle: string;
  body: string | undefined;
}

/** The port the consumer uses; tests give it a fake. */
export interface EventQueue {
  receive(signal: AbortSignal): Promise<QueueMessage[]>;
  /** Deletes; returns how many the queue refused. */
  delete(messages: QueueMessage[]): Promise<number>;
  /** A few attributes for the start-up log line (no message content). */
  describe(): Promise<Record<string, string>>;
}

/** The region of a queue URL (sqs.<region>.amazonaws.com, <region>.queue.amazonaws.com), if it says. */
export function regionOfQueueUrl(url: string): string | undefined {
  const host = new URL(url).hostname;
  return /^sqs\.([a-z0-9-]+)\.amazonaws\.com/.exec(host)?.[1] ?? /^([a-z]{2}(?:-[a-z]+)+-\d+)\.queue\.amazonaws\.com$/.exec(host)?.[1]
    ?? /\.sqs\.([a-z0-9-]+)\.vpce\.amazonaws\.com$/.exec(host)?.[1];
}

export class SqsEventQueue implements EventQueue {
  constructor(private readonly client: SQSClient, private readonly queueUrl: string) {}

  async receive(signal: AbortSignal): Promise<QueueMessage[]> {
    const out = await this.client.send(new ReceiveMessageCommand({
      QueueUrl: this.queueUrl, MaxNumberOfMessages: BATCH_SIZE, WaitTimeSeconds: LONG_POLL_SECONDS,
    }), { abortSignal: signal });
    return (out.Messages ?? []).flatMap((m) => (m.ReceiptHandle ? [{ id: m.MessageId ?? '', receiptHandle: m.ReceiptHandle, body: m.Body }] : []));
  }

  async delete(messages: QueueMessage[]): Promise<number> {
    if (messages.length === 0) return 0;
    const out = await this.client.send(new DeleteMessageBatchCommand({
      QueueUrl: this.queueUrl,
      Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.receiptHandle })),
    }));
    return out.Failed?.length ?? 0;
  }

  async describe(): Promise<Record<string, string>> {
    const out = await this.client.send(new GetQueueAttributesCommand({
      QueueUrl: this.queueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'VisibilityTimeout', 'MessageRetentionPeriod'],
    }));
    return out.Attributes ?? {};
  }

  destroy(): void {
    this.client.destroy();
  }
}
