/**
 * A stand-in for the Cloud Run Admin API (v2) `jobs.run`, the one call pacer's workers make to
 * start a long sync's execution. There is no Cloud Run emulator; the client library speaks this
 * REST form when given `fallback: true` (pacer does so when PACER_RUN_ENDPOINT is set). It
 * answers as Cloud Run does: a long-running operation, not done, whose metadata is the new
 * execution; NOT_FOUND in Google's error format for a job it does not know. Every request is
 * kept for the test to assert on.
 */
import { replyError, reply, serveStandIn, standInKeyFile } from './stand-in.js';

export interface RunRequest {
  method: string;
  path: string;
  body: Record<string, unknown> | null;
  authorization: string | undefined;
}

export interface CloudRunStandIn {
  /** `http://127.0.0.1:PORT`, for PACER_RUN_ENDPOINT. */
  endpoint: string;
  /** GOOGLE_APPLICATION_CREDENTIALS: a throwaway key the client signs its own JWT with. */
  credentialsFile: string;
  /** Jobs it knows, by full name. */
  jobs: Set<string>;
  requests: RunRequest[];
  close(): Promise<void>;
}

const RUN_PATH = /^\/v2\/(projects\/[^/]+\/locations\/[^/]+\/jobs\/[^/:]+):run$/;

export async function startCloudRunStandIn(): Promise<CloudRunStandIn> {
  const jobs = new Set<string>();
  const requests: RunRequest[] = [];
  let executions = 0;
  const server = await serveStandIn((request, response) => {
    const { url } = request;
    requests.push({
      method: request.method,
      path: url.pathname,
      body: request.body,
      authorization: request.authorization,
    });
    const run = RUN_PATH.exec(url.pathname);
    if (!run || request.method !== 'POST') {
      replyError(response, 404, 'NOT_FOUND', `no route for ${url.pathname}`);
      return;
    }
    const job = run[1] ?? '';
    if (!jobs.has(job)) {
      replyError(response, 404, 'NOT_FOUND', `Resource '${job}' was not found`);
      return;
    }
    executions++;
    const execution = `${job}/executions/${job.split('/').at(-1) ?? 'job'}-${String(executions).padStart(5, '0')}`;
    const location = job.split('/jobs/')[0] ?? '';
    reply(response, 200, {
      name: `${location}/operations/op-${executions}`,
      done: false,
      metadata: {
        '@type': 'type.googleapis.com/google.cloud.run.v2.Execution',
        name: execution,
        job: job.split('/').at(-1),
      },
    });
  });
  return {
    ...server,
    credentialsFile: standInKeyFile('run', 'worker@stand-in.iam.gserviceaccount.com'),
    jobs,
    requests,
  };
}
