// An opt-in real node for suites that need pods to run (test/pods.test.ts): containerd (Debian's
// 1.6, its own config, root, state and socket under a temp dir) + a kubelet built from the same
// Kubernetes module as the apiserver, registered against the run's apiserver, plus a second
// kube-controller-manager that runs only the deployment and replicaset controllers while the node
// is up. Host networking only (no CNI): pods must set `hostNetwork: true`,
// `imagePullPolicy: Never`, and `nodeName: node.name` (there is no scheduler).
//
// Cost: the first start on a machine apt-installs containerd (seconds), builds the kubelet (36 s
// when the apiserver's Go build cache is warm) and saves the images (seconds, once the podman base
// image exists); afterwards a start is 5-8 s on 2 cores: the image import into the fresh
// containerd (4-7 s) plus the kubelet registering.
//
//   const node = await startNode();   // in beforeAll; nodeUnavailableReason() first to skip
//   ... pods with nodeName: node.name, hostPath volumes under node.hostDir ...
//   await node.stop();                // in afterAll: no containerd, shim or kubelet outlives it
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CoreV1Api } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { getTestEnv, type TestEnv } from './environment.js';
import { adminKubeConfig } from './kube.js';
import { freePort, startProcess, waitFor, type ManagedProcess } from './proc.js';
import { cacheDir, repoRoot, toolPaths, versions } from './tools.js';

export const kubeletPath = join(cacheDir, `kubelet-v${versions.kubernetes}`, 'kubelet');

export interface TestNode {
  /** The Node's name: pods set `spec.nodeName` to it. */
  name: string;
  /** A host directory pods may mount as a hostPath to hand results back to the test. */
  hostDir: string;
  /** The workload image (the Node 24 base, has sh and coreutils), present in the node's image store. */
  image: string;
  /** Seconds from startNode() to the Node being Ready-enough to run host-network pods. */
  startSeconds: number;
  logsDir: string;
  stop(): Promise<void>;
}

const log = (message: string) => process.stderr.write(`[test-node] ${message}\n`);

function run(command: string, args: string[], what: string): string {
  const result = spawnSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (result.status !== 0) throw new Error(`${what} failed (exit ${result.status ?? result.signal}): ${(result.stderr || result.stdout || '').trim().slice(-2000)}`);
  return result.stdout.trim();
}

/**
 * Why a node cannot run on this machine, or undefined when it can (as far as can be told without
 * starting it). Suites use it for `describe.skipIf` and print it.
 */
export function nodeUnavailableReason(): string | undefined {
  if (process.env.ELS_SKIP_NODE) return `ELS_SKIP_NODE is set (${process.env.ELS_SKIP_NODE})`;
  if (process.platform !== 'linux') return `a node needs Linux, this is ${process.platform}`;
  if (process.getuid?.() !== 0) return 'a node needs root (containerd, runc, mounts); this run is not root';
  if (!existsSync('/etc/debian_version')) return 'node set-up apt-installs containerd and needs Debian';
  return undefined;
}

/** Installs containerd + the runc wrapper, builds the kubelet and the images if missing. Idempotent. */
function prepare(): { wrapper: string; archive: string } {
  const envDir = join(repoRoot, 'test', 'env');
  const wrapper = run('bash', [join(envDir, 'node-setup.sh'), 'runtime'], 'node-setup.sh runtime');
  if (!existsSync(kubeletPath)) {
    const result = spawnSync('bash', [join(envDir, 'tools.sh'), 'kubelet'], { stdio: ['ignore', 'inherit', 'inherit'] });
    if (result.status !== 0) throw new Error(`tools.sh kubelet failed (exit ${result.status ?? result.signal})`);
  }
  const archive = run('bash', [join(envDir, 'node-setup.sh'), 'images'], 'node-setup.sh images');
  return { wrapper, archive };
}

function containerdConfig(dir: string, wrapper: string, sandboxImage: string): string {
  const q = JSON.stringify;
  return [
    'version = 2',
    `root = ${q(join(dir, 'containerd', 'root'))}`,
    `state = ${q(join(dir, 'containerd', 'state'))}`,
    // Plugins this node does not use; "opt" would write to /opt/containerd.
    'disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp"]',
    '[grpc]',
    `  address = ${q(join(dir, 'containerd.sock'))}`,
    '[ttrpc]',
    `  address = ${q(join(dir, 'containerd.sock.ttrpc'))}`,
    '[plugins."io.containerd.grpc.v1.cri"]',
    // No registry: the sandbox ("pause") image is a local image whose command blocks.
    `  sandbox_image = ${q(sandboxImage)}`,
    '  [plugins."io.containerd.grpc.v1.cri".containerd]',
    '    snapshotter = "overlayfs"',
    '    default_runtime_name = "runc"',
    '    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]',
    '      runtime_type = "io.containerd.runc.v2"',
    '      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]',
    // The wrapper strips process.rlimits and process.oomScoreAdj, which this VM refuses.
    `        BinaryName = ${q(wrapper)}`,
    // cgroupfs, like the kubelet's cgroupDriver (no systemd as PID 1 on these machines).
    '        SystemdCgroup = false',
    // Host networking only: an empty CNI directory of our own, never the host's /etc/cni.
    '  [plugins."io.containerd.grpc.v1.cri".cni]',
    `    bin_dir = ${q(join(dir, 'cni', 'bin'))}`,
    `    conf_dir = ${q(join(dir, 'cni', 'net.d'))}`,
    '',
  ].join('\n');
}

function kubeletConfig(dir: string, caFile: string, port: number, healthzPort: number): object {
  const endpoint = `unix://${join(dir, 'containerd.sock')}`;
  return {
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    // Loopback only, like the rest of the test environment; the read-only port is off.
    address: '127.0.0.1', port, healthzBindAddress: '127.0.0.1', healthzPort, readOnlyPort: 0,
    // The kubelet API (logs, exec) accepts only client certificates of the test CA (the
    // apiserver's admin); no anonymous access, no webhook (the tests do not use the API).
    authentication: { anonymous: { enabled: false }, webhook: { enabled: false }, x509: { clientCAFile: caFile } },
    authorization: { mode: 'AlwaysAllow' },
    // This node's own containerd (never a system one at /run/containerd).
    containerRuntimeEndpoint: endpoint,
    imageServiceEndpoint: endpoint,
    // containerd is configured with SystemdCgroup = false; the two must agree.
    cgroupDriver: 'cgroupfs',
    // These machines are cgroup v1/hybrid; the kubelet refuses v1 unless told otherwise.
    failCgroupV1: false,
    // No kubepods/QoS cgroup hierarchy and no node-allocatable enforcement: a throwaway node
    // shares the machine with the test run and must not carve out or limit cgroups.
    cgroupsPerQOS: false,
    enforceNodeAllocatable: [],
    // The VM may have swap; a test node does not care.
    failSwapOn: false,
    // Do not demand specific kernel sysctls (panic, overcommit) the VM does not set.
    protectKernelDefaults: false,
    // No ephemeral-storage accounting (needs the kubelet's own filesystem stats to be exact).
    localStorageCapacityIsolation: false,
    // Never evict: the disk and memory of a busy 2-core CI machine would trip the defaults.
    evictionHard: { 'memory.available': '0%', 'nodefs.available': '0%', 'nodefs.inodesFree': '0%', 'imagefs.available': '0%' },
    // Never garbage-collect images: the node's images cannot be pulled again (no registry).
    imageGCHighThresholdPercent: 100, imageGCLowThresholdPercent: 99,
    // How often the kubelet re-syncs every running pod, which is when a mounted Secret volume is
    // refreshed (the Secret itself is watched). The default 1 m would dominate the measured
    // rotation-to-file latency; 5 s keeps it a small part while costing little CPU for a few pods.
    syncFrequency: '5s',
    // Report status often enough for tests to see pods start promptly (defaults are 10 s / 5 m).
    nodeStatusUpdateFrequency: '5s',
    // Container logs and flexvolume plugins under the temp dir (defaults: /var/log/pods and
    // /usr/libexec/kubernetes); no staticPodPath, so no static pods.
    podLogsDir: join(dir, 'pod-logs'),
    volumePluginDir: join(dir, 'volume-plugins'),
    // Pods use the host network, so they use the host's resolv.conf; no cluster DNS.
    resolvConf: '/etc/resolv.conf',
    // A handful of pods per suite; a low cap makes a runaway test fail visibly instead of
    // filling the machine.
    maxPods: 20,
  };
}

/** A client certificate from the test CA for the kubelet. */
function nodeKubeconfig(dir: string, env: TestEnv, nodeName: string): string {
  // The test CA's key sits next to the admin kubeconfig in the cluster's directory (test/env/certs.ts).
  const clusterDir = dirname(env.kubeconfigPath);
  const caKey = join(clusterDir, 'ca.key');
  const caCert = join(clusterDir, 'ca.crt');
  if (!existsSync(caKey)) throw new Error(`the test CA key is not at ${caKey}`);
  // CN system:node:<name> is the identity a kubelet has; O=system:masters makes RBAC allow it
  // everything. Acceptable for a throwaway test node on a throwaway apiserver (the apiserver runs
  // RBAC only, no Node authorizer), and far simpler than the Node authorizer + NodeRestriction.
  const openssl = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'kubelet-client.key',
    '-out', 'kubelet-client.csr', '-subj', `/O=system:masters/CN=system:node:${nodeName}`]);
  writeFileSync(join(dir, 'kubelet-client.ext'), 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n');
  openssl(['x509', '-req', '-in', 'kubelet-client.csr', '-CA', caCert, '-CAkey', caKey, '-CAcreateserial', '-CAserial', join(dir, 'ca.srl'),
    '-days', '2', '-sha256', '-extfile', 'kubelet-client.ext', '-out', 'kubelet-client.crt']);
  const b64 = (file: string) => readFileSync(file).toString('base64');
  const path = join(dir, 'kubelet.kubeconfig');
  writeFileSync(path, stringify({
    apiVersion: 'v1', kind: 'Config',
    clusters: [{ name: 'els-test', cluster: { server: env.server, 'certificate-authority-data': Buffer.from(env.caPem).toString('base64') } }],
    users: [{ name: nodeName, user: { 'client-certificate-data': b64(join(dir, 'kubelet-client.crt')), 'client-key-data': b64(join(dir, 'kubelet-client.key')) } }],
    contexts: [{ name: 'node', context: { cluster: 'els-test', user: nodeName } }],
    'current-context': 'node',
  }), { mode: 0o600 });
  return path;
}

/** Mount points at or under `dir`, deepest first. */
function mountsUnder(dir: string): string[] {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n')
    .map((line) => line.split(' ')[4]?.replace(/\\040/g, ' '))
    .filter((m): m is string => !!m && (m === dir || m.startsWith(`${dir}/`)));
  return [...new Set(mounts)].sort((a, b) => b.length - a.length);
}

/** Pids whose command line mentions `needle` (containerd shims carry their containerd's socket). */
function pidsMentioning(needle: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(needle)) pids.push(Number(entry));
    } catch { /* gone */ }
  }
  return pids;
}

// The kubelet writes two places outside its root dir whatever its settings: symlinks to container
// logs in /var/log/containers, and its device-plugin socket in /var/lib/kubelet/device-plugins.
const HOST_PATHS = ['/var/log/containers', '/var/lib/kubelet/device-plugins', '/var/lib/kubelet'];

/** Removes this node's log symlinks and the host directories the kubelet created (if empty once it is gone). */
function removeHostLeftovers(dir: string, existedBefore: Set<string>): void {
  try {
    for (const entry of readdirSync('/var/log/containers')) {
      const link = join('/var/log/containers', entry);
      try { if (readlinkSync(link).startsWith(`${dir}/`)) rmSync(link, { force: true }); } catch { /* not a link */ }
    }
  } catch { /* no such dir */ }
  rmSync('/var/lib/kubelet/device-plugins/kubelet.sock', { force: true });
  // Only directories this node created, and only when empty (another node may use them).
  for (const path of HOST_PATHS) {
    if (existedBefore.has(path)) continue;
    try { rmdirSync(path); } catch { /* not empty or gone */ }
  }
}

/** Starts containerd, the kubelet and the deployment/replicaset controllers; resolves once the Node is registered and usable. */
export async function startNode(opts: { env?: TestEnv } = {}): Promise<TestNode> {
  const started = Date.now();
  const env = opts.env ?? getTestEnv();
  const { wrapper, archive } = prepare();
  const image = `localhost/els-node-base:${/node-images-(.+)\.tar$/.exec(archive)![1]}`;
  const sandboxImage = image.replace('els-node-base', 'els-node-pause');
  // Short path: unix socket paths are limited to 108 bytes.
  const dir = mkdtempSync('/tmp/els-node-');
  const name = `els-node-${process.pid}`;
  const logsDir = join(env.logsDir, name);
  mkdirSync(logsDir, { recursive: true });
  for (const sub of ['host', 'cni/bin', 'cni/net.d', 'kubelet', 'kubelet-certs', 'pod-logs', 'volume-plugins', 'kcm-certs']) mkdirSync(join(dir, sub), { recursive: true });
  const procs: ManagedProcess[] = [];
  const socket = join(dir, 'containerd.sock');
  const core = adminKubeConfig(env).makeApiClient(CoreV1Api);
  const hostPathsBefore = new Set(HOST_PATHS.filter((p) => existsSync(p)));

  const stop = async () => {
    // Pods bound to this node could never finish terminating once the kubelet is gone (their
    // namespace would hang in Terminating): delete them now, without grace.
    try {
      const pods = await core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${name}` });
      await Promise.allSettled(pods.items.map((p) => core.deleteNamespacedPod({ name: p.metadata!.name!, namespace: p.metadata!.namespace!, gracePeriodSeconds: 0 })));
    } catch { /* the apiserver may already be gone */ }
    for (const proc of [...procs].reverse().filter((p) => p.name !== 'containerd')) await proc.stop();
    // Kill every container task, then containerd, then any shim left (shims outlive containerd
    // by design), then unmount what the kubelet and containerd mounted, then remove the dir.
    if (existsSync(socket)) {
      const ctr = (args: string[]) => spawnSync('ctr', ['--address', socket, '-n', 'k8s.io', ...args], { encoding: 'utf8', timeout: 20_000 });
      const tasks = (ctr(['tasks', 'ls', '-q']).stdout ?? '').split('\n').filter(Boolean);
      for (const task of tasks) ctr(['tasks', 'kill', '-s', 'SIGKILL', task]);
    }
    for (const proc of procs.filter((p) => p.name === 'containerd')) await proc.stop();
    for (const pid of pidsMentioning(dir)) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
    await new Promise((r) => setTimeout(r, 500));
    for (const mount of mountsUnder(dir)) spawnSync('umount', ['-l', mount]);
    rmSync(dir, { recursive: true, force: true });
    removeHostLeftovers(dir, hostPathsBefore);
    try { await core.deleteNode({ name }); } catch { /* gone, or the apiserver is */ }
  };

  try {
    writeFileSync(join(dir, 'containerd.toml'), containerdConfig(dir, wrapper, sandboxImage));
    const containerd = startProcess('containerd', '/usr/bin/containerd', ['--config', join(dir, 'containerd.toml'), '--log-level', 'warn'], { logsDir });
    procs.push(containerd);
    await waitFor('containerd', async () => (spawnSync('ctr', ['--address', socket, 'version'], { timeout: 5_000 }).status === 0 ? true : undefined),
      { timeoutMs: 60_000, proc: containerd });
    const importStarted = Date.now();
    run('ctr', ['--address', socket, '-n', 'k8s.io', 'images', 'import', archive], 'ctr images import');
    log(`images imported into containerd in ${((Date.now() - importStarted) / 1000).toFixed(1)} s`);

    const kubeconfig = nodeKubeconfig(dir, env, name);
    const [port, healthzPort] = [await freePort(), await freePort()];
    const caFile = join(dirname(env.kubeconfigPath), 'ca.crt');
    writeFileSync(join(dir, 'kubelet.yaml'), stringify(kubeletConfig(dir, caFile, port, healthzPort)));
    const kubelet = startProcess('kubelet', kubeletPath, [
      `--config=${join(dir, 'kubelet.yaml')}`,
      `--kubeconfig=${kubeconfig}`, // the client certificate above, for the run's apiserver
      `--root-dir=${join(dir, 'kubelet')}`, // pod volumes (Secret tmpfs mounts) under the temp dir, not /var/lib/kubelet
      `--cert-dir=${join(dir, 'kubelet-certs')}`, // its self-signed serving certificate, likewise
      `--hostname-override=${name}`, // one Node per test process, never the machine's hostname
      // No --node-ip: the kubelet refuses a loopback node IP ("nodeIP can't be loopback address")
      // and then reports no addresses; the default (the host's address) is harmless because the
      // kubelet's API binds 127.0.0.1 (address above) and host-network pods need no pod IPs.
      '--v=1',
    ], { logsDir });
    procs.push(kubelet);

    // The deployment and replicaset controllers, in a controller-manager of their own for as long
    // as the node runs: suites without a node keep the shared one (test/env/cluster.ts) as it is.
    const kcm = startProcess('kube-controller-manager-apps', toolPaths.kubeControllerManager, [
      `--kubeconfig=${env.kubeconfigPath}`,
      '--controllers=deployment-controller,replicaset-controller',
      '--bind-address=127.0.0.1', `--secure-port=${await freePort()}`, `--cert-dir=${join(dir, 'kcm-certs')}`,
      '--leader-elect=false', '--profiling=false', '--v=1',
    ], { logsDir });
    procs.push(kcm);

    // Registered, and the runtime reports ready (NetworkReady is false without CNI, which only
    // blocks pods that are not host-network, so Ready is not waited for).
    await waitFor(`Node ${name} registered`, async () => {
      try {
        const node = await core.readNode({ name });
        return node.status?.conditions?.some((c) => c.type === 'Ready') ? true : undefined;
      } catch { return undefined; }
    }, { timeoutMs: 180_000, proc: kubelet });
    const startSeconds = (Date.now() - started) / 1000;
    log(`node ${name} up in ${startSeconds.toFixed(1)} s; logs: ${logsDir}`);
    return { name, hostDir: join(dir, 'host'), image, startSeconds, logsDir, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
