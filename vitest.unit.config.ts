// Unit tests of pure code only: no servers. `npm run test:unit`. The full suite is `npm test`.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: { include: ['src/**/*.test.ts'], testTimeout: 20_000 },
});
