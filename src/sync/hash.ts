// Keyed hash of Secret data for status.dataHash: lets users and the operator detect drift
// without putting anything a reader could brute-force into status.
//
// The MAC is bound to the resource (namespace, name, uid) as well as the data, so equal values
// synced by two resources (two namespaces, or a resource deleted and recreated) give unrelated
// hashes: status no longer tells a reader of one namespace that its value equals another's.
//
// Input, every field length-prefixed (`<byte length>:<bytes>`), so no two inputs share an encoding:
//   "els-data-hash/v2\n" namespace name uid count (key value)... with keys sorted.
import { createHmac } from 'node:crypto';

/** Shortest --hash-key-file / ELS_HASH_KEY accepted, in bytes (HMAC-SHA256's output size). */
export const MIN_HASH_KEY_BYTES = 32;

/** The ExternalLLMSecret a hash belongs to. */
export interface HashSubject {
  namespace: string;
  name: string;
  uid: string;
}

const DOMAIN = 'els-data-hash/v2\n';

export function dataHash(key: Buffer, subject: HashSubject, data: Record<string, Buffer>): string {
  const mac = createHmac('sha256', key);
  const field = (bytes: Buffer) => { mac.update(`${bytes.length}:`); mac.update(bytes); };
  mac.update(DOMAIN);
  field(Buffer.from(subject.namespace, 'utf8'));
  field(Buffer.from(subject.name, 'utf8'));
  field(Buffer.from(subject.uid, 'utf8'));
  const keys = Object.keys(data).sort();
  mac.update(`${keys.length}:`);
  for (const k of keys) {
    field(Buffer.from(k, 'utf8'));
    field(data[k]!);
  }
  return `hmac-sha256:${mac.digest('hex')}`;
}
