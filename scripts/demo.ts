// npm run demo: the whole thing on one machine, no AWS account and no cluster needed. Starts the
// test environment (kube-apiserver, etcd, controller-manager, moto), seeds two LLM keys in the
// AWS emulator, applies the CRD and examples/demo, runs the operator, shows what it synced,
// rotates a key, and waits for Ctrl-C. `--non-interactive` stops after the rotation (the test
// runs it that way). Values are shown masked, never whole.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { AppsV1Api, CoreV1Api, CustomObjectsApi, KubernetesObjectApi, loadAllYaml, type KubernetesObject } from '@kubernetes/client-node';
import { parseConfig } from '../src/config.js';
import { FORCE_SYNC_ANNOTATION, GROUP, PLURAL, RESTARTED_AT_ANNOTATION, VERSION } from '../src/crds/constants.js';
import type { ExternalLLMSecret } from '../src/crds/types.js';
import { createLogger } from '../src/observability/logger.js';
import { startOperator } from '../src/operator.js';
import { adminKubeConfig, applyCrds, createSecret, freePort, putSecretValue, repoRoot, startTestEnv, TEST_CREDENTIALS } from '../test/env/index.js';

const NAMESPACE = 'demo';
const interactive = !process.argv.includes('--non-interactive');
const say = (text = '') => process.stdout.write(`${text}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Shows that a value is there without showing it. */
export function mask(value: string): string {
  return `${value.slice(0, 3)}${'*'.repeat(8)} (${value.length} chars)`;
}

async function main(): Promise<void> {
  say('external-llm-secrets demo: starting a local kube-apiserver, etcd, controller-manager and AWS emulator');
  say('(the first run builds them from source: 15-25 minutes on 2 cores; later runs take seconds)');
  const env = await startTestEnv();
  let stopOperator: (() => Promise<void>) | undefined;
  let cleaning = false;
  const cleanup = async () => {
    if (cleaning) return;
    cleaning = true;
    say('\ncleaning up: stopping the operator, the apiserver, etcd and moto');
    await stopOperator?.();
    await env.stop();
  };
  process.on('SIGINT', () => { void cleanup().then(() => process.exit(0)); });
  process.on('SIGTERM', () => { void cleanup().then(() => process.exit(0)); });
  try {
    const kc = adminKubeConfig();
    const core = kc.makeApiClient(CoreV1Api);
    const custom = kc.makeApiClient(CustomObjectsApi);
    const apps = kc.makeApiClient(AppsV1Api);

    say('\n1. seeding AWS Secrets Manager (moto) with prod/llm/openai and prod/llm/anthropic');
    await createSecret(env.env.motoEndpoint, 'prod/llm/openai', { api_key: 'sk-demo-openai-0001', organization: 'org-demo' });
    await createSecret(env.env.motoEndpoint, 'prod/llm/anthropic', { api_key: 'sk-ant-demo-0001' });

    say('2. applying the CRD (deploy/crds) and the examples (examples/demo)');
    await applyCrds();
    await core.createNamespace({ body: { metadata: { name: NAMESPACE } } });
    const objects = kc.makeApiClient(KubernetesObjectApi);
    const dir = join(repoRoot, 'examples', 'demo');
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort()) {
      for (const obj of loadAllYaml(readFileSync(join(dir, file), 'utf8')) as KubernetesObject[]) {
        obj.metadata = { ...obj.metadata, namespace: NAMESPACE };
        await objects.create(obj);
      }
    }

    say('3. starting the operator');
    const metricsPort = await freePort();
    const config = parseConfig(['--namespaces', NAMESPACE, '--aws-endpoint', env.env.motoEndpoint, '--sts-endpoint', env.env.motoEndpoint,
      '--metrics-port', String(metricsPort), '--health-port', '0', '--log-level', 'warn',
      // Deny by default: the demo namespace may read the demo's secrets with the operator's identity.
      '--access-rules', JSON.stringify([{ namespaces: [NAMESPACE], secrets: ['prod/llm/*'] }])], { ELS_HASH_KEY: 'demo-hash-key-not-secret-0123456789abcdef' });
    const operator = await startOperator(config, { kubeConfig: kc, awsCredentials: TEST_CREDENTIALS, log: createLogger('warn', process.stderr) });
    stopOperator = operator.stop;

    const list = async () => ((await custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: NAMESPACE, plural: PLURAL })) as { items: ExternalLLMSecret[] }).items;
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && !(await list()).every((e) => e.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'))) await sleep(200);

    say('\n$ kubectl get externalllmsecrets -n demo');
    printTable(await list());
    say('\nSynced Secrets (values masked):');
    for (const name of ['openai', 'anthropic']) await printSecret(core, name);
    await printMetrics(metricsPort);

    say('\n4. rotating prod/llm/openai (PutSecretValue) and asking for a refresh (llmsecrets.dev/force-sync)');
    const before = await restartedAt(apps);
    await putSecretValue(env.env.motoEndpoint, 'prod/llm/openai', { api_key: 'sk-demo-openai-0002-rotated', organization: 'org-demo' });
    await custom.patchNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: NAMESPACE, plural: PLURAL, name: 'openai', body: { metadata: { annotations: { [FORCE_SYNC_ANNOTATION]: String(Date.now()) } } } },
      (await import('@kubernetes/client-node')).setHeaderOptions('Content-Type', 'application/merge-patch+json'));
    const rotateDeadline = Date.now() + 30_000;
    while (Date.now() < rotateDeadline && (await restartedAt(apps)) === before) await sleep(200);
    await printSecret(core, 'openai');
    say(`Deployment chat-api pod template annotation ${RESTARTED_AT_ANNOTATION}: ${before ?? '(none)'} -> ${await restartedAt(apps) ?? '(none)'}`);

    say(`\nExplore with: kubectl --kubeconfig ${env.env.kubeconfigPath} get els,secrets -n demo`);
    say(`AWS emulator (moto): ${env.env.motoEndpoint}   operator metrics: http://127.0.0.1:${metricsPort}/metrics`);
    if (interactive) {
      say('Press Ctrl-C to stop and clean up.');
      await new Promise(() => undefined);
    }
    say('demo finished');
  } finally {
    await cleanup();
  }
}

function printTable(items: ExternalLLMSecret[]): void {
  const rows = items.map((e) => {
    const ready = e.status?.conditions?.find((c) => c.type === 'Ready');
    return [e.metadata.name, ready?.status ?? '', ready?.reason ?? '', e.status?.secretName ?? '', e.status?.syncedAt ?? ''];
  });
  const header = ['NAME', 'READY', 'REASON', 'SECRET', 'LAST SYNC'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)) + 3);
  for (const row of [header, ...rows]) say(row.map((c, i) => c.padEnd(widths[i]!)).join('').trimEnd());
}

async function printSecret(core: CoreV1Api, name: string): Promise<void> {
  const s = await core.readNamespacedSecret({ namespace: NAMESPACE, name });
  say(`  secret/${name}`);
  for (const [k, v] of Object.entries(s.data ?? {})) say(`    ${k}=${mask(Buffer.from(v, 'base64').toString('utf8'))}`);
}

async function printMetrics(port: number): Promise<void> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  say('\nA few metrics (GET /metrics):');
  for (const line of text.split('\n').filter((l) => /^externalllmsecret_(ready|aws_api_calls_total|syncs_total)\{/.test(l))) say(`  ${line}`);
}

async function restartedAt(apps: AppsV1Api): Promise<string | undefined> {
  const d = await apps.readNamespacedDeployment({ namespace: NAMESPACE, name: 'chat-api' });
  return d.spec?.template.metadata?.annotations?.[RESTARTED_AT_ANNOTATION];
}

await main().then(() => process.exit(0), (err: unknown) => { process.stderr.write(`demo failed: ${err instanceof Error ? err.stack : String(err)}\n`); process.exit(1); });
