// Decides what to write to the target Secret: create, update, nothing, or refuse. Pure.
import type { V1OwnerReference, V1Secret } from '@kubernetes/client-node';
import {
  API_VERSION, KIND, MANAGED_BY_LABEL, MANAGED_BY_VALUE, MERGED_KEYS_ANNOTATION, OWNER_ANNOTATION,
} from '../crds/constants.js';
import type { CreationPolicy, ExternalLLMSecret } from '../crds/types.js';
import { dataHash, type HashSubject } from './hash.js';
import { Reason } from './reasons.js';

export interface DesiredSecret {
  namespace: string;
  name: string;
  type: string;
  /** namespace/name of the ExternalLLMSecret. */
  owner: string;
  policy: CreationPolicy;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  data: Record<string, Buffer>;
  /** Set for creationPolicy Owner with deletionPolicy Delete; otherwise our reference is removed. */
  ownerReference?: V1OwnerReference;
  /** UID of the ExternalLLMSecret, to recognise our own owner reference. */
  ownerUid: string;
}

/** The Secret a resource asks for, holding `data`. */
export function desiredSecret(els: ExternalLLMSecret, data: Record<string, Buffer>): DesiredSecret {
  const { namespace, name, uid } = els.metadata;
  const target = els.spec.target ?? {};
  const policy = target.creationPolicy ?? 'Owner';
  const ownerReference: V1OwnerReference | undefined = policy === 'Owner' && target.deletionPolicy === 'Delete'
    ? { apiVersion: API_VERSION, kind: KIND, name, uid, controller: true, blockOwnerDeletion: false }
    : undefined;
  return {
    namespace,
    name: target.name ?? name,
    type: target.type ?? 'Opaque',
    owner: `${namespace}/${name}`,
    policy,
    labels: { ...target.labels, [MANAGED_BY_LABEL]: MANAGED_BY_VALUE },
    annotations: { ...target.annotations, [OWNER_ANNOTATION]: `${namespace}/${name}` },
    data,
    ownerReference,
    ownerUid: uid,
  };
}

/** The keyed hash of what a live Secret holds for us: with Merge, only the keys we wrote. */
export function liveDataHash(hashKey: Buffer, subject: HashSubject, live: V1Secret, policy: CreationPolicy): string {
  const data = decodeData(live.data);
  if (policy !== 'Merge') return dataHash(hashKey, subject, data);
  const merged = parseMergedKeys(live.metadata?.annotations?.[MERGED_KEYS_ANNOTATION]);
  return dataHash(hashKey, subject, Object.fromEntries(merged.filter((k) => Object.hasOwn(data, k)).map((k) => [k, data[k]!])));
}

export type SecretPlan =
  | { action: 'create'; body: V1Secret }
  | { action: 'update'; body: V1Secret; changedKeys: string[] }
  | { action: 'none' }
  | { action: 'refuse'; reason: Reason; message: string; retryable: boolean };

export type Ownership = 'ours' | 'foreign' | 'other-owner';

export function ownershipOf(live: V1Secret, owner: string): Ownership {
  const managed = live.metadata?.labels?.[MANAGED_BY_LABEL] === MANAGED_BY_VALUE;
  const ownerAnnotation = live.metadata?.annotations?.[OWNER_ANNOTATION];
  if (managed && ownerAnnotation === owner) return 'ours';
  if (managed && ownerAnnotation !== undefined) return 'other-owner';
  return 'foreign';
}

export function planSecret(desired: DesiredSecret, live: V1Secret | undefined): SecretPlan {
  const target = `${desired.namespace}/${desired.name}`;
  if (desired.policy === 'Merge') return planMerge(desired, live, target);
  if (live === undefined) return { action: 'create', body: newSecret(desired) };

  const ownership = ownershipOf(live, desired.owner);
  if (ownership === 'other-owner') {
    return refuse(Reason.SecretConflict, `Secret ${target} is managed by ExternalLLMSecret ${live.metadata?.annotations?.[OWNER_ANNOTATION]}`);
  }
  if (ownership === 'foreign') {
    return refuse(Reason.SecretConflict, `Secret ${target} exists and is not managed by this operator; delete it or set target.creationPolicy: Merge`);
  }
  if ((live.type ?? 'Opaque') !== desired.type) {
    return refuse(Reason.SecretTypeImmutable, `Secret ${target} has type ${live.type ?? 'Opaque'}; the spec asks for ${desired.type}, and a Secret's type cannot change: delete the Secret to recreate it`);
  }
  const liveData = decodeData(live.data);
  const changedKeys = diffKeys(liveData, desired.data);
  const ownerReferences = reconcileOwnerReferences(live.metadata?.ownerReferences, desired);
  const metadataChanged = !includes(live.metadata?.labels, desired.labels)
    || !includes(live.metadata?.annotations, desired.annotations)
    || !sameOwnerReferences(live.metadata?.ownerReferences, ownerReferences);
  if (changedKeys.length === 0 && !metadataChanged) return { action: 'none' };
  return {
    action: 'update',
    changedKeys,
    body: {
      ...live,
      metadata: {
        ...live.metadata,
        labels: { ...live.metadata?.labels, ...desired.labels },
        annotations: { ...live.metadata?.annotations, ...desired.annotations },
        ownerReferences: ownerReferences.length > 0 ? ownerReferences : undefined,
      },
      data: encodeData(desired.data),
    },
  };
}

function planMerge(desired: DesiredSecret, live: V1Secret | undefined, target: string): SecretPlan {
  if (live === undefined) {
    return { action: 'refuse', reason: Reason.MergeTargetMissing, message: `Secret ${target} does not exist; creationPolicy Merge only writes into an existing Secret`, retryable: true };
  }
  const liveData = decodeData(live.data);
  const previouslyMerged = parseMergedKeys(live.metadata?.annotations?.[MERGED_KEYS_ANNOTATION]);
  // A Map, not object assignment: keys such as "__proto__" must stay plain keys.
  const mergedMap = new Map(Object.entries(liveData));
  for (const key of previouslyMerged) if (!Object.hasOwn(desired.data, key)) mergedMap.delete(key);
  for (const [k, v] of Object.entries(desired.data)) mergedMap.set(k, v);
  const merged: Record<string, Buffer> = Object.fromEntries(mergedMap);
  const mergedKeys = Object.keys(desired.data).sort().join(',');
  const annotations: Record<string, string> = { ...desired.annotations, [MERGED_KEYS_ANNOTATION]: mergedKeys };
  delete annotations[OWNER_ANNOTATION];
  const changedKeys = diffKeys(liveData, merged);
  if (changedKeys.length === 0 && includes(live.metadata?.annotations, annotations)) return { action: 'none' };
  return {
    action: 'update',
    changedKeys,
    body: {
      ...live,
      metadata: { ...live.metadata, annotations: { ...live.metadata?.annotations, ...annotations } },
      data: encodeData(merged),
    },
  };
}

function newSecret(desired: DesiredSecret): V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: desired.name,
      namespace: desired.namespace,
      labels: desired.labels,
      annotations: desired.annotations,
      ownerReferences: desired.ownerReference ? [desired.ownerReference] : undefined,
    },
    type: desired.type,
    data: encodeData(desired.data),
  };
}

/** Our reference present only when desired; references of others are kept. */
function reconcileOwnerReferences(live: V1OwnerReference[] | undefined, desired: DesiredSecret): V1OwnerReference[] {
  const others = (live ?? []).filter((ref) => ref.uid !== desired.ownerUid);
  return desired.ownerReference ? [...others, desired.ownerReference] : others;
}

function sameOwnerReferences(a: V1OwnerReference[] | undefined, b: V1OwnerReference[]): boolean {
  const key = (r: V1OwnerReference) => `${r.uid}/${r.controller === true}`;
  const left = (a ?? []).map(key).sort();
  const right = b.map(key).sort();
  return left.length === right.length && left.every((k, i) => k === right[i]);
}

const refuse = (reason: Reason, message: string): SecretPlan => ({ action: 'refuse', reason, message, retryable: false });

function includes(live: Record<string, string> | undefined, wanted: Record<string, string>): boolean {
  return Object.entries(wanted).every(([k, v]) => live?.[k] === v);
}

// Built with fromEntries (own properties), never by assignment: "__proto__" is a valid key.
export function decodeData(data: Record<string, string> | undefined): Record<string, Buffer> {
  return Object.fromEntries(Object.entries(data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')]));
}

export function encodeData(data: Record<string, Buffer>): Record<string, string> {
  return Object.fromEntries(Object.keys(data).sort().map((k) => [k, data[k]!.toString('base64')]));
}

/** Names of keys added, removed or changed. Key names only: safe to log. */
export function diffKeys(before: Record<string, Buffer>, after: Record<string, Buffer>): string[] {
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...keys].filter((k) => {
    const a = before[k];
    const b = after[k];
    return a === undefined || b === undefined || !a.equals(b);
  }).sort();
}

export function parseMergedKeys(annotation: string | undefined): string[] {
  return annotation ? annotation.split(',').filter((k) => k.length > 0) : [];
}
