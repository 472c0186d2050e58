// Generated keys (spec.generate) against moto with IAM enforcement on and the real apiserver. The
// Bedrock API key in the Secret is decoded and checked: a presigned bedrock:CallWithBearerToken
// request for the right region, signed with the access key moto issued to the resource's assumed
// role (moto's STS says whose it is), a signature this test recomputes with that session's
// secret key (taken from the STS answer at a proxy: the operator never shows it), and the expiry
// asked (or cut, with the reason in status). STS credentials work for a signed GetCallerIdentity.
// Renewal and KeyExpired are observed with short lifetimes; refusals make no STS call. Keys and
// credentials cannot carry a SECRETVALUE- marker: this suite searches logs, events and status for
// them literally, and registers them for the final leak scan.
import { createHash, createHmac } from 'node:crypto';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { SignatureV4 } from '@smithy/signature-v4';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExternalLLMSecret, ExternalLLMSecretSpec } from '../src/crds/types.js';
import { decodeBedrockKey } from '../src/generate/token.js';
import { HttpFaultProxy } from './env/fault-proxy.js';
import { applyCrds, createIamUser, createRole, createTestNamespace, MOTO_ACCOUNT_ID, startMoto, type AwsCredentials, type Moto } from './env/index.js';
import {
  core, createEls, decoded, events, getEls, hasReason, isReady, readSecret, ready, until, waitForEvent, waitForReady, waitForSecret,
} from './helpers/els.js';
import { registerLeakValues, startTestOperator, type TestOperator } from './helpers/operator.js';

const BEDROCK_POLICY = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['bedrock:CallWithBearerToken', 'bedrock:InvokeModel*', 'sts:GetCallerIdentity'], Resource: '*' }] };
const ASSUME_ONLY = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['sts:AssumeRole', 'sts:TagSession', 'sts:GetCallerIdentity'], Resource: '*' }] };
const trust = (principal: string) => ({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: principal }, Action: ['sts:AssumeRole', 'sts:TagSession'] }] });

let moto: Moto;
let proxy: HttpFaultProxy;
let base: AwsCredentials;
let operator: TestOperator;
let invokeRole: string; let generatorRole: string; let otherRole: string;
let granted: string; let rolesOnly: string; let nothing: string;
/** Every key and credential seen in a Secret: none may appear in logs, events or status. */
const minted = new Set<string>();

interface Issued { accessKeyId: string; secretAccessKey: string; sessionToken: string; roleArn: string; sessionName: string }

/** What STS issued through the proxy: each AssumeRole request paired with its answer. */
function issued(): Issued[] {
  const asks = proxy.requests.filter((r) => r.operation === 'AssumeRole');
  const answers = proxy.answers.filter((a) => a.operation === 'AssumeRole');
  return answers.flatMap((a, i) => {
    const field = (name: string) => new RegExp(`<${name}>([^<]+)</${name}>`).exec(a.body)?.[1] ?? '';
    const params = new URLSearchParams(asks[i]?.body ?? '');
    return a.status === 200 ? [{ accessKeyId: field('AccessKeyId'), secretAccessKey: field('SecretAccessKey'), sessionToken: field('SessionToken'), roleArn: params.get('RoleArn') ?? '', sessionName: params.get('RoleSessionName') ?? '' }] : [];
  });
}
const assumeRoleCalls = (sessionName: string) => proxy.requests.filter((r) => r.operation === 'AssumeRole' && new URLSearchParams(r.body).get('RoleSessionName') === sessionName).length;

async function callerArn(credentials: AwsCredentials): Promise<string | undefined> {
  const sts = new STSClient({ region: 'us-east-1', endpoint: moto.endpoint, credentials, maxAttempts: 1 });
  try {
    return (await sts.send(new GetCallerIdentityCommand({}))).Arn;
  } finally {
    sts.destroy();
  }
}

const bytes = (d: string | ArrayBuffer | ArrayBufferView): string | Uint8Array =>
  typeof d === 'string' ? d : d instanceof ArrayBuffer ? new Uint8Array(d) : new Uint8Array(d.buffer, d.byteOffset, d.byteLength);

class Sha256 {
  readonly #h;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) { this.#h = secret ? createHmac('sha256', bytes(secret)) : createHash('sha256'); }
  update(data: string | ArrayBuffer | ArrayBufferView): void { this.#h.update(bytes(data)); }
  async digest(): Promise<Uint8Array> { return new Uint8Array(this.#h.digest()); }
}

/** The signature a presigned bedrock:CallWithBearerToken request gets from these credentials at that time. */
async function recomputeSignature(key: ReturnType<typeof decodeBedrockKey>, secretAccessKey: string): Promise<string> {
  const signer = new SignatureV4({ service: 'bedrock', region: key.scope.region, sha256: Sha256, credentials: { accessKeyId: key.accessKeyId, secretAccessKey, sessionToken: key.query.get('X-Amz-Security-Token') ?? undefined } });
  const presigned = await signer.presign(
    { method: 'POST', protocol: 'https:', hostname: 'bedrock.amazonaws.com', headers: { host: 'bedrock.amazonaws.com' }, path: '/', query: { Action: 'CallWithBearerToken' } },
    { signingDate: key.signedAt, expiresIn: key.expiresInSeconds },
  );
  return String(presigned.query!['X-Amz-Signature']);
}

function remember(data: Record<string, string>): void {
  for (const k of ['AWS_BEARER_TOKEN_BEDROCK', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN']) if (data[k]) minted.add(data[k]!);
  if (data.AWS_BEARER_TOKEN_BEDROCK) minted.add(decodeBedrockKey(data.AWS_BEARER_TOKEN_BEDROCK).query.get('X-Amz-Security-Token')!);
}

const bedrock = (lifetime: string | undefined, extra: Partial<ExternalLLMSecretSpec> = {}): ExternalLLMSecretSpec => ({
  generate: { bedrockApiKey: { region: 'eu-west-1', ...(lifetime ? { lifetime } : {}) } }, provider: 'bedrock-api-key', ...extra,
});

beforeAll(async () => {
  await applyCrds();
  moto = await startMoto({ enforceIam: true });
  proxy = await HttpFaultProxy.start(moto.endpoint);
  proxy.recordAnswers = true;
  proxy.preserveHost = true;
  base = await createIamUser(moto, 'operator-base', ASSUME_ONLY);
  const baseArn = `arn:aws:iam::${MOTO_ACCOUNT_ID}:user/operator-base`;
  invokeRole = await createRole(moto, 'bedrock-invoke', trust(baseArn), BEDROCK_POLICY);
  generatorRole = await createRole(moto, 'els-generator', trust(baseArn), BEDROCK_POLICY);
  otherRole = await createRole(moto, 'other-team', trust(baseArn), BEDROCK_POLICY);
  [granted, rolesOnly, nothing] = [await createTestNamespace('gen'), await createTestNamespace('gen-roles'), await createTestNamespace('gen-none')];
  const rules = [
    { namespaces: [granted], roles: [invokeRole], generate: ['*'] },
    { namespaces: [rolesOnly], roles: [invokeRole] },
    { namespaces: ['*'], secrets: ['${namespace}/*'] },
  ];
  operator = await startTestOperator({
    namespaces: [granted, rolesOnly, nothing], awsEndpoint: proxy.url, awsCredentials: base,
    args: ['--access-rules', JSON.stringify(rules), '--generator-role', generatorRole],
  });
}, 120_000);

afterAll(async () => {
  registerLeakValues('generate', minted);
  await operator?.stop();
  await proxy?.close();
  await moto?.stop();
});

describe('a short-term Bedrock API key', () => {
  let els: ExternalLLMSecret;
  let token: string;

  it('is a presigned CallWithBearerToken request for the region asked, with the lifetime asked', async () => {
    await createEls(granted, 'bedrock', bedrock('20m', { auth: { roleArn: invokeRole } }));
    els = await waitForReady(granted, 'bedrock', isReady);
    const data = decoded(await readSecret(granted, 'bedrock'));
    remember(data);
    expect(Object.keys(data).sort()).toEqual(['AWS_BEARER_TOKEN_BEDROCK', 'AWS_DEFAULT_REGION', 'AWS_REGION']);
    expect([data.AWS_REGION, data.AWS_DEFAULT_REGION]).toEqual(['eu-west-1', 'eu-west-1']);
    token = data.AWS_BEARER_TOKEN_BEDROCK!;
    expect(token).toMatch(/^bedrock-api-key-[A-Za-z0-9+/=]+$/);
    const key = decodeBedrockKey(token);
    expect([key.host, key.action, key.version, key.scope.region, key.scope.service]).toEqual(['bedrock.amazonaws.com', 'CallWithBearerToken', '1', 'eu-west-1', 'bedrock']);
    expect(key.expiresInSeconds).toBe(1200);
    expect(els.status?.expiresAt).toBe(key.expiresAt.toISOString());
    expect(els.status?.syncedVersionId).toMatch(/^gen-\d+-\d+-[0-9a-f]{12}$/);
    expect(ready(els)!.message).toBe(`Secret bedrock holds version ${els.status!.syncedVersionId} of a generated Bedrock API key (eu-west-1)`);
    const gauge = (await operator.metrics.generatedExpiry.get()).values.find((v) => v.labels.namespace === granted && v.labels.name === 'bedrock');
    expect(gauge?.value).toBe(key.expiresAt.getTime() / 1000);
    process.stderr.write(`[generate] key: ${key.expiresInSeconds} s, signed ${key.signedAt.toISOString()}, expires ${key.expiresAt.toISOString()}\n`);
  });

  it("is signed with the access key moto issued to the resource's own assumed role, and the signature checks out", async () => {
    const key = decodeBedrockKey(token);
    const session = issued().find((s) => s.accessKeyId === key.accessKeyId);
    expect(session, 'the key id is one STS issued through the proxy').toBeDefined();
    expect(session!.roleArn).toBe(invokeRole);
    expect(session!.sessionName).toBe(`els-${granted}-gen-bedrock`);
    expect(key.accessKeyId).not.toBe(base.accessKeyId);
    expect(key.query.get('X-Amz-Security-Token')).toBe(session!.sessionToken);
    // moto's STS, signature checked (IAM enforcement): whose key is this?
    expect(await callerArn({ accessKeyId: key.accessKeyId, secretAccessKey: session!.secretAccessKey, sessionToken: session!.sessionToken }))
      .toBe(`arn:aws:sts::${MOTO_ACCOUNT_ID}:assumed-role/bedrock-invoke/els-${granted}-gen-bedrock`);
    expect(await recomputeSignature(key, session!.secretAccessKey)).toBe(key.query.get('X-Amz-Signature'));
    expect(await recomputeSignature(key, `${session!.secretAccessKey}x`)).not.toBe(key.query.get('X-Amz-Signature'));
  });

  it('a tampered Secret gets the same key back (no new session); a refresh before the renewal point costs no STS call', async () => {
    const calls = assumeRoleCalls(`els-${granted}-gen-bedrock`);
    const tampered = await core().replaceNamespacedSecret({ namespace: granted, name: 'bedrock', body: { ...(await readSecret(granted, 'bedrock'))!, data: { AWS_BEARER_TOKEN_BEDROCK: Buffer.from('tampered').toString('base64') } } });
    const restored = await waitForSecret(granted, 'bedrock', (d, s) => d.AWS_BEARER_TOKEN_BEDROCK === token && s.metadata!.resourceVersion !== tampered.metadata!.resourceVersion);
    expect(Object.keys(decoded(restored)).sort()).toEqual(['AWS_BEARER_TOKEN_BEDROCK', 'AWS_DEFAULT_REGION', 'AWS_REGION']);
    const forced = await getEls(granted, 'bedrock');
    expect(forced.status?.syncedVersionId).toBe(els.status?.syncedVersionId);
    expect(assumeRoleCalls(`els-${granted}-gen-bedrock`)).toBe(calls);
  });

  it('a lifetime longer than the session is cut to it, and status says why', async () => {
    await createEls(granted, 'long', bedrock('12h', { auth: { roleArn: invokeRole } }));
    const long = await waitForReady(granted, 'long', isReady);
    const data = decoded(await readSecret(granted, 'long'));
    remember(data);
    const key = decodeBedrockKey(data.AWS_BEARER_TOKEN_BEDROCK!);
    expect(key.expiresInSeconds).toBeLessThanOrEqual(3600);
    expect(key.expiresInSeconds).toBeGreaterThan(3500);
    expect(long.status?.expiresAt).toBe(key.expiresAt.toISOString());
    expect(ready(long)!.message).toMatch(/lifetime 12h cut to 59m\d+s: a key never outlives the role session that signs it \(1h, the most STS gives a chained role\)/);
  });

  it('without spec.auth: minted from the --generator-role in a session of its own, for a namespace granted "generate"', async () => {
    await createEls(granted, 'noauth', bedrock('15m'));
    await waitForReady(granted, 'noauth', isReady);
    const data = decoded(await readSecret(granted, 'noauth'));
    remember(data);
    const key = decodeBedrockKey(data.AWS_BEARER_TOKEN_BEDROCK!);
    const session = issued().find((s) => s.accessKeyId === key.accessKeyId)!;
    expect([session.roleArn, session.sessionName]).toEqual([generatorRole, `els-${granted}-gen-noauth`]);
    expect(await callerArn({ accessKeyId: key.accessKeyId, secretAccessKey: session.secretAccessKey, sessionToken: session.sessionToken })).toContain(':assumed-role/els-generator/');
  });
});

describe('STS session credentials', () => {
  it('work for GetCallerIdentity against moto and name the assumed role; status.expiresAt is their expiry', async () => {
    await createEls(granted, 'creds', { generate: { awsCredentials: { region: 'eu-central-1', duration: '30m' } }, provider: 'bedrock-iam', auth: { roleArn: invokeRole } });
    const els = await waitForReady(granted, 'creds', isReady);
    const data = decoded(await readSecret(granted, 'creds'));
    remember(data);
    expect(Object.keys(data).sort()).toEqual(['AWS_ACCESS_KEY_ID', 'AWS_DEFAULT_REGION', 'AWS_REGION', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN']);
    expect(data.AWS_ACCESS_KEY_ID).not.toBe(base.accessKeyId);
    expect(await callerArn({ accessKeyId: data.AWS_ACCESS_KEY_ID!, secretAccessKey: data.AWS_SECRET_ACCESS_KEY!, sessionToken: data.AWS_SESSION_TOKEN! }))
      .toBe(`arn:aws:sts::${MOTO_ACCOUNT_ID}:assumed-role/bedrock-invoke/els-${granted}-gen-creds`);
    const left = (Date.parse(els.status!.expiresAt!) - Date.now()) / 1000;
    expect(left).toBeGreaterThan(1700);
    expect(left).toBeLessThanOrEqual(1800);
    // A dedicated session: not one any other resource (or the operator) uses.
    expect(issued().filter((s) => s.accessKeyId === data.AWS_ACCESS_KEY_ID)).toHaveLength(1);
  });
});

describe('renewal', () => {
  it('a 20 s key is replaced before it expires, once per renewal point, with one STS call each and no call in between', async () => {
    await createEls(granted, 'short', bedrock('20s', { auth: { roleArn: invokeRole } }));
    await waitForReady(granted, 'short', isReady);
    const seen: Array<{ token: string; at: number }> = [];
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline && seen.length < 3) {
      const data = decoded(await readSecret(granted, 'short'));
      const t = data.AWS_BEARER_TOKEN_BEDROCK!;
      if (seen.at(-1)?.token !== t) { seen.push({ token: t, at: Date.now() }); remember(data); }
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(seen.length).toBe(3);
    for (let i = 1; i < seen.length; i++) {
      const previous = decodeBedrockKey(seen[i - 1]!.token);
      // Replaced while the previous key was still valid: at 72-80 % of its 20 s, not after expiry.
      expect(seen[i]!.at).toBeLessThan(previous.expiresAt.getTime());
      expect(seen[i]!.at - previous.signedAt.getTime()).toBeGreaterThan(12_000);
    }
    expect(assumeRoleCalls(`els-${granted}-gen-short`)).toBe(seen.length);
    const updates = (await events(granted, 'short')).filter((e) => e.reason === 'Updated');
    expect(updates.length).toBeGreaterThanOrEqual(2);
    process.stderr.write(`[generate] renewals after ${seen.slice(1).map((s, i) => ((s.at - decodeBedrockKey(seen[i]!.token).signedAt.getTime()) / 1000).toFixed(1)).join(', ')} s of 20 s keys\n`);
  }, 90_000);

  it('renewal failing past expiry: KeyExpired condition and event, the Secret untouched; healed, a new key and KeyExpired gone', async () => {
    await createEls(granted, 'expiring', bedrock('15s', { auth: { roleArn: invokeRole }, refreshInterval: '5s' }));
    await waitForReady(granted, 'expiring', isReady);
    const before = await readSecret(granted, 'expiring');
    remember(decoded(before));
    const stop = proxy.add({ kind: 'error503', match: (req) => req.headers['x-amz-target'] === undefined && !(req.url ?? '').startsWith('/moto-api') });
    try {
      const expired = await until('KeyExpired', async () => {
        const e = await getEls(granted, 'expiring');
        return e.status?.conditions?.find((c) => c.type === 'KeyExpired' && c.status === 'True') ? e : undefined;
      }, 60_000);
      expect(ready(expired)?.status).toBe('False');
      await waitForEvent(granted, 'expiring', 'KeyExpired');
      const after = await readSecret(granted, 'expiring');
      expect(after?.data).toEqual(before?.data);
    } finally {
      stop();
    }
    const healed = await waitForReady(granted, 'expiring', (c, e) => c.status === 'True' && !e.status?.conditions?.some((x) => x.type === 'KeyExpired'), 60_000);
    const data = decoded(await readSecret(granted, 'expiring'));
    remember(data);
    expect(data.AWS_BEARER_TOKEN_BEDROCK).not.toBe(decoded(before).AWS_BEARER_TOKEN_BEDROCK);
    expect(Date.parse(healed.status!.expiresAt!)).toBeGreaterThan(Date.now());
  }, 120_000);
});

describe('refusals make no STS call', () => {
  async function refused(ns: string, name: string, spec: ExternalLLMSecretSpec, reason: string): Promise<string> {
    const before = proxy.stats.requests;
    await createEls(ns, name, spec);
    const els = await waitForReady(ns, name, hasReason(reason));
    await until('a Warning event', async () => (await events(ns, name)).find((e) => e.type === 'Warning'));
    expect(proxy.stats.requests - before, `AWS calls for ${ns}/${name}`).toBe(0);
    expect(await readSecret(ns, name)).toBeUndefined();
    return ready(els)!.message;
  }

  it("another team's role: RoleNotPermitted", async () => {
    await refused(granted, 'other-role', bedrock('15m', { auth: { roleArn: otherRole } }), 'RoleNotPermitted');
  });

  it('a role granted for reading, without a "generate" grant: SourceNotPermitted', async () => {
    expect(await refused(rolesOnly, 'roles-only', bedrock('15m', { auth: { roleArn: invokeRole } }), 'SourceNotPermitted')).toMatch(/no access rule grants it \("generate": \["bedrockApiKey"\]\)/);
  });

  it('no auth and no "generate" grant: SourceNotPermitted (the operator never hands out its own credentials)', async () => {
    await refused(nothing, 'noauth', { generate: { awsCredentials: {} }, provider: 'bedrock-iam' }, 'SourceNotPermitted');
  });
});

describe('no key or credential anywhere but the Secret', () => {
  it('not in operator logs, events or status', async () => {
    expect(minted.size).toBeGreaterThanOrEqual(10);
    const places: string[] = [
      ...operator.lines.map((l) => JSON.stringify(l)),
      ...(await Promise.all([granted, rolesOnly, nothing].map(async (ns) => JSON.stringify((await core().listNamespacedEvent({ namespace: ns })).items.map((e) => e.message))))),
      ...(await Promise.all(['bedrock', 'long', 'noauth', 'creds', 'short', 'expiring'].map(async (n) => JSON.stringify((await getEls(granted, n)).status)))),
    ];
    const leaks = [...minted].filter((v) => places.some((p) => p.includes(v)));
    expect(leaks.length, 'values found outside the Secret').toBe(0);
    process.stderr.write(`[generate] ${minted.size} keys and credentials searched in ${operator.lines.length} log lines, events and 6 statuses: 0 found\n`);
  });
});
