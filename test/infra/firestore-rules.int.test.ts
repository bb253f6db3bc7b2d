/**
 * infra/firestore.rules, enforced by a Firestore emulator of this test's own: no client SDK
 * request may read or write pacer's collections; pacer's server SDK (the emulator's owner,
 * like IAM in production) still can.
 */
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulators, type RunningEmulators } from '../../infra/local/emulators.js';
import { restCreate, restGet, type RestTarget } from '../support/firestore-rest.js';

const RULES = fileURLToPath(new URL('../../infra/firestore.rules', import.meta.url));
let emulator: RunningEmulators;
let host = '';

beforeAll(async () => {
  emulator = await startEmulators({
    kinds: ['firestore'],
    env: { PATH: process.env.PATH },
    firestoreRules: RULES,
  });
  host = emulator.env.FIRESTORE_EMULATOR_HOST ?? '';
});
afterAll(async () => {
  await emulator.stop();
});

describe('Firestore security rules', () => {
  const client = (): RestTarget => ({ host, projectId: 'rules-check' });
  const owner = (): RestTarget => ({
    host,
    projectId: 'rules-check',
    authorization: 'Bearer owner',
  });

  it.each(['schedules', 'scheduleStates', 'deadLetters', 'pacer'])(
    'deny a client any access to %s',
    async (collection) => {
      const seeded = await restCreate(owner(), collection, 'seeded', { name: 'written by pacer' });
      expect(seeded.status).toBe(200);

      const write = await restCreate(client(), collection, 'from-a-client', { name: 'sneaky' });
      expect(write.status).toBe(403);
      const read = await restGet(client(), `${collection}/seeded`);
      expect(read.status).toBe(403);
      expect((await restGet(owner(), `${collection}/from-a-client`)).status).toBe(404);
    },
  );

  it('deny a client the run history under a schedule', async () => {
    await restCreate(owner(), 'schedules/seeded/runs', 'lease-1', { status: 'succeeded' });
    expect((await restGet(client(), 'schedules/seeded/runs/lease-1')).status).toBe(403);
    expect((await restGet(owner(), 'schedules/seeded/runs/lease-1')).status).toBe(200);
  });
});
