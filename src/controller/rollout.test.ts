import { describe, expect, it } from 'vitest';
import { RESTARTED_FOR_ANNOTATION } from '../crds/constants.js';
import type { ExternalLLMSecret } from '../crds/types.js';
import type { Workload } from '../kube/client.js';
import { pendingRestart, restartTargets } from './rollout.js';

const els = (targets = [{ kind: 'Deployment' as const, name: 'app' }]): ExternalLLMSecret => ({
  apiVersion: 'llmsecrets.dev/v1alpha1', kind: 'ExternalLLMSecret',
  metadata: { name: 'llm', namespace: 'ns', uid: 'u1' },
  spec: { source: { secretId: 'id' }, rolloutRestartTargets: targets },
});

describe('pendingRestart', () => {
  it('is pending when the data differs from what the workloads were restarted for', () => {
    expect(pendingRestart(els(), { dataHash: 'h1', restartedForHash: 'h1' }, 'h2')).toBe('h2');
    // Written by an earlier version: dataHash is the baseline.
    expect(pendingRestart(els(), { dataHash: 'h1' }, 'h2')).toBe('h2');
    // A crash after the Secret write, before the status write: status still says h1.
    expect(pendingRestart(els(), { dataHash: 'h1', restartedForHash: 'h1' }, 'h2')).toBe('h2');
    // The status write happened, the restart did not: dataHash moved, restartedForHash did not.
    expect(pendingRestart(els(), { dataHash: 'h2', restartedForHash: 'h1' }, 'h2')).toBe('h2');
  });

  it('is not pending on a first sync, when done, or without targets', () => {
    expect(pendingRestart(els(), undefined, 'h1')).toBeUndefined();
    expect(pendingRestart(els(), { dataHash: 'h2', restartedForHash: 'h2' }, 'h2')).toBeUndefined();
    expect(pendingRestart(els([]), { dataHash: 'h1' }, 'h2')).toBeUndefined();
  });
});

describe('restartTargets', () => {
  const fakeKube = (workloads: Record<string, { paused?: boolean; restartedFor?: string } | Error>) => {
    const patched: string[] = [];
    return {
      patched,
      kube: {
        async readWorkload(_kind: string, _ns: string, name: string): Promise<Workload> {
          const w = workloads[name];
          if (w === undefined) throw Object.assign(new Error('nf'), { code: 404 });
          if (w instanceof Error) throw w;
          return { spec: { paused: w.paused, template: { metadata: { annotations: w.restartedFor ? { [RESTARTED_FOR_ANNOTATION]: w.restartedFor } : ({} as Record<string, string>) } } } };
        },
        async patchWorkloadTemplateAnnotation(_kind: string, _ns: string, name: string, annotations: Record<string, string>) {
          patched.push(`${name}=${annotations[RESTARTED_FOR_ANNOTATION]}`);
          return {};
        },
      },
    };
  };
  const targets = ['a', 'b', 'c', 'd', 'e'].map((name) => ({ kind: 'Deployment' as const, name }));

  it('patches each target once for a hash; reports paused and missing ones; keeps failures apart', async () => {
    const { kube, patched } = fakeKube({
      a: {}, b: { restartedFor: 'h2' }, c: { paused: true },
      e: Object.assign(new Error('boom'), { code: 500, body: JSON.stringify({ message: 'etcd timeout' }) }),
    });
    const out = await restartTargets(kube, els(targets), 'h2', new Date(0));
    expect(patched).toEqual(['a=h2']); // b carries h2 already: restarted before a crash
    expect(out.restarted).toEqual(['Deployment ns/a']);
    expect(out.skipped).toEqual(['Deployment ns/c is paused', 'Deployment ns/d not found']);
    expect(out.failed).toEqual(['Deployment ns/e: etcd timeout']);
  });
});
