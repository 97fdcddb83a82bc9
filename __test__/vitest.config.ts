import { fileURLToPath } from 'node:url'

import { defineConfig } from 'vitest/config'

const root = fileURLToPath(new URL('..', import.meta.url))

export default defineConfig({
  test: {
    root,
    // Native suites load the addon: run every file in its own forked process, never in worker threads.
    pool: 'forks',
    projects: [
      {
        extends: true,
        // Generous: CI runs every project at once on two cores, and a few unit tests wait on timers or files.
        test: { name: 'unit', include: ['__test__/unit/**/*.test.ts'], testTimeout: 30_000 },
      },
      {
        extends: true,
        test: { name: 'native', include: ['__test__/native/**/*.test.ts'], testTimeout: 120_000, hookTimeout: 60_000 },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['__test__/integration/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 60_000,
        },
      },
      {
        extends: true,
        test: { name: 'interop', include: ['__test__/interop/**/*.test.ts'], testTimeout: 180_000, hookTimeout: 60_000 },
      },
    ],
  },
})
