// npm run demo: the whole thing on one machine, no AWS account and no cluster needed. Starts the
// test environment (kube-apiserver, etcd, controller-manager, moto), seeds two LLM keys in the
// AWS emulator, applies the CRD and examples/demo, runs the operator, shows what it synced,
// rotates a key, and waits for Ctrl-C. `--non-interactive` stops after the rotation (the test
// runs it that way). Values are shown masked, never whole.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { AppsV1Api, CoreV1Api, CustomObjectsApi, KubernetesObjectApi, loadAllYaml, type KubernetesObject } from '@kubernetes/client-node';
import { parseConfig } from '../src/config.js';
import { FORCE_SYNC_ANNOTATION, GROUP, PLURAL, RESTARTED_AT_ANNOTATION, VERSION } from '../src/crds/constants.js';
import type { ExternalLLMSecret } from '../src/crds/types.js';
import { createLogger } from '../src/observability/logger.js';
import { startOperator } from '../src/operator.js';
import { adminKubeConfig, applyCrds, createSecret, freePort, putSecretValue, repoRoot, startTestEnv, TEST_CREDENTIALS, toolPaths } from '../test/env/index.js';
import { nodeUnavailableReason, startNode, type TestNode } from '../test/env/node.js';

const NAMESPACE = 'demo';
const interactive = !process.argv.includes('--non-interactive');
const say = (text = '') => process.stdout.write(`${text}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A word as the shell reads it back: quoted only when it needs to be. */
export function shellQuote(word: string): string {
  return /^[-\w./=:@,+]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * Prints a command exactly as a user would paste it, runs that same text through bash (so what
 * is printed is what was proven to work), and prints its output unless asked not to.
 */
async function runPrinted(command: string, opts: { show?: boolean } = {}): Promise<void> {
  say(`$ ${command}`);
  // Asynchronously: the AWS emulator's proxy lives in this process and must keep answering.
  const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    execFile('bash', ['-c', command], { encoding: 'utf8', timeout: 60_000 }, (err, stdout, stderr) => resolve({ code: err ? (err as { code?: number }).code ?? null : 0, stdout, stderr }));
  });
  if (r.code !== 0) throw new Error(`the printed command failed (exit ${r.code}): ${command}\n${r.stdout}${r.stderr}`);
  if (opts.show ?? true) for (const line of r.stdout.trimEnd().split('\n')) say(`  ${line}`);
}

/** Shows that a value is there without showing it. */
export function mask(value: string): string {
  return `${value.slice(0, 3)}${'*'.repeat(8)} (${value.length} chars)`;
}

async function main(): Promise<void> {
  say('external-llm-secrets demo: starting a local kube-apiserver, etcd, controller-manager and AWS emulator');
  say('(the first run builds them from source: 15-25 minutes on 2 cores; later runs take seconds)');
  const env = await startTestEnv();
  let stopOperator: (() => Promise<void>) | undefined;
  let node: TestNode | undefined;
  let cleaning = false;
  const cleanup = async () => {
    if (cleaning) return;
    cleaning = true;
    say('\ncleaning up: stopping the operator, the apiserver, etcd and moto');
    await stopOperator?.();
    await node?.stop();
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
    // Deny by default: the demo namespace may read the demo's secrets with the operator's identity.
    const accessRules = JSON.stringify([{ namespaces: [NAMESPACE], secrets: ['prod/llm/*'] }]);
    const config = parseConfig(['--namespaces', NAMESPACE, '--aws-endpoint', env.env.motoEndpoint, '--sts-endpoint', env.env.motoEndpoint,
      '--metrics-port', String(metricsPort), '--health-port', '0', '--log-level', 'warn',
      '--access-rules', accessRules], { ELS_HASH_KEY: 'demo-hash-key-not-secret-0123456789abcdef' });
    const operator = await startOperator(config, { kubeConfig: kc, awsCredentials: TEST_CREDENTIALS, log: createLogger('warn', process.stderr) });
    stopOperator = operator.stop;

    const list = async () => ((await custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: NAMESPACE, plural: PLURAL })) as { items: ExternalLLMSecret[] }).items;
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && !(await list()).every((e) => e.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'))) await sleep(200);

    // kubectl is built with the other tools (test/env/tools.sh), from the apiserver's own module.
    const kubectl = `${shellQuote(toolPaths.kubectl)} --kubeconfig ${shellQuote(env.env.kubeconfigPath)}`;
    say('');
    await runPrinted(`${kubectl} get externalllmsecrets -n ${NAMESPACE}`);
    say('\nSynced Secrets (values masked):');
    for (const name of ['openai', 'anthropic']) await printSecret(core, name);
    await printMetrics(metricsPort);
    const pod = await startKeyReader(core);
    node = pod?.node;

    say('\n4. rotating prod/llm/openai (PutSecretValue) and asking for a refresh (llmsecrets.dev/force-sync)');
    const before = await restartedAt(apps);
    const rotatedAt = Date.now();
    await putSecretValue(env.env.motoEndpoint, 'prod/llm/openai', { api_key: 'sk-demo-openai-0002-rotated', organization: 'org-demo' });
    await custom.patchNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: NAMESPACE, plural: PLURAL, name: 'openai', body: { metadata: { annotations: { [FORCE_SYNC_ANNOTATION]: String(Date.now()) } } } },
      (await import('@kubernetes/client-node')).setHeaderOptions('Content-Type', 'application/merge-patch+json'));
    const rotateDeadline = Date.now() + 30_000;
    while (Date.now() < rotateDeadline && (await restartedAt(apps)) === before) await sleep(200);
    await printSecret(core, 'openai');
    if (pod) {
      const seen = pod.read();
      const podDeadline = Date.now() + 120_000;
      while (Date.now() < podDeadline && pod.read() === seen) await sleep(250);
      say(`pod key-reader, still running, now reads OPENAI_API_KEY=${pod.read()} from its volume (${((Date.now() - rotatedAt) / 1000).toFixed(1)} s after PutSecretValue: the operator's refresh, then the kubelet's volume sync)`);
    }
    say(`Deployment chat-api pod template annotation ${RESTARTED_AT_ANNOTATION}: ${before ?? '(none)'} -> ${await restartedAt(apps) ?? '(none)'}`);

    // Every command below is run once here, as printed, so each is known to work when pasted.
    say('\n5. explore: these commands work as printed while the demo runs (each was just run)');
    await runPrinted(`${kubectl} get els,secrets -n ${NAMESPACE}`);
    await runPrinted(`${kubectl} describe els openai -n ${NAMESPACE}`, { show: false });
    await runPrinted(`${kubectl} annotate els openai -n ${NAMESPACE} ${FORCE_SYNC_ANNOTATION}="$(date +%s)" --overwrite`, { show: false });
    say('\n6. "why isn\'t my secret syncing?": a dry run of one resource, which writes nothing (README, Troubleshooting)');
    await runPrinted([
      `cd ${shellQuote(repoRoot)} &&`, 'AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing',
      'bash scripts/with-node.sh node --import tsx src/main.ts check', `-n ${NAMESPACE} --name openai`,
      `--kubeconfig ${shellQuote(env.env.kubeconfigPath)}`, `--aws-endpoint ${env.env.motoEndpoint} --sts-endpoint ${env.env.motoEndpoint}`,
      `--access-rules ${shellQuote(accessRules)}`,
    ].join(' '));
    say(`\nAWS emulator (moto): ${env.env.motoEndpoint}   operator metrics: http://127.0.0.1:${metricsPort}/metrics`);
    if (interactive) {
      say('Press Ctrl-C to stop and clean up.');
      await new Promise(() => undefined);
    }
    say('demo finished');
  } finally {
    await cleanup();
  }
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

/**
 * When this machine can run one (root on Debian: test/env/node.ts), a node (kubelet + containerd)
 * and a pod that mounts Secret openai as a volume and writes what it reads there, masked the way
 * the demo masks values, to a host directory the demo reads back.
 */
async function startKeyReader(core: CoreV1Api): Promise<{ node: TestNode; read(): string | undefined } | undefined> {
  const why = nodeUnavailableReason();
  if (why) {
    say(`\n(no pod on a real node on this machine: ${why})`);
    return undefined;
  }
  say('\n3b. starting a node (kubelet + containerd) and pod key-reader, which mounts Secret openai as a volume');
  const node = await startNode();
  const dir = join(node.hostDir, NAMESPACE);
  const script = [
    "trap 'exit 0' TERM",
    'while :; do v=$(cat /secret/OPENAI_API_KEY); printf \'%s******** (%s chars)\' "$(printf %s "$v" | cut -c1-3)" "${#v}" > /out/key.tmp && mv /out/key.tmp /out/key; sleep 1; done',
  ].join('; ');
  await core.createNamespacedPod({
    namespace: NAMESPACE,
    body: {
      metadata: { name: 'key-reader' },
      spec: {
        nodeName: node.name, hostNetwork: true, automountServiceAccountToken: false, enableServiceLinks: false, terminationGracePeriodSeconds: 2,
        containers: [{
          name: 'reader', image: node.image, imagePullPolicy: 'Never', command: ['sh', '-c', script],
          volumeMounts: [{ name: 'key', mountPath: '/secret', readOnly: true }, { name: 'out', mountPath: '/out' }],
        }],
        volumes: [{ name: 'key', secret: { secretName: 'openai' } }, { name: 'out', hostPath: { path: dir, type: 'DirectoryOrCreate' } }],
      },
    },
  });
  const read = () => {
    const file = join(dir, 'key');
    return existsSync(file) ? readFileSync(file, 'utf8').trim() || undefined : undefined;
  };
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline && read() === undefined) await sleep(250);
  say(`pod key-reader (node ${node.name}, started in ${node.startSeconds.toFixed(1)} s) reads OPENAI_API_KEY=${read() ?? '(nothing yet)'} from its volume`);
  return { node, read };
}
