// Event-driven refresh, pure parts: parsing EventBridge messages, matching secret identifiers,
// the usage index, the dispatcher's decisions (requeue, ignore, duplicate, delete-after-accept),
// the consumer's fallback, and the schedule's markDue.
import { describe, expect, it } from 'vitest';
import type { ExternalLLMSecret } from '../crds/types.js';
import { RefreshSchedule } from '../controller/schedule.js';
import { createLogger } from '../observability/logger.js';
import { Metrics } from '../observability/metrics.js';
import { EventConsumer } from './consumer.js';
import { EventDispatcher } from './dispatcher.js';
import { EventLatency } from './latency.js';
import { parseEventMessage } from './parse.js';
import { refOf, sameSecret } from './secret-ref.js';
import type { EventQueue, QueueMessage } from './sqs-queue.js';
import { regionOfQueueUrl } from './sqs-queue.js';
import { secretMatcher, UsageIndex } from './usage-index.js';

const ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/llm/openai-AbCdEf';

export function cloudTrailEvent(eventName: string, secretId: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    version: '0', id: `ev-${Math.random()}`, 'detail-type': 'AWS API Call via CloudTrail', source: 'aws.secretsmanager',
    account: '123456789012', time: '2025-01-01T00:00:00Z', region: 'us-east-1', resources: [],
    detail: {
      eventVersion: '1.08', eventSource: 'secretsmanager.amazonaws.com', eventName, awsRegion: 'us-east-1',
      eventTime: '2025-01-01T00:00:00Z', requestParameters: { secretId, clientRequestToken: 'x' }, responseElements: null, ...extra,
    },
  });
}

describe('parseEventMessage', () => {
  it('reads the secret of a CloudTrail API call, by name and by ARN', () => {
    const byName = parseEventMessage(cloudTrailEvent('PutSecretValue', 'prod/llm/openai'));
    expect(byName).toMatchObject({ kind: 'change', eventName: 'PutSecretValue', timeMs: Date.parse('2025-01-01T00:00:00Z') });
    expect(byName.kind === 'change' && byName.refs).toEqual([{ region: 'us-east-1', names: ['prod/llm/openai'] }]);
    const byArn = parseEventMessage(cloudTrailEvent('UpdateSecretVersionStage', ARN));
    expect(byArn.kind === 'change' && byArn.refs[0]).toEqual({ region: 'us-east-1', account: '123456789012', names: ['prod/llm/openai-AbCdEf', 'prod/llm/openai'] });
  });

  it('reads RotationSucceeded service events (additionalEventData.SecretId)', () => {
    const body = JSON.stringify({
      id: 'r1', 'detail-type': 'AWS Service Event via CloudTrail', source: 'aws.secretsmanager', region: 'us-east-1', time: '2025-01-01T00:00:00Z',
      detail: { eventSource: 'secretsmanager.amazonaws.com', eventName: 'RotationSucceeded', awsRegion: 'us-east-1', additionalEventData: { SecretId: ARN } },
    });
    expect(parseEventMessage(body)).toMatchObject({ kind: 'change', eventName: 'RotationSucceeded', id: 'r1' });
  });

  it.each([
    ['not JSON', 'hello', 'malformed'],
    ['JSON without an envelope', '{"a":1}', 'malformed'],
    ['an S3 event', JSON.stringify({ source: 'aws.s3', 'detail-type': 'Object Created', detail: {} }), 'foreign'],
    ['a read (GetSecretValue)', cloudTrailEvent('GetSecretValue', 'x'), 'irrelevant'],
    ['a failed call', cloudTrailEvent('PutSecretValue', 'x', { errorCode: 'AccessDenied' }), 'irrelevant'],
    ['no secret named', cloudTrailEvent('PutSecretValue', ''), 'malformed'],
  ])('ignores %s', (_what, body, reason) => {
    expect(parseEventMessage(body)).toMatchObject({ kind: 'ignored', reason });
  });
});

describe('secret identifiers', () => {
  it('matches name, full ARN and partial ARN of one secret, and nothing else', () => {
    const name = refOf('prod/llm/openai', 'us-east-1');
    expect(sameSecret(name, refOf(ARN, 'us-east-1'))).toBe(true);
    expect(sameSecret(name, refOf('arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/llm/openai', 'x'))).toBe(true);
    expect(sameSecret(name, refOf('prod/llm/openai', 'eu-west-1'))).toBe(false);
    expect(sameSecret(name, refOf('prod/llm/openai-2', 'us-east-1'))).toBe(false);
    expect(sameSecret(refOf(ARN, 'x'), refOf(ARN.replace('123456789012', '999999999999'), 'x'))).toBe(false);
    const match = secretMatcher([refOf(ARN, 'us-east-1')]);
    expect(match('us-east-1', ['prod/llm/openai'])).toBe(true);
    expect(match('us-east-1', [undefined, 'other'])).toBe(false);
  });

  it('regions of queue URLs', () => {
    expect(regionOfQueueUrl('https://sqs.eu-west-1.amazonaws.com/111122223333/q')).toBe('eu-west-1');
    expect(regionOfQueueUrl('http://127.0.0.1:4566/111122223333/q')).toBeUndefined();
  });
});

const els = (ns: string, name: string, secretId: string, region?: string): ExternalLLMSecret => ({
  apiVersion: 'llmsecrets.dev/v1alpha1', kind: 'ExternalLLMSecret', metadata: { namespace: ns, name },
  spec: { source: { secretId, ...(region ? { region } : {}) } },
} as ExternalLLMSecret);

describe('UsageIndex', () => {
  it('finds every resource on a secret, whatever form names it', () => {
    const index = new UsageIndex([
      els('a', 'one', 'prod/llm/openai'), els('b', 'two', ARN), els('c', 'three', 'prod/llm/openai', 'eu-west-1'), els('d', 'four', 'prod/llm/other'),
    ], (e) => e.spec.source?.region ?? 'us-east-1');
    expect([...index.using([refOf('prod/llm/openai', 'us-east-1')])].sort()).toEqual(['a/one', 'b/two']);
    expect([...index.using([refOf(ARN, 'us-east-1')])].sort()).toEqual(['a/one', 'b/two']);
  });
});

function dispatcher(resources: ExternalLLMSecret[], accepting = true) {
  const metrics = new Metrics({ processMetrics: false });
  const added: string[] = [];
  const marked: string[] = [];
  const invalidated: Array<(r: string, ids: Array<string | undefined>) => boolean> = [];
  const d = new EventDispatcher({
    resources: () => resources, regionOf: () => 'us-east-1',
    invalidate: (m) => invalidated.push(m), markDue: (k) => marked.push(k),
    queue: { add: (k) => added.push(k), accepting },
    latency: new EventLatency(metrics.eventToSecret), metrics, log: createLogger('silent'),
  });
  return { d, metrics, added, marked, invalidated };
}
const msg = (body: string, id = 'm'): QueueMessage => ({ id, receiptHandle: `rh-${id}`, body });
const count = async (m: Metrics, name: string) => (await m.registry.getSingleMetricAsString(name)).split('\n').filter((l) => !l.startsWith('#')).join(' ');

describe('EventDispatcher', () => {
  const resources = [els('a', 'one', 'prod/llm/openai'), els('b', 'two', 'prod/llm/openai'), els('c', 'three', 'other')];

  it('requeues exactly the resources of the secret, invalidates once, and marks the message done', async () => {
    const { d, metrics, added, marked, invalidated } = dispatcher(resources);
    const out = d.handle([msg(cloudTrailEvent('PutSecretValue', ARN))]);
    expect(out.done.map((m) => m.id)).toEqual(['m']);
    expect(added.sort()).toEqual(['a/one', 'b/two']);
    expect(marked.sort()).toEqual(['a/one', 'b/two']);
    expect(invalidated).toHaveLength(1);
    expect(invalidated[0]!('us-east-1', ['prod/llm/openai'])).toBe(true);
    expect(await count(metrics, 'externalllmsecret_events_matched_total')).toContain('1');
  });

  it('deletes malformed, foreign and unused messages, counted by reason; a duplicate costs nothing', async () => {
    const { d, metrics, added, invalidated } = dispatcher(resources);
    const event = cloudTrailEvent('PutSecretValue', 'prod/llm/openai');
    const out = d.handle([msg('garbage', '1'), msg(JSON.stringify({ source: 'aws.s3', 'detail-type': 'x', detail: {} }), '2'), msg(cloudTrailEvent('PutSecretValue', 'nobody/uses'), '3'), msg(event, '4'), msg(event, '5')]);
    expect(out.done.map((m) => m.id)).toEqual(['1', '2', '3', '4', '5']);
    expect(added).toHaveLength(2);
    expect(invalidated).toHaveLength(1);
    const ignored = await count(metrics, 'externalllmsecret_events_ignored_total');
    for (const reason of ['malformed', 'foreign', 'unused', 'duplicate']) expect(ignored).toContain(`reason="${reason}"} 1`);
    expect(await count(metrics, 'externalllmsecret_events_received_total')).toContain(' 5');
  });

  it('does not delete a change it could not requeue (the work queue stopped)', () => {
    const { d, added } = dispatcher(resources, false);
    const out = d.handle([msg('garbage', '1'), msg(cloudTrailEvent('PutSecretValue', 'prod/llm/openai'), '2')]);
    expect(out).toEqual({ done: [expect.objectContaining({ id: '1' })], stop: true });
    expect(added).toEqual([]);
  });
});

describe('EventConsumer', () => {
  it('falls back when receives fail, comes back when one answers, deletes what was handled', async () => {
    const script: Array<QueueMessage[] | Error> = [new Error('down'), new Error('down'), [msg('x', 'a')], []];
    const deleted: string[] = [];
    let downs = 0; let ups = 0;
    const queue: EventQueue = {
      async receive(signal) {
        const next = script.shift();
        if (next === undefined) await new Promise((r) => signal.addEventListener('abort', r));
        if (next instanceof Error) throw Object.assign(next, { name: 'ServiceUnavailable' });
        return next ?? [];
      },
      async delete(ms) { deleted.push(...ms.map((m) => m.id)); return 0; },
      async describe() { return {}; },
    };
    const consumer = new EventConsumer({
      queue, handle: (ms) => ({ done: ms }), log: createLogger('silent'), random: () => 0,
      onDown: () => downs++, onUp: () => ups++,
    });
    consumer.start();
    const deadline = Date.now() + 10_000;
    while (deleted.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await consumer.stop();
    expect({ downs, ups, deleted, up: consumer.up }).toEqual({ downs: 1, ups: 1, deleted: ['a'], up: true });
  });
});

describe('RefreshSchedule.markDue', () => {
  const r = els('a', 'one', 's');
  r.metadata.generation = 1;
  it('makes a remembered resource due once; a mark during a refresh holds for the next', () => {
    let now = 0;
    const s = new RefreshSchedule({ now: () => now, random: () => 0.5 });
    s.isDue('a/one', r, 60_000);
    s.remember('a/one', r, 60_000);
    now = 1_000;
    expect(s.isDue('a/one', r, 60_000)).toBe(false);
    s.markDue('a/one');
    expect(s.isDue('a/one', r, 60_000)).toBe(true);
    s.markDue('a/one'); // an event while that refresh runs
    s.remember('a/one', r, 60_000);
    expect(s.isDue('a/one', r, 60_000)).toBe(true);
    s.remember('a/one', r, 60_000);
    expect(s.isDue('a/one', r, 60_000)).toBe(false);
  });

  it('leaves sync-once resources alone', () => {
    const s = new RefreshSchedule({ now: () => 0 });
    s.isDue('a/one', r, 0);
    s.remember('a/one', r, 0);
    s.markDue('a/one');
    expect(s.isDue('a/one', r, 0)).toBe(false);
  });
});

describe('flags', () => {
  it('--events-queue-url and --events-poll-multiplier', async () => {
    const { parseConfig, ConfigError } = await import('../config.js');
    const plain = parseConfig([], {});
    expect([plain.eventsQueueUrl, plain.eventsPollMultiplier]).toEqual([undefined, 10]);
    expect(parseConfig(['--events-queue-url', 'https://sqs.us-east-1.amazonaws.com/111122223333/q', '--events-poll-multiplier', '4'], {}))
      .toMatchObject({ eventsQueueUrl: 'https://sqs.us-east-1.amazonaws.com/111122223333/q', eventsPollMultiplier: 4 });
    expect(parseConfig([], { ELS_EVENTS_QUEUE_URL: 'http://127.0.0.1:1/123456789012/q' }).eventsQueueUrl).toBe('http://127.0.0.1:1/123456789012/q');
    expect(() => parseConfig(['--events-queue-url', 'arn:aws:sqs:us-east-1:1:q'], {})).toThrow(ConfigError);
    expect(() => parseConfig(['--events-poll-multiplier', '0'], {})).toThrow(ConfigError);
  });
});
