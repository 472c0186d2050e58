import type { V1Secret } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { MANAGED_BY_LABEL, MERGED_KEYS_ANNOTATION, OWNER_ANNOTATION } from '../crds/constants.js';
import { planSecret, type DesiredSecret } from './plan.js';
import { Reason } from './reasons.js';

const desired = (over: Partial<DesiredSecret> = {}): DesiredSecret => ({
  namespace: 'ns', name: 's', type: 'Opaque', owner: 'ns/els', policy: 'Owner',
  labels: { [MANAGED_BY_LABEL]: 'external-llm-secrets' }, annotations: { [OWNER_ANNOTATION]: 'ns/els' },
  data: { K: Buffer.from('v1') }, ownerUid: 'uid-1', ...over,
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
    expect(planSecret(desired(), live({ K: 'x' }, { labels: {}, annotations: {} }))).toMatchObject({ action: 'refuse', reason: Reason.SecretConflict });
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

  it('Merge writes only its keys into a foreign Secret and drops keys it merged before', () => {
    const foreign = live({ THEIRS: 't', K: 'old', GONE: 'g' }, { labels: {}, annotations: { [MERGED_KEYS_ANNOTATION]: 'GONE,K' } });
    const plan = planSecret(desired({ policy: 'Merge' }), foreign);
    expect(plan.action).toBe('update');
    if (plan.action === 'update') {
      expect(Object.keys(plan.body.data ?? {}).sort()).toEqual(['K', 'THEIRS']);
      expect(plan.body.metadata?.annotations?.[MERGED_KEYS_ANNOTATION]).toBe('K');
      expect(plan.body.metadata?.labels?.[MANAGED_BY_LABEL]).toBeUndefined();
    }
    expect(planSecret(desired({ policy: 'Merge' }), undefined)).toMatchObject({ action: 'refuse', reason: Reason.MergeTargetMissing, retryable: true });
  });
});
