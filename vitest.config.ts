import { BaseSequencer, type TestSpecification } from 'vitest/node';
import { defineConfig } from 'vitest/config';

/**
 * Files run in path order, one at a time. vitest would otherwise run last run's failures and the
 * slowest files first; the leak scan (test/zz-leak-scan.test.ts) must run after every suite
 * whose logs, events and statuses it reads.
 */
class PathOrder extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    return [...files].sort((a, b) => a.moduleId.localeCompare(b.moduleId));
  }
}

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'src/**/*.test.ts'],
    globalSetup: ['test/env/global-setup.ts'],
    // Files share one cluster and one moto, and the machine has 2 cores: run files one at a time.
    fileParallelism: false,
    sequence: { sequencer: PathOrder },
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // globalSetup may build tools (first run) and start the cluster.
    teardownTimeout: 60_000,
  },
});
