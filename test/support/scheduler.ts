/**
 * A stand-in for the Cloud Scheduler REST API (v1), for the few calls pacer makes: get, create,
 * patch (with an update mask), pause, resume and delete a job, and list a location's jobs (in
 * pages of `pageSize`, `nextPageToken` naming the next one). There is no Cloud Scheduler emulator;
 * the client library speaks this REST form when given `fallback: true` (pacer does so when
 * PACER_SCHEDULER_ENDPOINT is set), asking for enums as numbers (`$alt=json;enum-encoding=int`),
 * which is how this stand-in answers too. Every request is kept for the test to assert on.
 *
 * Also writes a throwaway service-account key: the client signs its own JWT with it (no token
 * exchange, no network), so the CLI runs with no real credentials.
 */
import { afterAll } from 'vitest';
import { reply, replyError as error, serveStandIn, standInKeyFile } from './stand-in.js';

/** A job as the REST API carries it (JSON: durations "95s", enums as numbers). */
export type RestJob = Record<string, unknown> & { name: string };

export interface ReceivedRequest {
  method: string;
  /** Path without the query, e.g. `/v1/projects/p/locations/l/jobs/pacer-tick:pause`. */
  path: string;
  query: Record<string, string>;
  body: Record<string, unknown> | null;
  authorization: string | undefined;
}

export const JOB_STATE = { ENABLED: 1, PAUSED: 2 } as const;

export interface SchedulerStandIn {
  /** `http://127.0.0.1:PORT`, for PACER_SCHEDULER_ENDPOINT. */
  endpoint: string;
  /** GOOGLE_APPLICATION_CREDENTIALS for the CLI: a key the client signs with. */
  credentialsFile: string;
  jobs: Map<string, RestJob>;
  requests: ReceivedRequest[];
  /** The most jobs a list page carries (the request's `pageSize` if smaller); default 500. */
  pageSize: number;
  close(): Promise<void>;
}

const JOB_PATH = /^\/v1\/(projects\/[^/]+\/locations\/[^/]+\/jobs\/[^/:]+)(?::(pause|resume))?$/;
const JOBS_PATH = /^\/v1\/(projects\/[^/]+\/locations\/[^/]+)\/jobs$/;

/** The REST field mask (camelCase) for a path the client may send as a proto name. */
function camel(path: string): string {
  return path.replace(/_([a-z])/g, (_match, letter: string) => letter.toUpperCase());
}

/** Starts the stand-in on a free loopback port; closed after the file's tests. */
export async function startSchedulerStandIn(): Promise<SchedulerStandIn> {
  const jobs = new Map<string, RestJob>();
  const requests: ReceivedRequest[] = [];
  const stamp = () => new Date().toISOString();

  const server = await serveStandIn((request, response) => {
    const { url, body } = request;
    requests.push({
      method: request.method,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      body,
      authorization: request.authorization,
    });
    const one = JOB_PATH.exec(url.pathname);
    const many = JOBS_PATH.exec(url.pathname);
    if (one && request.method === 'GET' && one[2] === undefined) {
      const job = jobs.get(one[1] ?? '');
      if (!job) return error(response, 404, 'NOT_FOUND', 'Job not found.');
      return reply(response, 200, job);
    }
    if (many && request.method === 'GET') {
      const under = [...jobs.values()].filter((job) =>
        job.name.startsWith(`${many[1] ?? ''}/jobs/`),
      );
      const asked = Number(url.searchParams.get('pageSize') ?? '0');
      const size = asked > 0 ? Math.min(asked, standIn.pageSize) : standIn.pageSize;
      const from = Number(url.searchParams.get('pageToken') ?? '0');
      const page = under.slice(from, from + size);
      const next = from + size < under.length ? String(from + size) : '';
      return reply(response, 200, { jobs: page, ...(next ? { nextPageToken: next } : {}) });
    }
    if (many && request.method === 'POST') {
      const name = typeof body?.name === 'string' ? body.name : '';
      if (!name.startsWith(`${many[1] ?? ''}/jobs/`)) {
        return error(response, 400, 'INVALID_ARGUMENT', `job name ${name} not under the parent`);
      }
      if (jobs.has(name)) return error(response, 409, 'ALREADY_EXISTS', 'Job already exists.');
      const job: RestJob = { ...body, name, state: JOB_STATE.ENABLED, userUpdateTime: stamp() };
      jobs.set(name, job);
      return reply(response, 200, job);
    }
    if (one && request.method === 'PATCH') {
      const name = one[1] ?? '';
      const job = jobs.get(name);
      if (!job) return error(response, 404, 'NOT_FOUND', 'Job not found.');
      const mask = (url.searchParams.get('updateMask') ?? '').split(',').filter(Boolean);
      if (mask.length === 0) return error(response, 400, 'INVALID_ARGUMENT', 'no update mask');
      for (const path of mask.map(camel)) job[path] = body?.[path];
      job.userUpdateTime = stamp();
      return reply(response, 200, job);
    }
    if (one && request.method === 'DELETE' && one[2] === undefined) {
      if (!jobs.delete(one[1] ?? '')) return error(response, 404, 'NOT_FOUND', 'Job not found.');
      return reply(response, 200, {});
    }
    if (one && request.method === 'POST' && one[2] !== undefined) {
      const job = jobs.get(one[1] ?? '');
      if (!job) return error(response, 404, 'NOT_FOUND', 'Job not found.');
      job.state = one[2] === 'pause' ? JOB_STATE.PAUSED : JOB_STATE.ENABLED;
      return reply(response, 200, job);
    }
    return error(response, 404, 'NOT_FOUND', `no route for ${request.method} ${url.pathname}`);
  });
  const standIn: SchedulerStandIn = {
    ...server,
    credentialsFile: standInKeyFile('scheduler', 'tester@stand-in.iam.gserviceaccount.com'),
    jobs,
    requests,
    pageSize: 500,
  };
  return standIn;
}

/** A stand-in for the file's tests. */
export async function useSchedulerStandIn(): Promise<SchedulerStandIn> {
  const standIn = await startSchedulerStandIn();
  afterAll(() => standIn.close());
  return standIn;
}
