import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'src/**/*.test.ts'],
    globalSetup: ['test/env/global-setup.ts'],
    // Files share one cluster and one moto, and the machine has 2 cores: run files one at a time.
    fileParallelism: false,
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // globalSetup may build tools (first run) and start the cluster.
    teardownTimeout: 60_000,
  },
});
