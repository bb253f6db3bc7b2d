import { defineConfig } from 'vitest/config';

// Two projects: `unit` is pure logic, no I/O, runs in seconds; `integration` talks to the real
// Firestore and Pub/Sub emulators, which its global setup starts once per run (each test file
// then works in its own project id).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: ['test/**/*.int.test.ts'],
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/**/*.int.test.ts'],
          globalSetup: ['test/support/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
