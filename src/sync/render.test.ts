import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import type { ExternalLLMSecretSpec, ProviderPreset } from '../crds/types.js';
import { PLAIN_STRING_PRESETS, PRESETS, PROVIDER_NAMES } from './presets.js';
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

describe('presets on plain-string secrets', () => {
  const single: ProviderPreset[] = ['openai', 'anthropic', 'cohere', 'mistral', 'groq', 'xai', 'google-gemini', 'bedrock-api-key'];

  it('are the presets of one API key, whose required outputs all take that one value', () => {
    expect([...PLAIN_STRING_PRESETS].sort()).toEqual([...single].sort());
    for (const name of PROVIDER_NAMES.filter((n) => PLAIN_STRING_PRESETS.has(n))) {
      const required = PRESETS[name].filter((o) => o.required).map((o) => [...o.candidates].sort().join());
      expect(new Set(required).size, name).toBe(1);
    }
  });

  it.each(single)('%s takes the whole string as the key, written under every required name', (provider) => {
    const r = renderSecretData(spec({ provider }), src('sk-proj-plain-0001'));
    const required = PRESETS[provider as keyof typeof PRESETS].filter((o) => o.required).map((o) => o.secretKey);
    expect(text(r)).toEqual(Object.fromEntries(required.map((k) => [k, 'sk-proj-plain-0001'])));
    // No JSON key was used: status.keys says the whole SecretString.
    expect(r.keys).toEqual(required.sort().map((secretKey) => ({ secretKey })));
  });

  it('trims surrounding whitespace (a key saved from a file ends in a newline) and unwraps a JSON string', () => {
    expect(text(renderSecretData(spec({ provider: 'openai' }), src('  sk-1\n')))).toEqual({ OPENAI_API_KEY: 'sk-1' });
    expect(text(renderSecretData(spec({ provider: 'openai' }), src(JSON.stringify('sk-2'))))).toEqual({ OPENAI_API_KEY: 'sk-2' });
    expect(reasonOf(() => renderSecretData(spec({ provider: 'openai' }), src('  \n')))).toBe(Reason.InvalidValue);
  });

  it('a JSON object is still read as JSON, and other JSON is refused', () => {
    expect(text(renderSecretData(spec({ provider: 'openai' }), src({ api_key: 'sk-3' })))).toEqual({ OPENAI_API_KEY: 'sk-3' });
    expect(reasonOf(() => renderSecretData(spec({ provider: 'openai' }), src([1])))).toBe(Reason.InvalidJSON);
    expect(reasonOf(() => renderSecretData(spec({ provider: 'openai' }), src('42')))).toBe(Reason.InvalidJSON);
  });

  it.each([
    ['bedrock-iam', /preset bedrock-iam reads a JSON object with AWS_ACCESS_KEY_ID \(JSON key AWS_ACCESS_KEY_ID, access_key_id.*\) and AWS_SECRET_ACCESS_KEY .*for example \{"AWS_ACCESS_KEY_ID": "...", "AWS_SECRET_ACCESS_KEY": "..."\}/],
    ['azure-openai', /preset azure-openai reads a JSON object with AZURE_OPENAI_API_KEY\/AZURE_API_KEY \(JSON key .*\), for example \{"AZURE_OPENAI_API_KEY": "..."\}/],
    ['litellm', /preset litellm reads a JSON object with LITELLM_MASTER_KEY/],
  ] as Array<[ProviderPreset, RegExp]>)('multi-key preset %s on a plain string says what it expected, and how to copy the string whole', (provider, message) => {
    const err = (() => { try { renderSecretData(spec({ provider }), src('sk-SECRETVALUE')); } catch (e) { return e as SyncError; } return undefined; })();
    expect(err?.reason).toBe(Reason.InvalidJSON);
    expect(err?.message).toMatch(message);
    expect(err?.message).toContain('use a data entry without property (data: [{secretKey: MY_KEY}])');
    expect(err?.message).not.toContain('SECRETVALUE');
  });

  it('a preset with a data entry that reads a property still needs JSON, and says why', () => {
    const err = (() => { try { renderSecretData(spec({ provider: 'openai', data: [{ secretKey: 'X', property: 'x' }] }), src('sk-4')); } catch (e) { return e as SyncError; } return undefined; })();
    expect(err?.reason).toBe(Reason.InvalidJSON);
    expect(err?.message).toMatch(/data entries with a property read a JSON object; to copy the whole SecretString into one key/);
  });

  it('a single-key preset on JSON without its key mentions the plain-string form', () => {
    const err = (() => { try { renderSecretData(spec({ provider: 'groq' }), src({ other: 'x' })); } catch (e) { return e as SyncError; } return undefined; })();
    expect(err?.reason).toBe(Reason.MissingProperty);
    expect(err?.message).toContain('or store the key alone, as a plain string');
  });
});

describe('litellm preset', () => {
  it('writes what examples/litellm.yaml needs: every os.environ/<NAME> its config reads, from the documented JSON', () => {
    const docs = parseAllDocuments(readFileSync(new URL('../../examples/litellm.yaml', import.meta.url), 'utf8')).map((d) => d.toJS() as { kind: string; spec?: ExternalLLMSecretSpec; data?: Record<string, string> });
    const els = docs.find((d) => d.kind === 'ExternalLLMSecret')!;
    const config = docs.find((d) => d.kind === 'ConfigMap')!.data!['config.yaml']!;
    const referenced = [...config.matchAll(/os\.environ\/([A-Z0-9_]+)/g)].map((m) => m[1]!);
    expect(referenced).toEqual(expect.arrayContaining(['LITELLM_MASTER_KEY', 'DATABASE_URL', 'OPENAI_API_KEY', 'ANTHROPIC_API_KEY']));
    const stored = { LITELLM_MASTER_KEY: 'sk-master', LITELLM_SALT_KEY: 'salt', DATABASE_URL: 'postgresql://db', OPENAI_API_KEY: 'sk-o', ANTHROPIC_API_KEY: 'sk-a' };
    const r = renderSecretData(els.spec!, src(stored));
    expect(text(r)).toEqual(stored);
    for (const name of referenced) expect(Object.keys(r.data), name).toContain(name);
  });

  it('needs the master key; accepts snake_case spellings; leaves absent providers out', () => {
    expect(reasonOf(() => renderSecretData(spec({ provider: 'litellm' }), src({ OPENAI_API_KEY: 'x' })))).toBe(Reason.MissingProperty);
    const r = renderSecretData(spec({ provider: 'litellm' }), src({ master_key: 'sk-m', database_url: 'postgresql://x', openai_api_key: 'sk-o', AZURE_OPENAI_API_KEY: 'az' }));
    expect(text(r)).toEqual({ LITELLM_MASTER_KEY: 'sk-m', DATABASE_URL: 'postgresql://x', OPENAI_API_KEY: 'sk-o', AZURE_API_KEY: 'az' });
    expect(r.keys).toContainEqual({ secretKey: 'LITELLM_MASTER_KEY', property: 'master_key' });
  });
});
