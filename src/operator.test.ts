import { describe, expect, it } from 'vitest';
import type { KubeClient } from './kube/client.js';
import { checkCrdInstalled, CrdMissingError } from './operator.js';

const kubeAnswering = (error?: unknown, calls: unknown[][] = []): Pick<KubeClient, 'listExternalLLMSecrets'> => ({
  listExternalLLMSecrets: async (...args) => {
    calls.push(args);
    if (error) throw error;
    return { apiVersion: 'v1', kind: 'List', items: [], metadata: {} };
  },
});

describe('start-up CRD check', () => {
  it('passes when ExternalLLMSecrets can be listed, listing at most one, in the namespace given', async () => {
    const calls: unknown[][] = [];
    await expect(checkCrdInstalled(kubeAnswering(undefined, calls), undefined)).resolves.toBeUndefined();
    await expect(checkCrdInstalled(kubeAnswering(undefined, calls), 'team-a')).resolves.toBeUndefined();
    expect(calls).toEqual([[undefined, undefined, 1], ['team-a', undefined, 1]]);
  });

  it('a 404 says the CRD is missing and which command installs it', async () => {
    const err = await checkCrdInstalled(kubeAnswering({ code: 404 }), 'team-a').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CrdMissingError);
    expect((err as Error).message).toContain('kubectl apply -f deploy/crds/');
  });

  it('other failures say what failed without quoting the response', async () => {
    const err = await checkCrdInstalled(kubeAnswering({ code: 403, name: 'ApiException', body: 'secret body' }), undefined).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/cannot list ExternalLLMSecrets: ApiException 403/);
    expect((err as Error).message).not.toContain('secret body');
  });
});
