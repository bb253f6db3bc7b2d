/**
 * A stand-in for the Cloud Run Admin API (v2) `jobs.run`, the one call pacer's workers make to
 * start a long sync's execution. There is no Cloud Run emulator; the client library speaks this
 * REST form when given `fallback: true` (pacer does so when PACER_RUN_ENDPOINT is set). It
 * answers as Cloud Run does: a long-running operation, not done, whose metadata is the new
 * execution; NOT_FOUND in Google's error format for a job it does not know. Every request is
 * kept for the test to assert on.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { standInKeyFile } from './stand-in-key.js';

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

function reply(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(JSON.stringify(body));
}

async function readBody(request: IncomingMessage): Promise<Record<string, unknown> | null> {
  let text = '';
  for await (const chunk of request) text += (chunk as Buffer).toString();
  return text === '' ? null : (JSON.parse(text) as Record<string, unknown>);
}

export async function startCloudRunStandIn(): Promise<CloudRunStandIn> {
  const jobs = new Set<string>();
  const requests: RunRequest[] = [];
  let executions = 0;
  const server = createServer((request, response) => {
    void (async () => {
      const url = new URL(request.url ?? '/', 'http://stand-in');
      const body = await readBody(request);
      requests.push({
        method: request.method ?? '',
        path: url.pathname,
        body,
        authorization: request.headers.authorization,
      });
      const run = RUN_PATH.exec(url.pathname);
      if (!run || request.method !== 'POST') {
        return reply(response, 404, {
          error: { code: 404, message: `no route for ${url.pathname}`, status: 'NOT_FOUND' },
        });
      }
      const job = run[1] ?? '';
      if (!jobs.has(job)) {
        return reply(response, 404, {
          error: { code: 404, message: `Resource '${job}' was not found`, status: 'NOT_FOUND' },
        });
      }
      executions++;
      const execution = `${job}/executions/${job.split('/').at(-1) ?? 'job'}-${String(executions).padStart(5, '0')}`;
      const location = job.split('/jobs/')[0] ?? '';
      return reply(response, 200, {
        name: `${location}/operations/op-${executions}`,
        done: false,
        metadata: {
          '@type': 'type.googleapis.com/google.cloud.run.v2.Execution',
          name: execution,
          job: job.split('/').at(-1),
        },
      });
    })().catch((failure: unknown) => {
      reply(response, 500, { error: { code: 500, message: String(failure), status: 'INTERNAL' } });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const credentialsFile = standInKeyFile('run', 'worker@stand-in.iam.gserviceaccount.com');
  return {
    endpoint: `http://127.0.0.1:${port}`,
    credentialsFile,
    jobs,
    requests,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((failure) => {
          if (failure) reject(failure);
          else resolve();
        });
      }),
  };
}
