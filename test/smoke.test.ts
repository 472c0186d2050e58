// Proves the test environment is real: a live apiserver with RBAC, CRDs, TokenRequest and garbage
// collection, and a live moto with Secrets Manager and (optionally) enforced IAM.
import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { ApiextensionsV1Api, CoreV1Api, CustomObjectsApi, type V1CustomResourceDefinition } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  adminKubeConfig, apiserverRequestCount, applyCrd, createIamUser, createSecret, createTestNamespace, deleteTestNamespace, getTestEnv,
  isApiError, kubeConfigForServiceAccount, putSecretValue, serviceAccountToken, smClient, startMoto, waitFor, WRITE_VERBS, type Moto,
} from './env/index.js';

let namespace: string;
const core = () => adminKubeConfig().makeApiClient(CoreV1Api);

beforeAll(async () => {
  namespace = await createTestNamespace('smoke');
});
afterAll(async () => {
  await deleteTestNamespace(namespace);
});

describe('kubernetes', () => {
  it('round-trips a Secret through the apiserver', async () => {
    await core().createNamespacedSecret({ namespace, body: { metadata: { name: 'roundtrip' }, stringData: { key: 'value' } } });
    const secret = await core().readNamespacedSecret({ name: 'roundtrip', namespace });
    expect(Buffer.from(secret.data!.key!, 'base64').toString()).toBe('value');
  });

  it('serves a CRD applied at runtime and enforces its schema', async () => {
    const crd: V1CustomResourceDefinition = {
      apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition',
      metadata: { name: 'widgets.smoke.test' },
      spec: {
        group: 'smoke.test', scope: 'Namespaced',
        names: { plural: 'widgets', singular: 'widget', kind: 'Widget' },
        versions: [{
          name: 'v1', served: true, storage: true,
          schema: { openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object', required: ['size'], properties: { size: { type: 'integer' } } } } } },
        }],
      },
    };
    await applyCrd(crd);
    const objects = adminKubeConfig().makeApiClient(CustomObjectsApi);
    const widget = (name: string, spec: object) => ({ apiVersion: 'smoke.test/v1', kind: 'Widget', metadata: { name }, spec });
    const target = { group: 'smoke.test', version: 'v1', namespace, plural: 'widgets' };
    await objects.createNamespacedCustomObject({ ...target, body: widget('good', { size: 3 }) });
    const invalid = objects.createNamespacedCustomObject({ ...target, body: widget('bad', { size: 'big' }) });
    await expect(invalid).rejects.toSatisfy((error) => isApiError(error, 422));
    await adminKubeConfig().makeApiClient(ApiextensionsV1Api).deleteCustomResourceDefinition({ name: crd.metadata!.name! });
  });

  it('issues ServiceAccount tokens whose claims name the ServiceAccount', async () => {
    const token = await serviceAccountToken(namespace, 'smoke-sa');
    const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { sub: string; iss: string };
    expect(claims.sub).toBe(`system:serviceaccount:${namespace}:smoke-sa`);
    expect(claims.iss).toBe('https://kubernetes.default.svc.cluster.local');
  });

  it('enforces RBAC: a ServiceAccount without rights cannot list secrets', async () => {
    const kc = await kubeConfigForServiceAccount(namespace, 'no-rights');
    const list = kc.makeApiClient(CoreV1Api).listNamespacedSecret({ namespace });
    await expect(list).rejects.toSatisfy((error) => isApiError(error, 403));
  });

  it('counts the writes it served in apiserver_request_total', async () => {
    const writes = () => apiserverRequestCount({ verb: WRITE_VERBS, resource: 'secrets' });
    const before = await writes();
    await core().createNamespacedSecret({ namespace, body: { metadata: { name: 'counted' }, stringData: { a: 'b' } } });
    await core().deleteNamespacedSecret({ name: 'counted', namespace });
    // The counter is bumped as the response completes, so give it a moment.
    await waitFor('two more secret writes', async () => ((await writes()) - before === 2 ? true : undefined), { timeoutMs: 5_000 });
  });

  it('garbage-collects dependents when their owner is deleted', async () => {
    const owner = await core().createNamespacedConfigMap({ namespace, body: { metadata: { name: 'owner' } } });
    await core().createNamespacedConfigMap({
      namespace,
      body: { metadata: { name: 'dependent', ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: owner.metadata!.uid! }] } },
    });
    await core().deleteNamespacedConfigMap({ name: 'owner', namespace });
    await waitFor('the dependent ConfigMap to be garbage-collected', async () => {
      try {
        await core().readNamespacedConfigMap({ name: 'dependent', namespace });
        return undefined;
      } catch (error) {
        if (isApiError(error, 404)) return true;
        throw error;
      }
    }, { timeoutMs: 30_000 });
  });
});

describe('aws (moto)', () => {
  it('round-trips a secret through Secrets Manager', async () => {
    const endpoint = getTestEnv().motoEndpoint;
    const name = `smoke/${Date.now()}`;
    await createSecret(endpoint, name, { apiKey: 'sk-1' });
    const versionId = await putSecretValue(endpoint, name, { apiKey: 'sk-2' });
    const out = await smClient(endpoint).send(new GetSecretValueCommand({ SecretId: name }));
    expect(JSON.parse(out.SecretString!)).toEqual({ apiKey: 'sk-2' });
    expect(out.VersionId).toBe(versionId);
  });

  describe('with IAM enforced', () => {
    let moto: Moto;
    beforeAll(async () => {
      moto = await startMoto({ enforceIam: true, logsDir: getTestEnv().logsDir });
      await createSecret(moto, 'guarded', 'value');
    });
    afterAll(async () => {
      await moto?.stop();
    });

    it('denies GetSecretValue to a user without a policy', async () => {
      const creds = await createIamUser(moto, 'no-policy');
      const get = smClient(moto.endpoint, creds).send(new GetSecretValueCommand({ SecretId: 'guarded' }));
      await expect(get).rejects.toMatchObject({ name: 'AccessDeniedException' });
    });

    it('allows GetSecretValue to a user whose policy allows it', async () => {
      const creds = await createIamUser(moto, 'reader', {
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: '*' }],
      });
      const out = await smClient(moto.endpoint, creds).send(new GetSecretValueCommand({ SecretId: 'guarded' }));
      expect(out.SecretString).toBe('value');
    });
  });
});
