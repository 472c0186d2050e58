// A real, minimal Kubernetes control plane for tests: etcd + kube-apiserver + kube-controller-manager
// (garbage collector, namespace, service-account and ClusterRole aggregation controllers), all on
// 127.0.0.1, no kubelet.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { createPki, readPem, type ClusterPki } from './certs.js';
import { freePort, newLogsDir, startProcess, waitFor, type ManagedProcess } from './proc.js';
import { toolPaths } from './tools.js';

export interface AdminTls {
  server: string;
  caPem: string;
  adminCertPem: string;
  adminKeyPem: string;
}

export interface Cluster extends AdminTls {
  kubeconfigPath: string;
  logsDir: string;
  /** Directory with certificates, etcd data and kubeconfig; removed by stop(). */
  dir: string;
  stop(): Promise<void>;
}

export const SERVICE_ACCOUNT_ISSUER = 'https://kubernetes.default.svc.cluster.local';

/** GET (or other method) on the apiserver as the admin client certificate; resolves status and body. */
export function adminRequest(tls: AdminTls, path: string, method = 'GET'): Promise<{ status: number; body: string }> {
  return new Promise((resolveResponse, reject) => {
    const req = request(new URL(path, tls.server), { method, ca: tls.caPem, cert: tls.adminCertPem, key: tls.adminKeyPem, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolveResponse({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`timeout on ${path}`)));
    req.on('error', reject);
    req.end();
  });
}

async function startEtcd(dir: string, logsDir: string): Promise<{ proc: ManagedProcess; url: string }> {
  const [clientPort, peerPort] = [await freePort(), await freePort()];
  const url = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const proc = startProcess('etcd', toolPaths.etcd, [
    '--name=default', `--data-dir=${join(dir, 'etcd')}`,
    `--listen-client-urls=${url}`, `--advertise-client-urls=${url}`,
    `--listen-peer-urls=${peer}`, `--initial-advertise-peer-urls=${peer}`, `--initial-cluster=default=${peer}`,
    '--unsafe-no-fsync', // throwaway data: skipping fsync makes every write much faster
    '--log-level=warn',
  ], { logsDir });
  await waitFor('etcd health', async () => {
    const res = await fetch(`${url}/health`);
    return res.ok && (await res.json() as { health?: string }).health === 'true' ? true : undefined;
  }, { timeoutMs: 30_000, proc });
  return { proc, url };
}

function apiserverArgs(pki: ClusterPki, etcdUrl: string, port: number): string[] {
  return [
    `--etcd-servers=${etcdUrl}`,
    '--bind-address=127.0.0.1', '--advertise-address=127.0.0.1', `--secure-port=${port}`,
    `--tls-cert-file=${pki.servingCert}`, `--tls-private-key-file=${pki.servingKey}`,
    `--client-ca-file=${pki.caCert}`,
    '--authorization-mode=RBAC',
    `--service-account-issuer=${SERVICE_ACCOUNT_ISSUER}`,
    `--service-account-key-file=${pki.saPub}`, `--service-account-signing-key-file=${pki.saKey}`,
    '--service-cluster-ip-range=10.0.0.0/24',
    // The endpoint reconciler refuses a loopback advertise address; nothing here needs the
    // `kubernetes` Service endpoints (no pods run), so turn it off.
    '--endpoint-reconciler-type=none',
    // Lighter: no profiling endpoints, no API priority-and-fairness queueing for a test cluster.
    '--profiling=false', '--enable-priority-and-fairness=false',
    '--v=1',
  ];
}

function writeKubeconfig(path: string, tls: AdminTls): void {
  const b64 = (pem: string) => Buffer.from(pem).toString('base64');
  writeFileSync(path, stringify({
    apiVersion: 'v1', kind: 'Config',
    clusters: [{ name: 'els-test', cluster: { server: tls.server, 'certificate-authority-data': b64(tls.caPem) } }],
    users: [{ name: 'admin', user: { 'client-certificate-data': b64(tls.adminCertPem), 'client-key-data': b64(tls.adminKeyPem) } }],
    contexts: [{ name: 'els-test', context: { cluster: 'els-test', user: 'admin', namespace: 'default' } }],
    'current-context': 'els-test',
  }), { mode: 0o600 });
}

async function startControllerManager(dir: string, logsDir: string, kubeconfigPath: string, pki: ClusterPki): Promise<ManagedProcess> {
  const port = await freePort();
  const certDir = join(dir, 'kcm-certs');
  mkdirSync(certDir);
  return startProcess('kube-controller-manager', toolPaths.kubeControllerManager, [
    `--kubeconfig=${kubeconfigPath}`,
    // clusterrole-aggregation: the chart's aggregated view/edit ClusterRoles (test/helm-chart.test.ts).
    '--controllers=garbage-collector-controller,namespace-controller,serviceaccount-controller,root-ca-certificate-publisher-controller,clusterrole-aggregation-controller',
    `--root-ca-file=${pki.caCert}`,
    '--bind-address=127.0.0.1', `--secure-port=${port}`, `--cert-dir=${certDir}`,
    '--leader-elect=false', '--profiling=false', '--v=1',
  ], { logsDir });
}

async function waitUntilServing(tls: AdminTls, apiserver: ManagedProcess, kcm: ManagedProcess): Promise<void> {
  await waitFor('kube-apiserver /readyz', async () => ((await adminRequest(tls, '/readyz')).status === 200 ? true : undefined),
    { timeoutMs: 90_000, proc: apiserver });
  // The serviceaccount controller creates `default` in every namespace; tests rely on it.
  await waitFor('the default ServiceAccount', async () =>
    ((await adminRequest(tls, '/api/v1/namespaces/default/serviceaccounts/default')).status === 200 ? true : undefined),
  { timeoutMs: 60_000, proc: kcm });
}

/** Starts etcd, kube-apiserver and kube-controller-manager; resolves once the API serves requests. */
export async function startCluster(opts: { dir?: string; logsDir?: string } = {}): Promise<Cluster> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'els-cluster-'));
  mkdirSync(dir, { recursive: true });
  const logsDir = opts.logsDir ?? newLogsDir();
  const pki = createPki(dir);
  const procs: ManagedProcess[] = [];
  const stopAll = async () => {
    // Reverse start order: controllers, then the apiserver, then etcd.
    for (const proc of [...procs].reverse()) await proc.stop();
  };
  try {
    const etcd = await startEtcd(dir, logsDir);
    procs.push(etcd.proc);
    const port = await freePort();
    const tls: AdminTls = {
      server: `https://127.0.0.1:${port}`,
      caPem: readPem(pki.caCert), adminCertPem: readPem(pki.adminCert), adminKeyPem: readPem(pki.adminKey),
    };
    const apiserver = startProcess('kube-apiserver', toolPaths.kubeApiserver, apiserverArgs(pki, etcd.url, port), { logsDir });
    procs.push(apiserver);
    const kubeconfigPath = join(dir, 'admin.kubeconfig');
    writeKubeconfig(kubeconfigPath, tls);
    const kcm = await startControllerManager(dir, logsDir, kubeconfigPath, pki);
    procs.push(kcm);
    await waitUntilServing(tls, apiserver, kcm);
    return {
      ...tls, kubeconfigPath, logsDir, dir,
      async stop() {
        await stopAll();
        if (!opts.dir) rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
