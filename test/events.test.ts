// Event-driven refresh against moto: an EventBridge rule delivers Secrets Manager change events to
// an SQS queue, the operator's leader long-polls it through a fault proxy and requeues exactly the
// resources of the changed secret. moto's Secrets Manager emits no events (there is no CloudTrail
// in moto, shown by the first test), so each rotation here is the API call (PutSecretValue) followed
// by the CloudTrail-shaped event put on the bus with PutEvents, which moto's EventBridge matches
// against the rule and delivers to the queue exactly as AWS would deliver it.
import { randomBytes } from 'node:crypto';
import { GetQueueAttributesCommand, ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExternalLLMSecretSpec } from '../src/crds/types.js';
import { HttpFaultProxy } from './env/fault-proxy.js';
import { cloudTrailDetail, createEventsQueue, deleteEventsQueue, putSecretsManagerEvent, sqsClient, type EventsQueue } from './env/events.js';
import { applyCrds, createSecret, createTestNamespace, freePort, getTestEnv, MOTO_ACCOUNT_ID, MOTO_REGION, putSecretValue } from './env/index.js';
import { createEls, decoded, getEls, isReady, readSecret, ready, sleep, until, waitForReady, waitForSecret } from './helpers/els.js';
import { startTestOperator, type TestOperator } from './helpers/operator.js';

const runId = `${process.pid}-${Date.now().toString(36)}`;
const sid = (name: string) => `events-${runId}/${name}`;
const value = (tag: string) => `SECRETVALUE-${tag}-${randomBytes(4).toString('hex')}`;
const spec = (secretId: string, refreshInterval = '1h'): ExternalLLMSecretSpec => ({ source: { secretId }, provider: 'openai', refreshInterval });
/** Polling runs at refreshInterval × this while events flow. */
const MULTIPLIER = 3;
const figures: Record<string, unknown> = {};

let moto: string;
let ns: string;
let queue: EventsQueue;
let proxy: HttpFaultProxy;
let healthPort: number;
let op: TestOperator;

async function metric(name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = op.metrics.registry.getSingleMetric(name);
  if (!m) return 0;
  const { values } = await m.get();
  return values.filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x)).reduce((a, v) => a + v.value, 0);
}
const smCalls = async () => ({
  ListSecrets: await metric('externalllmsecret_aws_api_calls_total', { service: 'secretsmanager', operation: 'ListSecrets' }),
  DescribeSecret: await metric('externalllmsecret_aws_api_calls_total', { service: 'secretsmanager', operation: 'DescribeSecret' }),
  reads: await metric('externalllmsecret_aws_api_calls_total', { service: 'secretsmanager', operation: 'GetSecretValue' })
    + await metric('externalllmsecret_aws_api_calls_total', { service: 'secretsmanager', operation: 'BatchGetSecretValue' }),
});
const written = () => metric('externalllmsecret_syncs_total', { result: 'written' });
const readyz = async () => (await fetch(`http://127.0.0.1:${healthPort}/readyz`)).text();

/** A CloudTrail event as EventBridge delivers it to SQS, with a fixed id (a redelivery repeats it). */
const envelope = (id: string, eventName: string, secretId: string) => JSON.stringify({
  version: '0', id, 'detail-type': 'AWS API Call via CloudTrail', source: 'aws.secretsmanager', account: MOTO_ACCOUNT_ID,
  time: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'), region: MOTO_REGION, resources: [], detail: cloudTrailDetail(eventName, secretId),
});

beforeAll(async () => {
  moto = getTestEnv().motoEndpoint;
  await applyCrds();
  ns = await createTestNamespace('events');
  queue = await createEventsQueue(moto, `els-events-${runId}`);
  proxy = await HttpFaultProxy.start(moto);
  healthPort = await freePort();
  // The operator reaches the queue through the fault proxy (the queue URL's host is the endpoint).
  const proxied = queue.queueUrl.replace(new URL(queue.queueUrl).origin, proxy.url);
  op = await startTestOperator({ namespaces: [ns], args: ['--events-queue-url', proxied, '--events-poll-multiplier', String(MULTIPLIER), '--health-port', String(healthPort)] });
});

afterAll(async () => {
  await op?.stop();
  await proxy?.close();
  if (queue) await deleteEventsQueue(moto, queue).catch(() => undefined);
  process.stderr.write(`[events] figures ${JSON.stringify(figures)}\n`);
});

describe('what moto does', () => {
  it('emits no event for a Secrets Manager call, and delivers a PutEvents event to the rule\'s SQS target', async () => {
    const probe = await createEventsQueue(moto, `els-probe-${runId}`);
    const sqs = sqsClient(moto);
    try {
      const id = sid('probe');
      await createSecret(moto, id, { api_key: value('probe') });
      await putSecretValue(moto, id, { api_key: value('probe2') });
      // A window for an event moto might emit: none comes.
      const none = await sqs.send(new ReceiveMessageCommand({ QueueUrl: probe.queueUrl, WaitTimeSeconds: 2, MaxNumberOfMessages: 10 }));
      expect(none.Messages ?? []).toEqual([]);
      await putSecretsManagerEvent(moto, 'PutSecretValue', id);
      const got = await sqs.send(new ReceiveMessageCommand({ QueueUrl: probe.queueUrl, WaitTimeSeconds: 5, MaxNumberOfMessages: 10 }));
      expect(got.Messages).toHaveLength(1);
      const event = JSON.parse(got.Messages![0]!.Body!) as Record<string, unknown>;
      expect(event).toMatchObject({ source: 'aws.secretsmanager', 'detail-type': 'AWS API Call via CloudTrail', detail: { eventName: 'PutSecretValue', requestParameters: { secretId: id } } });
    } finally {
      sqs.destroy();
      await deleteEventsQueue(moto, probe);
    }
  });
});

describe('event-driven refresh', () => {
  it('a rotation reaches every Secret on the secret in seconds: one DescribeSecret and one read for all of them', async () => {
    const a = sid('shared');
    const b = sid('bystander');
    await createSecret(moto, a, { api_key: value('a1') });
    await createSecret(moto, b, { api_key: value('b1') });
    const names = ['s1', 's2', 's3', 's4', 's5'];
    for (const n of names) await createEls(ns, n, spec(a));
    await createEls(ns, 'bystander', spec(b));
    for (const n of [...names, 'bystander']) await waitForReady(ns, n, isReady);
    const bystander = decoded(await readSecret(ns, 'bystander'));
    await until('the creates to settle', async () => ((await metric('externalllmsecret_workqueue_depth')) === 0 ? true : undefined));
    const before = await smCalls();
    const writesBefore = await written();

    const next = value('a2');
    await putSecretValue(moto, a, { api_key: next });
    const rotatedAt = Date.now();
    await putSecretsManagerEvent(moto, 'PutSecretValue', a);
    const latencies = await Promise.all(names.map(async (n) => {
      await waitForSecret(ns, n, (d) => d.OPENAI_API_KEY === next, 20_000);
      return (Date.now() - rotatedAt) / 1000;
    }));
    figures.rotationToSecretSeconds = { max: Math.max(...latencies), min: Math.min(...latencies) };
    expect(Math.max(...latencies)).toBeLessThan(5);
    await until('5 latency observations', async () => ((await op.metrics.eventToSecret.get()).values.find((v) => v.metricName?.endsWith('_count'))?.value === 5 ? true : undefined));
    await until('the writes to finish', async () => ((await written()) - writesBefore >= names.length ? true : undefined));
    const after = await smCalls();
    const calls = { ListSecrets: after.ListSecrets - before.ListSecrets, DescribeSecret: after.DescribeSecret - before.DescribeSecret, reads: after.reads - before.reads };
    figures.callsForFiveResourcesOnOneSecret = calls;
    expect(calls).toEqual({ ListSecrets: 0, DescribeSecret: 1, reads: 1 });
    expect(decoded(await readSecret(ns, 'bystander'))).toEqual(bystander);
    expect(await metric('externalllmsecret_events_matched_total')).toBeGreaterThanOrEqual(1);
    expect(await metric('externalllmsecret_event_requeues_total')).toBeGreaterThanOrEqual(5);
  });

  it('duplicates cost nothing: a redelivered message makes no call; another event for an unchanged secret one DescribeSecret, no read, no write', async () => {
    const a = sid('dup');
    await createSecret(moto, a, { api_key: value('d1') });
    await createEls(ns, 'dup', spec(a));
    await waitForReady(ns, 'dup', isReady);
    await until('the create to settle', async () => ((await metric('externalllmsecret_workqueue_depth')) === 0 ? true : undefined));
    const before = await smCalls();
    const writesBefore = await written();
    const dupsBefore = await metric('externalllmsecret_events_ignored_total', { reason: 'duplicate' });
    const matchedBefore = await metric('externalllmsecret_events_matched_total');
    const sqs = sqsClient(moto);
    const body = envelope(`dup-${runId}`, 'PutSecretValue', a);
    await sqs.send(new SendMessageCommand({ QueueUrl: queue.queueUrl, MessageBody: body }));
    await sqs.send(new SendMessageCommand({ QueueUrl: queue.queueUrl, MessageBody: body }));
    sqs.destroy();
    await until('one match and one duplicate', async () => ((await metric('externalllmsecret_events_ignored_total', { reason: 'duplicate' })) - dupsBefore === 1
      && (await metric('externalllmsecret_events_matched_total')) - matchedBefore === 1 ? true : undefined));
    const after = await until('the requeued reconcile to check', async () => {
      const c = await smCalls();
      return c.DescribeSecret > before.DescribeSecret ? c : undefined;
    });
    await sleep(1_000); // a window for a read or write that must not come
    const final = await smCalls();
    expect(final).toEqual(after);
    expect({ DescribeSecret: final.DescribeSecret - before.DescribeSecret, reads: final.reads - before.reads, ListSecrets: final.ListSecrets - before.ListSecrets }).toEqual({ DescribeSecret: 1, reads: 0, ListSecrets: 0 });
    expect(await written()).toBe(writesBefore);
  });

  it('an event naming the secret by name reaches a resource that names it by full ARN, and the reverse', async () => {
    const name = sid('arn');
    const arn = await createSecret(moto, name, { api_key: value('r1') });
    await createEls(ns, 'by-arn', spec(arn));
    await createEls(ns, 'by-name', spec(name));
    await waitForReady(ns, 'by-arn', isReady);
    await waitForReady(ns, 'by-name', isReady);
    const v2 = value('r2');
    await putSecretValue(moto, name, { api_key: v2 });
    await putSecretsManagerEvent(moto, 'UpdateSecretVersionStage', name);
    await waitForSecret(ns, 'by-arn', (d) => d.OPENAI_API_KEY === v2, 10_000);
    await waitForSecret(ns, 'by-name', (d) => d.OPENAI_API_KEY === v2, 10_000);
    const v3 = value('r3');
    await putSecretValue(moto, name, { api_key: v3 });
    await putSecretsManagerEvent(moto, 'PutSecretValue', arn);
    await waitForSecret(ns, 'by-arn', (d) => d.OPENAI_API_KEY === v3, 10_000);
    await waitForSecret(ns, 'by-name', (d) => d.OPENAI_API_KEY === v3, 10_000);
  });

  it('malformed and foreign messages are counted, deleted and never logged', async () => {
    const marker = `SECRETVALUE-body-${randomBytes(4).toString('hex')}`;
    const before = { malformed: await metric('externalllmsecret_events_ignored_total', { reason: 'malformed' }), foreign: await metric('externalllmsecret_events_ignored_total', { reason: 'foreign' }) };
    const sqs = sqsClient(moto);
    await sqs.send(new SendMessageCommand({ QueueUrl: queue.queueUrl, MessageBody: `not json ${marker}` }));
    await sqs.send(new SendMessageCommand({ QueueUrl: queue.queueUrl, MessageBody: JSON.stringify({ source: 'aws.s3', 'detail-type': 'Object Created', detail: { key: marker } }) }));
    await until('both counted', async () => ((await metric('externalllmsecret_events_ignored_total', { reason: 'malformed' })) > before.malformed
      && (await metric('externalllmsecret_events_ignored_total', { reason: 'foreign' })) > before.foreign ? true : undefined));
    const left = await until('the queue to be empty', async () => {
      const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queue.queueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }));
      return Number(Attributes?.ApproximateNumberOfMessages) + Number(Attributes?.ApproximateNumberOfMessagesNotVisible) === 0 ? true : undefined;
    });
    sqs.destroy();
    expect(left).toBe(true);
    expect(JSON.stringify(op.lines)).not.toContain(marker);
  });

  it(`a missed event: polling at refreshInterval × ${MULTIPLIER} still brings the new version`, async () => {
    const a = sid('missed');
    await createSecret(moto, a, { api_key: value('m1') });
    await createEls(ns, 'missed', spec(a, '3s'));
    await waitForReady(ns, 'missed', isReady);
    const v2 = value('m2');
    await putSecretValue(moto, a, { api_key: v2 }); // and no event
    const at = Date.now();
    await waitForSecret(ns, 'missed', (d) => d.OPENAI_API_KEY === v2, 30_000);
    figures.missedEventSeconds = (Date.now() - at) / 1000;
    expect((Date.now() - at) / 1000).toBeLessThan(3 * MULTIPLIER * 1.1 + 3);
  });

  it('a queue outage falls back to polling at refreshInterval: a readiness note, no resource condition; events kept meanwhile are handled after', async () => {
    const a = sid('outage');
    await createSecret(moto, a, { api_key: value('o1') });
    await createEls(ns, 'outage', spec(a, '4s'));
    await createEls(ns, 'outage-slow', spec(a, '1h'));
    await waitForReady(ns, 'outage', isReady);
    await waitForReady(ns, 'outage-slow', isReady);
    expect(await readyz()).not.toContain('events queue');
    const heal = proxy.add({ kind: 'error503' });
    try {
      // The long poll in flight finishes first (≤ 20 s), then the receive fails.
      const note = await until('the readiness note', async () => { const t = await readyz(); return t.includes('events queue unreachable') ? t : undefined; }, 60_000, 500);
      figures.readyzDuringOutage = note.trim();
      expect(await metric('externalllmsecret_events_queue_up')).toBe(0);
      // Polling at refreshInterval (4 s), not 4 s × the multiplier.
      const v2 = value('o2');
      await putSecretValue(moto, a, { api_key: v2 });
      await putSecretsManagerEvent(moto, 'PutSecretValue', a); // kept in the queue until it answers
      const at = Date.now();
      await waitForSecret(ns, 'outage', (d) => d.OPENAI_API_KEY === v2, 30_000);
      figures.outagePollingSeconds = (Date.now() - at) / 1000;
      expect((Date.now() - at) / 1000).toBeLessThan(4 * MULTIPLIER);
      for (const n of ['outage', 'outage-slow', 's1']) expect(ready(await getEls(ns, n))?.status).toBe('True');
    } finally {
      heal();
    }
    await until('the note to clear', async () => (!(await readyz()).includes('events queue') ? true : undefined), 60_000, 500);
    expect(await metric('externalllmsecret_events_queue_up')).toBe(1);
    // The event sent during the outage reaches the 1h resource once the queue answers.
    await waitForSecret(ns, 'outage-slow', (d) => d.OPENAI_API_KEY?.startsWith('SECRETVALUE-o2') === true, 30_000);
    expect(proxy.stats.faults.error503).toBeGreaterThan(0);
  });
});
