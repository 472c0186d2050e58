// The attack suite: team A tries every path to team B's secrets and Secrets through one shared
// operator. Each attempt must be refused with a reason, cost zero AWS calls (counted at a proxy
// in front of moto) and write nothing. The rules are the chart's default (each namespace reads
// `<namespace>/*` with the operator's identity) plus one role per team.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { GROUP, MERGE_FROM_ANNOTATION, PLURAL, VERSION } from '../src/crds/constants.js';
import type { ExternalLLMSecretSpec } from '../src/crds/types.js';
import { HttpFaultProxy } from './env/fault-proxy.js';
import { applyCrds, createSecret, createTestNamespace, getTestEnv, MOTO_ACCOUNT_ID } from './env/index.js';
import { core, createEls, custom, events, getEls, isReady, readSecret, ready, until, waitForReady } from './helpers/els.js';
import { startTestOperator, type TestOperator } from './helpers/operator.js';

const value = () => `SECRETVALUE-${randomBytes(6).toString('hex')}`;
const roleOf = (team: string) => `arn:aws:iam::${MOTO_ACCOUNT_ID}:role/llm-${team}`;
/** The transitive session tags EKS Pod Identity puts on the operator's own session. */
const POD_IDENTITY_TAGS = ['eks-cluster-arn', 'eks-cluster-name', 'kubernetes-namespace', 'kubernetes-service-account', 'kubernetes-pod-name', 'kubernetes-pod-uid'];

let proxy: HttpFaultProxy;
let operator: TestOperator;
let a: string; let b: string; let evil: string;
const arns = new Map<string, string>();

beforeAll(async () => {
  await applyCrds();
  proxy = await HttpFaultProxy.start(getTestEnv().motoEndpoint);
  [a, b] = [await createTestNamespace('tenant-a'), await createTestNamespace('tenant-b')];
  evil = await createTestNamespace(`${a}-evil`.slice(0, 40));
  for (const ns of [a, b]) arns.set(ns, await createSecret(getTestEnv().motoEndpoint, `${ns}/openai`, { api_key: value() }));
  await createSecret(getTestEnv().motoEndpoint, `${a}-evil/openai`, { api_key: value() });
  for (const ns of [a, b]) await core().createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'xid' }, stringData: { id: `XID-${ns}` } } });
  const rules = [
    { namespaces: ['*'], secrets: ['${namespace}/*'] },
    { namespaces: [a], roles: [roleOf('a')] },
    { namespaces: [b], roles: [roleOf('b')] },
  ];
  operator = await startTestOperator({ namespaces: [a, b, evil], awsEndpoint: proxy.url, args: ['--access-rules', JSON.stringify(rules), '--no-aws-identity-check'] });
});

afterAll(async () => {
  await operator?.stop();
  await proxy?.close();
});

const keyed = (secretId: string, extra: Partial<ExternalLLMSecretSpec> = {}): ExternalLLMSecretSpec => ({ source: { secretId }, data: [{ secretKey: 'K', property: 'api_key' }], ...extra });

/** Creates the resource in A and expects a refusal with `reason`, no AWS call, no Secret. */
async function refused(ns: string, name: string, spec: ExternalLLMSecretSpec, reason: string): Promise<string> {
  const before = proxy.stats.requests;
  await createEls(ns, name, spec);
  const els = await waitForReady(ns, name, (c) => c.status === 'False' && c.reason === reason);
  // The refusal is final for this spec: a few more reconciles must not reach AWS either.
  await until('a Warning event', async () => (await events(ns, name)).find((e) => e.type === 'Warning'));
  expect(proxy.stats.requests - before, `AWS calls for ${name}`).toBe(0);
  expect(await readSecret(ns, spec.target?.name ?? name), 'no Secret written').toBeUndefined();
  const message = ready(els)!.message;
  expect(JSON.stringify(els.status) + JSON.stringify(await events(ns, name))).not.toMatch(/SECRETVALUE-|XID-/);
  return message;
}

describe('team A against team B', () => {
  it('the chart-default rule lets each team read its own secrets (the control case)', async () => {
    await createEls(a, 'own', keyed(`${a}/openai`));
    await waitForReady(a, 'own', isReady);
    await createEls(b, 'own', keyed(`${b}/openai`));
    await waitForReady(b, 'own', isReady);
  });

  it("no auth, B's secret by name: SourceNotPermitted", async () => {
    expect(await refused(a, 'by-name', keyed(`${b}/openai`), 'SourceNotPermitted')).toMatch(new RegExp(`not permitted for namespace ${a}`));
  });

  it("no auth, B's secret by full ARN: SourceNotPermitted", async () => {
    await refused(a, 'by-arn', keyed(arns.get(b)!), 'SourceNotPermitted');
  });

  it("no auth, B's secret by partial ARN (no random suffix): SourceNotPermitted", async () => {
    await refused(a, 'by-partial-arn', keyed(`arn:aws:secretsmanager:us-east-1:${MOTO_ACCOUNT_ID}:secret:${b}/openai`), 'SourceNotPermitted');
  });

  it("prefix tricks: A reads '<a>-evil/...', and namespace '<a>-evil' reads A's secret: both refused", async () => {
    await refused(a, 'prefix', keyed(`${a}-evil/openai`), 'SourceNotPermitted');
    await refused(evil, 'reach-a', keyed(`${a}/openai`), 'SourceNotPermitted');
  });

  it("B's role through spec.auth.roleArn: RoleNotPermitted", async () => {
    await refused(a, 'b-role', keyed(`${a}/openai`, { auth: { roleArn: roleOf('b') } }), 'RoleNotPermitted');
  });

  it("B's role with B's external ID: RoleNotPermitted before the external ID is even read", async () => {
    await refused(a, 'b-role-xid', keyed(`${b}/openai`, { auth: { roleArn: roleOf('b'), externalId: { secretKeyRef: { name: 'xid', key: 'id' } } } }), 'RoleNotPermitted');
  });

  it("B's external ID Secret: a secretKeyRef cannot name another namespace (refused at admission)", async () => {
    const body = {
      apiVersion: `${GROUP}/${VERSION}`, kind: 'ExternalLLMSecret', metadata: { name: 'xid-ns', namespace: a },
      spec: { ...keyed(`${a}/openai`), auth: { roleArn: roleOf('a'), externalId: { secretKeyRef: { name: 'xid', key: 'id', namespace: b } } } },
    };
    const error = await custom().createNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: a, plural: PLURAL, body, fieldValidation: 'Strict' }).then(() => undefined, (e: unknown) => e);
    expect(JSON.stringify((error as { body?: unknown } | undefined)?.body ?? 'accepted')).toMatch(/unknown field.{0,40}namespace/);
  });

  it("Merge into B's typed, opted-in Secret in a namespace both use: SecretConflict, no AWS call, the Secret untouched", async () => {
    await core().createNamespacedSecret({ namespace: a, body: {
      metadata: { name: 'b-tls', annotations: { [MERGE_FROM_ANNOTATION]: 'b-app' } }, type: 'kubernetes.io/tls',
      stringData: { 'tls.crt': 'cert', 'tls.key': 'key' },
    } });
    for (const [name, from] of [['merge-typed', 'b-app'], ['merge-named', 'merge-named']] as const) {
      const before = proxy.stats.requests;
      if (from === name) await core().patchNamespacedSecret({ namespace: a, name: 'b-tls', body: { metadata: { annotations: { [MERGE_FROM_ANNOTATION]: name } } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
      await createEls(a, name, keyed(`${a}/openai`, { target: { name: 'b-tls', creationPolicy: 'Merge' } }));
      const els = await waitForReady(a, name, (c) => c.status === 'False' && c.reason === 'SecretConflict');
      expect(ready(els)!.message).toMatch(/Opaque|opt in/);
      expect(proxy.stats.requests - before, `AWS calls for ${name}`).toBe(0);
    }
    const after = (await readSecret(a, 'b-tls'))!;
    expect(Object.keys(after.data ?? {}).sort()).toEqual(['tls.crt', 'tls.key']);
    expect(after.metadata!.annotations?.[MERGE_FROM_ANNOTATION]).toBe('merge-named'); // only our own patch above
  });

  it('session-name spoofing: a tenant sessionName is only a suffix after els-<namespace>', async () => {
    const from = proxy.requests.length;
    await createEls(a, 'spoof', keyed(`${a}/openai`, { auth: { roleArn: roleOf('a'), sessionName: `els-${b}` } }));
    await waitForReady(a, 'spoof', (c) => c.status === 'True' || c.reason !== 'RoleNotPermitted');
    const assume = await until('the AssumeRole', () => proxy.requests.slice(from).find((r) => r.operation === 'AssumeRole'));
    const params = new URLSearchParams(assume.body);
    expect(params.get('RoleSessionName')).toBe(`els-${a}-els-${b}`.slice(0, 64));
    // Our session tags use our own keys: none can collide with what EKS Pod Identity sets.
    const keys = [...params.entries()].filter(([k]) => /^Tags\.member\.\d+\.Key$/.test(k)).map(([, v]) => v);
    expect(keys).toEqual(['llmsecrets-namespace']);
    expect(keys.filter((k) => POD_IDENTITY_TAGS.includes(k))).toEqual([]);
    expect(params.get('Tags.member.1.Value')).toBe(a);
  });
});

describe('ABAC: --reader-role', () => {
  let reader: TestOperator | undefined;
  afterAll(async () => { await reader?.stop(); });

  it('resources without auth read through the reader role, one session per namespace tagged with it', async () => {
    const readerRole = `arn:aws:iam::${MOTO_ACCOUNT_ID}:role/els-reader`;
    const [x, y] = [await createTestNamespace('abac-x'), await createTestNamespace('abac-y')];
    for (const ns of [x, y]) await createSecret(getTestEnv().motoEndpoint, `${ns}/openai`, { api_key: value() });
    const from = proxy.requests.length;
    reader = await startTestOperator({
      namespaces: [x, y], awsEndpoint: proxy.url,
      args: ['--access-rules', JSON.stringify([{ namespaces: ['*'], secrets: ['${namespace}/*'] }]), '--reader-role', readerRole, '--no-aws-identity-check'],
    });
    for (const ns of [x, y]) for (const name of ['one', 'two']) await createEls(ns, name, keyed(`${ns}/openai`));
    for (const ns of [x, y]) for (const name of ['one', 'two']) await waitForReady(ns, name, isReady);
    const assumed = proxy.requests.slice(from).filter((r) => r.operation === 'AssumeRole').map((r) => new URLSearchParams(r.body));
    expect(assumed.map((p) => [p.get('RoleArn'), p.get('RoleSessionName'), p.get('Tags.member.1.Key'), p.get('Tags.member.1.Value')]).sort()).toEqual(
      [[readerRole, `els-${x}`, 'llmsecrets-namespace', x], [readerRole, `els-${y}`, 'llmsecrets-namespace', y]].sort(),
    );
    expect((await getEls(x, 'one')).status?.dataHash).toBeDefined();
  });
});
