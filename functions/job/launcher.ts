/**
 * Starting a long sync (`runner: "job"`) outside the push request: one execution of a Cloud Run
 * job per attempt, with the attempt as an environment override. The worker claims the attempt,
 * asks for the execution and acks once it is accepted; the execution's process (./main.ts) takes
 * the attempt up, renews its lease while the call runs, and completes or fails it through the
 * same decisions as a worker. An execution that dies stops renewing: the lease lapses and the
 * planner dispatches again.
 *
 * One request shape, two launchers: {@link CloudRunJobs} sends it to the Cloud Run Admin API
 * (`@google-cloud/run`); {@link LocalJobs} (the local stack, the tests) runs the same request as
 * a child process, reading its overrides and timeout the way Cloud Run does.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
// Types only: the client is loaded when a worker first starts a job (`runClient`), not at the
// cold start of every worker, simulation or test that imports this module.
import type { JobsClient, protos } from '@google-cloud/run';
import { z } from 'zod';
import { isDocumentId, messageSchema, type DispatchMessage } from '../bus/message.js';
import { MAX_TASK_TIMEOUT_SECONDS } from '../schedule/spec.js';
import type { Env, Settings } from '../config.js';
import { restEndpoint } from '../endpoint.js';
import { PacerError } from '../errors.js';
import type { Logger } from '../log.js';

/** The variable a job execution finds its attempt in. */
export const JOB_ATTEMPT_ENV = 'PACER_JOB_ATTEMPT';

/** What an execution needs to take an attempt up: the message it serves and the attempt. */
export interface JobAttempt {
  message: DispatchMessage;
  /** The Pub/Sub message that was handed off (for dead letters and logs). */
  messageId: string;
  /** The message's trace context, if it had one. */
  traceparent?: string;
  /** The attempt's own token, written by the worker's `start`. */
  attemptId: string;
  attempt: number;
  /** The run time of each call, as launched (the execution's timeout follows from it). */
  maxRunSeconds: number;
}

const attemptSchema = z.strictObject({
  message: messageSchema,
  messageId: z.string().min(1).max(200),
  traceparent: z.string().max(200).optional(),
  attemptId: z.string().min(1).max(200).refine(isDocumentId, { error: 'is not a document id' }),
  attempt: z.int().min(1).max(1_000),
  maxRunSeconds: z.int().min(1).max(86_400),
});

export function encodeJobAttempt(attempt: JobAttempt): string {
  return JSON.stringify(attempt);
}

/** The attempt in `text` (the variable's value), or what is wrong with it. */
export function decodeJobAttempt(
  text: string | undefined,
): { ok: true; attempt: JobAttempt } | { ok: false; reason: string } {
  if (text === undefined || text.trim() === '') {
    return { ok: false, reason: `${JOB_ATTEMPT_ENV} is not set` };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { ok: false, reason: `${JOB_ATTEMPT_ENV} is not JSON` };
  }
  const result = attemptSchema.safeParse(parsed);
  if (!result.success) {
    const issues = result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    return { ok: false, reason: `${JOB_ATTEMPT_ENV}: ${issues.join('; ')}` };
  }
  const { traceparent, ...rest } = result.data;
  return { ok: true, attempt: { ...rest, ...(traceparent ? { traceparent } : {}) } };
}

/** A job's full name: `projects/P/locations/R/jobs/J`. */
export function jobResourceName(projectId: string, region: string, name: string): string {
  return `projects/${projectId}/locations/${region}/jobs/${name}`;
}

/**
 * The execution's time limit: its start (the hand-off lease), then, for every attempt it may
 * still make (it retries in itself, as Pub/Sub would redeliver), the run time, the longest
 * backoff and a minute to record the outcome; at most Cloud Run's 168 hours. An execution
 * stopped at its timeout just stops renewing: its lease lapses and the planner dispatches again.
 */
export function executionTimeoutSeconds(options: {
  maxRunSeconds: number;
  startSeconds: number;
  attemptsLeft: number;
  maxBackoffSeconds: number;
}): number {
  const { maxRunSeconds, startSeconds, attemptsLeft, maxBackoffSeconds } = options;
  const perAttempt = maxRunSeconds + maxBackoffSeconds + 60;
  return Math.min(MAX_TASK_TIMEOUT_SECONDS, startSeconds + Math.max(1, attemptsLeft) * perAttempt);
}

/** The Cloud Run Admin API request for one execution of `jobName` serving `attempt`. */
export function runJobRequest(
  jobName: string,
  attempt: JobAttempt,
  timeoutSeconds: number,
): protos.google.cloud.run.v2.IRunJobRequest {
  return {
    name: jobName,
    overrides: {
      containerOverrides: [{ env: [{ name: JOB_ATTEMPT_ENV, value: encodeJobAttempt(attempt) }] }],
      taskCount: 1,
      timeout: { seconds: timeoutSeconds },
    },
  };
}

export interface Launched {
  /** The execution's name (Cloud Run) or the child's pid (local). */
  execution: string;
}

/** Starts one execution per attempt; resolves once it is accepted, not when it ends. */
export interface JobLauncher {
  launch(attempt: JobAttempt, options: { timeoutSeconds: number }): Promise<Launched>;
}

/** The Cloud Run Admin API's `jobs.run`, one call per attempt. */
export class CloudRunJobs implements JobLauncher {
  constructor(
    /** The client, built on first use. */
    private readonly client: () => Promise<Pick<JobsClient, 'runJob'>>,
    private readonly jobName: string,
  ) {}

  async launch(attempt: JobAttempt, options: { timeoutSeconds: number }): Promise<Launched> {
    const request = runJobRequest(this.jobName, attempt, options.timeoutSeconds);
    const client = await this.client();
    // Accepted once the call answers with its long-running operation; the execution runs on.
    const [operation] = await client.runJob(request);
    const metadata = operation.metadata as { name?: string | null } | null;
    return { execution: metadata?.name ?? operation.name ?? this.jobName };
  }
}

export interface LocalJobsOptions {
  /** The job's entry point (dist/functions/job/main.js). */
  script: string;
  /** The job's own environment, before the execution's overrides. */
  env: Env;
  jobName: string;
  logger: Logger;
  /** Node options for the child (the local stack's loopback preloads). */
  execArgv?: readonly string[];
}

/**
 * Runs an execution as a child process of this one: the request Cloud Run would get, with its
 * environment overrides applied and its timeout enforced (SIGKILL, as Cloud Run stops a task).
 * The child's output goes to this process's, so its log lines land where the worker's do.
 */
export class LocalJobs implements JobLauncher {
  constructor(private readonly options: LocalJobsOptions) {}

  launch(attempt: JobAttempt, options: { timeoutSeconds: number }): Promise<Launched> {
    const request = runJobRequest(this.options.jobName, attempt, options.timeoutSeconds);
    const overrides = request.overrides ?? {};
    const env: Record<string, string> = {};
    for (const [name, value] of Object.entries(this.options.env)) {
      if (value !== undefined) env[name] = value;
    }
    for (const container of overrides.containerOverrides ?? []) {
      for (const variable of container.env ?? []) {
        if (variable.name) env[variable.name] = variable.value ?? '';
      }
    }
    const timeoutMs = Number(overrides.timeout?.seconds ?? 600) * 1_000;
    const child = spawn(process.execPath, [...(this.options.execArgv ?? []), this.options.script], {
      env,
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    return new Promise((resolve, reject) => {
      child.once('error', (error) => {
        reject(new PacerError('job_launch_failed', `could not start the job: ${error.message}`));
      });
      child.once('spawn', () => {
        const pid = child.pid ?? 0;
        const timer = setTimeout(() => {
          this.options.logger.warn(
            { event: 'job.timed_out', pid, timeoutMs },
            `job execution ${pid} ran past its timeout; stopped`,
          );
          child.kill('SIGKILL');
        }, timeoutMs);
        timer.unref();
        child.once('exit', (code, signal) => {
          clearTimeout(timer);
          this.options.logger.info(
            { event: 'job.exited', pid, code, signal },
            `job execution ${pid} exited (${signal ?? `code ${String(code)}`})`,
          );
        });
        resolve({ execution: `local-${pid}` });
      });
    });
  }
}

/** Where the built job entry point is, next to this module. */
export const JOB_SCRIPT = fileURLToPath(new URL('./main.js', import.meta.url));

/**
 * The launcher the settings ask for: the Cloud Run Admin API (Application Default Credentials,
 * or the endpoint in `PACER_RUN_ENDPOINT`), or local child processes.
 */
export function createJobLauncher(settings: Settings, env: Env, logger: Logger): JobLauncher {
  if (settings.jobs.launcher === 'local') {
    if (!existsSync(JOB_SCRIPT)) {
      throw new PacerError('invalid_config', `the job entry point ${JOB_SCRIPT} is not built`);
    }
    return new LocalJobs({
      script: JOB_SCRIPT,
      env,
      jobName: settings.jobs.name,
      logger,
      execArgv: process.execArgv.filter((arg) => !arg.startsWith('--inspect')),
    });
  }
  // Gen 2 functions are not told their region; infra/deploy.sh sets PACER_JOB_REGION.
  const region = settings.jobs.region;
  if (settings.projectId === undefined || region === '') {
    throw new PacerError(
      'invalid_config',
      'a runner: "job" sync needs the project (GOOGLE_CLOUD_PROJECT) and the job\'s region (PACER_JOB_REGION)',
    );
  }
  const options = runClientOptions(env);
  let client: Promise<JobsClient> | undefined;
  return new CloudRunJobs(
    () =>
      (client ??= import('@google-cloud/run').then(({ JobsClient }) => new JobsClient(options))),
    jobResourceName(settings.projectId, region, settings.jobs.name),
  );
}

/**
 * The Cloud Run Admin API client's options: Google Cloud with Application Default Credentials,
 * or, when `PACER_RUN_ENDPOINT` (`http://host:port` or `https://host`) is set, the REST API
 * there (a private endpoint, or the stand-in the contract test runs).
 */
function runClientOptions(env: Env): ConstructorParameters<typeof JobsClient>[0] {
  const endpoint = env.PACER_RUN_ENDPOINT?.trim();
  if (endpoint === undefined || endpoint === '') return {};
  const options = restEndpoint(endpoint);
  if (options === null) {
    throw new PacerError(
      'invalid_config',
      `PACER_RUN_ENDPOINT: ${JSON.stringify(endpoint)} is not a URL`,
    );
  }
  const keyFilename = env.GOOGLE_APPLICATION_CREDENTIALS?.trim();
  return { ...options, ...(keyFilename ? { keyFilename } : {}) };
}

/**
 * A launcher built at its first launch: a worker that never meets a `runner: "job"` sync never
 * builds a Cloud Run client, and a job setting that is wrong fails that attempt (named), not the
 * worker's cold start.
 */
export function lazyJobLauncher(build: () => JobLauncher): JobLauncher {
  let built: JobLauncher | undefined;
  return {
    launch(attempt, options) {
      built ??= build();
      return built.launch(attempt, options);
    },
  };
}
