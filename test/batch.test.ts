// Fuller BatchGetSecretValue batches at cold start, against the real apiserver and moto: with
// few workers, the reads of resources waiting in the queue go out together (read-ahead.ts), and
// reads arriving one by one wait a bounded moment for more (batch-window.ts). Counted by the
// operator's own AWS call counter; refused resources cost no call.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExternalLLMSecretSpec } from '../src/crds/types.js';
import { applyCrds, createSecret, createTestNamespace, getTestEnv } from './env/index.js';
import { createEls, hasReason, isReady, waitForReady } from './helpers/els.js';
import { startTestOperator, type TestOperator } from './helpers/operator.js';

const runId = `${process.pid}-${Date.now().toString(36)}`;
const sid = (name: string) => `batch-${runId}/${name}`;
const spec = (secretId: string): ExternalLLMSecretSpec => ({ source: { secretId }, provider: 'openai', refreshInterval: '1h' });
/** Resources per namespace: 50 reads of one identity, 3 full batches at best. */
const N = 50;
const REFUSED = 5;

let moto: string;
let before: string;
let during: string;
let op: TestOperator | undefined;

async function smCalls(): Promise<Record<string, number>> {
  const m = op!.metrics.registry.getSingleMetric('externalllmsecret_aws_api_calls_total');
  const out: Record<string, number> = {};
  for (const v of (await m!.get()).values) {
    if (v.labels.service === 'secretsmanager') out[String(v.labels.operation)] = (out[String(v.labels.operation)] ?? 0) + v.value;
  }
  return out;
}
const reads = (c: Record<string, number>) => (c.BatchGetSecretValue ?? 0) + (c.GetSecretValue ?? 0);

async function createAll(ns: string): Promise<void> {
  await Promise.all([
    ...Array.from({ length: N }, (_, i) => createEls(ns, `r${i}`, spec(sid(`${ns}-${i}`)))),
    // Not granted by the access rules below: refused before any AWS call.
    ...Array.from({ length: REFUSED }, (_, i) => createEls(ns, `refused${i}`, spec(`other-${runId}/${i}`))),
  ]);
}
async function allSettled(ns: string): Promise<void> {
  await Promise.all([
    ...Array.from({ length: N }, (_, i) => waitForReady(ns, `r${i}`, isReady, 60_000)),
    ...Array.from({ length: REFUSED }, (_, i) => waitForReady(ns, `refused${i}`, hasReason('SourceNotPermitted'), 60_000)),
  ]);
}

beforeAll(async () => {
  moto = getTestEnv().motoEndpoint;
  await applyCrds();
  [before, during] = await Promise.all([createTestNamespace('batch-pre'), createTestNamespace('batch-live')]);
  const value = () => JSON.stringify({ api_key: `SECRETVALUE-batch-${randomBytes(4).toString('hex')}` });
  await Promise.all([before, during].flatMap((ns) => Array.from({ length: N }, (_, i) => createSecret(moto, sid(`${ns}-${i}`), value()))));
});

afterAll(async () => {
  await op?.stop();
});

describe('BatchGetSecretValue at cold start, 2 workers', () => {
  it(`${N} resources created before the operator starts: ≤ ceil(${N}/20) + 2 reads, none for the refused`, async () => {
    await createAll(before);
    op = await startTestOperator({
      namespaces: [before, during],
      args: ['--concurrent', '2', '--access-rules', JSON.stringify([{ namespaces: ['*'], secrets: [`batch-${runId}/*`] }])],
    });
    await allSettled(before);
    const calls = await smCalls();
    process.stderr.write(`[batch] created before start: ${JSON.stringify(calls)}\n`);
    expect(reads(calls)).toBeLessThanOrEqual(Math.ceil(N / 20) + 2);
  }, 120_000);

  it(`${N} resources created while it runs: ≤ ceil(${N}/20) + 3 reads`, async () => {
    const start = await smCalls();
    await createAll(during);
    await allSettled(during);
    const calls = await smCalls();
    const delta = Object.fromEntries(Object.entries(calls).map(([k, v]) => [k, v - (start[k] ?? 0)]));
    process.stderr.write(`[batch] created while running: ${JSON.stringify(delta)}\n`);
    expect(reads(delta)).toBeLessThanOrEqual(Math.ceil(N / 20) + 3);
  }, 120_000);
});
