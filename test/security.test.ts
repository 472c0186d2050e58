// Security boundaries: a resource writes only into its own namespace, never takes over a Secret
// it does not own or a service-account token, merges only into an Opaque Secret that names it in
// llmsecrets.dev/merge-from, and the confused-deputy guard (role rules) refuses
// roles under every combination of auth fields before any AWS call — counted through a proxy.
// External IDs carry the XID- marker and values the SECRETVALUE- marker, for the leak scan
// (test/zz-leak-scan.test.ts).
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_VERSION, GROUP, KIND, MERGE_FROM_ANNOTATION, MERGED_KEYS_ANNOTATION, PLURAL, VERSION } from '../src/crds/constants.js';
import type { AuthSpec, ExternalLLMSecretSpec } from '../src/crds/types.js';
import { HttpFaultProxy } from './env/fault-proxy.js';
import { applyCrds, createSecret, createTestNamespace, getTestEnv } from './env/index.js';
import { core, createEls, custom, decoded, events, getEls, hasReason, isReady, readSecret, settled, sleep, waitForEvent, waitForReady } from './helpers/els.js';
import { startTestOperator, type TestOperator } from './helpers/operator.js';

const secretValue = () => `SECRETVALUE-${randomBytes(6).toString('hex')}`;
const externalIdValue = () => `XID-${randomBytes(6).toString('hex')}`;
const runId = `${process.pid}-${Date.now().toString(36)}`;
const sid = (name: string) => `sec-${runId}/${name}`;
const ALLOWED_ROLE = 'arn:aws:iam::123456789012:role/els-allowed-reader';
const OTHER_ROLE = 'arn:aws:iam::123456789012:role/els-admin';
const PARTIAL_ROLE = 'arn:aws:iam::123456789012:role/prefix-els-allowed-reader';

let moto: string;
beforeAll(async () => {
  moto = getTestEnv().motoEndpoint;
  await applyCrds();
});

const keyed = (secretId: string, extra: Partial<ExternalLLMSecretSpec> = {}): ExternalLLMSecretSpec => ({
  source: { secretId }, refreshInterval: '1h', data: [{ secretKey: 'K', property: 'api_key' }], ...extra,
});

describe('namespace boundary and ownership', () => {
  let ns: string;
  let other: string;
  let operator: TestOperator;
  beforeAll(async () => {
    [ns, other] = await Promise.all([createTestNamespace('secns'), createTestNamespace('secother')]);
    operator = await startTestOperator({ namespaces: [ns, other] });
  });
  afterAll(async () => { await operator?.stop(); });

  it('there is no target.namespace: strict field validation rejects one, and the Secret lands in the resource\'s own namespace', async () => {
    const secretId = sid('ns');
    const value = secretValue();
    await createSecret(moto, secretId, { api_key: value });
    const body = { apiVersion: API_VERSION, kind: KIND, metadata: { name: 'cross', namespace: ns }, spec: { ...keyed(secretId), target: { name: 'stolen', namespace: other } } };
    let error: unknown;
    try {
      await custom().createNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns, plural: PLURAL, body, fieldValidation: 'Strict' });
    } catch (e) { error = e; }
    expect(error, 'the apiserver accepted target.namespace under Strict').toBeDefined();
    expect([400, 422], 'Strict field validation refuses the unknown field').toContain((error as { code?: number }).code);
    expect(JSON.stringify((error as { body?: unknown }).body)).toMatch(/unknown field.{0,16}spec\.target\.namespace/);
    // Without Strict the apiserver prunes the field: it never reaches the operator.
    await custom().createNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns, plural: PLURAL, body });
    const stored = await getEls(ns, 'cross');
    expect(stored.spec.target).toEqual({ name: 'stolen', type: 'Opaque', creationPolicy: 'Owner', deletionPolicy: 'Retain' });
    await waitForReady(ns, 'cross', isReady, 30_000);
    expect(decoded(await readSecret(ns, 'stolen'))).toEqual({ K: value });
    expect(await readSecret(other, 'stolen'), 'nothing written in the other namespace').toBeUndefined();
  });

  it('does not take over a Secret it does not own: a plain one, or one managed for another resource', async () => {
    const secretId = sid('own');
    await createSecret(moto, secretId, { api_key: secretValue() });
    const foreign = { THEIRS: secretValue() };
    await core().createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'plain' }, stringData: foreign } });
    await createEls(ns, 'take-plain', keyed(secretId, { target: { name: 'plain' } }));
    await createEls(ns, 'owner', keyed(secretId, { target: { name: 'owned' } }));
    await waitForReady(ns, 'owner', isReady, 30_000);
    const owned = await readSecret(ns, 'owned');
    await createEls(ns, 'take-owned', keyed(secretId, { target: { name: 'owned' } }));
    await waitForReady(ns, 'take-plain', hasReason('SecretConflict'), 30_000);
    await waitForReady(ns, 'take-owned', hasReason('SecretConflict'), 30_000);
    expect(decoded(await readSecret(ns, 'plain'))).toEqual(foreign);
    expect((await readSecret(ns, 'owned'))?.metadata?.resourceVersion).toBe(owned?.metadata?.resourceVersion);
    // The event follows the status write that the wait above saw.
    expect((await waitForEvent(ns, 'take-owned', 'Conflict')).type).toBe('Warning');
  });

  it('cannot write a service-account token: admission refuses the type, and an existing token Secret is not taken over', async () => {
    const secretId = sid('sat');
    await createSecret(moto, secretId, { api_key: secretValue() });
    let error: unknown;
    try {
      await createEls(ns, 'sat', keyed(secretId, { target: { type: 'kubernetes.io/service-account-token' } }));
    } catch (e) { error = e; }
    expect(error, 'the apiserver accepted a service-account-token target').toBeDefined();
    expect((error as { code?: number }).code).toBe(422);
    expect(JSON.stringify((error as { body?: unknown }).body)).toMatch(/service-account tokens are refused/);
    // A token Secret that exists is foreign: SecretConflict, untouched.
    await core().createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'sa-token', annotations: { 'kubernetes.io/service-account.name': 'default' } }, type: 'kubernetes.io/service-account-token' } });
    await sleep(1_000);
    const before = await readSecret(ns, 'sa-token');
    await createEls(ns, 'sat2', keyed(secretId, { target: { name: 'sa-token' } }));
    await waitForReady(ns, 'sat2', hasReason('SecretConflict'), 30_000);
    const after = await readSecret(ns, 'sa-token');
    expect(after?.type).toBe('kubernetes.io/service-account-token');
    expect(after?.data).toEqual(before?.data);
    expect(after?.metadata?.labels?.['app.kubernetes.io/managed-by']).toBeUndefined();
  });
});

// ---- creationPolicy Merge: only into a Secret that opts in ---------------------------------------

describe('Merge writes only into an Opaque Secret that names the resource in llmsecrets.dev/merge-from', () => {
  let ns: string;
  let operator: TestOperator;
  beforeAll(async () => {
    ns = await createTestNamespace('secmerge');
    operator = await startTestOperator({ namespaces: [ns] });
  });
  afterAll(async () => { await operator?.stop(); });

  const mergeSpec = (secretId: string, target: string): ExternalLLMSecretSpec => ({
    source: { secretId }, refreshInterval: '1h', target: { name: target, creationPolicy: 'Merge' }, data: [{ secretKey: 'K', property: 'api_key' }],
  });

  /** annotations: those of the target Secret, given the resource's name (default: it opts in to that name). */
  const refused: Array<[string, { type?: string; annotations?: (name: string) => Record<string, string>; stringData?: Record<string, string>; message: RegExp }]> = [
    ['a Secret without the annotation', { annotations: () => ({}), message: /does not opt in to creationPolicy Merge: annotate it llmsecrets\.dev\/merge-from: m\d+ / }],
    ['a Secret whose annotation names another resource', { annotations: () => ({ [MERGE_FROM_ANNOTATION]: 'someone-else' }), message: /opts in to Merge from ExternalLLMSecret "someone-else", not this one: annotate it llmsecrets\.dev\/merge-from: m\d+ / }],
    ['an opted-in kubernetes.io/tls Secret', { type: 'kubernetes.io/tls', stringData: { 'tls.crt': 'cert', 'tls.key': 'SECRETVALUE-tlskey' }, message: /has type kubernetes\.io\/tls; creationPolicy Merge writes only into Opaque Secrets/ }],
    ['an opted-in kubernetes.io/service-account-token Secret', { type: 'kubernetes.io/service-account-token', annotations: (name) => ({ [MERGE_FROM_ANNOTATION]: name, 'kubernetes.io/service-account.name': 'default' }), stringData: {}, message: /has type kubernetes\.io\/service-account-token/ }],
    ['an opted-in Secret that already holds the key, not written by the resource', { stringData: { K: 'SECRETVALUE-theirs' }, message: /already holds key K, not written by this resource/ }],
  ];
  let n = 0;
  it.each(refused)('refuses %s: SecretConflict saying how to opt in, a Conflict event, nothing written', async (_, kase) => {
    const name = `m${n++}`;
    const target = `${name}-target`;
    const secretId = sid(`merge-${name}`);
    await createSecret(moto, secretId, { api_key: secretValue() });
    const optIn = kase.annotations?.(name) ?? { [MERGE_FROM_ANNOTATION]: name };
    await core().createNamespacedSecret({ namespace: ns, body: { metadata: { name: target, labels: { app: 'theirs' }, annotations: optIn }, type: kase.type, stringData: kase.stringData ?? { THEIRS: 'SECRETVALUE-keep' } } });
    // A token Secret is filled in by the token controller: compare against it once it is quiet.
    const before = await settled(`Secret ${target}`, async () => (await readSecret(ns, target))!.metadata?.resourceVersion, 1_000);
    const snapshot = await readSecret(ns, target);
    await createEls(ns, name, mergeSpec(secretId, target));
    const els = await waitForReady(ns, name, hasReason('SecretConflict'), 30_000);
    const message = els.status?.conditions?.find((c) => c.type === 'Ready')?.message ?? '';
    expect(message).toMatch(kase.message);
    expect((await waitForEvent(ns, name, 'Conflict')).type, 'a Conflict event').toBe('Warning');
    const after = await readSecret(ns, target);
    expect(after?.metadata?.resourceVersion, 'not written at all').toBe(before);
    expect(after?.data).toEqual(snapshot?.data);
    expect(after?.metadata?.annotations?.[MERGED_KEYS_ANNOTATION]).toBeUndefined();
    expect(after?.metadata?.labels).toEqual({ app: 'theirs' });
    expect(JSON.stringify(els.status) + JSON.stringify(await events(ns, name))).not.toContain('SECRETVALUE-');
  }, 60_000);

  it('merges once the Secret opts in, and stops (untouched, SecretConflict) when the opt-in is withdrawn', async () => {
    const secretId = sid('merge-optin');
    const value = secretValue();
    await createSecret(moto, secretId, { api_key: value });
    await core().createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'later' }, stringData: { THEIRS: 'SECRETVALUE-keep' } } });
    await createEls(ns, 'optin', mergeSpec(secretId, 'later'));
    await waitForReady(ns, 'optin', hasReason('SecretConflict'), 30_000);
    // The owner of the Secret opts in; a force-sync stands in for the periodic recheck (5 min).
    const { PatchStrategy, setHeaderOptions } = await import('@kubernetes/client-node');
    const annotate = (value: string | null) => core().patchNamespacedSecret({ namespace: ns, name: 'later', body: { metadata: { annotations: { [MERGE_FROM_ANNOTATION]: value } } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    await annotate('optin');
    await custom().patchNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns, plural: PLURAL, name: 'optin', body: { metadata: { annotations: { 'llmsecrets.dev/force-sync': '1' } } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    await waitForReady(ns, 'optin', isReady, 30_000);
    expect(decoded(await readSecret(ns, 'later'))).toEqual({ THEIRS: 'SECRETVALUE-keep', K: value });
    // Withdrawn: the next reconcile refuses and writes nothing, the merged key stays as it was.
    await annotate(null);
    const withdrawn = (await readSecret(ns, 'later'))!.metadata?.resourceVersion;
    await custom().patchNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns, plural: PLURAL, name: 'optin', body: { metadata: { annotations: { 'llmsecrets.dev/force-sync': '2' } } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    await waitForReady(ns, 'optin', hasReason('SecretConflict'), 30_000);
    expect((await readSecret(ns, 'later'))!.metadata?.resourceVersion).toBe(withdrawn);
  }, 90_000);
});

// ---- the confused-deputy guard -----------------------------------------------------------------

type Guard = 'no-rules' | 'rules';
interface AuthCase {
  guard: Guard;
  /** Namespace the resource lives in: the one the rules allow, or another. */
  where: 'allowed-ns' | 'other-ns';
  auth: (xidSecret: string) => AuthSpec;
  refused: boolean;
  /** Refused: the reason (default RoleNotPermitted). Allowed: a reason it fails with before AWS (no role to reach). */
  reason?: string;
}
const xidLiteral = () => ({ value: externalIdValue() });
const xidRef = (name: string) => ({ secretKeyRef: { name, key: 'xid' } });
const sa = { name: 'reader' };

const authCases: Array<[string, AuthCase]> = [
  // No role rules: a role on top of the operator's own identity is always refused.
  ['no rules: roleArn', { guard: 'no-rules', where: 'allowed-ns', auth: () => ({ roleArn: ALLOWED_ROLE }), refused: true }],
  ['no rules: roleArn + literal externalId', { guard: 'no-rules', where: 'allowed-ns', auth: () => ({ roleArn: ALLOWED_ROLE, externalId: xidLiteral() }), refused: true }],
  ['no rules: roleArn + externalId from a Secret', { guard: 'no-rules', where: 'allowed-ns', auth: (x) => ({ roleArn: ALLOWED_ROLE, externalId: xidRef(x) }), refused: true }],
  ['no rules: roleArn + sessionName + sessionDuration', { guard: 'no-rules', where: 'allowed-ns', auth: () => ({ roleArn: OTHER_ROLE, sessionName: 'mine', sessionDuration: '15m' }), refused: true }],
  // Role rules: the role and the namespace must match a rule, whole-ARN.
  ['rules: role not in any rule', { guard: 'rules', where: 'allowed-ns', auth: () => ({ roleArn: OTHER_ROLE }), refused: true }],
  ['rules: role matches only as a substring (anchored)', { guard: 'rules', where: 'allowed-ns', auth: () => ({ roleArn: PARTIAL_ROLE }), refused: true }],
  ['rules: allowed role from a namespace the rules do not list', { guard: 'rules', where: 'other-ns', auth: () => ({ roleArn: ALLOWED_ROLE }), refused: true }],
  ['rules: other role + literal externalId', { guard: 'rules', where: 'allowed-ns', auth: () => ({ roleArn: OTHER_ROLE, externalId: xidLiteral() }), refused: true }],
  ['rules: other role + externalId from a Secret', { guard: 'rules', where: 'allowed-ns', auth: (x) => ({ roleArn: OTHER_ROLE, externalId: xidRef(x) }), refused: true }],
  ['rules: serviceAccountRef + other role', { guard: 'rules', where: 'allowed-ns', auth: () => ({ serviceAccountRef: sa, roleArn: OTHER_ROLE }), refused: true }],
  ['rules: serviceAccountRef + other role + externalId', { guard: 'rules', where: 'allowed-ns', auth: () => ({ serviceAccountRef: sa, roleArn: OTHER_ROLE, externalId: xidLiteral() }), refused: true }],
  ['rules: serviceAccountRef + allowed role from another namespace', { guard: 'rules', where: 'other-ns', auth: () => ({ serviceAccountRef: sa, roleArn: ALLOWED_ROLE }), refused: true }],
  // Allowed: these reach AWS (and are not RoleNotPermitted).
  ['no rules: serviceAccountRef + roleArn (IAM trust decides)', { guard: 'no-rules', where: 'allowed-ns', auth: () => ({ serviceAccountRef: sa, roleArn: ALLOWED_ROLE }), refused: false }],
  ['no rules: serviceAccountRef without roleArn or annotation (ServiceAccountError, not a role decision)', { guard: 'no-rules', where: 'allowed-ns', auth: () => ({ serviceAccountRef: sa }), refused: false, reason: 'ServiceAccountError' }],
  // The operator's own identity reads only what an access rule grants the namespace (deny by default).
  ['no rules: no auth (the operator\'s identity)', { guard: 'no-rules', where: 'allowed-ns', auth: () => ({}), refused: true, reason: 'SourceNotPermitted' }],
  ['rules: no auth from a namespace the rules do not list', { guard: 'rules', where: 'other-ns', auth: () => ({}), refused: true, reason: 'SourceNotPermitted' }],
  ['rules: no auth, a secret the rules grant the namespace', { guard: 'rules', where: 'allowed-ns', auth: () => ({}), refused: false }],
  ['rules: allowed role + literal externalId', { guard: 'rules', where: 'allowed-ns', auth: () => ({ roleArn: ALLOWED_ROLE, externalId: xidLiteral() }), refused: false }],
  ['rules: allowed role + externalId from a Secret', { guard: 'rules', where: 'allowed-ns', auth: (x) => ({ roleArn: ALLOWED_ROLE, externalId: xidRef(x) }), refused: false }],
  ['rules: serviceAccountRef + allowed role', { guard: 'rules', where: 'allowed-ns', auth: () => ({ serviceAccountRef: sa, roleArn: ALLOWED_ROLE }), refused: false }],
];

describe('confused-deputy guard: refused roles cost no AWS call', () => {
  // One operator (and one counting proxy) per guard and outcome, so a refused operator's proxy
  // must count exactly zero AWS requests.
  const ops = new Map<string, { operator: TestOperator; proxy: HttpFaultProxy; allowedNs: string; otherNs: string }>();
  const opKey = (guard: Guard, refused: boolean) => `${guard}/${refused ? 'refused' : 'allowed'}`;

  beforeAll(async () => {
    for (const guard of ['no-rules', 'rules'] as Guard[]) {
      for (const refused of [true, false]) {
        const [allowedNs, otherNs] = await Promise.all([createTestNamespace('guard'), createTestNamespace('guardx')]);
        for (const n of [allowedNs, otherNs]) {
          await core().createNamespacedServiceAccount({ namespace: n, body: { metadata: { name: sa.name } } });
          await core().createNamespacedSecret({ namespace: n, body: { metadata: { name: 'xid' }, stringData: { xid: externalIdValue() } } });
        }
        const proxy = await HttpFaultProxy.start(moto);
        const rules = JSON.stringify([{ namespaces: [allowedNs], roles: ['arn:aws:iam::123456789012:role/els-allowed-*'], secrets: [`${sid('')}*`] }]);
        const operator = await startTestOperator({
          namespaces: [allowedNs, otherNs], awsEndpoint: proxy.url,
          args: ['--no-aws-identity-check', ...(guard === 'rules' ? ['--access-rules', rules] : ['--access-rules', '[]'])],
        });
        ops.set(opKey(guard, refused), { operator, proxy, allowedNs, otherNs });
      }
    }
  });
  afterAll(async () => {
    const refusedCalls = [...ops.entries()].filter(([k]) => k.endsWith('refused')).reduce((a, [, o]) => a + o.proxy.stats.requests, 0);
    process.stderr.write(`[security] AWS calls made for refused roles: ${refusedCalls}\n`);
    for (const { operator, proxy } of ops.values()) { await operator.stop(); await proxy.close(); }
  });

  let n = 0;
  it.each(authCases)('%s', async (_, kase) => {
    const o = ops.get(opKey(kase.guard, kase.refused))!;
    const ns = kase.where === 'allowed-ns' ? o.allowedNs : o.otherNs;
    const name = `g${n++}`;
    const secretId = sid(`guard-${name}`);
    await createSecret(moto, secretId, { api_key: secretValue() });
    const before = o.proxy.stats.requests;
    await createEls(ns, name, keyed(secretId, { auth: kase.auth('xid') }));
    if (kase.refused) {
      const els = await waitForReady(ns, name, hasReason(kase.reason ?? 'RoleNotPermitted'), 30_000);
      expect(els.status?.conditions?.find((c) => c.type === 'Ready')?.message).toMatch(/not permitted/);
      await sleep(500);
      expect(o.proxy.stats.requests, 'AWS calls for a refused role').toBe(0);
      expect(await readSecret(ns, name)).toBeUndefined();
    } else {
      const els = await waitForReady(ns, name, (c) => c.status === 'True' || (c.status === 'False' && !/NotPermitted$/.test(c.reason)), 30_000);
      expect(els.status?.conditions?.find((c) => c.type === 'Ready')?.reason).not.toMatch(/NotPermitted$/);
      if (kase.reason) expect(els.status?.conditions?.find((c) => c.type === 'Ready')?.reason).toBe(kase.reason);
      else expect(o.proxy.stats.requests - before, 'an allowed identity reaches AWS').toBeGreaterThan(0);
    }
    const shown = JSON.stringify((await getEls(ns, name)).status) + JSON.stringify(await events(ns, name));
    expect(shown).not.toMatch(/XID-|SECRETVALUE-/);
  }, 60_000);

  it('the refused operators made no AWS call at all', () => {
    for (const guard of ['no-rules', 'rules'] as Guard[]) expect(ops.get(opKey(guard, true))!.proxy.stats.requests, guard).toBe(0);
  });
});
