// Decides what to write to the target Secret: create, update, nothing, or refuse. Pure.
import type { V1OwnerReference, V1Secret } from '@kubernetes/client-node';
import {
  API_VERSION, KIND, MANAGED_BY_LABEL, MANAGED_BY_VALUE, MERGE_FROM_ANNOTATION, MERGED_KEYS_ANNOTATION, OWNER_ANNOTATION,
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
  /** Name of the ExternalLLMSecret: what a Merge target's merge-from annotation must say. */
  ownerName: string;
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
    ownerName: name,
  };
}

/** What liveDataHash says of a Merge target that does not (or no longer) opt in: it never
 * equals a status.dataHash, so the reconciler plans, and the plan refuses. */
export const NOT_MERGEABLE_HASH = 'none:merge-not-permitted';

/** The keyed hash of what a live Secret holds for the resource: with Merge, only the keys it wrote. */
export function liveDataHash(hashKey: Buffer, subject: HashSubject, live: V1Secret, policy: CreationPolicy): string {
  const data = decodeData(live.data);
  if (policy !== 'Merge') return dataHash(hashKey, subject, data);
  if (mergeRefusal(live, subject.name, `${subject.namespace}/${live.metadata?.name ?? ''}`) !== undefined) return NOT_MERGEABLE_HASH;
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
  // Admission refuses these types (src/crds/schema.ts); this holds even if the CRD is old or edited.
  const typeRefusal = refusedTargetType(desired.type);
  if (typeRefusal !== undefined) return refuse(Reason.InvalidSpec, typeRefusal);
  if (desired.policy === 'Merge') return planMerge(desired, live, target);
  if (live === undefined) return { action: 'create', body: newSecret(desired) };

  const ownership = ownershipOf(live, desired.owner);
  if (ownership === 'other-owner') {
    return refuse(Reason.SecretConflict, `Secret ${target} is managed by ExternalLLMSecret ${live.metadata?.annotations?.[OWNER_ANNOTATION]}`);
  }
  if (ownership === 'foreign') {
    const liveType = live.type ?? 'Opaque';
    const merge = liveType === 'Opaque' ? `, or set target.creationPolicy: Merge and annotate the Secret ${MERGE_FROM_ANNOTATION}: ${desired.ownerName}` : ` (type ${liveType}: not a Merge target either)`;
    return refuse(Reason.SecretConflict, `Secret ${target} exists and is not managed by this operator; delete it${merge}`);
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

/**
 * Merge writes into a Secret the operator does not own, so only where that Secret asks for it: an
 * Opaque Secret, not managed by the operator, annotated merge-from: <this resource's name>. It
 * writes only its own keys (those of the merged-keys annotation, plus the ones it adds), never a
 * key someone else put there, and none of the tenant's target.labels or target.annotations: the
 * only metadata it writes is the merged-keys annotation.
 */
function planMerge(desired: DesiredSecret, live: V1Secret | undefined, target: string): SecretPlan {
  if (live === undefined) {
    return { action: 'refuse', reason: Reason.MergeTargetMissing, message: `Secret ${target} does not exist; creationPolicy Merge only writes into an existing Secret annotated ${MERGE_FROM_ANNOTATION}: ${desired.ownerName}`, retryable: true };
  }
  const refusal = mergeRefusal(live, desired.ownerName, target);
  if (refusal !== undefined) return refuse(Reason.SecretConflict, refusal);
  const liveData = decodeData(live.data);
  const previouslyMerged = parseMergedKeys(live.metadata?.annotations?.[MERGED_KEYS_ANNOTATION]);
  const theirs = Object.keys(desired.data).filter((k) => Object.hasOwn(liveData, k) && !previouslyMerged.includes(k)).sort();
  if (theirs.length > 0) {
    return refuse(Reason.SecretConflict, `Secret ${target} already holds ${theirs.length === 1 ? 'key' : 'keys'} ${theirs.join(', ')}, not written by this resource (${MERGED_KEYS_ANNOTATION} does not list ${theirs.length === 1 ? 'it' : 'them'}); Merge never overwrites a key it did not write: remove ${theirs.length === 1 ? 'it' : 'them'} from the Secret or from the spec`);
  }
  // A Map, not object assignment: keys such as "__proto__" must stay plain keys.
  const mergedMap = new Map(Object.entries(liveData));
  for (const key of previouslyMerged) if (!Object.hasOwn(desired.data, key)) mergedMap.delete(key);
  for (const [k, v] of Object.entries(desired.data)) mergedMap.set(k, v);
  const merged: Record<string, Buffer> = Object.fromEntries(mergedMap);
  const annotations: Record<string, string> = { [MERGED_KEYS_ANNOTATION]: Object.keys(desired.data).sort().join(',') };
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

/** Why `live` may not be merged into by the ExternalLLMSecret `name`, or undefined when it may. */
export function mergeRefusal(live: V1Secret, name: string, target: string): string | undefined {
  const optIn = `annotate it ${MERGE_FROM_ANNOTATION}: ${name} to let this resource merge into it`;
  if (live.metadata?.labels?.[MANAGED_BY_LABEL] === MANAGED_BY_VALUE) {
    const owner = live.metadata.annotations?.[OWNER_ANNOTATION];
    return `Secret ${target} is managed by ${owner ? `ExternalLLMSecret ${owner}` : 'this operator'}; creationPolicy Merge writes only into Secrets the operator does not manage`;
  }
  const type = live.type ?? 'Opaque';
  if (type !== 'Opaque') return `Secret ${target} has type ${type}; creationPolicy Merge writes only into Opaque Secrets`;
  const from = live.metadata?.annotations?.[MERGE_FROM_ANNOTATION];
  if (from === undefined) return `Secret ${target} does not opt in to creationPolicy Merge: ${optIn}`;
  if (from.trim() !== name) return `Secret ${target} opts in to Merge from ExternalLLMSecret "${from.length > 253 ? `${from.slice(0, 253)}...` : from}", not this one: ${optIn}`;
  return undefined;
}

/** kubernetes.io/ types a target may have: the apiserver only checks their keys. */
export const ALLOWED_KUBERNETES_TYPES = ['kubernetes.io/basic-auth', 'kubernetes.io/ssh-auth', 'kubernetes.io/tls', 'kubernetes.io/dockerconfigjson'];

/** Secret types the cluster acts on in ways a tenant must not drive (the CRD's rule, again). */
export function refusedTargetType(type: string): string | undefined {
  if (type === 'kubernetes.io/service-account-token') return `target.type ${type} is refused: service-account tokens are issued by Kubernetes, never synced`;
  if (type.startsWith('bootstrap.kubernetes.io/')) return `target.type ${type} is refused: bootstrap tokens let nodes join the cluster`;
  if (type.startsWith('kubernetes.io/') && !ALLOWED_KUBERNETES_TYPES.includes(type)) return `target.type ${type} is refused: of the kubernetes.io/ types only ${ALLOWED_KUBERNETES_TYPES.join(', ')} may be synced`;
  return undefined;
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
