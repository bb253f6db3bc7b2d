/**
 * What a CLI command works with: the clients, the settings and the clock, built once per
 * invocation from the global options and the environment, and closed at the end so the process
 * exits promptly. Commands take a {@link CliContext} and return data; they never build clients.
 */
import type { Firestore } from '@google-cloud/firestore';
import type { PubSub } from '@google-cloud/pubsub';
import type { CloudSchedulerClient } from '@google-cloud/scheduler';
import { createFirestore, createPubSub } from '../clients.js';
import { loadSettings, type Env, type Settings } from '../config.js';
import { validationFor } from '../schedule/spec.js';
import { FirestoreStore } from '../store/firestore.js';
import { UsageError } from './errors.js';
import { createCloudScheduler } from './scheduler-client.js';

/** Lines for the operator that are not the command's result: progress, hints. Go to stderr. */
export interface Notes {
  note(line: string): void;
}

export interface CliContext {
  db: Firestore;
  /** The store port on `db`: every lease decision goes through it, at Firestore's time. */
  store: FirestoreStore;
  pubsub: PubSub;
  /** Settings from the CLI's environment, `projectId` resolved. */
  settings: Settings;
  clock: () => number;
  out: Notes;
  /** Where the clients talk to, for `status`. */
  backend: Backend;
  /** The Cloud Scheduler client, built on first use (only the tick job needs it). */
  scheduler: () => CloudSchedulerClient;
  /** The tick job's region: `--region`, else PACER_REGION; `null` when neither is set. */
  region: string | null;
}

export interface Backend {
  projectId: string;
  /** `emulators` when FIRESTORE_EMULATOR_HOST is set, `google-cloud` (ADC) otherwise. */
  kind: 'emulators' | 'google-cloud';
  firestoreHost: string | null;
  pubsubHost: string | null;
  /** A stand-in for the Cloud Scheduler API (PACER_SCHEDULER_ENDPOINT), or `null`. */
  schedulerEndpoint: string | null;
}

export interface GlobalOptions {
  project?: string;
  region?: string;
  json?: boolean;
}

/**
 * Builds the context: settings from `env` (a bad setting is bad usage, named by its variable),
 * the project from `--project` or GOOGLE_CLOUD_PROJECT, and clients for the emulators when their
 * host variables are set, for Google Cloud with Application Default Credentials otherwise.
 */
export function openContext(
  options: GlobalOptions,
  env: Env,
  io: { clock: () => number; out: Notes },
): CliContext {
  const settings = loadSettings(env);
  const projectId = nonEmpty(options.project) ?? settings.projectId;
  if (projectId === undefined) {
    // Deliberately no guess from gcloud's configuration: a delete must never hit a project the
    // operator did not name.
    throw new UsageError('no project: pass --project PROJECT_ID or set GOOGLE_CLOUD_PROJECT');
  }
  const firestoreHost = nonEmpty(env.FIRESTORE_EMULATOR_HOST) ?? null;
  const pubsubHost = nonEmpty(env.PUBSUB_EMULATOR_HOST) ?? null;
  let scheduler: CloudSchedulerClient | undefined;
  const db = createFirestore(env, projectId);
  const context: CliContext = {
    db,
    store: new FirestoreStore(db, validationFor(settings)),
    pubsub: createPubSub(env, projectId),
    settings: { ...settings, projectId },
    clock: io.clock,
    out: io.out,
    backend: {
      projectId,
      kind: firestoreHost === null ? 'google-cloud' : 'emulators',
      firestoreHost,
      pubsubHost,
      schedulerEndpoint: nonEmpty(env.PACER_SCHEDULER_ENDPOINT) ?? null,
    },
    scheduler: () => (scheduler ??= createCloudScheduler(env)),
    region: nonEmpty(options.region) ?? nonEmpty(env.PACER_REGION) ?? null,
  };
  openSchedulers.set(context, () => scheduler);
  return context;
}

/** The Cloud Scheduler client a context built, if it built one (to close it). */
const openSchedulers = new WeakMap<CliContext, () => CloudSchedulerClient | undefined>();

/** Closes the clients, so no open channel keeps the process alive. */
export async function closeContext(context: CliContext): Promise<void> {
  const scheduler = openSchedulers.get(context)?.();
  await Promise.all([
    context.db.terminate(),
    context.pubsub.close(),
    ...(scheduler === undefined ? [] : [scheduler.close()]),
  ]);
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}
