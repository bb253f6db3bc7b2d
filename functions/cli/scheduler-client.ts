/**
 * The Cloud Scheduler client the CLI uses for the tick job (kept apart from the commands, so
 * that building a context does not depend on them).
 */
import { CloudSchedulerClient } from '@google-cloud/scheduler';
import type { Env } from '../config.js';
import { restEndpoint } from '../endpoint.js';
import { UsageError } from './errors.js';

/**
 * A Cloud Scheduler client: Google Cloud with Application Default Credentials, or, when
 * `PACER_SCHEDULER_ENDPOINT` (`http://host:port`) is set, a stand-in speaking the REST API
 * there (there is no Cloud Scheduler emulator; the tests run one of their own).
 */
export function createCloudScheduler(env: Env): CloudSchedulerClient {
  const endpoint = env.PACER_SCHEDULER_ENDPOINT?.trim();
  if (endpoint === undefined || endpoint === '') return new CloudSchedulerClient();
  const options = restEndpoint(endpoint);
  if (options === null) {
    throw new UsageError(`PACER_SCHEDULER_ENDPOINT: ${JSON.stringify(endpoint)} is not a URL`);
  }
  return new CloudSchedulerClient(options);
}
