// AWS identity against moto with IAM enforcement on: assumed-role credentials are the ones used,
// external IDs and web identity tokens reach STS and are checked, the role rules refuse before
// any AWS call, STS calls do not grow with the number of resources, and session tags carry the
// namespace. moto does not evaluate trust policies, so test/env/sts-guard.ts plays that part.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SESSION_TAG_NAMESPACE } from '../src/aws/credentials.js';
import {
  applyCrds, createIamUser, createRole, createSecret, createTestNamespace, MOTO_ACCOUNT_ID, startMoto, type AwsCredentials, type Moto,
} from './env/index.js';
import { startStsGuard, type StsGuard } from './env/sts-guard.js';
import { core, createEls, decoded, hasReason, isReady, patchEls, readSecret, sleep, waitForEvent, waitForReady } from './helpers/els.js';
import { startTestOperator, type TestOperator } from './helpers/operator.js';

const readPolicy = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['secretsmanager:GetSecretValue', 'secretsmanager:BatchGetSecretValue', 'secretsmanager:ListSecrets', 'secretsmanager:DescribeSecret'], Resource: '*' }] };
const assumeOnly = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['sts:AssumeRole', 'sts:TagSession', 'sts:GetCallerIdentity'], Resource: '*' }] };
const BASE_ARN = `arn:aws:iam::${MOTO_ACCOUNT_ID}:user/operator-base`;
const ADMIN_ARN = `arn:aws:iam::${MOTO_ACCOUNT_ID}:user/els-test-admin`;
const trust = (principal: string, condition?: object) => ({
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow', Principal: { AWS: principal }, Action: ['sts:AssumeRole', 'sts:TagSession'], ...(condition ? { Condition: condition } : {}) }],
});

let moto: Moto;
let guard: StsGuard;
let base: AwsCredentials;
let operator: TestOperator;
let readerRole: string;
let xacctRole: string;
let webRole: string;
const nsAllowed: string[] = [];
let nsDenied: string;
const secretId = `identity/${Date.now()}/openai`;

beforeAll(async () => {
  await applyCrds();
  moto = await startMoto({ enforceIam: true });
  guard = await startStsGuard(moto.endpoint, moto.credentials);
  base = await createIamUser(moto, 'operator-base', assumeOnly);
  readerRole = await createRole(moto, 'team-a', trust(BASE_ARN), readPolicy);
  await createRole(moto, 'team-a-admin', trust(BASE_ARN), readPolicy);
  // moto evaluates this trust policy itself, sts:ExternalId condition included.
  xacctRole = await createRole(moto, 'xacct-reader', trust(BASE_ARN, { StringEquals: { 'sts:ExternalId': 'XID-right-4711' } }), readPolicy);
  webRole = await createRole(moto, 'web-reader', trust(ADMIN_ARN), readPolicy);
  await createSecret(moto, secretId, { api_key: 'SECRETVALUE-identity-1' });
  for (let i = 0; i < 4; i++) nsAllowed.push(await createTestNamespace('idn'));
  nsDenied = await createTestNamespace('idn-denied');
  guard.trust.set(webRole, { subject: `system:serviceaccount:${nsAllowed[3]}:app`, audience: 'sts.amazonaws.com' });
  // The operator's own identity may try this secret (IAM then refuses it: the first test).
  const rules = JSON.stringify([{ namespaces: nsAllowed, roles: [readerRole, xacctRole], secrets: [secretId] }]);
  operator = await startTestOperator({
    namespaces: [...nsAllowed, nsDenied], awsEndpoint: guard.endpoint, awsCredentials: base,
    args: ['--access-rules', rules, '--aws-max-attempts', '1'],
  });
});

afterAll(async () => {
  await operator?.stop();
  await guard?.stop();
  await moto?.stop();
});

describe('credential sources', () => {
  it('the operator identity alone cannot read; the assumed role can, so its credentials are the ones used', async () => {
    const ns = nsAllowed[0]!;
    await createEls(ns, 'direct', { source: { secretId }, data: [{ secretKey: 'K', property: 'api_key' }] });
    await waitForReady(ns, 'direct', hasReason('AccessDenied'));
    await createEls(ns, 'via-role', { source: { secretId }, auth: { roleArn: readerRole }, data: [{ secretKey: 'K', property: 'api_key' }] });
    await waitForReady(ns, 'via-role', isReady);
    expect(decoded(await readSecret(ns, 'via-role'))).toEqual({ K: 'SECRETVALUE-identity-1' });
    expect(guard.count({ action: 'AssumeRole', roleArn: readerRole })).toBeGreaterThanOrEqual(1);
  });

  it('session tags carry the namespace to STS', async () => {
    const call = guard.calls.find((c) => c.action === 'AssumeRole' && c.params.RoleArn === readerRole);
    expect(call?.params['Tags.member.1.Key']).toBe(SESSION_TAG_NAMESPACE);
    expect(call?.params['Tags.member.1.Value']).toBe(nsAllowed[0]);
    expect(call?.params['TransitiveTagKeys.member.1']).toBe(SESSION_TAG_NAMESPACE);
  });

  it('the right external ID syncs; a wrong one gives AssumeRoleFailed and leaves the Secret untouched', async () => {
    const ns = nsAllowed[1]!;
    await core().createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'xid' }, stringData: { id: 'XID-right-4711' } } });
    await createEls(ns, 'xacct', { source: { secretId }, auth: { roleArn: xacctRole, externalId: { secretKeyRef: { name: 'xid', key: 'id' } } }, data: [{ secretKey: 'K', property: 'api_key' }] });
    await waitForReady(ns, 'xacct', isReady);
    const before = await readSecret(ns, 'xacct');
    await patchEls(ns, 'xacct', { spec: { auth: { externalId: { secretKeyRef: null, value: 'XID-wrong-0000' } } } });
    const els = await waitForReady(ns, 'xacct', hasReason('AssumeRoleFailed'));
    expect(els.status?.conditions?.[0]?.message).toContain(xacctRole);
    expect(JSON.stringify(els.status)).not.toContain('XID-');
    await waitForEvent(ns, 'xacct', 'SyncFailed');
    const after = await readSecret(ns, 'xacct');
    expect(after?.data).toEqual(before?.data);
    expect(after?.metadata?.resourceVersion).toBe(before?.metadata?.resourceVersion);
  });

  it('a ServiceAccount of the namespace: TokenRequest with the STS audience, then AssumeRoleWithWebIdentity', async () => {
    const ns = nsAllowed[3]!;
    await core().createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'app', annotations: { 'eks.amazonaws.com/role-arn': webRole } } } });
    await createEls(ns, 'irsa', { source: { secretId }, auth: { serviceAccountRef: { name: 'app' } }, data: [{ secretKey: 'K', property: 'api_key' }] });
    await waitForReady(ns, 'irsa', isReady, 30_000);
    const call = guard.calls.find((c) => c.action === 'AssumeRoleWithWebIdentity');
    expect(call?.params.RoleArn).toBe(webRole);
    const claims = JSON.parse(Buffer.from(call!.params.WebIdentityToken!.split('.')[1]!, 'base64url').toString()) as { sub: string; aud: string[] };
    expect(claims.sub).toBe(`system:serviceaccount:${ns}:app`);
    expect(claims.aud).toEqual(['sts.amazonaws.com']);
  });

  it('a ServiceAccount token for another subject is refused by the trust policy', async () => {
    const ns = nsAllowed[2]!;
    await core().createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'other', annotations: { 'eks.amazonaws.com/role-arn': webRole } } } });
    await createEls(ns, 'wrong-sa', { source: { secretId }, auth: { serviceAccountRef: { name: 'other' } }, data: [{ secretKey: 'K', property: 'api_key' }] });
    await waitForReady(ns, 'wrong-sa', hasReason('AssumeRoleFailed'));
  });
});

describe('the guard', () => {
  it('a namespace outside the rules gets RoleNotPermitted, and AWS sees no call', async () => {
    await sleep(500);
    const before = guard.calls.length;
    await createEls(nsDenied, 'denied', { source: { secretId }, auth: { roleArn: readerRole }, data: [{ secretKey: 'K', property: 'api_key' }] });
    const els = await waitForReady(nsDenied, 'denied', hasReason('RoleNotPermitted'));
    expect(els.status?.conditions?.[0]?.message).toContain('not permitted');
    await waitForEvent(nsDenied, 'denied', 'SyncFailed');
    await sleep(500);
    expect(guard.calls.slice(before).filter((c) => c.service !== 'other')).toEqual([]);
    expect(await readSecret(nsDenied, 'denied')).toBeUndefined();
  });

  it('patterns are anchored: team-a does not allow team-a-admin', async () => {
    const ns = nsAllowed[0]!;
    await createEls(ns, 'admin', { source: { secretId }, auth: { roleArn: `arn:aws:iam::${MOTO_ACCOUNT_ID}:role/team-a-admin` }, data: [{ secretKey: 'K', property: 'api_key' }] });
    await waitForReady(ns, 'admin', hasReason('RoleNotPermitted'));
  });
});

describe('caching', () => {
  it('100 resources on one role cost exactly one AssumeRole', async () => {
    const ns = nsAllowed[2]!;
    const before = guard.count({ action: 'AssumeRole', roleArn: readerRole });
    await Promise.all(Array.from({ length: 100 }, (_, i) =>
      createEls(ns, `many-${i}`, { source: { secretId }, auth: { roleArn: readerRole }, data: [{ secretKey: 'K', property: 'api_key' }] })));
    for (let i = 0; i < 100; i++) await waitForReady(ns, `many-${i}`, isReady, 60_000);
    expect(guard.count({ action: 'AssumeRole', roleArn: readerRole }) - before).toBe(1);
  });
});
