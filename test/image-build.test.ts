// The Dockerfile's build, without Docker: the same steps in temporary directories, so the shipped
// artifact is proven to run from the bundle alone, without node_modules.
//   build stage:   package.json, package-lock.json, tsconfig.json, scripts/bundle.mjs, src/ → npm ci → npm run build
//   runtime stage: dist/operator.mjs (+ its licence notices), nothing else
// Then `node dist/operator.mjs --version` runs from the runtime directory. npm ci needs the registry
// (or a warm npm cache). Node is the one running the tests (process.execPath).
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { planContainerEngine } from './env/container.js';
import { repoRoot } from './env/index.js';

// Where a container engine can run, test/image.test.ts builds and runs the real image, which
// covers these steps; this directory re-enactment is the fallback for machines without one.
const plan = await planContainerEngine();
const realImage = !('skip' in plan);
if (realImage) console.log('[image-build] SKIPPED the build-step re-enactment: a container engine is available, and test/image.test.ts builds and runs the real image');

const version = (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version;
const work = mkdtempSync(join(tmpdir(), 'els-image-'));
const buildDir = join(work, 'build');
const runtimeDir = join(work, 'runtime');
// npm and the scripts it runs (tsc) use the Node that runs the tests.
const env = { ...process.env, PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}`, NODE_ENV: undefined, npm_config_update_notifier: 'false' };

function run(cmd: string, args: string[], cwd: string, timeout = 600_000): string {
  return execFileSync(cmd, args, { cwd, env, encoding: 'utf8', timeout, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 });
}

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

describe('Dockerfile', () => {
  const dockerfile = readFileSync(join(repoRoot, 'Dockerfile'), 'utf8');

  it('builds on a configurable Node 24 base, runs as a numeric non-root user with node as PID 1', () => {
    expect(dockerfile).toMatch(/^ARG BASE_IMAGE=node:24-slim$/m);
    expect(dockerfile).toMatch(/^RUN npm ci\b/m);
    expect(dockerfile).toMatch(/^RUN npm run build$/m);
    // The runtime stage takes the bundle, no node_modules.
    expect(dockerfile).toMatch(/^COPY --from=build --chown=0:0 \/app\/dist\/operator\.mjs\b/m);
    expect(dockerfile).not.toMatch(/^COPY .*node_modules/m);
    expect(dockerfile).toMatch(/^USER 10001(:10001)?$/m);
    expect(dockerfile).toMatch(/^ENTRYPOINT \["node", "--max-semi-space-size=4", "--heap-growing-percent=10", "dist\/operator\.mjs"\]$/m);
    expect(dockerfile).toMatch(/org\.opencontainers\.image\.version/);
    // Exec-form ENTRYPOINT, no shell wrapper and no CMD that would need one.
    expect(dockerfile).not.toMatch(/^(CMD|ENTRYPOINT) [^[]/m);
  });

  it('sends only the build inputs to the Docker context', () => {
    const ignore = readFileSync(join(repoRoot, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim());
    expect(ignore[ignore.findIndex((l) => l && !l.startsWith('#'))]).toBe('*');
    for (const kept of ['!package.json', '!package-lock.json', '!tsconfig.json', '!src/', '!scripts/bundle.mjs']) expect(ignore).toContain(kept);
  });

  it.skipIf(realImage)('build stage: a clean npm ci and npm run build compile dist/', () => {
    for (const file of ['package.json', 'package-lock.json', 'tsconfig.json']) cpSync(join(repoRoot, file), join(buildDir, file));
    cpSync(join(repoRoot, 'src'), join(buildDir, 'src'), { recursive: true, filter: (src) => !src.endsWith('.test.ts') });
    cpSync(join(repoRoot, 'scripts', 'bundle.mjs'), join(buildDir, 'scripts', 'bundle.mjs'));
    run('npm', ['ci', '--no-audit', '--no-fund', '--prefer-offline'], buildDir);
    run('npm', ['run', 'build'], buildDir);
    expect(existsSync(join(buildDir, 'dist', 'operator.mjs'))).toBe(true);
  }, 900_000);

  it.skipIf(realImage)('runtime stage: the bundle alone runs the operator', () => {
    expect(existsSync(join(buildDir, 'dist', 'operator.mjs')), 'the build stage ran').toBe(true);
    for (const file of ['operator.mjs', 'operator.mjs.LEGAL.txt']) cpSync(join(buildDir, 'dist', file), join(runtimeDir, 'dist', file));
    expect(existsSync(join(runtimeDir, 'node_modules'))).toBe(false);
    const out = execFileSync(process.execPath, ['dist/operator.mjs', '--version'], { cwd: runtimeDir, encoding: 'utf8', timeout: 30_000 });
    expect(out.trim()).toBe(`external-llm-secrets ${version}`);
    expect(version).toBe('0.1.0');
    // --help loads the same modules as a start, short of connecting anywhere.
    const help = execFileSync(process.execPath, ['dist/operator.mjs', '--help'], { cwd: runtimeDir, encoding: 'utf8', timeout: 30_000 });
    expect(help).toContain('--leader-elect');
  }, 900_000);
});
