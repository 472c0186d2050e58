// The shared test environment: one cluster and one moto per test run (or demo/benchmark run),
// described by a JSON file whose path is in ELS_TEST_ENV so every worker process can find it.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startCluster, type Cluster } from './cluster.js';
import { startMoto, type Moto } from './moto.js';
import { newLogsDir } from './proc.js';
import { ensureTools, toolPaths } from './tools.js';

export interface TestEnv {
  kubeconfigPath: string;
  server: string;
  caPem: string;
  adminCertPem: string;
  adminKeyPem: string;
  motoEndpoint: string;
  logsDir: string;
  helmPath: string;
}

export const TEST_ENV_VARIABLE = 'ELS_TEST_ENV';

export function getTestEnv(): TestEnv {
  const path = process.env[TEST_ENV_VARIABLE];
  if (!path) throw new Error(`${TEST_ENV_VARIABLE} is not set: run through vitest (test/env/global-setup.ts) or startTestEnv()`);
  return JSON.parse(readFileSync(path, 'utf8')) as TestEnv;
}

export interface RunningTestEnv {
  env: TestEnv;
  cluster: Cluster;
  moto: Moto;
  stop(): Promise<void>;
}

const log = (message: string) => process.stderr.write(`[test-env] ${message}\n`);

/** Builds missing tools, starts cluster and moto, writes the env file and sets ELS_TEST_ENV. */
export async function startTestEnv(): Promise<RunningTestEnv> {
  ensureTools();
  const logsDir = newLogsDir();
  const started = Date.now();
  const [cluster, moto] = await Promise.all([startCluster({ logsDir }), startMoto({ logsDir })]);
  log(`cluster ${cluster.server} and moto ${moto.endpoint} up in ${((Date.now() - started) / 1000).toFixed(1)} s; server logs: ${logsDir}`);
  const env: TestEnv = {
    kubeconfigPath: cluster.kubeconfigPath,
    server: cluster.server,
    caPem: cluster.caPem,
    adminCertPem: cluster.adminCertPem,
    adminKeyPem: cluster.adminKeyPem,
    motoEndpoint: moto.endpoint,
    logsDir,
    helmPath: toolPaths.helm,
  };
  const envPath = join(logsDir, 'test-env.json');
  writeFileSync(envPath, JSON.stringify(env, null, 2), { mode: 0o600 });
  process.env[TEST_ENV_VARIABLE] = envPath;
  return {
    env, cluster, moto,
    async stop() {
      await Promise.allSettled([moto.stop(), cluster.stop()]);
      delete process.env[TEST_ENV_VARIABLE];
    },
  };
}
