import { describe, expect, it } from 'vitest';
import type { DedicatedSession } from '../aws/credentials.js';
import type { AuthSpec, ExternalLLMSecret, GenerateSpec } from '../crds/types.js';
import type { AccessRule } from '../policy/access.js';
import { Reason, SyncError } from '../sync/reasons.js';
import { GeneratedSource } from './source.js';
import { decodeBedrockKey } from './token.js';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const ROLE = 'arn:aws:iam::111111111111:role/bedrock-invoke';
const GEN_ROLE = 'arn:aws:iam::111111111111:role/els-generator';
const GRANT: AccessRule[] = [{ namespaces: ['team-a'], roles: [ROLE], generate: ['*'] }];

function els(generate: GenerateSpec, auth?: AuthSpec, namespace = 'team-a'): ExternalLLMSecret {
  return {
    apiVersion: 'llmsecrets.dev/v1alpha1', kind: 'ExternalLLMSecret',
    metadata: { namespace, name: 'bedrock', uid: 'uid-1', generation: 1 },
    spec: { generate, ...(auth ? { auth } : {}), provider: 'bedrock-api-key' },
  } as ExternalLLMSecret;
}

function setup(opts: { rules?: AccessRule[]; generatorRole?: string; sessionSeconds?: number; chained?: boolean } = {}) {
  let clock = T0;
  let serial = 0;
  const calls: Array<{ roleArn?: string; seconds: number }> = [];
  const broker = {
    dedicatedSession: async (_els: ExternalLLMSecret, o: { roleArn?: string; seconds: number }): Promise<DedicatedSession> => {
      calls.push(o);
      const seconds = opts.sessionSeconds ?? Math.min(Math.max(o.seconds, 900), 3600);
      serial++;
      return { credentials: { accessKeyId: `ASIAFAKE${serial}`, secretAccessKey: `secret-${serial}`, sessionToken: `session-${serial}` }, expiresAt: new Date(clock + seconds * 1000), roleArn: o.roleArn ?? ROLE, seconds, chained: opts.chained ?? true };
    },
  };
  // The generator signs with the real clock; the test's clock is T0: sign at T0 instead.
  const mint = async (c: DedicatedSession['credentials'], region: string, seconds: number) => {
    const url = `bedrock.amazonaws.com/?Action=CallWithBearerToken&X-Amz-Credential=${c.accessKeyId}%2F20260101%2F${region}%2Fbedrock%2Faws4_request&X-Amz-Date=${new Date(clock).toISOString().replace(/[-:]|\.\d+/g, '')}&X-Amz-Expires=${seconds}&X-Amz-Signature=abc&Version=1`;
    return `bedrock-api-key-${Buffer.from(url).toString('base64')}`;
  };
  const source = new GeneratedSource({ broker, accessRules: opts.rules ?? GRANT, defaultRegion: 'us-east-1', generatorRole: opts.generatorRole, mintBedrockKey: mint, now: () => clock });
  return { source, calls, tick: (ms: number) => { clock += ms; }, now: () => clock };
}

const refusal = async (p: Promise<unknown>) => {
  const e = await p.then(() => undefined, (x: unknown) => x);
  expect(e).toBeInstanceOf(SyncError);
  return e as SyncError;
};

describe('policy (before any STS call)', () => {
  it.each<[string, AccessRule[], AuthSpec | undefined, string | undefined, string]>([
    ['roleArn without a roles grant', [{ namespaces: ['team-a'], generate: ['*'] }], { roleArn: ROLE }, undefined, Reason.RoleNotPermitted],
    ['roleArn with a roles grant but no generate grant', [{ namespaces: ['team-a'], roles: [ROLE] }], { roleArn: ROLE }, undefined, Reason.SourceNotPermitted],
    ['roleArn with a generate grant for the other kind', [{ namespaces: ['team-a'], roles: [ROLE], generate: ['awsCredentials'] }], { roleArn: ROLE }, undefined, Reason.SourceNotPermitted],
    ['no auth, no generate grant', [{ namespaces: ['*'], secrets: ['*'] }], undefined, GEN_ROLE, Reason.SourceNotPermitted],
    ['no auth, a grant, but no --generator-role', GRANT, undefined, undefined, Reason.SourceNotPermitted],
    ['a grant for another namespace', [{ namespaces: ['team-b'], roles: [ROLE], generate: ['*'] }], { roleArn: ROLE }, GEN_ROLE, Reason.RoleNotPermitted],
  ])('%s: refused', async (_, rules, auth, generatorRole, reason) => {
    const { source, calls } = setup({ rules, generatorRole });
    expect((await refusal(source.open(els({ bedrockApiKey: {} }, auth)))).reason).toBe(reason);
    expect(calls).toEqual([]);
  });

  it('allowed: roleArn with both grants; no auth with a grant and a --generator-role (which is then the role); a ServiceAccount (IAM decides)', async () => {
    const { source, calls } = setup({ generatorRole: GEN_ROLE });
    await (await source.open(els({ bedrockApiKey: {} }, { roleArn: ROLE }))).read({ maxAgeMs: 0, tags: false });
    await (await source.open(els({ bedrockApiKey: {} }))).read({ maxAgeMs: 0, tags: false });
    const { source: sa } = setup({ rules: [] });
    await (await sa.open(els({ awsCredentials: {} }, { serviceAccountRef: { name: 'app' } }))).read({ maxAgeMs: 0, tags: false });
    expect(calls.map((c) => c.roleArn)).toEqual([undefined, GEN_ROLE]);
  });
});

describe('Bedrock API key', () => {
  it('lifetime as asked, the JSON keys the presets read, a version id that is not the key, renewal at 72-80%', async () => {
    const { source } = setup();
    const read = await (await source.open(els({ bedrockApiKey: { region: 'eu-west-1', lifetime: '20m' } }, { roleArn: ROLE }))).read({ maxAgeMs: 0, tags: false });
    const json = JSON.parse(read.secretString!) as Record<string, string>;
    expect(Object.keys(json)).toEqual(['AWS_BEARER_TOKEN_BEDROCK', 'AWS_REGION']);
    expect(json.AWS_REGION).toBe('eu-west-1');
    expect(decodeBedrockKey(json.AWS_BEARER_TOKEN_BEDROCK!).expiresInSeconds).toBe(1200);
    expect(read.expiresAt).toEqual(new Date(T0 + 1_200_000));
    expect(read.detail).toBeUndefined();
    expect(read.versionId).toMatch(/^gen-\d+-\d+-[0-9a-f]{12}$/);
    expect(read.versionId).not.toContain('ASIAFAKE');
    const fraction = (read.renewAt!.getTime() - T0) / 1_200_000;
    expect(fraction).toBeGreaterThanOrEqual(0.72);
    expect(fraction).toBeLessThanOrEqual(0.8);
  });

  it('never outlives the session that signs it: 12h asked, 1h given, and status is told why', async () => {
    const { source } = setup();
    const read = await (await source.open(els({ bedrockApiKey: { lifetime: '12h' } }, { roleArn: ROLE }))).read({ maxAgeMs: 0, tags: false });
    expect(read.expiresAt).toEqual(new Date(T0 + 3_600_000));
    expect(read.detail).toMatch(/lifetime 12h cut to 1h: a key never outlives the role session that signs it \(1h, the most STS gives a chained role\)/);
  });

  it('without a lifetime: as long as the session, no clamp to explain', async () => {
    const { source } = setup();
    const read = await (await source.open(els({ bedrockApiKey: {} }, { roleArn: ROLE }))).read({ maxAgeMs: 0, tags: false });
    expect(read.expiresAt).toEqual(new Date(T0 + 3_600_000));
    expect(read.detail).toBeUndefined();
  });
});

describe('renewal (injected clock)', () => {
  it('current until the renewal point, with no call; then a new key from a new session', async () => {
    const { source, calls, tick } = setup();
    const resource = els({ bedrockApiKey: { lifetime: '30m' } }, { roleArn: ROLE });
    const first = await (await source.open(resource)).read({ maxAgeMs: 0, tags: false });
    const session = await source.open(resource);
    expect(await session.isCurrent(first.versionId)).toEqual({ current: true, renewAt: first.renewAt, expiresAt: first.expiresAt });
    tick(first.renewAt!.getTime() - T0 - 1);
    expect((await session.isCurrent(first.versionId)).current).toBe(true);
    // A drift repair before the renewal point restores the same key.
    expect((await session.read({ maxAgeMs: 60_000, tags: false })).secretString).toBe(first.secretString);
    expect(calls).toHaveLength(1);
    tick(1);
    expect(await session.isCurrent(first.versionId)).toEqual({ current: false });
    const second = await session.read({ maxAgeMs: 60_000, tags: false });
    expect(second.versionId).not.toBe(first.versionId);
    expect(second.secretString).not.toBe(first.secretString);
    expect(calls).toHaveLength(2);
  });

  it('force-sync (maxAgeMs 0) mints anew; a changed spec never gets the old key', async () => {
    const { source, calls } = setup();
    const a = await (await source.open(els({ bedrockApiKey: { lifetime: '30m' } }, { roleArn: ROLE }))).read({ maxAgeMs: 60_000, tags: false });
    await (await source.open(els({ bedrockApiKey: { lifetime: '30m' } }, { roleArn: ROLE }))).read({ maxAgeMs: 0, tags: false });
    const c = await (await source.open(els({ bedrockApiKey: { lifetime: '40m' } }, { roleArn: ROLE }))).read({ maxAgeMs: 60_000, tags: false });
    expect(calls).toHaveLength(3);
    expect(c.versionId).not.toBe(a.versionId);
  });

  it('renewAtPercent moves the point; a version id of a stored secret is never current', async () => {
    const { source } = setup();
    const read = await (await source.open(els({ bedrockApiKey: { lifetime: '10m' }, renewAtPercent: 50 }, { roleArn: ROLE }))).read({ maxAgeMs: 0, tags: false });
    expect(read.renewAt!.getTime() - T0).toBeLessThanOrEqual(300_000);
    expect(read.renewAt!.getTime() - T0).toBeGreaterThanOrEqual(270_000);
    expect(await (await source.open(els({ bedrockApiKey: {} }, { roleArn: ROLE }))).isCurrent('e3b0c442-98fc-1c14-9afb-f4c8996fb924')).toEqual({ current: false });
  });
});

describe('STS credentials', () => {
  it('the session credentials with their expiry; a chained role cut to 1h says so', async () => {
    const { source, calls } = setup();
    const read = await (await source.open(els({ awsCredentials: { region: 'eu-central-1', duration: '2h' } }, { roleArn: ROLE }))).read({ maxAgeMs: 0, tags: false });
    expect(calls[0]!.seconds).toBe(7200);
    expect(JSON.parse(read.secretString!)).toEqual({
      AWS_ACCESS_KEY_ID: 'ASIAFAKE1', AWS_SECRET_ACCESS_KEY: 'secret-1', AWS_SESSION_TOKEN: 'session-1',
      AWS_CREDENTIAL_EXPIRATION: new Date(T0 + 3_600_000).toISOString(), AWS_REGION: 'eu-central-1',
    });
    expect(read.expiresAt).toEqual(new Date(T0 + 3_600_000));
    expect(read.detail).toMatch(/duration 2h cut to 1h: STS caps a role assumed on top of another session at 1 hour/);
    expect(JSON.stringify({ v: read.versionId, d: read.detail, id: read.secretId })).not.toMatch(/ASIAFAKE|secret-1|session-1/);
  });
});
