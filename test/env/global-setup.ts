// vitest globalSetup: one cluster + one moto for the whole run. Workers (pool forks) inherit
// process.env from this process, so ELS_TEST_ENV reaches every test file.
import { startTestEnv } from './environment.js';

export default async function setup(): Promise<() => Promise<void>> {
  const running = await startTestEnv();
  return async () => {
    await running.stop();
    // Failed test? etcd, kube-apiserver, kube-controller-manager and moto logs are here.
    process.stderr.write(`[test-env] server logs: ${running.env.logsDir}\n`);
  };
}
