// The chart's RBAC, least privilege proven: the chart's rules let the operator (as the chart's
// ServiceAccount) do everything, and each rule (and each verb) removed in turn breaks something.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AppsV1Api, type V1ClusterRole, type V1PolicyRule, type V1Role } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { FORCE_SYNC_ANNOTATION, RESTARTED_AT_ANNOTATION } from '../src/crds/constants.js';
import { adminKubeConfig, allowAllPolicy, createRole, createSecret, getTestEnv, kubeConfigForServiceAccount, putSecretValue } from './env/index.js';
import { core, createEls, decoded, events, getEls, patchEls, readSecret, ready, sleep } from './helpers/els.js';
import { apply, deploymentOf, inProcessArgs, kind, suffix, template, useHelmCluster, type Obj } from './helpers/helm.js';
import { startTestOperator, type TestOperator } from './helpers/operator.js';

const { freshNamespace, trackClusterObject } = useHelmCluster();

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

/** Every optional permission on, so each rule has a probe that needs it. */
const SCENARIO_VALUES = { rolloutRestart: { enabled: true }, serviceAccountAuth: { enabled: true }, crds: { install: false } };

/** Installs the chart's RBAC (as rendered, minus `mutate`'s removal) and runs the probe. */
async function rbacScenario(label: string, mutate: (objs: Obj[]) => void): Promise<Probe> {
  const env = getTestEnv();
  const ns = await freshNamespace('rbac');
  const release = `rbac-${suffix()}`;
  const objs = template(release, ns, SCENARIO_VALUES);
  const rbacKinds = ['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding'];
  const rbac = objs.filter((o) => rbacKinds.includes(o.kind!));
  mutate(rbac);
  for (const o of rbac) {
    await apply(o);
    if (!o.metadata?.namespace) trackClusterObject(o);
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
  await core().createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'shared', annotations: { 'llmsecrets.dev/merge-from': 'merge' } }, stringData: { THEIRS: 'keep' } } });
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
  const objs = template('shape', 'shape', SCENARIO_VALUES);
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
