/**
 * What a worker needs, built from the process's runtime: the lane workers (./sync.ts) and a long
 * sync's job execution (../job/main.ts) run the same code with the same dependencies.
 */
import { randomUUID } from 'node:crypto';
import { DeadLetterPublisher } from '../bus/dead-letter.js';
import { systemClock } from '../clock.js';
import { createJobLauncher, lazyJobLauncher } from '../job/launcher.js';
import { runtime } from '../runtime.js';
import { validationFor } from '../schedule/spec.js';
import { FirestoreStore } from '../store/firestore.js';
import { FirestoreRateLimits } from '../ratelimit/store.js';
import type { WorkerDeps } from './deliver.js';

export function workerDepsFor(service: string, env = process.env): WorkerDeps {
  const { settings, firestore, pubsub, logger, topology } = runtime(service, env);
  return {
    store: new FirestoreStore(firestore, validationFor(settings)),
    deadLetters: new DeadLetterPublisher(
      pubsub,
      topology.deadLetter.topic,
      settings.publishTimeoutSeconds * 1_000,
    ),
    settings,
    topology,
    logger,
    clock: systemClock,
    newId: randomUUID,
    syncer: {
      allowNetworks: settings.allowTargetNetworks,
      env,
      secretHosts: new Map(Object.entries(settings.secretHosts)),
    },
    jobs: lazyJobLauncher(() => createJobLauncher(settings, env, logger)),
    rateLimits: new FirestoreRateLimits(firestore),
  };
}
