// The status.dataHash key: a new key (rotation, or an operator without a stable key) costs one
// status write per resource on its next reconcile, and no Secret write. Two operators in
// sequence over the same resources, with different keys, on the real apiserver and moto.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppsV1Api, type V1Deployment } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RESTARTED_AT_ANNOTATION } from '../src/crds/constants.js';
import { adminKubeConfig, applyCrds, createSecret, createTestNamespace, getTestEnv } from './env/index.js';
import { createEls, decoded, getEls, isReady, readSecret, until, waitForReady } from './helpers/els.js';
import { startTestOperator, syncOutcomes, type TestOperator } from './helpers/operator.js';

const apps = () => adminKubeConfig().makeApiClient(AppsV1Api);
const id = (n: string) => `hash-key-${process.pid}-${Date.now()}/${n}`;

function keyFile(key: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'els-hash-key-')), 'hash-key');
  writeFileSync(file, `${key}\n`);
  return file;
}

function deployment(name: string, secretName: string): V1Deployment {
  return {
    metadata: { name },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image: 'example.invalid/app:1', envFrom: [{ secretRef: { name: secretName } }] }] } },
    },
  };
}

let ns: string;
let moto: string;
const running: TestOperator[] = [];
beforeAll(async () => {
  moto = getTestEnv().motoEndpoint;
  await applyCrds();
  ns = await createTestNamespace('hashkey');
});
afterAll(async () => {
  for (const op of running) await op.stop();
});

async function operatorWithKey(key: string): Promise<TestOperator> {
  const op = await startTestOperator({ namespaces: [ns], args: ['--hash-key-file', keyFile(key)] });
  running.push(op);
  return op;
}

describe('hash key rotation', () => {
  it('a new key rewrites status.dataHash once per resource and writes no Secret and restarts nothing', async () => {
    const names = ['one', 'two'];
    for (const name of names) {
      const secretId = id(name);
      await createSecret(moto, secretId, { api_key: `SECRETVALUE-${name}` });
      await apps().createNamespacedDeployment({ namespace: ns, body: deployment(`app-${name}`, name) });
      await createEls(ns, name, { source: { secretId }, refreshInterval: '1h', data: [{ secretKey: 'K', property: 'api_key' }], rolloutRestartTargets: [{ kind: 'Deployment', name: `app-${name}` }] });
    }
    const first = await operatorWithKey('first-hash-key-for-the-rotation-test-0001');
    const before = new Map<string, { hash: string; secretVersion: string; deploymentGeneration: number }>();
    for (const name of names) {
      const els = await waitForReady(ns, name, isReady);
      const secret = await readSecret(ns, name);
      expect(decoded(secret)).toEqual({ K: `SECRETVALUE-${name}` });
      const d = await apps().readNamespacedDeployment({ namespace: ns, name: `app-${name}` });
      before.set(name, { hash: els.status!.dataHash!, secretVersion: secret!.metadata!.resourceVersion!, deploymentGeneration: d.metadata!.generation! });
    }
    await first.stop();
    running.splice(running.indexOf(first), 1);

    const second = await operatorWithKey('second-hash-key-for-the-rotation-test-002');
    for (const name of names) {
      const old = before.get(name)!;
      // The new operator finds the hash stale (drift), reads the source, plans no Secret write,
      // and writes status with the hash under the new key.
      const els = await until(`${name}: status.dataHash under the new key`, async () => {
        const e = await getEls(ns, name);
        return e.status?.dataHash !== old.hash ? e : undefined;
      });
      expect(els.status?.dataHash).toMatch(/^hmac-sha256:[0-9a-f]{16}:[0-9a-f]{64}$/);
      expect(els.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
      // The reconcile that wrote it has logged its outcome (after restarts and status).
      await until(`${name}: the reconcile's outcome line`, () => (syncOutcomes(second.lines, ns, name).length > 0 ? true : undefined));
      const secret = await readSecret(ns, name);
      expect(secret?.metadata?.resourceVersion, `${name}: the Secret was not written`).toBe(old.secretVersion);
      expect(decoded(secret)).toEqual({ K: `SECRETVALUE-${name}` });
      const d = await apps().readNamespacedDeployment({ namespace: ns, name: `app-${name}` });
      expect(d.spec?.template.metadata?.annotations?.[RESTARTED_AT_ANNOTATION], `${name}: no rollout restart for unchanged data`).toBeUndefined();
      expect(d.metadata?.generation).toBe(old.deploymentGeneration);
      expect(els.status?.restartedForHash, `${name}: restartedForHash follows the new key`).toBe(els.status?.dataHash);
    }
    // One written outcome per resource, and the Secret action in it was none (status only);
    // the reconciles its own status write set off found everything in sync.
    for (const name of names) {
      const outcomes = syncOutcomes(second.lines, ns, name);
      expect(outcomes.filter((l) => l.msg === 'synced').map((l) => l.action), name).toEqual(['none']);
      expect(outcomes.filter((l) => l.msg !== 'synced' && l.msg !== 'in sync'), name).toEqual([]);
    }
  }, 120_000);
});
