import { describe, expect, it } from 'vitest';
import { OwnWrites } from './own-writes.js';

const secret = (name: string, resourceVersion?: string) => ({ metadata: { namespace: 'ns', name, resourceVersion } });

describe('OwnWrites', () => {
  it('recognises the echo of our own write once, and nothing else', () => {
    const w = new OwnWrites();
    w.note(secret('a', '10'));
    expect(w.isEcho(secret('a', '9'))).toBe(false); // an older event
    expect(w.isEcho(secret('b', '10'))).toBe(false); // another Secret
    expect(w.isEcho(secret('a', '10'))).toBe(true);
    expect(w.isEcho(secret('a', '10'))).toBe(false); // only once: a relist showing it again is news
    expect(w.size).toBe(0);
  });

  it('lets through a change someone else made after our write', () => {
    const w = new OwnWrites();
    w.note(secret('a', '10'));
    expect(w.isEcho(secret('a', '11'))).toBe(false);
  });

  it('ignores writes without a resourceVersion and forgets deleted Secrets', () => {
    const w = new OwnWrites();
    w.note(secret('a'));
    expect(w.isEcho(secret('a'))).toBe(false);
    w.note(secret('b', '5'));
    w.forget(secret('b', '6'));
    expect(w.size).toBe(0);
    expect(w.isEcho(secret('b', '5'))).toBe(false);
  });
});
