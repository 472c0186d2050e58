import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { SourceSecret } from '../sync/source.js';
import { SourceCache } from './source-cache.js';

const key = { identityKey: 'role-a', region: 'us-east-1', secretId: 's1' };
const counting = () => {
  let reads = 0;
  const fetch = async (): Promise<SourceSecret> => ({ secretId: 's1', versionId: `v${++reads}` });
  return { fetch, reads: () => reads };
};

describe('SourceCache', () => {
  beforeEach(() => { vi.useFakeTimers({ now: 1_000_000 }); });
  afterEach(() => { vi.useRealTimers(); });

  it('a value read ahead for a resource is its, once, whatever its age within the ttl; others keep their maxAge', async () => {
    const cache = new SourceCache(30_000);
    const f = counting();
    cache.prefetch(key, 5_000, f.fetch, 'uid-1@1');
    await vi.advanceTimersByTimeAsync(20_000);
    expect((await cache.get(key, 5_000, f.fetch, 'uid-1@1')).versionId).toBe('v1');
    expect(f.reads()).toBe(1);
    // Claimed once: the same resource asking again, and any other, get maxAge's answer.
    expect((await cache.get(key, 5_000, f.fetch, 'uid-1@1')).versionId).toBe('v2');
    expect(f.reads()).toBe(2);
    cache.stop();
  });

  it('a read ahead joins a read in flight, and a claimed value past the ttl is read again', async () => {
    const cache = new SourceCache(30_000);
    const f = counting();
    const first = cache.get(key, 5_000, f.fetch);
    cache.prefetch(key, 5_000, f.fetch, 'uid-2@1');
    expect(f.reads()).toBe(1);
    await first;
    await vi.advanceTimersByTimeAsync(31_000);
    expect((await cache.get(key, 5_000, f.fetch, 'uid-2@1')).versionId).toBe('v2');
    cache.stop();
  });

  it('an invalidated secret drops its claims: the resource reads again', async () => {
    const cache = new SourceCache(30_000);
    const f = counting();
    cache.prefetch(key, 5_000, f.fetch, 'uid-3@1');
    await vi.advanceTimersByTimeAsync(10);
    cache.invalidate((_region, ids) => ids.includes('s1'));
    expect((await cache.get(key, 5_000, f.fetch, 'uid-3@1')).versionId).toBe('v2');
    cache.stop();
  });
});
