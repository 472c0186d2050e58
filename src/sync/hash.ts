// Keyed hash of Secret data for status.dataHash: lets users and the operator detect drift
// without putting anything a reader could brute-force into status.
//
// The MAC is bound to the resource (namespace, name, uid) as well as the data, so equal values
// synced by two resources (two namespaces, or a resource deleted and recreated) give unrelated
// hashes: status no longer tells a reader of one namespace that its value equals another's.
//
// Input, every field length-prefixed (`<byte length>:<bytes>`), so no two inputs share an encoding:
//   "els-data-hash/v2\n" namespace name uid count (key value)... with keys sorted.
// Output: `hmac-sha256:<key id>:<MAC in hex>`. The key id (16 hex digits of an HMAC of a constant
// under the key) says which key made a hash, and nothing about any value: a hash made under
// another key (rotation, a process without a stable key) is recognised as such, not as a change.
import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';

/** Shortest --hash-key-file / ELS_HASH_KEY accepted, in bytes (HMAC-SHA256's output size). */
export const MIN_HASH_KEY_BYTES = 32;

/** The ExternalLLMSecret a hash belongs to. */
export interface HashSubject {
  namespace: string;
  name: string;
  uid: string;
}

const DOMAIN = 'els-data-hash/v2\n';
const KEY_ID_INPUT = 'els-hash-key-id/v1';
const HASH_PATTERN = /^hmac-sha256:([0-9a-f]{16}):[0-9a-f]{64}$/;
const keyIds = new WeakMap<Buffer, string>();
// createHmac with a Buffer builds a KeyObject on every call; the CPU profile of a cold start
// showed it (prepareSecretKey): one per key instead.
const keyObjects = new WeakMap<Buffer, KeyObject>();
const keyObject = (key: Buffer): KeyObject => {
  let k = keyObjects.get(key);
  if (!k) {
    k = createSecretKey(key);
    keyObjects.set(key, k);
  }
  return k;
};

/** The key id that dataHash puts in front of its MAC. */
export function hashKeyId(key: Buffer): string {
  let id = keyIds.get(key);
  if (id === undefined) {
    id = createHmac('sha256', key).update(KEY_ID_INPUT).digest('hex').slice(0, 16);
    keyIds.set(key, id);
  }
  return id;
}

/** The key id of a hash dataHash made; undefined for anything else (an older format, no hash). */
export function hashKeyIdOf(hash: string | undefined): string | undefined {
  return HASH_PATTERN.exec(hash ?? '')?.[1];
}

export function dataHash(key: Buffer, subject: HashSubject, data: Record<string, Buffer>): string {
  // The whole input in one buffer and one update(): a dozen small update() calls per resource
  // were 3 % of the operator's CPU in a cold start.
  const parts: Buffer[] = [Buffer.from(DOMAIN, 'utf8')];
  const field = (bytes: Buffer) => { parts.push(Buffer.from(`${bytes.length}:`, 'latin1'), bytes); };
  field(Buffer.from(subject.namespace, 'utf8'));
  field(Buffer.from(subject.name, 'utf8'));
  field(Buffer.from(subject.uid, 'utf8'));
  const keys = Object.keys(data).sort();
  parts.push(Buffer.from(`${keys.length}:`, 'latin1'));
  for (const k of keys) {
    field(Buffer.from(k, 'utf8'));
    field(data[k]!);
  }
  const mac = createHmac('sha256', keyObject(key)).update(Buffer.concat(parts)).digest('hex');
  return `hmac-sha256:${hashKeyId(key)}:${mac}`;
}
