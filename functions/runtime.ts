/**
 * What a deployed function needs, built once per process at the first invocation (not at
 * import time): settings from the environment, clients (emulators or ADC), the logger and the
 * topology. A bad setting fails here, at cold start, naming the variable.
 */
import { hostname } from 'node:os';
import type { Firestore } from '@google-cloud/firestore';
import type { PubSub } from '@google-cloud/pubsub';
import { createFirestore, createPubSub } from './clients.js';
import { loadSettings, type Env, type Settings } from './config.js';
import { createLogger, type Logger } from './log.js';
import { describeTopology, type Topology } from './topology.js';

export interface Runtime {
  settings: Settings;
  firestore: Firestore;
  pubsub: PubSub;
  logger: Logger;
  topology: Topology;
  /** This process, for leases: instance (Cloud Run revision or host) and pid. */
  holder: string;
}

let current: Runtime | undefined;

/** The process's runtime for the function `service`, built on first use. */
export function runtime(service: string, env: Env = process.env): Runtime {
  if (current === undefined) {
    const settings = loadSettings(env);
    current = {
      settings,
      firestore: createFirestore(env, settings.projectId),
      pubsub: createPubSub(env, settings.projectId),
      logger: createLogger({
        level: settings.log.level,
        pretty: settings.log.pretty,
        service,
        version: env.K_REVISION,
        projectId: settings.projectId,
      }),
      topology: describeTopology(settings),
      holder: `${env.K_REVISION ?? hostname()}:${process.pid}`,
    };
  }
  return current;
}
