import { describe, expect, it } from 'vitest';
import type { ExternalLLMSecret } from '../crds/types.js';
import type { SecretSource } from '../source/port.js';
import { ReadAhead } from './read-ahead.js';
import { WorkQueue } from './queue.js';

const resource = (name: string): ExternalLLMSecret => ({
  apiVersion: 'llmsecrets.dev/v1alpha1', kind: 'ExternalLLMSecret',
  metadata: { name, namespace: 'ns' }, spec: { source: { secretId: name }, provider: 'openai' },
} as ExternalLLMSecret);

const source = (name: string, prefetch: boolean) => {
  const seen: string[][] = [];
  const s = {
    name, scopeOf: () => name, open: async () => { throw new Error('not here'); },
    ...(prefetch ? { prefetch: (list: ExternalLLMSecret[]) => { seen.push(list.map((e) => e.metadata.name)); } } : {}),
  } as SecretSource;
  return { s, seen };
};

describe('ReadAhead', () => {
  it('hands keys waiting in the queue to their source together: only first reads, only sources that read ahead, never throwing', async () => {
    const aws = source('aws', true);
    const generated = source('generated', false);
    const ahead = new ReadAhead({
      firstReadOf: (key) => {
        if (key === 'ns/broken') throw new Error('bad spec');
        return key === 'ns/synced' ? undefined : resource(key.split('/')[1]!);
      },
      sourceFor: (els) => (els.metadata.name.startsWith('gen') ? generated.s : aws.s),
      maxAgeMs: 5_000, collectMs: 5,
    });
    // Two workers, both busy: the keys after them wait, and are read ahead.
    const q = new WorkQueue(2, { onWaiting: (key) => ahead.waiting(key), onStarted: (key) => ahead.started(key) });
    let release!: () => void;
    const busy = new Promise<void>((r) => { release = r; });
    q.start(async () => { await busy; });
    for (const k of ['ns/w1', 'ns/w2', 'ns/a', 'ns/synced', 'ns/gen-1', 'ns/broken', 'ns/b', 'ns/a']) q.add(k);
    await new Promise((r) => setTimeout(r, 20));
    expect(aws.seen).toEqual([['a', 'b']]);
    release();
    await q.idle();
    ahead.stop();
  });

  it('reads at most maxAhead keys ahead of the workers, the next ones as workers take them', async () => {
    const aws = source('aws', true);
    const ahead = new ReadAhead({ firstReadOf: (key) => resource(key.split('/')[1]!), sourceFor: () => aws.s, maxAgeMs: 5_000, collectMs: 1, maxAhead: 3 });
    const q = new WorkQueue(1, { onWaiting: (key) => ahead.waiting(key), onStarted: (key) => ahead.started(key) });
    const gates: Array<() => void> = [];
    q.start(() => new Promise<void>((r) => { gates.push(r); }));
    for (let i = 0; i < 7; i++) q.add(`ns/k${i}`);
    await new Promise((r) => setTimeout(r, 10));
    expect(aws.seen).toEqual([['k1', 'k2', 'k3']]);
    gates.shift()!(); // k0 done; k1 taken: one more ahead
    await new Promise((r) => setTimeout(r, 10));
    expect(aws.seen).toEqual([['k1', 'k2', 'k3'], ['k4']]);
    while (gates.length > 0 || q.depth > 0) { gates.shift()?.(); await new Promise((r) => setTimeout(r, 2)); }
    await q.idle();
    ahead.stop();
  });

  it('a queue without workers (a standby replica) reads nothing ahead; once they start, what still waits does', async () => {
    const waiting: string[] = [];
    const q = new WorkQueue(2, { onWaiting: (key) => waiting.push(key) });
    for (const k of ['ns/a', 'ns/b', 'ns/c', 'ns/d']) q.add(k);
    expect(waiting).toEqual([]);
    q.start(async () => undefined);
    expect(waiting).toEqual(['ns/c', 'ns/d']);
    await q.idle();
  });
});
