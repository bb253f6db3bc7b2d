/**
 * The Cloud Scheduler job that ticks the planner: `pacer tick-job ensure|pause|resume|status`
 * and the tick-job line of `pacer status`. The job pacer wants is derived from the topology
 * (functions/topology.ts): schedule, time zone, attempt deadline above the planner's timeout,
 * retries, and an OIDC token for the planner. `ensure` compares it with the job that exists and
 * creates, updates (only the fields that differ) or leaves it; it never changes whether the job
 * is paused, so a deploy during maintenance does not resume ticking.
 */
import type { CloudSchedulerClient, protos } from '@google-cloud/scheduler';
import { describeTopology, serviceAccountEmail, type Topology } from '../topology.js';
import type { CliContext } from './context.js';
import { UsageError } from './errors.js';
import { NONE, formatTimeFrom, renderFields } from './output.js';
import {
  deleteShardJobs,
  desiredShardJobs,
  ensureShardJobs,
  listJobNames,
  staleShardJobs,
  type ShardJobResult,
} from './tick-job-shards.js';

type Job = protos.google.cloud.scheduler.v1.IJob;
type Duration = protos.google.protobuf.IDuration;
type Timestamp = protos.google.protobuf.ITimestamp;

/** `projects/P/locations/R/jobs/ID`. */
export function tickJobName(projectId: string, region: string, topology: Topology): string {
  return `projects/${projectId}/locations/${region}/jobs/${topology.tickJob.name}`;
}

export interface TickJobTarget {
  projectId: string;
  region: string;
  /** The planner's URL: the HTTP target and the OIDC audience. */
  plannerUrl: string;
  /** Who the OIDC token is for; `pacer-tick@PROJECT.iam.gserviceaccount.com` by default. */
  serviceAccountEmail?: string;
}

/** The job pacer wants. Pure. */
export function desiredTickJob(topology: Topology, target: TickJobTarget): Job {
  const { tickJob, planner } = topology;
  return {
    name: tickJobName(target.projectId, target.region, topology),
    description: `pacer: calls the planner (${planner.functionName}) every minute; kept by pacer tick-job ensure`,
    schedule: tickJob.schedule,
    timeZone: tickJob.timeZone,
    httpTarget: {
      uri: target.plannerUrl,
      httpMethod: 'POST',
      oidcToken: {
        serviceAccountEmail:
          target.serviceAccountEmail ?? serviceAccountEmail('tick', target.projectId),
        audience: target.plannerUrl,
      },
    },
    attemptDeadline: { seconds: tickJob.attemptDeadlineSeconds },
    retryConfig: {
      retryCount: tickJob.retry.retryCount,
      minBackoffDuration: { seconds: tickJob.retry.minBackoffSeconds },
      maxBackoffDuration: { seconds: tickJob.retry.maxBackoffSeconds },
    },
  };
}

function seconds(duration: Duration | null | undefined): number {
  if (duration === null || duration === undefined) return 0;
  return Number(duration.seconds ?? 0) + (duration.nanos ?? 0) / 1e9;
}

/** An enum as the API returned it (a name over gRPC, a number or name over REST) → its name. */
function enumName(values: Readonly<Record<string, number>>, value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (typeof value === 'number') {
    const name = Object.entries(values).find(([, number]) => number === value)?.[0];
    return name ?? String(value);
  }
  return null;
}

const HTTP_METHODS = {
  HTTP_METHOD_UNSPECIFIED: 0,
  POST: 1,
  GET: 2,
  HEAD: 3,
  PUT: 4,
  DELETE: 5,
  PATCH: 6,
  OPTIONS: 7,
};
const JOB_STATES = { STATE_UNSPECIFIED: 0, ENABLED: 1, PAUSED: 2, DISABLED: 3, UPDATE_FAILED: 4 };

/**
 * The fields of `existing` that differ from `desired`, as update-mask paths (proto names). Only
 * what pacer sets is compared: the server's own fields (state, times, defaults it fills in)
 * never count as a difference.
 */
export function tickJobDifferences(desired: Job, existing: Job): string[] {
  const paths: string[] = [];
  if ((existing.description ?? '') !== (desired.description ?? '')) paths.push('description');
  if (existing.schedule !== desired.schedule) paths.push('schedule');
  if (existing.timeZone !== desired.timeZone) paths.push('time_zone');
  const want = desired.httpTarget;
  const have = existing.httpTarget;
  if (
    have === null ||
    have === undefined ||
    have.uri !== want?.uri ||
    enumName(HTTP_METHODS, have.httpMethod) !== enumName(HTTP_METHODS, want?.httpMethod) ||
    have.oidcToken?.serviceAccountEmail !== want?.oidcToken?.serviceAccountEmail ||
    (have.oidcToken?.audience ?? '') !== (want?.oidcToken?.audience ?? '')
  ) {
    paths.push('http_target');
  }
  if (seconds(existing.attemptDeadline) !== seconds(desired.attemptDeadline)) {
    paths.push('attempt_deadline');
  }
  const wantRetry = desired.retryConfig ?? {};
  const haveRetry = existing.retryConfig ?? {};
  if (
    (haveRetry.retryCount ?? 0) !== (wantRetry.retryCount ?? 0) ||
    seconds(haveRetry.minBackoffDuration) !== seconds(wantRetry.minBackoffDuration) ||
    seconds(haveRetry.maxBackoffDuration) !== seconds(wantRetry.maxBackoffDuration)
  ) {
    paths.push('retry_config');
  }
  return paths;
}

function isNotFound(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  // gRPC NOT_FOUND over gRPC; the HTTP status over the REST transport.
  return code === 5 || code === 404;
}

/** The tick job's state as `status` reports it. */
export interface TickJobState {
  job: string;
  exists: boolean;
  state: string | null;
  schedule: string | null;
  timeZone: string | null;
  uri: string | null;
  serviceAccountEmail: string | null;
  /** When Cloud Scheduler last called the planner, or `null` if it never has. */
  lastAttemptAt: string | null;
  /** The outcome of that call: code 0 is success (google.rpc.Code). */
  lastAttemptStatus: { code: number; message: string } | null;
  /** When it will call next. */
  nextRunAt: string | null;
}

function isoOf(timestamp: Timestamp | null | undefined): string | null {
  if (timestamp === null || timestamp === undefined || timestamp.seconds === null) return null;
  const ms = Number(timestamp.seconds ?? 0) * 1_000 + Math.floor((timestamp.nanos ?? 0) / 1e6);
  return ms > 0 ? new Date(ms).toISOString() : null;
}

/** A job as listed or read (`null`: there is none) → its state as `status` reports it. Pure. */
export function stateOf(name: string, job: Job | null): TickJobState {
  if (job === null) {
    return {
      job: name,
      exists: false,
      state: null,
      schedule: null,
      timeZone: null,
      uri: null,
      serviceAccountEmail: null,
      lastAttemptAt: null,
      lastAttemptStatus: null,
      nextRunAt: null,
    };
  }
  const lastAttemptAt = isoOf(job.lastAttemptTime);
  return {
    job: name,
    exists: true,
    state: enumName(JOB_STATES, job.state),
    schedule: job.schedule ?? null,
    timeZone: job.timeZone ?? null,
    uri: job.httpTarget?.uri ?? null,
    serviceAccountEmail: job.httpTarget?.oidcToken?.serviceAccountEmail ?? null,
    lastAttemptAt,
    lastAttemptStatus:
      lastAttemptAt === null
        ? null
        : { code: job.status?.code ?? 0, message: job.status?.message ?? '' },
    nextRunAt: isoOf(job.scheduleTime),
  };
}

async function getJob(client: CloudSchedulerClient, name: string): Promise<Job | null> {
  try {
    const [job] = await client.getJob({ name });
    return job;
  } catch (error) {
    if (isNotFound(error)) return null;
    throw error;
  }
}

export interface EnsureResult {
  job: string;
  action: 'created' | 'updated' | 'unchanged';
  /** Update-mask paths that differed (empty unless updated). */
  changed: string[];
  state: string | null;
}

/** Creates the job when it is missing, updates what differs, and otherwise leaves it. */
export async function ensureTickJob(
  client: CloudSchedulerClient,
  desired: Job,
): Promise<EnsureResult> {
  const name = desired.name ?? '';
  const existing = await getJob(client, name);
  if (existing === null) {
    const parent = name.replace(/\/jobs\/[^/]+$/, '');
    const [created] = await client.createJob({ parent, job: desired });
    return {
      job: name,
      action: 'created',
      changed: [],
      state: enumName(JOB_STATES, created.state),
    };
  }
  const changed = tickJobDifferences(desired, existing);
  if (changed.length === 0) {
    return { job: name, action: 'unchanged', changed, state: enumName(JOB_STATES, existing.state) };
  }
  const [updated] = await client.updateJob({ job: desired, updateMask: { paths: changed } });
  return { job: name, action: 'updated', changed, state: enumName(JOB_STATES, updated.state) };
}

/** Pauses (`pause`) or resumes (`resume`) the job; returns its state after. */
export async function setTickJobPaused(
  client: CloudSchedulerClient,
  name: string,
  paused: boolean,
): Promise<{ job: string; state: string | null }> {
  const [job] = paused ? await client.pauseJob({ name }) : await client.resumeJob({ name });
  return { job: name, state: enumName(JOB_STATES, job.state) };
}

/** The job as it is now (`exists: false` when there is none). */
export async function readTickJobState(
  client: CloudSchedulerClient,
  name: string,
): Promise<TickJobState> {
  return stateOf(name, await getJob(client, name));
}

// ---------------------------------------------------------------------------------------------
// Commands

/** The region of the tick job, from --region or PACER_REGION; a usage error without one. */
export function requireRegion(context: CliContext): string {
  if (context.region === null) {
    throw new UsageError('no region: pass --region REGION or set PACER_REGION');
  }
  return context.region;
}

export async function ensureCommand(
  context: CliContext,
  options: { plannerUrl: string; serviceAccount?: string },
): Promise<EnsureResult & { shards?: ShardJobResult[] }> {
  const region = requireRegion(context);
  const topology = describeTopology(context.settings);
  const target = {
    projectId: context.backend.projectId,
    region,
    plannerUrl: options.plannerUrl,
    ...(options.serviceAccount === undefined
      ? {}
      : { serviceAccountEmail: options.serviceAccount }),
  };
  const count = context.settings.shards;
  const client = context.scheduler();
  const desired = desiredShardJobs(topology, target, count);
  // The jobs a larger N left (one shard included): found by listing the region once, after
  // ensuring the wanted ones (./tick-job-shards.ts).
  const results = await ensureShardJobs(client, desired);
  const listed = await listJobNames(client, target.projectId, region);
  results.push(
    ...(await deleteShardJobs(
      client,
      staleShardJobs(listed, target.projectId, region, topology, count),
    )),
  );
  const first = results[0] as EnsureResult;
  // One shard: shard 0's result alone, as before, unless leftover shard jobs were deleted.
  if (count <= 1 && results.length === 1) return first;
  return { ...first, shards: results };
}

// `pause`, `resume` and `status` act on every tick job of the region: ./tick-job-fleet.ts.

export function renderEnsure(result: EnsureResult & { shards?: ShardJobResult[] }): string {
  if (result.shards !== undefined) {
    return result.shards
      .map((shard) =>
        shard.action === 'deleted' ? `tick job ${shard.job}: deleted` : renderEnsure(shard),
      )
      .join('\n');
  }
  const what =
    result.action === 'updated' ? `updated (${result.changed.join(', ')})` : result.action;
  const lines = [`tick job ${result.job}: ${what}`];
  if (result.state === 'PAUSED') {
    lines.push('it is paused: the planner is not being called (pacer tick-job resume)');
  }
  return lines.join('\n');
}

export function renderPaused(result: { job: string; state: string | null }): string {
  return `tick job ${result.job}: ${result.state ?? 'unknown state'}`;
}

/** One line for `status`, and the fields of `tick-job status`. */
export function describeAttempt(state: TickJobState, now: number): string {
  if (state.lastAttemptAt === null) return 'never';
  const outcome =
    state.lastAttemptStatus === null || state.lastAttemptStatus.code === 0
      ? 'succeeded'
      : `failed: code ${state.lastAttemptStatus.code}${state.lastAttemptStatus.message ? `, ${state.lastAttemptStatus.message}` : ''}`;
  return `${formatTimeFrom(state.lastAttemptAt, now)}, ${outcome}`;
}

export function renderTickJobState(state: TickJobState, now: number): string {
  if (!state.exists) {
    return `tick job ${state.job}: does not exist (create it with infra/deploy.sh or pacer tick-job ensure)`;
  }
  return renderFields([
    ['job', state.job],
    ['state', state.state ?? NONE],
    ['schedule', `${state.schedule ?? NONE} (${state.timeZone ?? NONE})`],
    ['target', `POST ${state.uri ?? NONE} as ${state.serviceAccountEmail ?? NONE}`],
    ['last attempt', describeAttempt(state, now)],
    ['next run', state.nextRunAt === null ? NONE : formatTimeFrom(state.nextRunAt, now)],
  ]);
}
