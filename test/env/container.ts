// A container engine for the image tests: an existing Docker or podman API socket, or, on Debian as
// root with neither, podman set up by test/env/podman-setup.sh (apt packages, a runc wrapper for
// VMs that refuse setrlimit, containers.conf, the Docker-compatible API service in the background).
// No image registry is needed: the Node 24 base image is assembled locally once per Node version
// (debootstrap + the cached Node binary) and kept in the engine and under the tools cache.
//
//   planContainerEngine()  cheap, at collection time: what we will use, or why the tests skip
//   ensureContainerEngine() the set-up itself (first run: ~1 min apt, then the base image ~2 min)
//   buildImage()            `<cli> build --network host --build-arg BASE_IMAGE=...`
//   useForTestcontainers()  DOCKER_HOST and friends for testcontainers
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { repoRoot } from './tools.js';

export interface ContainerEngine {
  kind: 'docker' | 'podman';
  /** The CLI that talks to the same engine as `socket` (builds, imports, inspects). */
  cli: string;
  /** Path of the engine's Docker-compatible API socket. */
  socket: string;
}

export type EnginePlan =
  | { use: ContainerEngine; describe: string }
  | { setUp: 'podman'; describe: string }
  | { skip: string };

const log = (message: string) => process.stderr.write(`[container] ${message}\n`);
const setupScript = join(repoRoot, 'test', 'env', 'podman-setup.sh');

function onPath(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** GET /_ping on a unix socket; true when an engine answers OK. */
export function pingSocket(socket: string, timeoutMs = 3_000): Promise<boolean> {
  if (!existsSync(socket)) return Promise.resolve(false);
  return new Promise((resolve) => {
    const req = request({ socketPath: socket, path: '/_ping', timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => { req.destroy(); resolve(false); });
    req.on('error', () => resolve(false));
    req.end();
  });
}

/** Engine kind behind a socket (podman's compat API names itself in /version's Components). */
async function kindOf(socket: string): Promise<'docker' | 'podman'> {
  const body = await new Promise<string>((resolve) => {
    const req = request({ socketPath: socket, path: '/version', timeout: 3_000 }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => { text += c.toString(); });
      res.on('end', () => resolve(text));
    });
    req.on('error', () => resolve(''));
    req.end();
  });
  return /podman/i.test(body) ? 'podman' : 'docker';
}

const isRoot = () => process.getuid?.() === 0;
const isDebian = () => existsSync('/etc/debian_version') && onPath('apt-get');
const podmanSocket = () => process.env.ELS_PODMAN_SOCKET
  ?? (isRoot() ? '/run/podman/podman.sock' : join(process.env.XDG_RUNTIME_DIR ?? `/tmp/podman-${process.getuid?.()}`, 'podman', 'podman.sock'));

/**
 * What the image tests will run on, decided without installing anything. In order: ELS_IMAGE_TESTS=off
 * skips; DOCKER_HOST (unix socket) or /var/run/docker.sock answering; podman's socket answering;
 * podman installed (its API service gets started); Debian as root (podman gets installed).
 */
export async function planContainerEngine(): Promise<EnginePlan> {
  if (process.env.ELS_IMAGE_TESTS === 'off') return { skip: 'ELS_IMAGE_TESTS=off' };
  const candidates: string[] = [];
  const dockerHost = process.env.DOCKER_HOST;
  if (dockerHost?.startsWith('unix://')) candidates.push(dockerHost.slice('unix://'.length));
  else if (dockerHost) return { skip: `DOCKER_HOST=${dockerHost} is not a unix socket; these tests need a local engine (host networking, loopback only)` };
  candidates.push('/var/run/docker.sock', podmanSocket());
  for (const socket of candidates) {
    if (!(await pingSocket(socket))) continue;
    const kind = await kindOf(socket);
    // The CLI must share the engine's image store: podman for podman (the docker CLI works too), docker for Docker.
    const cli = kind === 'podman' && onPath('podman') ? 'podman' : onPath('docker') ? 'docker' : undefined;
    if (!cli) return { skip: `${kind} answers on ${socket} but no CLI to build the image with is installed (${kind === 'podman' ? 'podman or docker' : 'docker'})` };
    return { use: { kind, cli, socket }, describe: `${kind} on ${socket}` };
  }
  if (onPath('podman')) return { setUp: 'podman', describe: 'podman (API service to start)' };
  if (isRoot() && isDebian()) return { setUp: 'podman', describe: 'podman (to install with apt on first run)' };
  return {
    skip: `no container engine: no Docker or podman API socket answers (${candidates.join(', ')}), podman is not installed, `
      + `and this is not Debian as root where the tests could install it`,
  };
}

function runScript(step: 'engine' | 'base-image', env: NodeJS.ProcessEnv = process.env): Promise<string> {
  // stderr (progress) goes straight to ours; stdout carries the one result.
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [setupScript, step], { stdio: ['ignore', 'pipe', 'inherit'], env });
    let out = '';
    child.stdout.on('data', (c: Buffer) => { out += c.toString(); });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(out.trim().split('\n').pop() ?? '') : reject(new Error(`${setupScript} ${step} failed (exit ${code})`))));
  });
}

/** Carries out the plan: returns a ready engine (API socket answering). */
export async function ensureContainerEngine(plan: EnginePlan): Promise<ContainerEngine> {
  if ('skip' in plan) throw new Error(plan.skip);
  if ('use' in plan) return plan.use;
  const started = Date.now();
  log(`setting up ${plan.describe}`);
  const socket = await runScript('engine');
  if (!(await pingSocket(socket))) throw new Error(`podman API service does not answer on ${socket}`);
  log(`podman ready on ${socket} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return { kind: 'podman', cli: 'podman', socket };
}

/**
 * The base image for `--build-arg BASE_IMAGE`: ELS_TEST_BASE_IMAGE when set; else a Node 24 image
 * assembled locally (no registry) once per Node version; else, where that is impossible (not
 * root on Debian), node:24-slim from the registry.
 */
export async function ensureBaseImage(engine: ContainerEngine): Promise<string> {
  if (process.env.ELS_TEST_BASE_IMAGE) return process.env.ELS_TEST_BASE_IMAGE;
  const hasDebootstrap = onPath('debootstrap') || (isRoot() && isDebian());
  if (!hasDebootstrap) return 'node:24-slim';
  const started = Date.now();
  const image = await runScript('base-image', { ...process.env, ELS_CONTAINER_CLI: engine.cli });
  log(`base image ${image} ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return image;
}

/** Builds the Dockerfile at the repo root with host networking; returns the tag. Output goes to logPath. */
export async function buildImage(engine: ContainerEngine, opts: { baseImage: string; tag: string; logPath: string }): Promise<void> {
  const args = ['build', '--network', 'host', '--build-arg', `BASE_IMAGE=${opts.baseImage}`, '-t', opts.tag, '.'];
  log(`${engine.cli} ${args.join(' ')} (log: ${opts.logPath})`);
  const started = Date.now();
  const { createWriteStream } = await import('node:fs');
  const out = createWriteStream(opts.logPath);
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(engine.cli, args, { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'], env: cliEnv(engine) });
    child.stdout.pipe(out, { end: false });
    child.stderr.pipe(out, { end: false });
    child.on('error', reject);
    child.on('exit', resolve);
  });
  out.end();
  if (code !== 0) {
    const tail = readFileSync(opts.logPath, 'utf8').split('\n').slice(-30).join('\n');
    throw new Error(`${engine.cli} build failed (exit ${code}); last lines of ${opts.logPath}:\n${tail}`);
  }
  log(`built ${opts.tag} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  pruneOldBuildCache(engine);
}

/**
 * Each build whose inputs changed leaves the previous stage images dangling (~0.5 GB per lock
 * change). On a podman that podman-setup.sh configured (a CI machine, not someone's workstation),
 * drop dangling images older than 3 days; the current build's cache is newer or still in use.
 */
function pruneOldBuildCache(engine: ContainerEngine): void {
  if (engine.cli !== 'podman') return;
  try {
    if (!readFileSync('/etc/containers/containers.conf', 'utf8').includes('external-llm-secrets test/env/podman-setup.sh')) return;
    engineCli(engine, ['image', 'prune', '--force', '--filter', 'until=72h']);
  } catch { /* not ours, or nothing to prune */ }
}

/** The docker CLI must talk to the same socket; podman as root talks to its store directly. */
function cliEnv(engine: ContainerEngine): NodeJS.ProcessEnv {
  return engine.cli === 'docker' ? { ...process.env, DOCKER_HOST: `unix://${engine.socket}` } : process.env;
}

/** `<cli> ARGS` → stdout (trimmed). */
export function engineCli(engine: ContainerEngine, args: string[]): string {
  return execFileSync(engine.cli, args, { encoding: 'utf8', env: cliEnv(engine), timeout: 120_000 }).trim();
}

/** Points testcontainers at the engine. Ryuk stays off (podman); tests stop what they start. */
export function useForTestcontainers(engine: ContainerEngine): void {
  process.env.DOCKER_HOST = `unix://${engine.socket}`;
  process.env.TESTCONTAINERS_HOST_OVERRIDE = '127.0.0.1';
  if (engine.kind === 'podman') process.env.TESTCONTAINERS_RYUK_DISABLED = 'true';
}
