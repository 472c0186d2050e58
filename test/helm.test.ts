// The Helm chart against the real apiserver: lint and render for several value sets, every
// rendered object accepted by a server-side dry run, schema errors for typos and wrong types,
// a real `helm install` whose ServiceAccount then runs the operator (in-process) through a full
// sync, and the RBAC proof: each rule (and each verb) removed in turn must break something.
// Also: every example manifest and every Kubernetes object in docs/install-eks.md is accepted
// by the apiserver, so none rots.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AppsV1Api, CoordinationV1Api, KubernetesObjectApi, loadYaml, PatchStrategy, type KubernetesObject, type V1ClusterRole, type V1Deployment, type V1PolicyRule, type V1Role,
} from '@kubernetes/client-node';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FORCE_SYNC_ANNOTATION, RESTARTED_AT_ANNOTATION } from '../src/crds/constants.js';
import {
  adminKubeConfig, allowAllPolicy, applyCrd, applyCrds, createRole, createSecret, createTestNamespace, deleteTestNamespace, getTestEnv,
  kubeConfigForServiceAccount, MOTO_ACCOUNT_ID, putSecretValue, repoRoot,
} from './env/index.js';
import { core, createEls, decoded, events, getEls, isReady, patchEls, readSecret, ready, sleep, waitForReady, waitForSecret } from './helpers/els.js';
import { startTestOperator, type TestOperator } from './helpers/operator.js';

const CHART = join(repoRoot, 'deploy', 'helm', 'external-llm-secrets');
const tmp = mkdtempSync(join(tmpdir(), 'els-helm-'));
const suffix = () => Math.random().toString(36).slice(2, 7);
type Obj = KubernetesObject & Record<string, unknown>;

function helm(args: string[]): { code: number; stdout: string; stderr: string } {
  const env = getTestEnv();
  const r = spawnSync(env.helmPath, args, { encoding: 'utf8', timeout: 120_000, env: { ...process.env, HELM_CACHE_HOME: join(tmp, 'cache'), HELM_CONFIG_HOME: join(tmp, 'config'), HELM_DATA_HOME: join(tmp, 'data') } });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function helmOk(args: string[]): string {
  const r = helm(args);
  if (r.code !== 0) throw new Error(`helm ${args.join(' ')} failed (${r.code}):\n${r.stderr}`);
  return r.stdout;
}

function valuesFile(values: object): string {
  const path = join(tmp, `values-${suffix()}.json`);
  writeFileSync(path, JSON.stringify(values));
  return path;
}

function template(release: string, namespace: string, values: object = {}, extra: string[] = []): Obj[] {
  const text = helmOk(['template', release, CHART, '--namespace', namespace, '-f', valuesFile(values), ...extra]);
  return parseAllDocuments(text).map((d) => d.toJS() as Obj | null).filter((o): o is Obj => !!o && typeof o === 'object' && 'kind' in o);
}

const objectApi = () => KubernetesObjectApi.makeApiClient(adminKubeConfig());

/** Server-side apply as the admin; dryRun 'All' validates without persisting. */
async function apply(obj: Obj, dryRun?: 'All'): Promise<void> {
  const body = { ...obj, metadata: { ...obj.metadata, managedFields: undefined, resourceVersion: undefined } };
  // Into client-node's model first: serialising a plain object drops fields whose JSON names
  // differ from the model's (enum, default, x-kubernetes-validations...).
  await objectApi().patch(loadYaml(JSON.stringify(body)) as KubernetesObject, undefined, dryRun, 'els-helm-test', true, PatchStrategy.ServerSideApply);
}

async function dryRunAll(objs: Obj[]): Promise<void> {
  const failures: string[] = [];
  for (const obj of objs) {
    try {
      await apply(obj, 'All');
    } catch (err) {
      failures.push(`${obj.kind} ${obj.metadata?.namespace ?? ''}/${obj.metadata?.name}: ${(err as { body?: string }).body ?? String(err)}`);
    }
  }
  expect(failures).toEqual([]);
}

const kind = (objs: Obj[], k: string) => objs.filter((o) => o.kind === k);
const deploymentOf = (objs: Obj[]) => kind(objs, 'Deployment')[0] as unknown as V1Deployment;
const argsOf = (objs: Obj[]) => deploymentOf(objs).spec!.template.spec!.containers[0]!.args ?? [];

// A minimal stand-in for the Prometheus Operator's ServiceMonitor CRD, which the test cluster
// lacks: enough for the apiserver to accept (and so dry-run) the chart's ServiceMonitor. Its
// schema preserves unknown fields, so this checks the object's kind/group/version/metadata, not
// the Prometheus Operator's own validation of spec.
const SERVICE_MONITOR_CRD = {
  apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition',
  metadata: { name: 'servicemonitors.monitoring.coreos.com' },
  spec: {
    group: 'monitoring.coreos.com', scope: 'Namespaced',
    names: { kind: 'ServiceMonitor', listKind: 'ServiceMonitorList', plural: 'servicemonitors', singular: 'servicemonitor' },
    versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } } } }],
  },
};

const namespaces: string[] = [];
const releases: Array<{ name: string; namespace: string }> = [];
const clusterObjects: Obj[] = [];
async function freshNamespace(prefix: string): Promise<string> {
  const ns = await createTestNamespace(prefix);
  namespaces.push(ns);
  return ns;
}

beforeAll(async () => {
  await applyCrds();
});

afterAll(async () => {
  for (const r of releases) helm(['uninstall', r.name, '--namespace', r.namespace, '--kubeconfig', getTestEnv().kubeconfigPath, '--wait=false']);
  for (const o of clusterObjects) await objectApi().delete(o).catch(() => undefined);
  await Promise.all(namespaces.map((ns) => deleteTestNamespace(ns)));
});

describe('chart files', () => {
  it('ships the Grafana dashboard identical to deploy/grafana/', () => {
    const chartCopy = readFileSync(join(CHART, 'files', 'dashboard.json'), 'utf8');
    expect(chartCopy).toBe(readFileSync(join(repoRoot, 'deploy', 'grafana', 'external-llm-secrets.json'), 'utf8'));
    const dashboard = JSON.parse(chartCopy) as { panels: Array<{ targets: Array<{ expr: string }> }> };
    const exprs = dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr)).join('\n');
    for (const metric of ['externalllmsecret_ready', 'externalllmsecret_sync_duration_seconds_bucket', 'externalllmsecret_aws_api_calls_total', 'service="sts"', 'externalllmsecret_workqueue_depth', 'externalllmsecret_source_version_age_seconds']) {
      expect(exprs).toContain(metric);
    }
  });

  it('ships the CRDs generated into deploy/crds/', () => {
    const dir = join(CHART, 'files', 'crds');
    const files = readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort();
    expect(files).toEqual(readdirSync(join(repoRoot, 'deploy', 'crds')).filter((f) => f.endsWith('.yaml')).sort());
    for (const f of files) expect(readFileSync(join(dir, f), 'utf8'), f).toBe(readFileSync(join(repoRoot, 'deploy', 'crds', f), 'utf8'));
  });

  it('takes appVersion from package.json', () => {
    const chart = parseYaml(readFileSync(join(CHART, 'Chart.yaml'), 'utf8')) as { appVersion: string };
    const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
    expect(chart.appVersion).toBe(pkg.version);
  });
});

describe('lint, render and server-side dry run', () => {
  const sets: Array<{ name: string; values: (ns: string[]) => object; check: (objs: Obj[], ns: string[]) => void }> = [
    {
      name: 'defaults',
      values: () => ({}),
      check: (objs) => {
        const args = argsOf(objs);
        expect(args).toContain('--leader-elect');
        expect(args).toContain('--concurrent=10');
        expect(args.some((a) => a.startsWith('--namespaces'))).toBe(false);
        expect(kind(objs, 'ClusterRole')).toHaveLength(1);
        expect(kind(objs, 'CustomResourceDefinition')).toHaveLength(1);
        const rules = (kind(objs, 'ClusterRole')[0] as V1ClusterRole).rules!;
        expect(rules.some((r) => r.resources!.includes('serviceaccounts/token'))).toBe(true);
        expect(rules.some((r) => r.apiGroups!.includes('apps'))).toBe(false);
        const c = deploymentOf(objs).spec!.template.spec!.containers[0]!;
        expect(c.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10001, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' } });
        expect(c.livenessProbe?.httpGet).toMatchObject({ path: '/healthz', port: 'health' });
        expect(c.readinessProbe?.httpGet).toMatchObject({ path: '/readyz', port: 'health' });
        expect(c.ports?.map((p) => p.containerPort)).toEqual([8080, 8081]);
        expect(c.env?.map((e) => e.name)).toEqual(['POD_NAME', 'POD_NAMESPACE', 'ELS_HASH_KEY']);
      },
    },
    {
      name: 'namespace-scoped',
      values: (ns) => ({ scope: { namespaces: [ns[1], ns[2]] } }),
      check: (objs, ns) => {
        expect(argsOf(objs)).toContain(`--namespaces=${ns[1]},${ns[2]}`);
        expect(kind(objs, 'ClusterRole')).toHaveLength(0);
        expect(kind(objs, 'ClusterRoleBinding')).toHaveLength(0);
        const roles = kind(objs, 'Role').map((r) => r.metadata!.namespace).sort();
        expect(roles).toEqual([ns[0], ns[1], ns[2]].sort()); // one per watched namespace + the lease Role
      },
    },
    {
      name: 'leaderElect off',
      values: () => ({ leaderElect: false, concurrent: 3 }),
      check: (objs) => {
        expect(argsOf(objs)).not.toContain('--leader-elect');
        expect(argsOf(objs)).toContain('--concurrent=3');
        expect(kind(objs, 'Role')).toHaveLength(0);
      },
    },
    {
      name: 'rollout restarts on, ServiceAccount auth off',
      values: () => ({ rolloutRestart: { enabled: true }, serviceAccountAuth: { enabled: false } }),
      check: (objs) => {
        const rules = (kind(objs, 'ClusterRole')[0] as V1ClusterRole).rules!;
        expect(rules.find((r) => r.apiGroups!.includes('apps'))).toMatchObject({ resources: ['deployments', 'statefulsets', 'daemonsets'], verbs: ['get', 'patch'] });
        expect(rules.some((r) => r.resources!.some((x) => x.startsWith('serviceaccounts')))).toBe(false);
      },
    },
    {
      name: 'serviceMonitor, PDB, NetworkPolicy, dashboard, role rules and the rest on',
      values: () => ({
        replicaCount: 2,
        serviceMonitor: { enabled: true, additionalLabels: { release: 'prometheus' } },
        podDisruptionBudget: { enabled: true },
        networkPolicy: { enabled: true, metricsFrom: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }] },
        grafanaDashboard: { enabled: true },
        roleRules: [{ namespaces: ['team-a'], roles: [`arn:aws:iam::${MOTO_ACCOUNT_ID}:role/team-a-*`] }],
        serviceAccount: { annotations: { 'eks.amazonaws.com/role-arn': `arn:aws:iam::${MOTO_ACCOUNT_ID}:role/els` } },
        topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'ScheduleAnyway' }],
        priorityClassName: 'system-cluster-critical',
        extraArgs: { 'relist-interval': '5m', 'per-resource-metrics': true },
        extraEnv: [{ name: 'AWS_STS_REGIONAL_ENDPOINTS', value: 'regional' }],
        aws: { region: 'eu-west-1', sessionTags: 'namespace-and-name' },
      }),
      check: (objs) => {
        for (const k of ['ServiceMonitor', 'PodDisruptionBudget', 'NetworkPolicy']) expect(kind(objs, k), k).toHaveLength(1);
        const cms = kind(objs, 'ConfigMap');
        const dashboard = cms.find((c) => c.metadata!.name!.endsWith('-dashboard')) as unknown as { data: Record<string, string> };
        expect(JSON.parse(dashboard.data['external-llm-secrets.json']!)).toEqual(JSON.parse(readFileSync(join(CHART, 'files', 'dashboard.json'), 'utf8')));
        const rulesCm = cms.find((c) => c.metadata!.name!.endsWith('-role-rules')) as unknown as { data: Record<string, string> };
        expect(JSON.parse(rulesCm.data['rules.json']!)).toHaveLength(1);
        const args = argsOf(objs);
        expect(args).toEqual(expect.arrayContaining(['--role-rules-file=/etc/external-llm-secrets/role-rules/rules.json', '--relist-interval=5m', '--per-resource-metrics', '--default-region=eu-west-1', '--session-tags=namespace-and-name']));
        const spec = deploymentOf(objs).spec!.template.spec!;
        expect(spec.topologySpreadConstraints![0]!.labelSelector?.matchLabels).toMatchObject({ 'app.kubernetes.io/name': 'external-llm-secrets' });
        expect(spec.priorityClassName).toBe('system-cluster-critical');
        expect(kind(objs, 'ServiceAccount')[0]!.metadata!.labels!['llmsecrets.dev/aws-auth']).toBe('irsa');
      },
    },
  ];

  beforeAll(async () => {
    await applyCrd(SERVICE_MONITOR_CRD as never);
  });

  it('helm lint passes with the default values', () => {
    const out = helmOk(['lint', CHART, '--strict']);
    expect(out).toContain('0 chart(s) failed');
  });

  it.each(sets)('$name: lints, renders and every object passes a server-side dry run', async ({ values, check }) => {
    const ns = [await freshNamespace('helm-dry'), await freshNamespace('helm-dry-a'), await freshNamespace('helm-dry-b')];
    const v = values(ns);
    helmOk(['lint', CHART, '--strict', '--namespace', ns[0]!, '-f', valuesFile(v)]);
    const objs = template(`dry-${suffix()}`, ns[0]!, v);
    check(objs, ns);
    await dryRunAll(objs);
  });

  it('rejects a misspelt value with a message naming it', () => {
    const file = join(tmp, 'typo.yaml');
    writeFileSync(file, 'leaderElct: false\nimage:\n  tagg: v1\n');
    const r = helm(['template', 'typo', CHART, '-f', file]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("values don't meet the specifications of the schema");
    expect(r.stderr).toMatch(/additional propert(y|ies) 'leaderElct' not allowed/);
    expect(r.stderr).toMatch(/at '\/image': additional propert(y|ies) 'tagg' not allowed/);
  });

  it('rejects a value of the wrong type with a message naming it', () => {
    const file = join(tmp, 'type.yaml');
    writeFileSync(file, 'concurrent: "ten"\npodDisruptionBudget:\n  enabled: "yes"\n');
    const r = helm(['template', 'type', CHART, '-f', file]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("at '/concurrent': got string, want integer");
    expect(r.stderr).toContain("at '/podDisruptionBudget/enabled': got string, want boolean");
  });

  it('refuses several replicas without leader election', () => {
    const r = helm(['template', 'x', CHART, '--set', 'replicaCount=2', '--set', 'leaderElect=false']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('replicaCount > 1 needs leaderElect: true');
  });
});

// ----- helm install, then the operator as the chart's ServiceAccount -----

/** The flags of the installed Deployment that matter in-process (leader election, concurrency). */
function inProcessArgs(deployment: V1Deployment): string[] {
  const keep = ['--leader-elect', '--leader-election-namespace', '--leader-election-id', '--concurrent', '--session-tags'];
  return (deployment.spec!.template.spec!.containers[0]!.args ?? []).filter((a) => keep.includes(a.split('=')[0]!));
}

async function installRelease(values: object): Promise<{ release: string; namespace: string; deployment: V1Deployment; sa: string }> {
  const env = getTestEnv();
  const namespace = await freshNamespace('helm-install');
  const release = `els-${suffix()}`;
  // crds.install=false: the CRD is already in the shared cluster (applyCrds), without Helm's
  // ownership labels, so Helm would refuse to adopt it. The rendered CRD is dry-run above.
  helmOk(['install', release, CHART, '--namespace', namespace, '--kubeconfig', env.kubeconfigPath, '--set', 'image.tag=test', '--set', 'crds.install=false', '-f', valuesFile(values)]);
  releases.push({ name: release, namespace });
  const deployments = await adminKubeConfig().makeApiClient(AppsV1Api).listNamespacedDeployment({ namespace });
  expect(deployments.items).toHaveLength(1);
  const deployment = deployments.items[0]!;
  expect(deployment.spec!.template.spec!.containers[0]!.image).toMatch(/:test$/);
  return { release, namespace, deployment, sa: deployment.spec!.template.spec!.serviceAccountName! };
}

async function fullSync(op: TestOperator, ns: string, name: string): Promise<void> {
  const secretId = `helm-${process.pid}-${suffix()}/${name}`;
  await createSecret(getTestEnv().motoEndpoint, secretId, { api_key: 'x' });
  await createEls(ns, name, { source: { secretId }, data: [{ secretKey: 'K', property: 'api_key' }] });
  await waitForReady(ns, name, isReady);
  await waitForSecret(ns, name, (d) => d.K === 'x');
  expect(op.isLeader()).toBe(true);
}

describe('helm install', () => {
  it('installs; the chart ServiceAccount runs a full sync (cluster scope, leader election)', async () => {
    const { namespace, deployment, sa, release } = await installRelease({});
    const work = await freshNamespace('helm-work');
    const op = await startTestOperator({ namespaces: [work], kubeConfig: await kubeConfigForServiceAccount(namespace, sa), args: inProcessArgs(deployment) });
    try {
      await fullSync(op, work, 'chart-sa');
      const lease = await adminKubeConfig().makeApiClient(CoordinationV1Api).readNamespacedLease({ namespace, name: `${release}-external-llm-secrets-leader` });
      expect(lease.spec?.holderIdentity).toMatch(/.+/);
    } finally {
      await op.stop();
    }
    // The hash key survives an upgrade (lookup), so status.dataHash stays valid across it.
    const keyBefore = (await core().readNamespacedSecret({ namespace, name: `${release}-external-llm-secrets-hash-key` })).data!['hash-key'];
    helmOk(['upgrade', release, CHART, '--namespace', namespace, '--kubeconfig', getTestEnv().kubeconfigPath, '--reuse-values', '--set', 'concurrent=4']);
    const keyAfter = (await core().readNamespacedSecret({ namespace, name: `${release}-external-llm-secrets-hash-key` })).data!['hash-key'];
    expect(keyAfter).toBe(keyBefore);
    expect(Buffer.from(keyAfter!, 'base64').length).toBeGreaterThanOrEqual(32);
  });

  it('namespace-scoped install: Roles only, and the ServiceAccount syncs in its namespaces', async () => {
    const work = await freshNamespace('helm-scoped');
    const other = await freshNamespace('helm-other');
    const { namespace, deployment, sa } = await installRelease({ scope: { namespaces: [work] } });
    const kc = await kubeConfigForServiceAccount(namespace, sa);
    const op = await startTestOperator({ namespaces: [work], kubeConfig: kc, args: inProcessArgs(deployment) });
    try {
      await fullSync(op, work, 'scoped');
    } finally {
      await op.stop();
    }
    // No access outside the listed namespaces.
    await expect(startTestOperator({ namespaces: [other], kubeConfig: kc, args: inProcessArgs(deployment) })).rejects.toThrow(/cannot list ExternalLLMSecrets/);
  });
});

// ----- RBAC: every rule, and every verb, has a reason -----

interface Probe {
  startup: string;
  ready: boolean;
  secret: boolean;
  mergeReady: boolean;
  event: boolean;
  saReady: boolean;
  rotated: boolean;
  restarted: string[];
  watchFailures: number;
  eventFailures: number;
  leaseFailures: number;
  leader: boolean;
}

const WORKLOADS = ['Deployment', 'StatefulSet', 'DaemonSet'] as const;

// moto_server is not safe under concurrent writes (it has answered a 500 "dictionary changed size
// during iteration" here): the parallel scenarios make their moto calls one at a time.
let motoQueue: Promise<unknown> = Promise.resolve();
function serially<T>(fn: () => Promise<T>): Promise<T> {
  const next = motoQueue.then(fn, fn);
  motoQueue = next.catch(() => undefined);
  return next;
}

function workload(kindName: (typeof WORKLOADS)[number], name: string): Obj {
  const labels = { app: name };
  const podSpec = { containers: [{ name: 'app', image: 'registry.invalid/app:1' }] };
  const spec: Record<string, unknown> = { selector: { matchLabels: labels }, template: { metadata: { labels }, spec: podSpec } };
  if (kindName === 'Deployment') spec.replicas = 0;
  if (kindName === 'StatefulSet') { spec.replicas = 0; spec.serviceName = name; }
  return { apiVersion: 'apps/v1', kind: kindName, metadata: { name }, spec } as Obj;
}

/** Installs the chart's RBAC (as rendered, minus `mutate`'s removal) and runs the probe. */
async function rbacScenario(label: string, mutate: (objs: Obj[]) => void): Promise<Probe> {
  const env = getTestEnv();
  const ns = await freshNamespace('rbac');
  const release = `rbac-${suffix()}`;
  const objs = template(release, ns, { rolloutRestart: { enabled: true }, crds: { install: false } });
  const rbacKinds = ['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding'];
  const rbac = objs.filter((o) => rbacKinds.includes(o.kind!));
  mutate(rbac);
  for (const o of rbac) {
    await apply(o);
    if (!o.metadata?.namespace) clusterObjects.push(o);
  }
  // Fixtures: a plain resource (operator identity) that rotates and restarts three workloads,
  // and one that reads as a ServiceAccount of the namespace (IRSA-style annotation).
  const moto = env.motoEndpoint;
  const plainId = `rbac-${process.pid}-${suffix()}/plain`;
  const saId = `rbac-${process.pid}-${suffix()}/sa`;
  const roleArn = await serially(async () => {
    await createSecret(moto, plainId, { api_key: 'v1' });
    await createSecret(moto, saId, { api_key: 'sa' });
    return createRole(moto, `rbac-${suffix()}`, { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Federated: 'x' }, Action: 'sts:AssumeRoleWithWebIdentity' }] }, allowAllPolicy);
  });
  await core().createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'app-reader', annotations: { 'eks.amazonaws.com/role-arn': roleArn } } } });
  for (const k of WORKLOADS) await apply({ ...workload(k, `app-${k.toLowerCase()}`), metadata: { name: `app-${k.toLowerCase()}`, namespace: ns } } as Obj);
  await createEls(ns, 'plain', {
    source: { secretId: plainId }, data: [{ secretKey: 'K', property: 'api_key' }],
    rolloutRestartTargets: WORKLOADS.map((k) => ({ kind: k, name: `app-${k.toLowerCase()}` })),
  });
  await createEls(ns, 'sa', { source: { secretId: saId }, auth: { serviceAccountRef: { name: 'app-reader' } }, data: [{ secretKey: 'K', property: 'api_key' }] });
  // Merge into a Secret the operator does not own: the one path that must read a Secret first
  // (new Secrets are created optimistically, without a GET).
  await core().createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'shared' }, stringData: { THEIRS: 'keep' } } });
  await createEls(ns, 'merge', { source: { secretId: plainId }, target: { name: 'shared', creationPolicy: 'Merge' }, data: [{ secretKey: 'K', property: 'api_key' }] });

  const probe: Probe = { startup: 'ok', ready: false, secret: false, event: false, saReady: false, mergeReady: false, rotated: false, restarted: [], watchFailures: 0, eventFailures: 0, leaseFailures: 0, leader: false };
  const deployment = deploymentOf(objs);
  const kc = await kubeConfigForServiceAccount(ns, deployment.spec!.template.spec!.serviceAccountName!);
  let op: TestOperator | undefined;
  const starting = startTestOperator({ namespaces: [ns], kubeConfig: kc, args: inProcessArgs(deployment) });
  try {
    op = await Promise.race([starting, sleep(15_000).then(() => undefined)]);
    if (!op) probe.startup = 'never completes (caches never sync)';
  } catch (err) {
    probe.startup = `fails: ${(err as Error).message.slice(0, 120)}`;
  }
  if (op) {
    const until = async (check: () => Promise<boolean>, ms: number) => {
      const deadline = Date.now() + ms;
      while (Date.now() < deadline) { if (await check().catch(() => false)) return true; await sleep(200); }
      return false;
    };
    probe.ready = await until(async () => ready(await getEls(ns, 'plain'))?.status === 'True', 12_000);
    probe.secret = (await readSecret(ns, 'plain')) !== undefined;
    probe.event = await until(async () => (await events(ns, 'plain')).some((e) => e.reason === 'Synced'), probe.ready ? 4_000 : 500);
    probe.saReady = await until(async () => ready(await getEls(ns, 'sa'))?.status === 'True', probe.ready ? 8_000 : 500);
    probe.mergeReady = await until(async () => ready(await getEls(ns, 'merge'))?.status === 'True', probe.ready ? 8_000 : 500);
    if (probe.ready) {
      await serially(() => putSecretValue(moto, plainId, { api_key: 'v2' }));
      await patchEls(ns, 'plain', { metadata: { annotations: { [FORCE_SYNC_ANNOTATION]: 'rotate' } } });
      probe.rotated = await until(async () => decoded(await readSecret(ns, 'plain')).K === 'v2', 12_000);
      if (probe.rotated) {
        const apps = adminKubeConfig().makeApiClient(AppsV1Api);
        const read = {
          Deployment: (n: string) => apps.readNamespacedDeployment({ namespace: ns, name: n }),
          StatefulSet: (n: string) => apps.readNamespacedStatefulSet({ namespace: ns, name: n }),
          DaemonSet: (n: string) => apps.readNamespacedDaemonSet({ namespace: ns, name: n }),
        };
        await until(async () => {
          const done = await Promise.all(WORKLOADS.map(async (k) => (await read[k](`app-${k.toLowerCase()}`)).spec?.template.metadata?.annotations?.[RESTARTED_AT_ANNOTATION] !== undefined));
          return done.every(Boolean);
        }, 5_000);
        for (const k of WORKLOADS) {
          if ((await read[k](`app-${k.toLowerCase()}`)).spec?.template.metadata?.annotations?.[RESTARTED_AT_ANNOTATION]) probe.restarted.push(k);
        }
      }
    }
    // Two more lease retry periods (2 s each), so a leader that cannot renew has tried to.
    await sleep(4_500);
    probe.leader = op.isLeader();
    probe.leaseFailures = op.lines.filter((l) => l.msg === 'lease update failed').length;
    probe.watchFailures = op.lines.filter((l) => l.msg === 'watch failed; restarting').length;
    probe.eventFailures = op.lines.filter((l) => l.msg === 'could not record event').length;
    await op.stop();
  } else {
    // Start-up hangs: stop it if it ever completes.
    void starting.then((late) => late.stop(), () => undefined);
  }
  void label;
  return probe;
}

function broke(p: Probe): string {
  const what: string[] = [];
  if (p.startup !== 'ok') what.push(`start-up ${p.startup}`);
  else {
    if (!p.leader) what.push('never becomes leader');
    if (!p.ready) what.push('never Ready');
    else if (!p.secret) what.push('no Secret');
    if (p.ready && !p.event) what.push(`no Events (${p.eventFailures} "could not record event")`);
    if (p.ready && !p.saReady) what.push('serviceAccountRef resource never Ready');
    if (p.ready && !p.mergeReady) what.push('Merge into an existing Secret never Ready');
    if (p.ready && !p.rotated) what.push('rotation not written');
    if (p.rotated && p.restarted.length < WORKLOADS.length) what.push(`rollout restart missing for ${WORKLOADS.filter((k) => !p.restarted.includes(k)).join(', ')}`);
    if (p.leaseFailures > 0) what.push(`lease renewal fails (${p.leaseFailures} "lease update failed"; leadership is lost after the renew deadline)`);
    if (p.watchFailures > 0) what.push(`watch down (${p.watchFailures} "watch failed; restarting"; /readyz fails)`);
  }
  return what.join('; ');
}

type Removal = { label: string; mutate: (objs: Obj[]) => void };

function describeRule(r: V1PolicyRule): string {
  return `${r.apiGroups!.map((g) => g || 'core').join(',')} ${r.resources!.join(',')}${r.resourceNames ? `[${r.resourceNames.join(',')}]` : ''}`;
}

function removals(): { rules: Removal[]; verbs: Removal[] } {
  const objs = template('shape', 'shape', { rolloutRestart: { enabled: true }, crds: { install: false } });
  const clusterRole = kind(objs, 'ClusterRole')[0] as V1ClusterRole;
  const leaseRole = kind(objs, 'Role')[0] as V1Role;
  const rules: Removal[] = [];
  const verbs: Removal[] = [];
  for (const [k, role] of [['ClusterRole', clusterRole], ['Role', leaseRole]] as const) {
    role.rules!.forEach((rule, i) => {
      const pick = (o: Obj[]) => o.find((x) => x.kind === k) as unknown as { rules: V1PolicyRule[] };
      rules.push({ label: `${k}: ${describeRule(rule)} ${rule.verbs.join(',')}`, mutate: (o) => { pick(o).rules.splice(i, 1); } });
      const axes: Array<['verbs' | 'resources', string[]]> = [['verbs', rule.verbs], ['resources', rule.resources!]];
      for (const [axis, items] of axes) {
        if (items.length < 2) continue;
        for (const item of items) {
          verbs.push({
            label: `${k}: ${describeRule(rule)} minus ${axis === 'verbs' ? 'verb' : 'resource'} ${item}`,
            mutate: (o) => { const r = pick(o).rules[i]!; r[axis] = r[axis]!.filter((x) => x !== item); },
          });
        }
      }
    });
  }
  return { rules, verbs };
}

async function inBatches<T, R>(items: T[], size: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += size) out.push(...await Promise.all(items.slice(i, i + size).map(fn)));
  return out;
}

function report(title: string, rows: Array<[string, string]>): void {
  const text = [`${title}`, '| removed | what broke |', '|---|---|', ...rows.map(([a, b]) => `| ${a} | ${b || 'NOTHING'} |`)].join('\n');
  process.stderr.write(`${text}\n`);
  writeFileSync(join(getTestEnv().logsDir, `${title.replace(/\W+/g, '-')}.md`), `${text}\n`);
}

describe('RBAC: nothing granted without a reason', () => {
  it('the full chart RBAC passes every probe', async () => {
    const p = await rbacScenario('baseline', () => undefined);
    expect(broke(p)).toBe('');
    expect(p).toMatchObject({ startup: 'ok', ready: true, secret: true, event: true, saReady: true, rotated: true, leader: true, watchFailures: 0, eventFailures: 0, leaseFailures: 0 });
    expect(p.restarted).toEqual([...WORKLOADS]);
  }, 120_000);

  /** Runs the operator once per removal and expects every one of them to break something. */
  async function expectEachRemovalBreaks(title: string, list: ReturnType<typeof removals>['rules']): Promise<void> {
    const results = await inBatches(list, 5, async (r) => [r.label, broke(await rbacScenario(r.label, r.mutate))] as [string, string]);
    report(title, results);
    for (const [label, what] of results) expect(what, label).not.toBe('');
  }

  it('removing any one rule breaks something', () => expectEachRemovalBreaks('RBAC rule removal', removals().rules), 600_000);

  it('removing any one verb (or resource) of a multi-verb rule breaks something', () => expectEachRemovalBreaks('RBAC verb removal', removals().verbs), 900_000);
});

// ----- examples/ and docs/install-eks.md stay valid -----

describe('examples and docs', () => {
  const examples = readdirSync(join(repoRoot, 'examples')).filter((f) => /\.ya?ml$/.test(f)).sort();

  it('has the promised examples', () => {
    expect(examples).toEqual(expect.arrayContaining(['openai.yaml', 'anthropic.yaml', 'bedrock-api-key.yaml', 'bedrock-iam.yaml', 'deployment-envfrom.yaml', 'deployment-volume.yaml']));
  });

  it.each(examples)('examples/%s is accepted by the apiserver (server-side dry run)', async (file) => {
    const ns = await freshNamespace('example');
    const objs = parseAllDocuments(readFileSync(join(repoRoot, 'examples', file), 'utf8')).map((d) => d.toJS() as Obj | null).filter((o): o is Obj => !!o);
    expect(objs.length).toBeGreaterThan(0);
    await dryRunAll(objs.map((o) => ({ ...o, metadata: { ...o.metadata, namespace: ns } })));
  });

  it('every Kubernetes object in docs/install-eks.md is accepted by the apiserver (server-side dry run)', async () => {
    const doc = readFileSync(join(repoRoot, 'docs', 'install-eks.md'), 'utf8');
    const blocks = [...doc.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
    const objs = blocks.flatMap((b) => parseAllDocuments(b).map((d) => d.toJS() as Obj | null)).filter((o): o is Obj => !!o && typeof o.apiVersion === 'string' && typeof o.kind === 'string');
    expect(objs.length).toBeGreaterThanOrEqual(2);
    const ns = await freshNamespace('docs');
    await dryRunAll(objs.map((o) => ({ ...o, metadata: { ...o.metadata, namespace: ns } })));
    // The values blocks in the doc are valid chart values.
    const valueBlocks = blocks.filter((b) => !/^\s*apiVersion:/m.test(b));
    for (const b of valueBlocks) helmOk(['template', 'docs', CHART, '-f', valuesFile(parseYaml(b) as object)]);
    // The JSON policies parse.
    for (const m of doc.matchAll(/```json\n([\s\S]*?)```/g)) expect(() => JSON.parse(m[1]!)).not.toThrow();
  });
});

