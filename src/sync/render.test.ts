import { describe, expect, it } from 'vitest';
import type { ExternalLLMSecretSpec } from '../crds/types.js';
import { renderSecretData } from './render.js';
import { Reason, SyncError } from './reasons.js';
import type { SourceSecret } from './source.js';

const src = (value: unknown, extra: Partial<SourceSecret> = {}): SourceSecret => ({
  secretId: 'prod/llm/openai', versionId: 'v1',
  secretString: typeof value === 'string' ? value : JSON.stringify(value), ...extra,
});
const spec = (s: Partial<ExternalLLMSecretSpec>): ExternalLLMSecretSpec => ({ source: { secretId: 'prod/llm/openai' }, ...s });
const text = (r: { data: Record<string, Buffer> }) => Object.fromEntries(Object.entries(r.data).map(([k, v]) => [k, v.toString()]));

function reasonOf(fn: () => unknown): string {
  try { fn(); } catch (e) { if (e instanceof SyncError) return e.reason; throw e; }
  return 'no error';
}

describe('renderSecretData', () => {
  it.each([
    ['top-level key', { api_key: 'sk-1' }, 'api_key', 'sk-1'],
    ['dotted path', { openai: { key: 'sk-2' } }, 'openai.key', 'sk-2'],
    ['key containing dots wins', { 'a.b': 'flat', a: { b: 'nested' } }, 'a.b', 'flat'],
    ['number as JSON text', { n: 42 }, 'n', '42'],
    ['boolean as JSON text', { b: true }, 'b', 'true'],
  ])('maps %s', (_, json, property, expected) => {
    expect(text(renderSecretData(spec({ data: [{ secretKey: 'K', property }] }), src(json)))).toEqual({ K: expected });
  });

  it('copies a plain-string secret whole', () => {
    expect(text(renderSecretData(spec({ data: [{ secretKey: 'KEY' }] }), src('not json at all')))).toEqual({ KEY: 'not json at all' });
  });

  it('writes objects only when asked', () => {
    expect(reasonOf(() => renderSecretData(spec({ data: [{ secretKey: 'K', property: 'o' }] }), src({ o: { a: 1 } })))).toBe(Reason.InvalidValue);
    expect(text(renderSecretData(spec({ data: [{ secretKey: 'K', property: 'o', asJson: true }] }), src({ o: { a: 1 } })))).toEqual({ K: '{"a":1}' });
  });

  it.each([
    ['non-JSON', 'sk-plain', Reason.InvalidJSON],
    ['JSON array', [1, 2], Reason.InvalidJSON],
    ['JSON string', '"just a string"', Reason.InvalidJSON],
    ['missing key', { other: 'x' }, Reason.MissingProperty],
    ['null value', { api_key: null }, Reason.InvalidValue],
  ])('refuses %s with a reason', (_, value, reason) => {
    expect(reasonOf(() => renderSecretData(spec({ data: [{ secretKey: 'K', property: 'api_key' }] }), src(value)))).toBe(reason);
  });

  it('never puts the value in an error message', () => {
    const secret = 'sk-live-SECRETVALUE';
    for (const value of [secret, `{"api_key": ${JSON.stringify(secret)}`, { api_key: { nested: secret } }]) {
      try {
        renderSecretData(spec({ data: [{ secretKey: 'K', property: 'api_key' }] }), src(value));
      } catch (e) {
        expect((e as Error).message).not.toContain('SECRETVALUE');
      }
    }
  });

  it('applies the openai preset and records which JSON key it used', () => {
    const r = renderSecretData(spec({ provider: 'openai' }), src({ api_key: 'sk-1', organization: 'org-1' }));
    expect(text(r)).toEqual({ OPENAI_API_KEY: 'sk-1', OPENAI_ORG_ID: 'org-1' });
    expect(r.keys).toContainEqual({ secretKey: 'OPENAI_API_KEY', property: 'api_key' });
  });

  it.each([
    ['anthropic', { api_key: 'a' }, { ANTHROPIC_API_KEY: 'a' }],
    ['cohere', { api_key: 'c' }, { CO_API_KEY: 'c', COHERE_API_KEY: 'c' }],
    ['mistral', { key: 'm' }, { MISTRAL_API_KEY: 'm' }],
    ['google-gemini', { api_key: 'g' }, { GOOGLE_API_KEY: 'g', GEMINI_API_KEY: 'g' }],
    ['bedrock-api-key', { api_key: 'b', region: 'us-west-2' }, { AWS_BEARER_TOKEN_BEDROCK: 'b', AWS_REGION: 'us-west-2', AWS_DEFAULT_REGION: 'us-west-2' }],
    ['bedrock-iam', { access_key_id: 'AK', secret_access_key: 'SK' }, { AWS_ACCESS_KEY_ID: 'AK', AWS_SECRET_ACCESS_KEY: 'SK' }],
    ['azure-openai', { api_key: 'z', endpoint: 'https://x', api_version: '2024' }, {
      AZURE_OPENAI_API_KEY: 'z', AZURE_API_KEY: 'z', AZURE_OPENAI_ENDPOINT: 'https://x', AZURE_API_BASE: 'https://x', OPENAI_API_VERSION: '2024', AZURE_API_VERSION: '2024',
    }],
  ] as const)('preset %s', (provider, json, expected) => {
    expect(text(renderSecretData(spec({ provider }), src(json)))).toEqual(expected);
  });

  it('a preset without its key fails with MissingProperty; data overrides a preset', () => {
    expect(reasonOf(() => renderSecretData(spec({ provider: 'anthropic' }), src({ nothing: 1 })))).toBe(Reason.MissingProperty);
    const r = renderSecretData(spec({ provider: 'openai', data: [{ secretKey: 'OPENAI_API_KEY', property: 'other' }] }), src({ api_key: 'a', other: 'b' }));
    expect(text(r).OPENAI_API_KEY).toBe('b');
  });

  it('dataFrom takes every key, rewritten', () => {
    const r = renderSecretData(spec({ dataFrom: { rewrite: [{ transform: 'UpperSnakeCase' }, { prefix: 'LLM_' }] } }), src({ apiKey: 'k', 'base-url': 'u' }));
    expect(text(r)).toEqual({ LLM_API_KEY: 'k', LLM_BASE_URL: 'u' });
  });

  it('dataFrom refuses keys that collide after rewrite, and invalid keys', () => {
    expect(reasonOf(() => renderSecretData(spec({ dataFrom: { rewrite: [{ transform: 'UpperSnakeCase' }] } }), src({ apiKey: 'a', api_key: 'b' })))).toBe(Reason.DuplicateKey);
    expect(reasonOf(() => renderSecretData(spec({ dataFrom: {} }), src({ 'has space': 'a' })))).toBe(Reason.InvalidKey);
  });

  it('refuses values over the limits', () => {
    const big = 'x'.repeat(100);
    expect(reasonOf(() => renderSecretData(spec({ data: [{ secretKey: 'K', property: 'a' }] }), src({ a: big }), { maxValueBytes: 50, maxTotalBytes: 1000 }))).toBe(Reason.ValueTooLarge);
    expect(reasonOf(() => renderSecretData(spec({ dataFrom: {} }), src({ a: big, b: big }), { maxValueBytes: 1000, maxTotalBytes: 150 }))).toBe(Reason.ValueTooLarge);
  });

  it('binary secrets are copied whole, and refused for JSON properties', () => {
    const bin = new Uint8Array([0, 255, 1]);
    const r = renderSecretData(spec({ data: [{ secretKey: 'K' }] }), { secretId: 'x', versionId: 'v', secretBinary: bin });
    expect([...r.data.K!]).toEqual([0, 255, 1]);
    expect(reasonOf(() => renderSecretData(spec({ data: [{ secretKey: 'K', property: 'a' }] }), { secretId: 'x', versionId: 'v', secretBinary: bin }))).toBe(Reason.BinaryNotSupported);
  });
});
