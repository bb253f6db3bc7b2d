/**
 * `syncHigh`, `syncMedium`, `syncLow`: the lane workers. One code path, three deployments, each
 * fed by its lane's push subscription (functions-framework turns the push body into a
 * CloudEvent). Returning acks the message; throwing has Pub/Sub redeliver it with backoff.
 */
import { cloudEvent, type CloudEvent } from '@google-cloud/functions-framework';
import { LANES, type Lane } from '../schedule/lane.js';
import { WORKER_FUNCTIONS } from '../topology.js';
import { handleDelivery, type WorkerDeps } from './deliver.js';
import { workerDepsFor } from './deps.js';

let deps: WorkerDeps | undefined;

function workerDeps(lane: Lane): WorkerDeps {
  deps ??= workerDepsFor(WORKER_FUNCTIONS[lane]);
  return deps;
}

for (const lane of LANES) {
  cloudEvent(WORKER_FUNCTIONS[lane], async (event: CloudEvent<unknown>) => {
    await handleDelivery(workerDeps(lane), lane, event);
  });
}
