import type { V1Secret } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { OwnWrites } from './own-writes.js';

const secret = (name: string, resourceVersion?: string): V1Secret => ({ metadata: { namespace: 'ns', name, resourceVersion } });

function setup() {
  const handedOn: Array<string | undefined> = [];
  const w = new OwnWrites((s) => handedOn.push(`${s.metadata?.name}@${s.metadata?.resourceVersion}`));
  return { w, handedOn };
}

describe('OwnWrites', () => {
  it('drops the echo of our own write once, after its answer', async () => {
    const { w, handedOn } = setup();
    await w.around('ns', 'a', async () => ({ written: secret('a', '10') }));
    w.event(secret('a', '10'));
    expect(handedOn).toEqual([]);
    w.event(secret('a', '10')); // shown again (a relist): news
    w.event(secret('b', '10')); // another Secret
    expect(handedOn).toEqual(['a@10', 'b@10']);
    expect(w.pending).toBe(0);
  });

  it('drops an echo that arrives before the answer', async () => {
    const { w, handedOn } = setup();
    await w.around('ns', 'a', async () => {
      w.event(secret('a', '10'));
      return { written: secret('a', '10') };
    });
    expect(handedOn).toEqual([]);
  });

  it('hands on a change someone else made during or after our write', async () => {
    const { w, handedOn } = setup();
    await w.around('ns', 'a', async () => {
      w.event(secret('a', '10'));
      w.event(secret('a', '11')); // theirs, after ours
      return { written: secret('a', '10') };
    });
    expect(handedOn).toEqual(['a@11']);
    await w.around('ns', 'a', async () => ({ written: secret('a', '12') }));
    w.event(secret('a', '13'));
    expect(handedOn).toEqual(['a@11', 'a@13']);
  });

  it('hands on what arrived during a write that failed, and rethrows', async () => {
    const { w, handedOn } = setup();
    await expect(w.around('ns', 'a', async () => {
      w.event(secret('a', '7'));
      throw new Error('409');
    })).rejects.toThrow('409');
    expect(handedOn).toEqual(['a@7']);
    w.event(secret('a', '8'));
    expect(handedOn).toEqual(['a@7', 'a@8']);
  });

  it('hands on deletes and forgets the write', async () => {
    const { w, handedOn } = setup();
    await w.around('ns', 'a', async () => ({ written: secret('a', '10') }));
    w.deleted(secret('a', '10'));
    expect(handedOn).toEqual(['a@10']);
    expect(w.pending).toBe(0);
  });
});
