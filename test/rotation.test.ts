// Rotation that reaches the pods (rollout restarts on real data changes only) and key-expiry
// conditions, on the real apiserver and moto.
import { AppsV1Api, type V1Deployment } from '@kubernetes/client-node';
import { CreateSecretCommand } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FORCE_SYNC_ANNOTATION, RESTARTED_AT_ANNOTATION } from '../src/crds/constants.js';
import { adminKubeConfig, applyCrds, createSecret, createTestNamespace, getTestEnv, putSecretValue, smClient } from './env/index.js';
import { createEls, getEls, isReady, patchEls, until, waitForEvent, waitForReady, waitForSecret } from './helpers/els.js';
import { startTestOperator, syncOutcomes, type TestOperator } from './helpers/operator.js';

let operator: TestOperator;
let ns: string;
let moto: string;
const apps = () => adminKubeConfig().makeApiClient(AppsV1Api);
const id = (n: string) => `rotation/${Date.now()}/${n}`;

function deployment(name: string, paused = false): V1Deployment {
  return {
    metadata: { name },
    spec: {
      paused,
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image: 'example.invalid/app:1', envFrom: [{ secretRef: { name: 'llm' } }] }] } },
    },
  };
}

beforeAll(async () => {
  moto = getTestEnv().motoEndpoint;
  await applyCrds();
  ns = await createTestNamespace('rotation');
  operator = await startTestOperator({ namespaces: [ns] });
});

afterAll(async () => {
  await operator?.stop();
});

describe('rollout restarts', () => {
  it('patches the pod template only when the synced data changes', async () => {
    const secretId = id('llm');
    await createSecret(moto, secretId, { api_key: 'SECRETVALUE-rot-1' });
    await apps().createNamespacedDeployment({ namespace: ns, body: deployment('app') });
    await createEls(ns, 'llm', { source: { secretId }, provider: 'openai', rolloutRestartTargets: [{ kind: 'Deployment', name: 'app' }] });
    await waitForReady(ns, 'llm', isReady);
    const first = await apps().readNamespacedDeployment({ namespace: ns, name: 'app' });
    expect(first.spec?.template.metadata?.annotations?.[RESTARTED_AT_ANNOTATION]).toBeUndefined();
    const generation = first.metadata?.generation;

    // An unchanged forced refresh: no restart.
    await patchEls(ns, 'llm', { metadata: { annotations: { [FORCE_SYNC_ANNOTATION]: '1' } } });
    await waitForReady(ns, 'llm', (c, e) => isReady(c) && e.status?.forceSyncToken === '1');
    // The forced reconcile has finished (its outcome line is the last thing it does, after any
    // restart): the create was the first written outcome, the forced refresh the second.
    await until('the forced reconcile to finish', () => (syncOutcomes(operator.lines, ns, 'llm', 'synced').length >= 2 ? true : undefined));
    expect((await apps().readNamespacedDeployment({ namespace: ns, name: 'app' })).metadata?.generation).toBe(generation);

    // A rotation: the template annotation and the generation change.
    await putSecretValue(moto, secretId, { api_key: 'SECRETVALUE-rot-2' });
    await patchEls(ns, 'llm', { metadata: { annotations: { [FORCE_SYNC_ANNOTATION]: '2' } } });
    await waitForSecret(ns, 'llm', (d) => d.OPENAI_API_KEY === 'SECRETVALUE-rot-2');
    // The restart follows the Secret write: wait for it rather than read at once.
    const after = await until('the rollout restart', async () => {
      const d = await apps().readNamespacedDeployment({ namespace: ns, name: 'app' });
      return d.spec?.template.metadata?.annotations?.[RESTARTED_AT_ANNOTATION] ? d : undefined;
    });
    expect(after.spec?.template.metadata?.annotations?.[RESTARTED_AT_ANNOTATION]).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(after.metadata?.generation).toBe((generation ?? 0) + 1);
    await waitForEvent(ns, 'llm', 'RolloutRestarted');
  });

  it('a missing or paused target gives a warning and a condition, never a failed sync', async () => {
    const secretId = id('warn');
    await createSecret(moto, secretId, { api_key: 'SECRETVALUE-rot-3' });
    await apps().createNamespacedDeployment({ namespace: ns, body: deployment('paused', true) });
    await createEls(ns, 'warn', { source: { secretId }, provider: 'openai', rolloutRestartTargets: [{ kind: 'Deployment', name: 'paused' }, { kind: 'StatefulSet', name: 'missing' }] });
    await waitForReady(ns, 'warn', isReady);
    await putSecretValue(moto, secretId, { api_key: 'SECRETVALUE-rot-4' });
    await patchEls(ns, 'warn', { metadata: { annotations: { [FORCE_SYNC_ANNOTATION]: '1' } } });
    await waitForSecret(ns, 'warn', (d) => d.OPENAI_API_KEY === 'SECRETVALUE-rot-4');
    const els = await waitForReady(ns, 'warn', (c, e) => isReady(c) && (e.status?.conditions ?? []).some((x) => x.type === 'RolloutRestart'));
    const cond = els.status?.conditions?.find((c) => c.type === 'RolloutRestart');
    expect(cond).toMatchObject({ status: 'False', reason: 'RestartFailed' });
    expect(cond?.message).toContain('paused');
    expect(cond?.message).toContain('not found');
    const ev = await waitForEvent(ns, 'warn', 'RolloutRestartFailed');
    expect(ev.type).toBe('Warning');
  });
});

describe('key expiry', () => {
  it('maxAge inside the warning window gives KeyExpiring and a Warning event; past it, KeyExpired', async () => {
    const secretId = id('age');
    await createSecret(moto, secretId, { api_key: 'SECRETVALUE-exp-1' });
    await createEls(ns, 'expiring', { source: { secretId }, provider: 'openai', expiry: { maxAge: '5d' } });
    await createEls(ns, 'expired', { source: { secretId }, provider: 'openai', expiry: { maxAge: '1ms' } });
    const expiring = await waitForReady(ns, 'expiring', (c, e) => isReady(c) && has(e, 'KeyExpiring'));
    expect(expiring.status?.expiresAt).toMatch(/^\d{4}-/);
    expect(expiring.status?.syncedVersionCreatedAt).toMatch(/^\d{4}-/);
    await waitForEvent(ns, 'expiring', 'KeyExpiring');
    await waitForReady(ns, 'expired', (c, e) => isReady(c) && has(e, 'KeyExpired'));
    await waitForEvent(ns, 'expired', 'KeyExpired');
  });

  it('an expiry timestamp from a JSON property or an AWS tag', async () => {
    const soon = new Date(Date.now() + 2 * 86_400_000).toISOString();
    const later = new Date(Date.now() + 60 * 86_400_000).toISOString();
    const fromProperty = id('prop');
    await createSecret(moto, fromProperty, { api_key: 'SECRETVALUE-exp-2', expires_at: soon });
    const fromTag = id('tag');
    await smClient(moto).send(new CreateSecretCommand({ Name: fromTag, SecretString: JSON.stringify({ api_key: 'SECRETVALUE-exp-3' }), Tags: [{ Key: 'expires-at', Value: later }] }));
    await createEls(ns, 'by-prop', { source: { secretId: fromProperty }, provider: 'openai', expiry: { property: 'expires_at' } });
    await createEls(ns, 'by-tag', { source: { secretId: fromTag }, provider: 'openai', expiry: { tag: 'expires-at' } });
    const byProp = await waitForReady(ns, 'by-prop', (c, e) => isReady(c) && has(e, 'KeyExpiring'));
    expect(byProp.status?.expiresAt).toBe(soon);
    const byTag = await waitForReady(ns, 'by-tag', isReady);
    expect(byTag.status?.expiresAt).toBe(later);
    expect(has(await getEls(ns, 'by-tag'), 'KeyExpiring')).toBe(false);
  });
});

const has = (e: Awaited<ReturnType<typeof getEls>>, type: string) => (e.status?.conditions ?? []).some((c) => c.type === type && c.status === 'True');
