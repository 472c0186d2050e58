import { describe, expect, it } from 'vitest';
import type { KubeClient } from './kube/client.js';
import { checkCrdInstalled, CrdMissingError } from './operator.js';

const kubeAnswering = (error?: unknown) => ({
  custom: {
    listClusterCustomObject: async () => { if (error) throw error; return { items: [] }; },
    listNamespacedCustomObject: async () => { if (error) throw error; return { items: [] }; },
  },
}) as unknown as KubeClient;

describe('start-up CRD check', () => {
  it('passes when ExternalLLMSecrets can be listed', async () => {
    await expect(checkCrdInstalled(kubeAnswering(), undefined)).resolves.toBeUndefined();
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
