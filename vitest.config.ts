import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    maxWorkers: 2,
    // e2e tests spawn many processes; keep the 2-core machine from thrashing.
    fileParallelism: true,
    env: { NO_COLOR: '1' },
  },
});
