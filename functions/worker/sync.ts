/**
 * `syncHigh`, `syncMedium`, `syncLow`: the lane workers. One code path, three deployments, each
 * fed by its lane's push subscription (functions-framework turns the push body into a
 * CloudEvent). Returning acks the message; throwing has Pub/Sub redeliver it with backoff.
 */
import { randomUUID } from 'node:crypto';
import { cloudEvent, type CloudEvent } from '@google-cloud/functions-framework';
import { DeadLetterPublisher } from '../bus/dead-letter.js';
import { systemClock } from '../clock.js';
import { validationFor } from '../schedule/spec.js';
import { FirestoreStore } from '../store/firestore.js';
import { LANES, type Lane } from '../schedule/lane.js';
import { runtime } from '../runtime.js';
import { WORKER_FUNCTIONS } from '../topology.js';
import { handleDelivery, type WorkerDeps } from './deliver.js';

let deps: WorkerDeps | undefined;

function workerDeps(lane: Lane): WorkerDeps {
  if (deps === undefined) {
    const { settings, firestore, pubsub, logger, topology } = runtime(WORKER_FUNCTIONS[lane]);
    deps = {
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
        env: process.env,
        secretHosts: new Map(Object.entries(settings.secretHosts)),
      },
    };
  }
  return deps;
}

for (const lane of LANES) {
  cloudEvent(WORKER_FUNCTIONS[lane], async (event: CloudEvent<unknown>) => {
    await handleDelivery(workerDeps(lane), lane, event);
  });
}
