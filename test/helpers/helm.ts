// Shared by the test/helm-*.test.ts files: running helm against the chart, rendering it,
// server-side applying what it renders, and the namespaces, releases and cluster-scoped objects a
// file creates (cleaned up after the file by useHelmCluster).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubernetesObjectApi, loadYaml, PatchStrategy, type KubernetesObject, type V1Deployment } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, expect } from 'vitest';
import { adminKubeConfig, applyCrds, createTestNamespace, deleteTestNamespace, getTestEnv, repoRoot } from '../env/index.js';

export const CHART = join(repoRoot, 'deploy', 'helm', 'external-llm-secrets');
export const tmp = mkdtempSync(join(tmpdir(), 'els-helm-'));
export const suffix = () => Math.random().toString(36).slice(2, 7);
export type Obj = KubernetesObject & Record<string, unknown>;

export function helm(args: string[]): { code: number; stdout: string; stderr: string } {
  const env = getTestEnv();
  const r = spawnSync(env.helmPath, args, { encoding: 'utf8', timeout: 120_000, env: { ...process.env, HELM_CACHE_HOME: join(tmp, 'cache'), HELM_CONFIG_HOME: join(tmp, 'config'), HELM_DATA_HOME: join(tmp, 'data') } });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

export function helmOk(args: string[]): string {
  const r = helm(args);
  if (r.code !== 0) throw new Error(`helm ${args.join(' ')} failed (${r.code}):\n${r.stderr}`);
  return r.stdout;
}

export function valuesFile(values: object): string {
  const path = join(tmp, `values-${suffix()}.json`);
  writeFileSync(path, JSON.stringify(values));
  return path;
}

export function template(release: string, namespace: string, values: object = {}, extra: string[] = []): Obj[] {
  const text = helmOk(['template', release, CHART, '--namespace', namespace, '-f', valuesFile(values), ...extra]);
  return parseAllDocuments(text).map((d) => d.toJS() as Obj | null).filter((o): o is Obj => !!o && typeof o === 'object' && 'kind' in o);
}

export const objectApi = () => KubernetesObjectApi.makeApiClient(adminKubeConfig());

/** Server-side apply as the admin; dryRun 'All' validates without persisting. */
export async function apply(obj: Obj, dryRun?: 'All'): Promise<void> {
  const body = { ...obj, metadata: { ...obj.metadata, managedFields: undefined, resourceVersion: undefined } };
  // Into client-node's model first: serialising a plain object drops fields whose JSON names
  // differ from the model's (enum, default, x-kubernetes-validations...).
  await objectApi().patch(loadYaml(JSON.stringify(body)) as KubernetesObject, undefined, dryRun, 'els-helm-test', true, PatchStrategy.ServerSideApply);
}

export async function dryRunAll(objs: Obj[]): Promise<void> {
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

export const kind = (objs: Obj[], k: string) => objs.filter((o) => o.kind === k);
export const deploymentOf = (objs: Obj[]) => kind(objs, 'Deployment')[0] as unknown as V1Deployment;
export const argsOf = (objs: Obj[]) => deploymentOf(objs).spec!.template.spec!.containers[0]!.args ?? [];

/** The flags of the installed Deployment that matter in-process (leader election, concurrency). */
export function inProcessArgs(deployment: V1Deployment): string[] {
  const keep = ['--leader-elect', '--leader-election-namespace', '--leader-election-id', '--concurrent', '--session-tags'];
  return (deployment.spec!.template.spec!.containers[0]!.args ?? []).filter((a) => keep.includes(a.split('=')[0]!));
}

export interface HelmCluster {
  /** A new test namespace, deleted after the file. */
  freshNamespace(prefix: string): Promise<string>;
  /** A release to uninstall after the file. */
  trackRelease(release: { name: string; namespace: string }): void;
  /** A cluster-scoped object to delete after the file. */
  trackClusterObject(obj: Obj): void;
}

/**
 * Call once at the top of a file that uses the cluster: applies the CRDs before the file, and
 * after it uninstalls its releases and deletes its cluster-scoped objects and namespaces.
 */
export function useHelmCluster(): HelmCluster {
  const namespaces: string[] = [];
  const releases: Array<{ name: string; namespace: string }> = [];
  const clusterObjects: Obj[] = [];

  beforeAll(async () => {
    await applyCrds();
  });

  afterAll(async () => {
    for (const r of releases) helm(['uninstall', r.name, '--namespace', r.namespace, '--kubeconfig', getTestEnv().kubeconfigPath, '--wait=false']);
    for (const o of clusterObjects) await objectApi().delete(o).catch(() => undefined);
    await Promise.all(namespaces.map((ns) => deleteTestNamespace(ns)));
  });

  return {
    async freshNamespace(prefix) {
      const ns = await createTestNamespace(prefix);
      namespaces.push(ns);
      return ns;
    },
    trackRelease: (release) => { releases.push(release); },
    trackClusterObject: (obj) => { clusterObjects.push(obj); },
  };
}
