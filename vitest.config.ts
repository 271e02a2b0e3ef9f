import { availableParallelism } from 'node:os'
import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The benchmarks themselves are not tests (none is named *.test.ts); their helpers' tests are.
    exclude: ['node_modules/**', 'dist/**'],
    // Tests start the CLI as a process from the built dist/ (plain node, no tsx): bring it up to date.
    globalSetup: ['test/setup/build-dist.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // One more worker than cores: many suites spend their time waiting on the real servers, the test
    // servers and child processes, not on CPU (vitest's default of cores - 1 left one of two cores idle).
    maxWorkers: availableParallelism() + 1,
  },
})
