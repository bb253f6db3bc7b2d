/**
 * Firestore and Pub/Sub clients, built from an env object: the emulators when
 * `FIRESTORE_EMULATOR_HOST` / `PUBSUB_EMULATOR_HOST` are set, Application Default Credentials
 * otherwise. Never built at import time, never from a key file.
 *
 * Emulator mode talks to loopback and to nothing else. The Google client libraries ask their
 * auth library for a universe domain (and, without a project id, for the project) when a client
 * starts; without credentials of their own that means Application Default Credentials, whose
 * last resort is the GCP metadata server (169.254.169.254, `metadata.google.internal`). So a client
 * pointed at its emulator gets explicit emulator credentials, which answer those questions
 * locally and are never used to sign anything (the emulators' channels are insecure), and the
 * processes pacer starts get `METADATA_SERVER_DETECTION=none` as well (see `emulatorProcessEnv`).
 */
import { Firestore } from '@google-cloud/firestore';
import { PubSub } from '@google-cloud/pubsub';
import type { Env } from './config.js';

/** True when either emulator host is set: clients then talk to the emulators only. */
export function isEmulatorMode(env: Env): boolean {
  return [env.FIRESTORE_EMULATOR_HOST, env.PUBSUB_EMULATOR_HOST].some(
    (host) => host !== undefined && host.trim() !== '',
  );
}

/**
 * Credentials for the emulators: a service-account shape the auth library accepts without
 * looking anything up. The key is never used, since emulator channels carry no tokens; if
 * anything ever tried to sign with it, it would fail loudly instead of reaching for ADC.
 */
export const EMULATOR_CREDENTIALS = Object.freeze({
  client_email: 'pacer-emulator@localhost.invalid',
  private_key: 'emulator mode: no key',
});

/**
 * `env` plus what a process pacer starts in emulator mode needs to stay on loopback:
 * `METADATA_SERVER_DETECTION=none`, so no Google library in it probes for the metadata server.
 * Production env (no emulator hosts) is returned unchanged.
 */
export function emulatorProcessEnv<T extends Env>(env: T): T {
  if (!isEmulatorMode(env)) return env;
  return { ...env, METADATA_SERVER_DETECTION: env.METADATA_SERVER_DETECTION ?? 'none' };
}

export function createFirestore(env: Env, projectId?: string): Firestore {
  const host = env.FIRESTORE_EMULATOR_HOST?.trim();
  return new Firestore({
    ...(projectId ? { projectId } : {}),
    // ssl: false makes the client send the emulator's owner token instead of asking ADC.
    ...(host ? { host, ssl: false } : {}),
    ...(host ? { credentials: { ...EMULATOR_CREDENTIALS } } : {}),
    ignoreUndefinedProperties: true,
  });
}

export function createPubSub(env: Env, projectId?: string): PubSub {
  const host = env.PUBSUB_EMULATOR_HOST?.trim();
  return new PubSub({
    ...(projectId ? { projectId } : {}),
    ...(host
      ? { apiEndpoint: host, emulatorMode: true, credentials: { ...EMULATOR_CREDENTIALS } }
      : {}),
  });
}
