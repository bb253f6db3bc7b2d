/**
 * Firestore and Pub/Sub clients, built from an env object: the emulators when
 * `FIRESTORE_EMULATOR_HOST` / `PUBSUB_EMULATOR_HOST` are set, Application Default Credentials
 * otherwise. Never built at import time, never from a key file.
 */
import { Firestore } from '@google-cloud/firestore';
import { PubSub } from '@google-cloud/pubsub';
import type { Env } from './config.js';

export function createFirestore(env: Env, projectId?: string): Firestore {
  const host = env.FIRESTORE_EMULATOR_HOST;
  return new Firestore({
    ...(projectId ? { projectId } : {}),
    // ssl: false makes the client send the emulator's owner token instead of asking ADC.
    ...(host ? { host, ssl: false } : {}),
    ignoreUndefinedProperties: true,
  });
}

export function createPubSub(env: Env, projectId?: string): PubSub {
  const host = env.PUBSUB_EMULATOR_HOST;
  return new PubSub({
    ...(projectId ? { projectId } : {}),
    ...(host ? { apiEndpoint: host, emulatorMode: true } : {}),
  });
}
