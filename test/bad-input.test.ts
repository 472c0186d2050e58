// Bad input: valid specs over AWS content that does not fit them, deleted and missing secrets and
// versions, target conflicts — each case, table-driven, asserts the Ready=False reason, a Warning
// Event, that no value reaches status or events, and that the Secret synced before stays byte
// for byte. Specs the apiserver must refuse are covered by the 30 admission cases of
// test/crd.test.ts (not repeated here). Then fast-check properties of renderSecretData and the
// key rewrites.
import { randomBytes } from 'node:crypto';
import { DeleteSecretCommand } from '@aws-sdk/client-secrets-manager';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { FORCE_SYNC_ANNOTATION, MERGE_FROM_ANNOTATION } from '../src/crds/constants.js';
import type { ExternalLLMSecretSpec } from '../src/crds/types.js';
import { Reason, SyncError } from '../src/sync/reasons.js';
import { renderSecretData, DEFAULT_LIMITS } from '../src/sync/render.js';
import { rewriteKey, toUpperSnakeCase } from '../src/sync/rewrite.js';
import type { SourceSecret } from '../src/sync/source.js';
import { adminRequest, applyCrds, createSecret, createTestNamespace, deleteSecret, getTestEnv, putSecretValue, smClient } from './env/index.js';
import { core, createEls, events, patchEls, readSecret, waitForReady, isReady, hasReason, sleep } from './helpers/els.js';
import { startTestOperator, type TestOperator } from './helpers/operator.js';

/** Values seeded here carry the leak-scan marker (test/zz-leak-scan.test.ts). */
const secretValue = () => `SECRETVALUE-${randomBytes(6).toString('hex')}`;
const runId = `${process.pid}-${Date.now().toString(36)}`;
const sid = (name: string) => `bad-${runId}/${name}`;

// The cases are independent resources: run many at once (the default is 5).
vi.setConfig({ maxConcurrency: 24 });

let moto: string;
let ns: string;
let operator: TestOperator;

beforeAll(async () => {
  moto = getTestEnv().motoEndpoint;
  await applyCrds();
  ns = await createTestNamespace('bad');
  // Default limits: --max-value-bytes 65536. moto accepts values over 64 KiB (AWS does not), so
  // the size cases run at the real limits.
  operator = await startTestOperator({ namespaces: [ns] });
});
afterAll(async () => {
  await operator?.stop();
});

type AwsValue = string | object | Uint8Array;
interface Ctx { id: string; name: string; marker: string }
interface FailCase {
  /** What AWS holds after the good sync (omit: unchanged). */
  value?: (c: Ctx) => AwsValue;
  /** Extra action on AWS after the good sync (delete, ...). */
  act?: (c: Ctx) => Promise<void>;
  /** The spec after the good sync (default: the good spec). */
  spec?: (c: Ctx) => Partial<ExternalLLMSecretSpec>;
  reason: string;
  /** Event reason (default SyncFailed). */
  event?: string;
  /** Text the condition message must contain, to be clear. */
  message?: RegExp;
  /** Another resource owns the Secret <name>-other first. */
  otherOwner?: boolean;
  /** A Secret (made by act) that must not be written either. */
  untouched?: (c: Ctx) => string;
}

const good = (c: Ctx) => ({ api_key: c.marker });
const goodSpec = (id: string): ExternalLLMSecretSpec => ({ source: { secretId: id }, refreshInterval: '1h', data: [{ secretKey: 'K', property: 'api_key' }] });
const K = [{ secretKey: 'K', property: 'api_key' }];
const many = (n: number, size: number, marker: string) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, `${marker}-${'y'.repeat(size)}`]));

const failures: Array<[string, FailCase]> = [
  // Content that is not JSON (or not an object) where JSON is needed.
  ['non-JSON text, data property', { value: (c) => `not json ${c.marker}`, reason: Reason.InvalidJSON, message: /not valid JSON/ }],
  ['non-JSON text, dataFrom', { value: (c) => `not json ${c.marker}`, spec: () => ({ data: null, dataFrom: {} } as never), reason: Reason.InvalidJSON }],
  // Single-key presets take a plain-string key (accepted below); a multi-key preset says what it reads.
  ['non-JSON text, multi-key preset', { value: (c) => `not json ${c.marker}`, spec: () => ({ data: null, provider: 'bedrock-iam' } as never), reason: Reason.InvalidJSON, message: /preset bedrock-iam reads a JSON object with AWS_ACCESS_KEY_ID .*AWS_SECRET_ACCESS_KEY.*data entry without property/ }],
  ['truncated JSON', { value: (c) => `{"api_key": "${c.marker}"`, reason: Reason.InvalidJSON }],
  ['JSON with a byte-order mark', { value: (c) => `\uFEFF{"api_key":"${c.marker}"}`, reason: Reason.InvalidJSON }],
  ['JSON array', { value: (c) => [c.marker, 'x'], reason: Reason.InvalidJSON, message: /array/ }],
  ['JSON string literal', { value: (c) => JSON.stringify(c.marker), reason: Reason.InvalidJSON, message: /not an object/ }],
  ['JSON number literal', { value: () => '42', reason: Reason.InvalidJSON }],
  ['JSON null literal', { value: () => 'null', reason: Reason.InvalidJSON }],
  // JSON values that cannot be written as they are.
  ['nested object without asJson', { value: (c) => ({ api_key: { v: c.marker } }), reason: Reason.InvalidValue, message: /asJson/ }],
  ['array value without asJson', { value: (c) => ({ api_key: [c.marker] }), reason: Reason.InvalidValue }],
  ['nested object in dataFrom without asJson', { value: (c) => ({ a: c.marker, o: { v: c.marker } }), spec: () => ({ data: null, dataFrom: {} } as never), reason: Reason.InvalidValue }],
  ['null value', { value: () => ({ api_key: null }), reason: Reason.InvalidValue, message: /null/ }],
  ['null value in dataFrom', { value: (c) => ({ a: c.marker, n: null }), spec: () => ({ data: null, dataFrom: {} } as never), reason: Reason.InvalidValue }],
  ['missing property', { value: (c) => ({ other: c.marker }), reason: Reason.MissingProperty, message: /api_key/ }],
  ['missing nested path', { spec: () => ({ data: [{ secretKey: 'K', property: 'api_key.deeper' }] }), reason: Reason.MissingProperty }],
  ['preset without any of its keys', { value: (c) => ({ unrelated: c.marker }), spec: () => ({ data: null, provider: 'anthropic' } as never), reason: Reason.MissingProperty, message: /ANTHROPIC_API_KEY/ }],
  ['preset whose only key is null', { value: () => ({ api_key: null }), spec: () => ({ data: null, provider: 'openai' } as never), reason: Reason.MissingProperty }],
  // Binary secrets.
  ['binary secret with a property', { value: (c) => Buffer.from(`bin ${c.marker}`), reason: Reason.BinaryNotSupported }],
  ['binary secret with dataFrom', { value: (c) => Buffer.from(`bin ${c.marker}`), spec: () => ({ data: null, dataFrom: {} } as never), reason: Reason.BinaryNotSupported }],
  ['binary secret with a preset', { value: (c) => Buffer.from(`bin ${c.marker}`), spec: () => ({ data: null, provider: 'openai' } as never), reason: Reason.BinaryNotSupported }],
  ['invalid UTF-8 binary secret with dataFrom', { value: () => new Uint8Array([0xff, 0xfe, 0x80, 0x00, 0xc3]), spec: () => ({ data: null, dataFrom: {} } as never), reason: Reason.BinaryNotSupported }],
  // Keys that are not valid Secret keys, or collide.
  ['dataFrom key with a space', { value: (c) => ({ 'api key': c.marker }), spec: () => ({ data: null, dataFrom: {} } as never), reason: Reason.InvalidKey, message: /api key/ }],
  ['dataFrom key with a slash', { value: (c) => ({ 'a/b': c.marker }), spec: () => ({ data: null, dataFrom: {} } as never), reason: Reason.InvalidKey }],
  ['dataFrom non-ASCII key', { value: (c) => ({ 'clé': c.marker }), spec: () => ({ data: null, dataFrom: {} } as never), reason: Reason.InvalidKey }],
  ['dataFrom empty key', { value: (c) => ({ '': c.marker }), spec: () => ({ data: null, dataFrom: {} } as never), reason: Reason.InvalidKey }],
  // @kubernetes/client-node's serialiser assigns map keys, so "__proto__" would vanish on the
  // way to the apiserver: the operator refuses it instead of writing a Secret without it.
  ['dataFrom key "__proto__"', { value: (c) => `{"__proto__": "${c.marker}", "b": "x"}`, spec: () => ({ data: null, dataFrom: {} } as never), reason: Reason.InvalidKey, message: /__proto__/ }],
  ['dataFrom key of 300 characters', { value: (c) => ({ ['k'.repeat(300)]: c.marker }), spec: () => ({ data: null, dataFrom: {} } as never), reason: Reason.InvalidKey }],
  ['dataFrom key empty after UpperSnakeCase', { value: (c) => ({ '---': c.marker }), spec: () => ({ data: null, dataFrom: { rewrite: [{ transform: 'UpperSnakeCase' }] } } as never), reason: Reason.InvalidKey }],
  ['regexp rewrite to an invalid key', { value: (c) => ({ api_key: c.marker }), spec: () => ({ data: null, dataFrom: { rewrite: [{ regexp: { source: 'api_(.*)', target: 'bad key $1' } }] } } as never), reason: Reason.InvalidKey }],
  ['prefix rewrite past 253 characters', { value: (c) => ({ ['k'.repeat(200)]: c.marker }), spec: () => ({ data: null, dataFrom: { rewrite: [{ prefix: 'p'.repeat(60) }] } } as never), reason: Reason.InvalidKey }],
  ['duplicate keys after UpperSnakeCase (api-key, api_key)', { value: (c) => ({ 'api-key': c.marker, api_key: c.marker }), spec: () => ({ data: null, dataFrom: { rewrite: [{ transform: 'UpperSnakeCase' }] } } as never), reason: Reason.DuplicateKey, message: /API_KEY/ }],
  ['duplicate keys after UpperSnakeCase (apiKey, API_KEY)', { value: (c) => ({ apiKey: c.marker, API_KEY: c.marker }), spec: () => ({ data: null, dataFrom: { rewrite: [{ transform: 'UpperSnakeCase' }] } } as never), reason: Reason.DuplicateKey }],
  ['duplicate keys after a regexp rewrite', { value: (c) => ({ a_key: c.marker, b_key: c.marker }), spec: () => ({ data: null, dataFrom: { rewrite: [{ regexp: { source: '.*_key', target: 'KEY' } }] } } as never), reason: Reason.DuplicateKey }],
  // Sizes (default --max-value-bytes 65536; the whole Secret at most 1,000,000 bytes).
  ['a value of 65,537 bytes', { value: () => ({ api_key: 'v'.repeat(65_537) }), reason: Reason.ValueTooLarge, message: /65537 bytes/ }],
  ['total data over 1 MiB (dataFrom, 20 values of 60 KB)', { value: (c) => many(20, 60_000, c.marker), spec: () => ({ data: null, dataFrom: {} } as never), reason: Reason.ValueTooLarge, message: /rendered data/ }],
  // Missing, deleted and scheduled-for-deletion secrets; versions that do not exist.
  ['secret deleted with a 7-day recovery window', { act: async (c) => { await smClient(moto).send(new DeleteSecretCommand({ SecretId: c.id, RecoveryWindowInDays: 7 })); }, reason: Reason.SecretDeleted, message: /scheduled for deletion/ }],
  ['secret scheduled for deletion (default 30 days)', { act: async (c) => { await smClient(moto).send(new DeleteSecretCommand({ SecretId: c.id })); }, reason: Reason.SecretDeleted }],
  ['secret deleted for good', { act: (c) => deleteSecret(moto, c.id), reason: Reason.ResourceNotFound, message: /ResourceNotFoundException/ }],
  ['secret id that never existed', { spec: (c) => ({ source: { secretId: `${c.id}-nope` } }), reason: Reason.ResourceNotFound }],
  // moto answers an unknown stage with "can't find the specified secret" (AWS: "... secret value
  // for staging label"), so under moto the operator reports ResourceNotFound; see the README.
  ['version stage no version carries', { spec: (c) => ({ source: { secretId: c.id, versionStage: 'NO_SUCH_STAGE' } }), reason: Reason.ResourceNotFound }],
  ['versionId that does not exist', { spec: (c) => ({ source: { secretId: c.id, versionId: '00000000-0000-4000-8000-000000000000' } }), reason: Reason.VersionNotFound, message: /ResourceNotFoundException/ }],
  ['empty JSON object', { value: () => ({}), reason: Reason.MissingProperty }],
  // Targets.
  ['Secret type change', { spec: () => ({ target: { type: 'example.com/custom' } }), reason: Reason.SecretTypeImmutable, message: /cannot change/ }],
  ['target owned by another resource', { otherOwner: true, spec: (c) => ({ target: { name: `${c.name}-other` } }), reason: Reason.SecretConflict, event: 'Conflict', message: /managed by ExternalLLMSecret/ }],
  ['Merge target missing', { spec: (c) => ({ target: { name: `${c.name}-absent`, creationPolicy: 'Merge' } }), reason: Reason.MergeTargetMissing, message: /annotated llmsecrets\.dev\/merge-from: c\d+$/ }],
  ['Merge into a Secret that does not opt in', {
    act: async (c) => { await core().createNamespacedSecret({ namespace: ns, body: { metadata: { name: `${c.name}-m` }, stringData: { THEIRS: c.marker } } }); },
    spec: (c) => ({ target: { name: `${c.name}-m`, creationPolicy: 'Merge' } }), untouched: (c) => `${c.name}-m`,
    reason: Reason.SecretConflict, event: 'Conflict', message: /annotate it llmsecrets\.dev\/merge-from: c\d+ to let this resource merge into it/,
  }],
  ['Merge over a key the opted-in Secret holds and this resource did not write', {
    act: async (c) => { await core().createNamespacedSecret({ namespace: ns, body: { metadata: { name: `${c.name}-m`, annotations: { [MERGE_FROM_ANNOTATION]: c.name } }, stringData: { K: c.marker } } }); },
    spec: (c) => ({ target: { name: `${c.name}-m`, creationPolicy: 'Merge' } }), untouched: (c) => `${c.name}-m`,
    reason: Reason.SecretConflict, event: 'Conflict', message: /already holds key K, not written by this resource/,
  }],
];

interface OkCase { value: (c: Ctx) => AwsValue; spec: Partial<ExternalLLMSecretSpec>; expected: (c: Ctx) => Record<string, Buffer> }
const txt = (o: Record<string, string>) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, Buffer.from(v)]));
const INVALID_UTF8 = new Uint8Array([0x53, 0x45, 0xff, 0xfe, 0x80, 0x00, 0xc3, 0x28]);
const successes: Array<[string, OkCase]> = [
  ['integer as JSON text', { value: () => ({ api_key: 42 }), spec: { data: K }, expected: () => txt({ K: '42' }) }],
  ['float as JSON text', { value: () => ({ api_key: 3.25 }), spec: { data: K }, expected: () => txt({ K: '3.25' }) }],
  ['huge number as JSON text', { value: () => '{"api_key": 1e21}', spec: { data: K }, expected: () => txt({ K: '1e+21' }) }],
  ['boolean as JSON text', { value: () => ({ api_key: false }), spec: { data: K }, expected: () => txt({ K: 'false' }) }],
  ['empty string property', { value: () => ({ api_key: '' }), spec: { data: K }, expected: () => txt({ K: '' }) }],
  ['nested object with asJson', { value: (c) => ({ api_key: { v: c.marker, n: 1 } }), spec: { data: [{ secretKey: 'K', property: 'api_key', asJson: true }] }, expected: (c) => txt({ K: JSON.stringify({ v: c.marker, n: 1 }) }) }],
  ['arrays and numbers in dataFrom with asJson', { value: (c) => ({ a: [c.marker], n: 7, b: true }), spec: { dataFrom: { asJson: true } }, expected: (c) => txt({ a: JSON.stringify([c.marker]), n: '7', b: 'true' }) }],
  ['binary secret copied whole', { value: (c) => Buffer.from(`bin ${c.marker}`), spec: { data: [{ secretKey: 'K' }] }, expected: (c) => ({ K: Buffer.from(`bin ${c.marker}`) }) }],
  ['invalid UTF-8 binary secret copied whole, byte for byte', { value: () => INVALID_UTF8, spec: { data: [{ secretKey: 'K' }] }, expected: () => ({ K: Buffer.from(INVALID_UTF8) }) }],
  ['a value of exactly 65,536 bytes', { value: () => ({ api_key: 'v'.repeat(65_536) }), spec: { data: K }, expected: () => txt({ K: 'v'.repeat(65_536) }) }],
  ['non-JSON text copied whole', { value: (c) => `plain ${c.marker}`, spec: { data: [{ secretKey: 'K' }] }, expected: (c) => txt({ K: `plain ${c.marker}` }) }],
  ['plain-string key with the openai preset (surrounding newline trimmed)', { value: (c) => `${c.marker}\n`, spec: { provider: 'openai' }, expected: (c) => txt({ OPENAI_API_KEY: c.marker }) }],
  ['plain-string key with the google-gemini preset (both names)', { value: (c) => c.marker, spec: { provider: 'google-gemini' }, expected: (c) => txt({ GOOGLE_API_KEY: c.marker, GEMINI_API_KEY: c.marker }) }],
  ['unicode values kept exactly', { value: (c) => ({ api_key: `ключ-🔑-${c.marker}` }), spec: { data: K }, expected: (c) => txt({ K: `ключ-🔑-${c.marker}` }) }],
  // Keys named like Object.prototype members are written like any other key (but "__proto__",
  // refused below).
  ['dataFrom keys "constructor" and "toString"', { value: (c) => ({ constructor: c.marker, toString: 'x' }), spec: { dataFrom: {} }, expected: (c) => txt({ constructor: c.marker, toString: 'x' }) }],
];

let counter = 0;
const ctx = (): Ctx => ({ id: sid(`c${counter}`), name: `c${counter++}`, marker: secretValue() });
/** moto now and then answers a burst of concurrent writes with an HTML 500: retry test set-up calls. */
async function retried<T>(fn: () => Promise<T>): Promise<T> {
  for (let i = 0; ; i++) {
    try { return await fn(); } catch (e) { if (i >= 3) throw e; await sleep(300 * (i + 1)); }
  }
}
const awsPut = (target: string, id: string, v: AwsValue) => retried(() => putSecretValue(target, id, v instanceof Buffer ? new Uint8Array(v) : v));

describe('bad AWS content and missing secrets: Ready=False with a reason, a Warning Event, the last good Secret unchanged', () => {
  it(`has at least 40 cases with the 30 admission cases of test/crd.test.ts (${failures.length} + ${successes.length} here)`, () => {
    expect(failures.length + successes.length + 30).toBeGreaterThanOrEqual(40);
    expect(failures.length).toBeGreaterThanOrEqual(40);
  });

  it.concurrent.each(failures)('%s', async (_, kase) => {
    const c = ctx();
    await retried(() => createSecret(moto, c.id, good(c)));
    if (kase.otherOwner) {
      // Another resource owns the target name first.
      const otherId = `${c.id}-other`;
      await createSecret(moto, otherId, { api_key: secretValue() });
      await createEls(ns, `${c.name}-other`, goodSpec(otherId));
      await waitForReady(ns, `${c.name}-other`, isReady, 60_000);
    }
    await createEls(ns, c.name, goodSpec(c.id));
    await waitForReady(ns, c.name, isReady, 60_000);
    const before = (await readSecret(ns, c.name))!;
    expect(Buffer.from(before.data!.K!, 'base64').toString()).toBe(c.marker);

    if (kase.value) await awsPut(moto, c.id, kase.value(c));
    await kase.act?.(c);
    const untouched = kase.untouched ? (await readSecret(ns, kase.untouched(c)))! : undefined;
    const spec = kase.spec?.(c) ?? {};
    await patchEls(ns, c.name, { metadata: { annotations: { [FORCE_SYNC_ANNOTATION]: 'bad' } }, spec });

    const els = await waitForReady(ns, c.name, hasReason(kase.reason), 60_000);
    const condition = els.status!.conditions!.find((x) => x.type === 'Ready')!;
    if (kase.message) expect(condition.message).toMatch(kase.message);
    const deadline = Date.now() + 15_000;
    let warning;
    while (!warning && Date.now() < deadline) {
      warning = (await events(ns, c.name)).find((e) => e.type === 'Warning' && e.reason === (kase.event ?? 'SyncFailed') && (e.message ?? '').includes(kase.reason));
      if (!warning) await sleep(250);
    }
    expect(warning, `a Warning ${kase.event ?? 'SyncFailed'} event naming ${kase.reason}`).toBeDefined();
    const after = (await readSecret(ns, c.name))!;
    expect(after.data, 'data byte for byte').toEqual(before.data);
    expect(after.metadata?.resourceVersion, 'not written at all').toBe(before.metadata?.resourceVersion);
    if (untouched) expect((await readSecret(ns, kase.untouched!(c)))?.metadata?.resourceVersion, `${kase.untouched!(c)} not written`).toBe(untouched.metadata?.resourceVersion);
    const shown = JSON.stringify(els.status) + JSON.stringify(await events(ns, c.name));
    expect(shown).not.toContain('SECRETVALUE-');
  }, 120_000);

  it.concurrent.each(successes)('accepted: %s', async (_, kase) => {
    const c = ctx();
    const value = kase.value(c);
    await retried(() => createSecret(moto, c.id, value instanceof Buffer ? new Uint8Array(value) : value));
    await createEls(ns, c.name, { source: { secretId: c.id }, refreshInterval: '1h', ...kase.spec });
    const els = await waitForReady(ns, c.name, (x) => x.status === 'True' || x.status === 'False', 60_000);
    expect(els.status?.conditions?.find((x) => x.type === 'Ready'), 'Ready').toMatchObject({ status: 'True' });
    // Raw JSON (JSON.parse keeps every key as an own property, "__proto__" included).
    const raw = await adminRequest(getTestEnv(), `/api/v1/namespaces/${ns}/secrets/${c.name}`);
    expect(raw.status).toBe(200);
    const secretData = (JSON.parse(raw.body) as { data?: Record<string, string> }).data ?? {};
    const data = Object.fromEntries(Object.entries(secretData).map(([k, v]) => [k, Buffer.from(v, 'base64')]));
    const expected = kase.expected(c);
    expect(Object.keys(data).sort()).toEqual(Object.keys(expected).sort());
    for (const k of Object.keys(expected)) expect(data[k]!.equals(expected[k]!), `key ${k} byte for byte`).toBe(true);
    expect(JSON.stringify(els.status)).not.toContain('SECRETVALUE-');
  }, 120_000);
});

describe('bootstrap tokens', () => {
  it('target.type bootstrap.kubernetes.io/token: admission refuses the change, the synced Secret stays, and an existing bootstrap-token Secret is not taken over', async () => {
    const c = ctx();
    await retried(() => createSecret(moto, c.id, good(c)));
    await createEls(ns, c.name, goodSpec(c.id));
    await waitForReady(ns, c.name, isReady, 60_000);
    const before = (await readSecret(ns, c.name))!;
    let error: unknown;
    try {
      await patchEls(ns, c.name, { spec: { target: { type: 'bootstrap.kubernetes.io/token' } } });
    } catch (e) { error = e; }
    expect(error, 'the apiserver accepted a bootstrap-token target').toBeDefined();
    expect((error as { code?: number }).code).toBe(422);
    expect(JSON.stringify((error as { body?: unknown }).body)).toMatch(/bootstrap\.kubernetes\.io\/ types are refused/);
    expect((await readSecret(ns, c.name))?.metadata?.resourceVersion).toBe(before.metadata?.resourceVersion);

    // A bootstrap-token Secret of the target name: foreign, never written (Owner), and not a Merge target.
    const token = { 'token-id': 'abcdef', 'token-secret': c.marker.slice(-16).toLowerCase().padStart(16, '0') };
    await core().createNamespacedSecret({ namespace: ns, body: { metadata: { name: `${c.name}-bt`, annotations: { [MERGE_FROM_ANNOTATION]: `${c.name}-bm` } }, type: 'bootstrap.kubernetes.io/token', stringData: token } });
    const existing = (await readSecret(ns, `${c.name}-bt`))!;
    await createEls(ns, `${c.name}-bt`, goodSpec(c.id));
    const owner = await waitForReady(ns, `${c.name}-bt`, hasReason(Reason.SecretConflict), 60_000);
    expect(owner.status?.conditions?.find((x) => x.type === 'Ready')?.message).toMatch(/not managed by this operator/);
    await createEls(ns, `${c.name}-bm`, { ...goodSpec(c.id), target: { name: `${c.name}-bt`, creationPolicy: 'Merge' } });
    const merger = await waitForReady(ns, `${c.name}-bm`, hasReason(Reason.SecretConflict), 60_000);
    expect(merger.status?.conditions?.find((x) => x.type === 'Ready')?.message).toMatch(/has type bootstrap\.kubernetes\.io\/token; creationPolicy Merge writes only into Opaque Secrets/);
    const after = (await readSecret(ns, `${c.name}-bt`))!;
    expect(after.metadata?.resourceVersion).toBe(existing.metadata?.resourceVersion);
    expect(after.type).toBe('bootstrap.kubernetes.io/token');
  }, 120_000);
});

// ---- properties of the pure code -------------------------------------------------------------

const VALID_KEY = /^[-._a-zA-Z0-9]+$/;
const source = (value: string | Uint8Array): SourceSecret => (typeof value === 'string'
  ? { secretId: 'prod/x', versionId: 'v1', secretString: value }
  : { secretId: 'prod/x', versionId: 'v1', secretBinary: value });
function attempt(fn: () => ReturnType<typeof renderSecretData>): { ok: ReturnType<typeof renderSecretData> } | { err: SyncError } {
  try { return { ok: fn() }; } catch (e) { if (e instanceof SyncError) return { err: e }; throw e; }
}
/** Keys from a mix of valid and invalid characters, including the awkward ones. */
const keyArb = fc.oneof(
  fc.stringMatching(/^[-._a-zA-Z0-9]{1,12}$/),
  fc.string({ maxLength: 12 }),
  fc.constantFrom('__proto__', 'constructor', 'toString', 'hasOwnProperty', 'a b', 'ü', '', 'x'.repeat(254)),
);
const markedValue = fc.string({ maxLength: 16 }).map((s) => `SECRETVALUE-${s}`);
const jsonValue = fc.oneof(markedValue, fc.integer(), fc.boolean(), fc.constant(null), fc.array(markedValue, { maxLength: 2 }), fc.dictionary(fc.string({ maxLength: 4 }), markedValue, { maxKeys: 2 }));
const entriesArb = (values: fc.Arbitrary<unknown>) => fc.uniqueArray(fc.tuple(keyArb, values), { selector: ([k]) => k, maxLength: 8 });
/** JSON text of an object with these own keys (JSON.stringify of a plain object would lose "__proto__"). */
const jsonText = (entries: Array<[string, unknown]>) => `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}`;

describe('renderSecretData properties (fast-check)', () => {
  it('dataFrom without rewrite over string values yields exactly those keys, or fails InvalidKey when one is invalid', () => {
    fc.assert(fc.property(entriesArb(markedValue), (entries) => {
      const r = attempt(() => renderSecretData({ source: { secretId: 'prod/x' }, dataFrom: {} }, source(jsonText(entries))));
      const allValid = entries.every(([k]) => k.length <= 253 && VALID_KEY.test(k) && k !== '__proto__');
      if (allValid) {
        expect('ok' in r, 'renders').toBe(true);
        const data = (r as { ok: ReturnType<typeof renderSecretData> }).ok.data;
        expect(Object.keys(data).sort()).toEqual(entries.map(([k]) => k).sort());
        for (const [k, v] of entries) expect(Object.hasOwn(data, k) && data[k]!.toString('utf8')).toBe(v);
      } else {
        expect('err' in r && r.err.reason).toBe(Reason.InvalidKey);
      }
    }), { numRuns: 300 });
  });

  it('no error message ever contains a value, whatever the content and the spec', () => {
    const specArb = fc.constantFrom<Partial<ExternalLLMSecretSpec>>(
      { dataFrom: {} }, { dataFrom: { asJson: true } }, { dataFrom: { rewrite: [{ transform: 'UpperSnakeCase' }] } },
      { dataFrom: { rewrite: [{ regexp: { source: '(.*)', target: 'X' } }] } }, { provider: 'openai' }, { provider: 'bedrock-iam' },
      { data: [{ secretKey: 'K', property: 'api_key' }] }, { data: [{ secretKey: 'K', property: 'a.b' }] }, { data: [{ secretKey: 'K' }] },
    );
    const content = fc.oneof(
      entriesArb(jsonValue).map(jsonText),
      markedValue, markedValue.map((v) => `{"api_key": "${v}"`), markedValue.map((v) => JSON.stringify([v])),
      markedValue.map((v) => Buffer.from(v)),
    );
    const limits = fc.constantFrom(DEFAULT_LIMITS, { maxValueBytes: 20, maxTotalBytes: 40 });
    fc.assert(fc.property(specArb, content, limits, (spec, value, lim) => {
      const r = attempt(() => renderSecretData({ source: { secretId: 'prod/x' }, ...spec }, source(value instanceof Buffer ? new Uint8Array(value) : value), lim));
      if ('err' in r) expect(r.err.message).not.toContain('SECRETVALUE');
    }), { numRuns: 500 });
  });

  it('dataFrom with UpperSnakeCase yields only environment-variable keys, or InvalidKey / DuplicateKey', () => {
    fc.assert(fc.property(entriesArb(markedValue), (entries) => {
      const r = attempt(() => renderSecretData({ source: { secretId: 'prod/x' }, dataFrom: { rewrite: [{ transform: 'UpperSnakeCase' }] } }, source(jsonText(entries))));
      if ('ok' in r) {
        for (const k of Object.keys(r.ok.data)) expect(k).toMatch(/^[A-Z0-9]+(_[A-Z0-9]+)*$/);
        expect(Object.keys(r.ok.data).length).toBe(entries.length);
      } else {
        expect([Reason.InvalidKey, Reason.DuplicateKey]).toContain(r.err.reason);
        const outs = entries.map(([k]) => toUpperSnakeCase(k));
        if (r.err.reason === Reason.DuplicateKey) expect(new Set(outs).size).toBeLessThan(outs.length);
        else expect(outs.some((k) => k === '' || k.length > 253)).toBe(true);
      }
    }), { numRuns: 300 });
  });

  it('status.keys lists exactly the keys written, sorted, and rendering is deterministic', () => {
    fc.assert(fc.property(entriesArb(markedValue), fc.array(fc.constantFrom<never>(
      { prefix: 'P_' } as never, { transform: 'UpperSnakeCase' } as never, { regexp: { source: '(.)(.*)', target: '$2$1' } } as never,
    ), { maxLength: 3 }), (entries, rewrite) => {
      const spec: ExternalLLMSecretSpec = { source: { secretId: 'prod/x' }, dataFrom: { rewrite } };
      const a = attempt(() => renderSecretData(spec, source(jsonText(entries))));
      const b = attempt(() => renderSecretData(spec, source(jsonText(entries))));
      expect(JSON.stringify(a)).toBe(JSON.stringify(b));
      if ('ok' in a) {
        // Object key order puts integer-like keys first; the Secret's key order means nothing.
        const written = Object.keys(a.ok.data).sort();
        expect(a.ok.keys.map((k) => k.secretKey)).toEqual(written);
        expect(written).toEqual(entries.map(([k]) => rewriteKey(k, rewrite)).sort());
      }
    }), { numRuns: 300 });
  });

  it('a regexp rewrite leaves keys it does not match (whole key, anchored) unchanged', () => {
    fc.assert(fc.property(fc.stringMatching(/^[a-z]{1,8}$/), (key) => {
      expect(rewriteKey(key, [{ regexp: { source: 'ZZ[0-9]+', target: 'X' } }])).toBe(key);
      expect(rewriteKey(`ZZ1${key}`, [{ regexp: { source: 'ZZ[0-9]', target: 'X' } }])).toBe(`ZZ1${key}`);
    }));
  });
});
