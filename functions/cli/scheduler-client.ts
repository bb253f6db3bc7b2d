/**
 * The Cloud Scheduler client the CLI uses for the tick job (kept apart from the commands, so
 * that building a context does not depend on them).
 */
import { CloudSchedulerClient } from '@google-cloud/scheduler';
import type { Env } from '../config.js';
import { UsageError } from './errors.js';

/**
 * A Cloud Scheduler client: Google Cloud with Application Default Credentials, or, when
 * `PACER_SCHEDULER_ENDPOINT` (`http://host:port`) is set, a stand-in speaking the REST API
 * there (there is no Cloud Scheduler emulator; the tests run one of their own).
 */
export function createCloudScheduler(env: Env): CloudSchedulerClient {
  const endpoint = env.PACER_SCHEDULER_ENDPOINT?.trim();
  if (endpoint === undefined || endpoint === '') return new CloudSchedulerClient();
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new UsageError(`PACER_SCHEDULER_ENDPOINT: ${JSON.stringify(endpoint)} is not a URL`);
  }
  const protocol = url.protocol.replace(/:$/, '');
  return new CloudSchedulerClient({
    apiEndpoint: url.hostname,
    port: Number(url.port || (protocol === 'http' ? 80 : 443)),
    protocol,
    fallback: true,
  });
}
