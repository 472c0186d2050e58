// The Helm chart's files, and the chart rendered: lint and render for several value sets, every
// rendered object accepted by the real apiserver in a server-side dry run.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AuthorizationV1Api, RbacAuthorizationV1Api, type V1ClusterRole } from '@kubernetes/client-node';
import { parse as parseYaml } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { adminKubeConfig, applyCrd, MOTO_ACCOUNT_ID, repoRoot } from './env/index.js';
import { until } from './helpers/els.js';
import { apply, argsOf, CHART, deploymentOf, dryRunAll, helmOk, kind, suffix, template, useHelmCluster, valuesFile, type Obj } from './helpers/helm.js';

const { freshNamespace, trackClusterObject } = useHelmCluster();

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

const PROMETHEUS_RULE_CRD = {
  ...SERVICE_MONITOR_CRD,
  metadata: { name: 'prometheusrules.monitoring.coreos.com' },
  spec: { ...SERVICE_MONITOR_CRD.spec, names: { kind: 'PrometheusRule', listKind: 'PrometheusRuleList', plural: 'prometheusrules', singular: 'prometheusrule' } },
};

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

  it('ships the example alerts identical to deploy/prometheus/', () => {
    expect(readFileSync(join(CHART, 'files', 'alerts.yaml'), 'utf8')).toBe(readFileSync(join(repoRoot, 'deploy', 'prometheus', 'alerts.yaml'), 'utf8'));
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
        // The operator's ClusterRole, then the aggregated view and edit roles (rbac.aggregateTo*).
        expect(kind(objs, 'ClusterRole').map((r) => r.metadata!.name!.replace(/^dry-\w+-external-llm-secrets/, ''))).toEqual(['', '-view', '-edit']);
        expect(kind(objs, 'ClusterRoleBinding')).toHaveLength(1);
        expect(kind(objs, 'CustomResourceDefinition')).toHaveLength(1);
        expect(kind(objs, 'PrometheusRule')).toHaveLength(0);
        expect(kind(objs, 'Secret').map((x) => x.metadata!.name)).toEqual([expect.stringMatching(/-hash-key$/)]);
        const rules = (kind(objs, 'ClusterRole')[0] as V1ClusterRole).rules!;
        // Minting ServiceAccount tokens is opt-in (serviceAccountAuth.enabled).
        expect(rules.some((r) => r.resources!.some((x) => x.startsWith('serviceaccounts')))).toBe(false);
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
        // No cluster-wide access for the operator: the only ClusterRoles are the aggregated user
        // roles, which bind nobody.
        expect(kind(objs, 'ClusterRole').map((r) => r.metadata!.name).every((n) => /-(view|edit)$/.test(n!))).toBe(true);
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
      name: 'ServiceAccount tokens cluster-wide, or only in listed tenant namespaces',
      values: (ns) => ({ serviceAccountAuth: { enabled: true, namespaces: [ns[1]] } }),
      check: (objs, ns) => {
        const cluster = (kind(objs, 'ClusterRole')[0] as V1ClusterRole).rules!;
        expect(cluster.some((r) => r.resources!.some((x) => x.startsWith('serviceaccounts'))), 'nothing cluster-wide').toBe(false);
        const tokens = kind(objs, 'Role').filter((r) => r.metadata!.name!.endsWith('-tokens')) as V1ClusterRole[];
        expect(tokens.map((r) => r.metadata!.namespace)).toEqual([ns[1]]);
        expect(tokens[0]!.rules!.flatMap((r) => r.resources)).toEqual(['serviceaccounts', 'serviceaccounts/token']);
        expect(kind(objs, 'RoleBinding').some((b) => b.metadata!.name!.endsWith('-tokens') && b.metadata!.namespace === ns[1])).toBe(true);
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
        // The deprecated roleRules are appended to the default access rules, as they are.
        const rulesCm = cms.find((c) => c.metadata!.name!.endsWith('-access-rules')) as unknown as { data: Record<string, string> };
        expect(JSON.parse(rulesCm.data['rules.json']!)).toEqual([
          { namespaces: ['*'], secrets: ['${namespace}/*'] },
          { namespaces: ['team-a'], roles: [`arn:aws:iam::${MOTO_ACCOUNT_ID}:role/team-a-*`] },
        ]);
        const args = argsOf(objs);
        expect(args).toEqual(expect.arrayContaining(['--access-rules-file=/etc/external-llm-secrets/access-rules/rules.json', '--relist-interval=5m', '--per-resource-metrics', '--default-region=eu-west-1', '--session-tags=namespace-and-name']));
        const spec = deploymentOf(objs).spec!.template.spec!;
        expect(spec.topologySpreadConstraints![0]!.labelSelector?.matchLabels).toMatchObject({ 'app.kubernetes.io/name': 'external-llm-secrets' });
        expect(spec.priorityClassName).toBe('system-cluster-critical');
        expect(kind(objs, 'ServiceAccount')[0]!.metadata!.labels!['llmsecrets.dev/aws-auth']).toBe('irsa');
      },
    },
    {
      name: 'aggregated roles off, PrometheusRule with extra rules, extraObjects, an existing hash-key Secret',
      values: () => ({
        rbac: { aggregateToView: false, aggregateToEdit: false },
        prometheusRule: { enabled: true, additionalLabels: { release: 'prometheus' }, extraRules: [{ alert: 'ExternalLLMSecretsDown', expr: 'absent(up{job="els"})', for: '5m' }] },
        extraObjects: [
          { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: '{{ .Release.Name }}-extra' }, data: { ns: '{{ .Release.Namespace }}' } },
          'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ include "els.fullname" . }}-from-string\n',
        ],
        hashKey: { existingSecret: 'gitops-hash-key', existingSecretKey: 'key' },
      }),
      check: (objs, ns) => {
        expect(kind(objs, 'ClusterRole')).toHaveLength(1);
        const rule = kind(objs, 'PrometheusRule')[0] as unknown as { metadata: { labels: Record<string, string> }; spec: { groups: Array<{ name: string; rules: Array<{ alert: string; annotations?: Record<string, string> }> }> } };
        expect(rule.metadata.labels.release).toBe('prometheus');
        const alerts = parseYaml(readFileSync(join(repoRoot, 'deploy', 'prometheus', 'alerts.yaml'), 'utf8')) as { groups: unknown[] };
        // The example alerts as they are ({{ $labels }} left to Prometheus), then the extra group.
        expect(rule.spec.groups.slice(0, -1)).toEqual(alerts.groups);
        expect(rule.spec.groups[0]!.rules[0]!.annotations!.summary).toContain('{{ $labels.namespace }}/{{ $labels.name }}');
        expect(rule.spec.groups.at(-1)).toEqual({ name: 'external-llm-secrets-extra', rules: [{ alert: 'ExternalLLMSecretsDown', expr: 'absent(up{job="els"})', for: '5m' }] });
        const cms = kind(objs, 'ConfigMap');
        const extra = cms.find((c) => c.metadata!.name!.endsWith('-extra')) as unknown as { metadata: { name: string }; data: Record<string, string> };
        expect(extra.metadata.name).toMatch(/^dry-\w+-extra$/);
        expect(extra.data.ns).toBe(ns[0]);
        expect(cms.some((c) => /^dry-\w+-external-llm-secrets-from-string$/.test(c.metadata!.name!))).toBe(true);
        // No chart-made hash key: the Deployment reads the one named.
        expect(kind(objs, 'Secret')).toHaveLength(0);
        const env = deploymentOf(objs).spec!.template.spec!.containers[0]!.env!.find((e) => e.name === 'ELS_HASH_KEY');
        expect(env?.valueFrom?.secretKeyRef).toEqual({ name: 'gitops-hash-key', key: 'key' });
      },
    },
  ];

  beforeAll(async () => {
    await applyCrd(SERVICE_MONITOR_CRD as never);
    await applyCrd(PROMETHEUS_RULE_CRD as never);
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
});

describe('the hash key and GitOps', () => {
  it('without hashKey.existingSecret every `helm template` draws a new key (what Argo CD would apply); with it, renders are identical and hold no key', () => {
    const key = (text: string) => /hash-key: "([^"]+)"/.exec(text)?.[1];
    const render = (extra: string[]) => helmOk(['template', 'gitops', CHART, '--namespace', 'gitops', ...extra]);
    const [a, b] = [render([]), render([])];
    expect(key(a)).toMatch(/^[A-Za-z0-9+/=]{80,}$/);
    expect(key(a)).not.toBe(key(b));
    const pinned = ['--set', 'hashKey.existingSecret=els-hash-key'];
    const [c, d] = [render(pinned), render(pinned)];
    expect(c).toBe(d);
    expect(key(c)).toBeUndefined();
    expect(c).toContain('name: els-hash-key\n                  key: hash-key');
  });
});

describe('aggregated user roles', () => {
  it('a namespace editor may create ExternalLLMSecrets and a viewer may only read them, through the built-in edit and view roles', async () => {
    const ns = await freshNamespace('helm-agg');
    const objs = template(`agg-${suffix()}`, ns, {});
    const roles = kind(objs, 'ClusterRole').filter((r) => /-(view|edit)$/.test(r.metadata!.name!));
    expect(roles).toHaveLength(2);
    for (const r of roles) { await apply(r); trackClusterObject(r); }
    const rbac = adminKubeConfig().makeApiClient(RbacAuthorizationV1Api);
    for (const [user, role] of [['editor', 'edit'], ['viewer', 'view']] as const) {
      await rbac.createNamespacedRoleBinding({ namespace: ns, body: { metadata: { name: user }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role }, subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }] } });
    }
    const authz = adminKubeConfig().makeApiClient(AuthorizationV1Api);
    const can = async (user: string, verb: string) => (await authz.createSubjectAccessReview({ body: { spec: { user, resourceAttributes: { namespace: ns, verb, group: 'llmsecrets.dev', resource: 'externalllmsecrets' } } } })).status!.allowed;
    // The aggregation controller folds the labelled roles into edit and view.
    await until('edit and view aggregate the chart\'s roles', async () => ((await can('editor', 'create')) && (await can('viewer', 'list')) ? true : undefined), 30_000);
    expect(await can('editor', 'delete')).toBe(true);
    expect(await can('viewer', 'get')).toBe(true);
    expect(await can('viewer', 'create')).toBe(false);
    expect(await can('viewer', 'delete')).toBe(false);
    // Nothing granted beyond the namespace the roles are bound in.
    expect((await authz.createSubjectAccessReview({ body: { spec: { user: 'editor', resourceAttributes: { namespace: 'default', verb: 'create', group: 'llmsecrets.dev', resource: 'externalllmsecrets' } } } })).status!.allowed).toBe(false);
  });
});
