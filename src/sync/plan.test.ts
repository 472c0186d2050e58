import type { V1Secret } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { MANAGED_BY_LABEL, MERGE_FROM_ANNOTATION, MERGED_KEYS_ANNOTATION, OWNER_ANNOTATION } from '../crds/constants.js';
import { dataHash } from './hash.js';
import { liveDataHash, NOT_MERGEABLE_HASH, planSecret, type DesiredSecret } from './plan.js';
import { Reason } from './reasons.js';

const desired = (over: Partial<DesiredSecret> = {}): DesiredSecret => ({
  namespace: 'ns', name: 's', type: 'Opaque', owner: 'ns/els', policy: 'Owner',
  labels: { [MANAGED_BY_LABEL]: 'external-llm-secrets' }, annotations: { [OWNER_ANNOTATION]: 'ns/els' },
  data: { K: Buffer.from('v1') }, ownerUid: 'uid-1', ownerName: 'els', ...over,
});
const b64 = (s: string) => Buffer.from(s).toString('base64');
const live = (data: Record<string, string>, meta: Partial<NonNullable<V1Secret['metadata']>> = {}): V1Secret => ({
  metadata: { name: 's', namespace: 'ns', resourceVersion: '7', labels: { [MANAGED_BY_LABEL]: 'external-llm-secrets' }, annotations: { [OWNER_ANNOTATION]: 'ns/els' }, ...meta },
  type: 'Opaque', data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])),
});

describe('planSecret', () => {
  it('creates a missing Secret', () => {
    const plan = planSecret(desired(), undefined);
    expect(plan.action).toBe('create');
  });

  it('does nothing when data and metadata match', () => {
    expect(planSecret(desired(), live({ K: 'v1' })).action).toBe('none');
  });

  it('updates changed data, keeping the resourceVersion and naming only keys', () => {
    const plan = planSecret(desired({ data: { K: Buffer.from('v2'), N: Buffer.from('x') } }), live({ K: 'v1', OLD: 'o' }));
    expect(plan).toMatchObject({ action: 'update', changedKeys: ['K', 'N', 'OLD'] });
    if (plan.action === 'update') {
      expect(plan.body.metadata?.resourceVersion).toBe('7');
      expect(Object.keys(plan.body.data ?? {})).toEqual(['K', 'N']);
    }
  });

  it('refuses a foreign Secret and one owned by another resource', () => {
    const foreign = planSecret(desired(), live({ K: 'x' }, { labels: {}, annotations: {} }));
    expect(foreign).toMatchObject({ action: 'refuse', reason: Reason.SecretConflict });
    expect(foreign.action === 'refuse' && foreign.message).toMatch(/not managed by this operator; delete it, or set target.creationPolicy: Merge and annotate the Secret llmsecrets\.dev\/merge-from: els$/);
    const token = planSecret(desired(), { ...live({ token: 'x' }, { labels: {}, annotations: {} }), type: 'kubernetes.io/service-account-token' });
    expect(token.action === 'refuse' && token.message).toMatch(/not managed by this operator; delete it \(type kubernetes\.io\/service-account-token: not a Merge target either\)$/);
    expect(planSecret(desired(), live({ K: 'x' }, { annotations: { [OWNER_ANNOTATION]: 'ns/other' } }))).toMatchObject({ action: 'refuse', reason: Reason.SecretConflict });
  });

  it('refuses a type change', () => {
    expect(planSecret(desired({ type: 'kubernetes.io/basic-auth' }), live({ K: 'v1' }))).toMatchObject({ action: 'refuse', reason: Reason.SecretTypeImmutable });
  });

  it('adds and removes its owner reference, keeping others', () => {
    const ref = { apiVersion: 'llmsecrets.dev/v1alpha1', kind: 'ExternalLLMSecret', name: 'els', uid: 'uid-1', controller: true };
    const other = { apiVersion: 'v1', kind: 'ConfigMap', name: 'c', uid: 'uid-9' };
    const add = planSecret(desired({ ownerReference: ref }), live({ K: 'v1' }, { ownerReferences: [other] }));
    expect(add.action === 'update' && add.body.metadata?.ownerReferences).toEqual([other, ref]);
    const remove = planSecret(desired(), live({ K: 'v1' }, { ownerReferences: [other, ref] }));
    expect(remove.action === 'update' && remove.body.metadata?.ownerReferences).toEqual([other]);
  });

  it('refuses service-account-token, bootstrap-token and other kubernetes.io/ types the CRD refuses, whatever the policy and the live Secret', () => {
    for (const type of ['kubernetes.io/service-account-token', 'bootstrap.kubernetes.io/token', 'bootstrap.kubernetes.io/other', 'kubernetes.io/dockercfg']) {
      for (const policy of ['Owner', 'Orphan', 'Merge'] as const) {
        expect(planSecret(desired({ type, policy }), undefined), `${type} ${policy}`).toMatchObject({ action: 'refuse', reason: Reason.InvalidSpec, retryable: false });
        expect(planSecret(desired({ type, policy }), live({ K: 'v1' }, { labels: {}, annotations: {} })), `${type} ${policy} over a live Secret`).toMatchObject({ action: 'refuse', reason: Reason.InvalidSpec });
      }
    }
    const plan = planSecret(desired({ type: 'bootstrap.kubernetes.io/token' }), undefined);
    expect(plan.action === 'refuse' && plan.message).toMatch(/bootstrap\.kubernetes\.io\/token is refused/);
    for (const type of ['Opaque', 'kubernetes.io/tls', 'kubernetes.io/basic-auth', 'example.com/custom']) expect(planSecret(desired({ type }), undefined).action, type).toBe('create');
  });
});

describe('planSecret with creationPolicy Merge', () => {
  const merge = (over: Partial<DesiredSecret> = {}) => desired({ policy: 'Merge', labels: { [MANAGED_BY_LABEL]: 'external-llm-secrets', team: 'a' }, annotations: { [OWNER_ANNOTATION]: 'ns/els', 'example.com/tenant': 'x' }, ...over });
  /** A Secret someone else owns, opted in to Merge from ExternalLLMSecret els. */
  const optedIn = (data: Record<string, string>, annotations: Record<string, string> = {}, over: Partial<V1Secret> = {}): V1Secret => ({
    ...live(data, { labels: { app: 'theirs' }, annotations: { [MERGE_FROM_ANNOTATION]: 'els', ...annotations } }), ...over,
  });

  it('writes only its keys into an opted-in Secret, drops keys it merged before, and sets no label or annotation of the tenant', () => {
    const foreign = optedIn({ THEIRS: 't', K: 'old', GONE: 'g' }, { [MERGED_KEYS_ANNOTATION]: 'GONE,K' });
    const plan = planSecret(merge(), foreign);
    expect(plan.action).toBe('update');
    if (plan.action !== 'update') return;
    expect(Object.keys(plan.body.data ?? {}).sort()).toEqual(['K', 'THEIRS']);
    expect(plan.body.data?.THEIRS).toBe(b64('t'));
    expect(plan.body.data?.K).toBe(b64('v1'));
    expect(plan.changedKeys).toEqual(['GONE', 'K']);
    // Exactly what was there, plus (or with a new) merged-keys: nothing of target.labels/annotations, no owner.
    expect(plan.body.metadata?.labels).toEqual({ app: 'theirs' });
    expect(plan.body.metadata?.annotations).toEqual({ [MERGE_FROM_ANNOTATION]: 'els', [MERGED_KEYS_ANNOTATION]: 'K' });
    // Once merged, nothing to do.
    expect(planSecret(merge(), optedIn({ THEIRS: 't', K: 'v1' }, { [MERGED_KEYS_ANNOTATION]: 'K' })).action).toBe('none');
  });

  it('a missing target is MergeTargetMissing (retryable), and the message says how to opt in', () => {
    const plan = planSecret(merge(), undefined);
    expect(plan).toMatchObject({ action: 'refuse', reason: Reason.MergeTargetMissing, retryable: true });
    expect(plan.action === 'refuse' && plan.message).toContain(`${MERGE_FROM_ANNOTATION}: els`);
  });

  it.each<[string, V1Secret, RegExp]>([
    ['no merge-from annotation', live({ THEIRS: 't' }, { labels: {}, annotations: {} }), /does not opt in to creationPolicy Merge: annotate it llmsecrets\.dev\/merge-from: els/],
    ['merge-from naming another resource', optedIn({ THEIRS: 't' }, { [MERGE_FROM_ANNOTATION]: 'other' }), /opts in to Merge from ExternalLLMSecret "other", not this one: annotate it llmsecrets\.dev\/merge-from: els/],
    ['merge-from listing several names (one name only)', optedIn({ THEIRS: 't' }, { [MERGE_FROM_ANNOTATION]: 'els,other' }), /"els,other", not this one/],
    ['merge-from with a different case', optedIn({ THEIRS: 't' }, { [MERGE_FROM_ANNOTATION]: 'ELS' }), /not this one/],
    ['kubernetes.io/tls', optedIn({ 'tls.crt': 'c', 'tls.key': 'k' }, {}, { type: 'kubernetes.io/tls' }), /has type kubernetes\.io\/tls; creationPolicy Merge writes only into Opaque Secrets/],
    ['kubernetes.io/service-account-token', optedIn({ token: 't' }, {}, { type: 'kubernetes.io/service-account-token' }), /has type kubernetes\.io\/service-account-token/],
    ['kubernetes.io/dockerconfigjson', optedIn({ '.dockerconfigjson': '{}' }, {}, { type: 'kubernetes.io/dockerconfigjson' }), /writes only into Opaque Secrets/],
    ['a custom type', optedIn({ THEIRS: 't' }, {}, { type: 'example.com/custom' }), /writes only into Opaque Secrets/],
    ['a Secret managed for another resource, even opted in', optedIn({ THEIRS: 't' }, { [OWNER_ANNOTATION]: 'ns/other' }, { metadata: { name: 's', namespace: 'ns', labels: { [MANAGED_BY_LABEL]: 'external-llm-secrets' }, annotations: { [OWNER_ANNOTATION]: 'ns/other', [MERGE_FROM_ANNOTATION]: 'els' } } }), /managed by ExternalLLMSecret ns\/other/],
    ['a key it did not write', optedIn({ THEIRS: 't', K: 'theirs' }), /already holds key K, not written by this resource/],
    ['a key it did not write, with merged-keys listing others', optedIn({ K: 'theirs', A: 'a' }, { [MERGED_KEYS_ANNOTATION]: 'A' }), /already holds key K/],
  ])('refuses %s: SecretConflict, not retryable, nothing written', (_, target, message) => {
    const plan = planSecret(merge(), target);
    expect(plan).toMatchObject({ action: 'refuse', reason: Reason.SecretConflict, retryable: false });
    expect(plan.action === 'refuse' && plan.message).toMatch(message);
  });

  it('liveDataHash covers only merged keys of an opted-in target, and never matches one that does not opt in', () => {
    const key = Buffer.alloc(32, 7);
    const subject = { namespace: 'ns', name: 'els', uid: 'uid-1' };
    const ours = optedIn({ THEIRS: 't', K: 'v1' }, { [MERGED_KEYS_ANNOTATION]: 'K' });
    expect(liveDataHash(key, subject, ours, 'Merge')).toBe(dataHash(key, subject, { K: Buffer.from('v1') }));
    const optedOut = live({ THEIRS: 't', K: 'v1' }, { labels: {}, annotations: { [MERGED_KEYS_ANNOTATION]: 'K' } });
    expect(liveDataHash(key, subject, optedOut, 'Merge')).toBe(NOT_MERGEABLE_HASH);
    expect(liveDataHash(key, subject, optedIn({ K: 'v1' }, { [MERGED_KEYS_ANNOTATION]: 'K', [MERGE_FROM_ANNOTATION]: 'another' }), 'Merge')).toBe(NOT_MERGEABLE_HASH);
  });
});
