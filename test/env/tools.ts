// Where test/env/tools.sh puts each tool. The versions and ELS_* overrides mirror the top of
// tools.sh; keep the two in step when bumping a version.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export const versions = {
  kubernetes: process.env.ELS_K8S_VERSION ?? '1.37.2',
  etcd: process.env.ELS_ETCD_VERSION ?? '3.6.16',
  helm: process.env.ELS_HELM_VERSION ?? '3.21.4',
  moto: process.env.ELS_MOTO_VERSION ?? '5.2.5',
};

export const cacheDir = process.env.ELS_CACHE_DIR ?? join(homedir(), '.cache', 'external-llm-secrets');

export const toolPaths = {
  kubeApiserver: join(cacheDir, `kubernetes-v${versions.kubernetes}`, 'kube-apiserver'),
  kubeControllerManager: join(cacheDir, `kubernetes-v${versions.kubernetes}`, 'kube-controller-manager'),
  kubectl: join(cacheDir, `kubectl-v${versions.kubernetes}`, 'kubectl'),
  etcd: join(cacheDir, `etcd-v${versions.etcd}`, 'etcd'),
  helm: join(cacheDir, `helm-v${versions.helm}`, 'helm'),
  motoServer: join(cacheDir, `moto-${versions.moto}`, 'bin', 'moto_server'),
};

/** Tools tools.sh has not (fully) built yet; moto counts only once its install is marked complete. */
export function missingTools(): string[] {
  const missing = Object.entries(toolPaths)
    .filter(([name, path]) => name !== 'motoServer' && !existsSync(path))
    .map(([name]) => name);
  if (!existsSync(join(cacheDir, `moto-${versions.moto}`, '.complete'))) missing.push('motoServer');
  return missing;
}

/** Builds whatever is missing (first run: 10-20 minutes for Kubernetes), progress on stderr. */
export function ensureTools(): void {
  if (missingTools().length === 0) return;
  const script = join(repoRoot, 'test', 'env', 'tools.sh');
  const result = spawnSync('bash', [script, 'all'], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (result.status !== 0) throw new Error(`${script} all failed (exit ${result.status ?? result.signal})`);
  const still = missingTools();
  if (still.length > 0) throw new Error(`tools.sh finished but these are missing: ${still.join(', ')}`);
}
