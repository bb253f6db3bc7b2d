/**
 * Starts the Firestore and Pub/Sub emulators once for the integration run (or reuses the ones
 * named by FIRESTORE_EMULATOR_HOST / PUBSUB_EMULATOR_HOST) and hands their hosts to the test
 * files. The emulators die with this process however it ends (see infra/local/emulators.ts).
 */
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startEmulators } from '../../infra/local/emulators.js';

declare module 'vitest' {
  export interface ProvidedContext {
    emulatorEnv: Record<string, string>;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const logDir = join(project.config.root, '.pacer', 'test-logs');
  const emulators = await startEmulators({ logDir });
  project.provide('emulatorEnv', emulators.env);
  return () => emulators.stop();
}
