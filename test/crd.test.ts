// The CRD the apiserver enforces: generated from src/crds without drift, served with its printer
// columns, and rejecting bad specs at admission with a clear message.
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { CRD_FILES, renderCrd } from '../scripts/gen-crds.js';
import type { ExternalLLMSecretSpec } from '../src/crds/types.js';
import { applyCrds, createTestNamespace } from './env/index.js';
import { createEls } from './helpers/els.js';

let ns: string;
beforeAll(async () => {
  await applyCrds();
  ns = await createTestNamespace('crd');
});

describe('CRD manifests', () => {
  it.each(CRD_FILES)('%s matches src/crds/schema.ts (run npm run gen:crds after a schema change)', (file) => {
    expect(readFileSync(file, 'utf8')).toBe(renderCrd());
  });
});

const ok: ExternalLLMSecretSpec = { source: { secretId: 'prod/llm/openai' }, data: [{ secretKey: 'OPENAI_API_KEY', property: 'api_key' }] };
const role = 'arn:aws:iam::111111111111:role/reader';

const invalid: Array<[string, unknown, RegExp]> = [
  ['no spec.source', { data: ok.data }, /source/],
  ['empty secretId', { ...ok, source: { secretId: '' } }, /secretId/],
  ['both versionStage and versionId', { ...ok, source: { secretId: 'a', versionStage: 'AWSCURRENT', versionId: '01234567890123456789012345678901' } }, /at most one of versionStage and versionId/],
  ['malformed secret ARN', { ...ok, source: { secretId: 'arn:aws:s3:::bucket' } }, /full Secrets Manager secret ARN/],
  ['bad region', { ...ok, source: { secretId: 'a', region: 'mars' } }, /region/],
  ['nothing to write', { source: { secretId: 'a' } }, /at least one of data, dataFrom and provider/],
  ['unknown provider', { ...ok, provider: 'openia' }, /provider/],
  ['invalid Secret key', { ...ok, data: [{ secretKey: 'has space', property: 'a' }] }, /secretKey/],
  ['duplicate secretKey', { ...ok, data: [{ secretKey: 'K', property: 'a' }, { secretKey: 'K', property: 'b' }] }, /Duplicate value/],
  ['service-account-token type', { ...ok, target: { type: 'kubernetes.io/service-account-token' } }, /service-account tokens are refused/],
  ['bootstrap-token type', { ...ok, target: { type: 'bootstrap.kubernetes.io/token' } }, /bootstrap\.kubernetes\.io\/ types are refused/],
  ['Merge into a typed Secret', { ...ok, target: { creationPolicy: 'Merge', type: 'kubernetes.io/tls' } }, /creationPolicy Merge writes only into Opaque Secrets/],
  ['Merge with target labels', { ...ok, target: { creationPolicy: 'Merge', labels: { team: 'a' } } }, /creationPolicy Merge does not set labels or annotations/],
  ['Merge with target annotations', { ...ok, target: { creationPolicy: 'Merge', annotations: { 'example.com/x': 'y' } } }, /creationPolicy Merge does not set labels or annotations/],
  ['bad creationPolicy', { ...ok, target: { creationPolicy: 'Adopt' } }, /creationPolicy/],
  ['Delete without Owner', { ...ok, target: { creationPolicy: 'Merge', deletionPolicy: 'Delete' } }, /deletionPolicy Delete requires creationPolicy Owner/],
  ['invalid target name', { ...ok, target: { name: 'Not_A_Name' } }, /target.name/],
  ['reserved label', { ...ok, target: { labels: { 'app.kubernetes.io/managed-by': 'me' } } }, /labels may not use/],
  ['bad refreshInterval', { ...ok, refreshInterval: 'soon' }, /spec\.refreshInterval.*must be a whole number and a unit \(ms, s, m, h, d\).*for example 30s, 5m, 1h, 1h30m/],
  ['refreshInterval with a space and a word', { ...ok, refreshInterval: '5 minutes' }, /spec\.refreshInterval.*for example 30s, 5m, 1h, 1h30m/],
  ['refreshInterval with a decimal', { ...ok, refreshInterval: '1.5h' }, /spec\.refreshInterval.*no spaces or decimals/],
  ['expiry.maxAge in words', { ...ok, expiry: { maxAge: '30 days' } }, /spec\.expiry\.maxAge.*for example 30s, 5m, 1h, 1h30m or 7d/],
  ['malformed roleArn', { ...ok, auth: { roleArn: 'arn:aws:iam::1:user/bob' } }, /roleArn/],
  ['externalId without roleArn', { ...ok, auth: { externalId: { value: 'xid-123' } } }, /externalId requires roleArn/],
  ['externalId with both value and ref', { ...ok, auth: { roleArn: role, externalId: { value: 'xid-123', secretKeyRef: { name: 's', key: 'k' } } } }, /exactly one of value and secretKeyRef/],
  ['rewrite step with two actions', { ...ok, dataFrom: { rewrite: [{ prefix: 'A_', transform: 'UpperSnakeCase' }] } }, /exactly one of prefix, regexp and transform/],
  ['unknown transform', { ...ok, dataFrom: { rewrite: [{ transform: 'lower' }] } }, /transform/],
  ['rollout target of unknown kind', { ...ok, rolloutRestartTargets: [{ kind: 'Pod', name: 'p' }] }, /kind/],
  ['expiry with two sources', { ...ok, expiry: { maxAge: '30d', tag: 'expires' } }, /exactly one of maxAge, property and tag/],
  ['bad sessionName', { ...ok, auth: { roleArn: role, sessionName: 'has space' } }, /sessionName/],
  // spec.generate
  ['both source and generate', { ...ok, generate: { bedrockApiKey: {} } }, /set exactly one of source and generate/],
  ['generate with both kinds', { generate: { bedrockApiKey: {}, awsCredentials: {} }, dataFrom: {} }, /set exactly one of bedrockApiKey and awsCredentials/],
  ['generate with no kind', { generate: {}, dataFrom: {} }, /set exactly one of bedrockApiKey and awsCredentials/],
  ['Bedrock key lifetime over 12h', { generate: { bedrockApiKey: { lifetime: '13h' } }, provider: 'bedrock-api-key' }, /lifetime must be between 10s and 12h/],
  ['Bedrock key lifetime in days', { generate: { bedrockApiKey: { lifetime: '1d' } }, provider: 'bedrock-api-key' }, /lifetime/],
  ['credentials shorter than STS allows', { generate: { awsCredentials: { duration: '5m' } }, provider: 'bedrock-iam' }, /duration must be between 15m and 12h/],
  ['generate with spec.expiry', { generate: { bedrockApiKey: {} }, provider: 'bedrock-api-key', expiry: { maxAge: '1d' } }, /a generated key carries its own expiry/],
  ['Bedrock key with another preset', { generate: { bedrockApiKey: {} }, provider: 'openai' }, /with generate.bedrockApiKey use provider bedrock-api-key/],
  ['credentials with the Bedrock key preset', { generate: { awsCredentials: {} }, provider: 'bedrock-api-key' }, /with generate.bedrockApiKey use provider bedrock-api-key/],
  ['generate with auth.sessionDuration', { generate: { bedrockApiKey: {} }, provider: 'bedrock-api-key', auth: { roleArn: role, sessionDuration: '1h' } }, /instead of auth.sessionDuration/],
  ['renewAtPercent out of range', { generate: { bedrockApiKey: {}, renewAtPercent: 99 }, provider: 'bedrock-api-key' }, /renewAtPercent/],
];

describe('admission rejects invalid ExternalLLMSecrets', () => {
  it(`has at least 15 cases (${invalid.length})`, () => expect(invalid.length).toBeGreaterThanOrEqual(15));

  it.each(invalid)('%s', async (_, spec, message) => {
    const name = `bad-${Math.random().toString(36).slice(2, 8)}`;
    let error: unknown;
    try {
      await createEls(ns, name, spec as ExternalLLMSecretSpec);
    } catch (e) {
      error = e;
    }
    expect(error, 'the apiserver accepted it').toBeDefined();
    expect((error as { code?: number }).code).toBe(422);
    expect(JSON.stringify((error as { body?: unknown }).body)).toMatch(message);
  });

  it('accepts a valid one and fills in defaults', async () => {
    const created = await createEls(ns, 'good', ok);
    expect(created.spec.refreshInterval).toBe('1h');
    expect(created.spec.target).toBeUndefined();
    const withTarget = await createEls(ns, 'good2', { ...ok, target: {} });
    expect(withTarget.spec.target).toMatchObject({ creationPolicy: 'Owner', deletionPolicy: 'Retain', type: 'Opaque' });
    // Merge: type defaults to Opaque, which the Merge rule accepts.
    const merge = await createEls(ns, 'good3', { ...ok, target: { name: 'shared', creationPolicy: 'Merge' } });
    expect(merge.spec.target).toMatchObject({ creationPolicy: 'Merge', type: 'Opaque' });
  });

  it('accepts generated keys with every auth path, and defaults renewAtPercent to 80', async () => {
    const bedrock = await createEls(ns, 'gen-bedrock', { generate: { bedrockApiKey: { region: 'us-west-2', lifetime: '12h' } }, provider: 'bedrock-api-key', auth: { serviceAccountRef: { name: 'litellm' }, roleArn: role } });
    expect(bedrock.spec.generate).toEqual({ bedrockApiKey: { region: 'us-west-2', lifetime: '12h' }, renewAtPercent: 80 });
    expect(bedrock.spec.source).toBeUndefined();
    await createEls(ns, 'gen-creds', { generate: { awsCredentials: { duration: '1h' }, renewAtPercent: 60 }, provider: 'bedrock-iam', auth: { roleArn: role, externalId: { value: 'xid-123' } } });
    await createEls(ns, 'gen-noauth', { generate: { bedrockApiKey: { lifetime: '1h30m' } }, dataFrom: {} });
  });
});
