import { describe, expect, it } from 'vitest';
import { dataHash, hashKeyId, hashKeyIdOf, MIN_HASH_KEY_BYTES } from './hash.js';

const key = Buffer.alloc(MIN_HASH_KEY_BYTES, 1);
const subject = { namespace: 'team-a', name: 'openai', uid: '6f1c2b8e-0000-4000-8000-000000000001' };
const data = (o: Record<string, string>) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, Buffer.from(v)]));

describe('dataHash', () => {
  it('is an HMAC-SHA256 in hex, deterministic and independent of key order', () => {
    const h = dataHash(key, subject, data({ A: '1', B: '2' }));
    expect(h).toMatch(/^hmac-sha256:[0-9a-f]{16}:[0-9a-f]{64}$/);
    expect(dataHash(key, { ...subject }, data({ B: '2', A: '1' }))).toBe(h);
  });

  it('the same value synced by another resource gives another hash: namespace, name and uid are all bound', () => {
    const value = data({ OPENAI_API_KEY: 'sk-same' });
    const h = dataHash(key, subject, value);
    const others = [
      { ...subject, namespace: 'team-b' },
      { ...subject, name: 'openai2' },
      { ...subject, uid: '6f1c2b8e-0000-4000-8000-000000000002' },
    ];
    const hashes = new Set([h, ...others.map((s) => dataHash(key, s, value))]);
    expect(hashes.size).toBe(4);
  });

  it('is unambiguous: moving bytes between fields changes the hash', () => {
    const variants = [
      dataHash(key, { namespace: 'ab', name: 'c', uid: 'u' }, {}),
      dataHash(key, { namespace: 'a', name: 'bc', uid: 'u' }, {}),
      dataHash(key, { namespace: 'a', name: 'b', uid: 'cu' }, {}),
      dataHash(key, subject, data({ a: 'bc' })),
      dataHash(key, subject, data({ ab: 'c' })),
      dataHash(key, subject, data({ a: '', b: '' })),
      dataHash(key, subject, data({ a: '1:b' })),
      dataHash(key, subject, {}),
      // A field that looks like the encoding of the next one.
      dataHash(key, { namespace: 'a', name: '1:b', uid: 'u' }, {}),
      dataHash(key, { namespace: 'a1:b', name: '', uid: 'u' }, {}),
    ];
    expect(new Set(variants).size).toBe(variants.length);
  });

  it('another key gives another hash, and another key id; the key id is the same for every hash of a key', () => {
    const value = data({ K: 'v' });
    const other = Buffer.alloc(32, 2);
    expect(dataHash(other, subject, value)).not.toBe(dataHash(key, subject, value));
    expect(hashKeyIdOf(dataHash(key, subject, value))).toBe(hashKeyId(key));
    expect(hashKeyIdOf(dataHash(key, { ...subject, name: 'x' }, data({ Q: 'w' })))).toBe(hashKeyId(key));
    expect(hashKeyIdOf(dataHash(other, subject, value))).toBe(hashKeyId(other));
    expect(hashKeyId(other)).not.toBe(hashKeyId(key));
    // A copy of the key (a new Buffer) has the same id.
    expect(hashKeyId(Buffer.from(key))).toBe(hashKeyId(key));
  });

  it('the encoding is stable: a known answer (hashes in existing statuses must keep matching)', () => {
    const subject = { namespace: 'team-a', name: 'openai', uid: '0b9c1e7e-1111-4222-8333-444455556666' };
    expect(dataHash(Buffer.alloc(32, 7), subject, { OPENAI_API_KEY: Buffer.from('sk-test'), b: Buffer.from([0, 255]) }))
      .toBe('hmac-sha256:aef46e36beffa331:98d4d3f6c6b8391cf1ee6c18e15442efd1b8baa5dcf48bafa5feec0473063068');
  });

  it('hashKeyIdOf: undefined for hashes of the earlier format and for anything else', () => {
    expect(hashKeyIdOf(`hmac-sha256:${'a'.repeat(64)}`)).toBeUndefined();
    expect(hashKeyIdOf(undefined)).toBeUndefined();
    expect(hashKeyIdOf('')).toBeUndefined();
  });
});
