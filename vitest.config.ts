import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';
import { guardProcessEnv } from './test/support/loopback.js';

// Every Node process of the run — vitest's workers and everything they spawn (the CLI, function
// servers, the local stack) — runs under the loopback guard (test/support/loopback-guard.cjs):
// a connect or DNS lookup beyond 127.0.0.0/8 and ::1 is refused and recorded, and the run fails
// at teardown if anything was (test/support/loopback-setup.ts).
Object.assign(process.env, guardProcessEnv(fileURLToPath(new URL('.', import.meta.url))));
// vitest's own process (it runs the global setups) is guarded too.
createRequire(import.meta.url)('./test/support/loopback-guard.cjs');

// Two projects: `unit` is pure logic, no I/O, runs in seconds; `integration` talks to the real
// Firestore and Pub/Sub emulators, which its global setup starts once per run (each test file
// then works in its own project id). The deploy contract (test/infra/deploy/contract.int.test.ts)
// is an integration file like the others: it runs infra/deploy.sh with gcloud against its own
// fake of Google's APIs on a port of its own, and sets its own timeouts (minutes: every gcloud
// command is a Python start); `npm run test:deploy` runs it alone.
export default defineConfig({
  test: {
    globalSetup: ['test/support/loopback-setup.ts'],
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
