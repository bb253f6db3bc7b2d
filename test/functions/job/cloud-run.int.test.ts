/**
 * The contract with the Cloud Run Admin API: the worker's launcher, through the real
 * `@google-cloud/run` client pointed at a loopback stand-in (PACER_RUN_ENDPOINT), asks for one
 * execution of the deployed job per attempt, with the attempt as an environment override, one
 * task and the run time's timeout, and is done once the operation is accepted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSettings } from '../../../functions/config.js';
import {
  createJobLauncher,
  decodeJobAttempt,
  executionTimeoutSeconds,
  JOB_ATTEMPT_ENV,
  type JobAttempt,
} from '../../../functions/job/launcher.js';
import { capturingLogger } from '../../support/fixtures.js';
import { startCloudRunStandIn, type CloudRunStandIn } from '../../support/cloud-run.js';

let standIn: CloudRunStandIn;
beforeAll(async () => {
  standIn = await startCloudRunStandIn();
});
afterAll(() => standIn.close());

const ATTEMPT: JobAttempt = {
  message: {
    v: 1,
    scheduleId: 'daily-full-sync',
    leaseId: 'lease-1',
    dueAt: '2026-06-20T02:00:00.000Z',
    lane: 'low',
  },
  messageId: '1234',
  traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
  attemptId: 'attempt-1',
  attempt: 1,
  maxRunSeconds: 4_200,
};

function launcher(extra: Record<string, string> = {}) {
  const env = {
    GOOGLE_CLOUD_PROJECT: 'pacer-prod',
    PACER_JOB_REGION: 'europe-west1',
    PACER_RUN_ENDPOINT: standIn.endpoint,
    GOOGLE_APPLICATION_CREDENTIALS: standIn.credentialsFile,
    ...extra,
  };
  return createJobLauncher(loadSettings(env), env, capturingLogger().logger);
}

describe('starting a long sync through the Cloud Run Admin API', () => {
  it('runs the deployed job once, with the attempt, one task and the run time as its timeout', async () => {
    const job = 'projects/pacer-prod/locations/europe-west1/jobs/pacer-long-sync';
    standIn.jobs.add(job);
    const timeoutSeconds = executionTimeoutSeconds({
      maxRunSeconds: 4_200,
      startSeconds: 300,
      attemptsLeft: 2,
      maxBackoffSeconds: 600,
    });

    const launched = await launcher().launch(ATTEMPT, { timeoutSeconds });

    expect(launched.execution).toBe(`${job}/executions/pacer-long-sync-00001`);
    expect(standIn.requests).toHaveLength(1);
    const [request] = standIn.requests;
    expect(request?.method).toBe('POST');
    expect(request?.path).toBe(`/v2/${job}:run`);
    expect(request?.authorization).toMatch(/^Bearer \S+/);
    const body = request?.body as {
      overrides: {
        containerOverrides: { env: { name: string; value: string }[] }[];
        taskCount: number;
        timeout: string;
      };
    };
    // The job's name travels in the path (REST transcoding); the body is the overrides.
    expect(Object.keys(body)).toEqual(['overrides']);
    expect(body.overrides.taskCount).toBe(1);
    expect(body.overrides.timeout).toBe(`${timeoutSeconds}s`);
    expect(timeoutSeconds).toBe(300 + 2 * (4_200 + 600 + 60));
    const variables = body.overrides.containerOverrides.flatMap((container) => container.env);
    expect(variables.map((variable) => variable.name)).toEqual([JOB_ATTEMPT_ENV]);
    // What the execution reads back is the attempt handed off, exactly.
    expect(decodeJobAttempt(variables[0]?.value)).toEqual({ ok: true, attempt: ATTEMPT });
  });

  it('uses PACER_JOB_NAME and PACER_JOB_REGION when set', async () => {
    const job = 'projects/pacer-prod/locations/us-central1/jobs/nightly';
    standIn.jobs.add(job);
    await launcher({ PACER_JOB_NAME: 'nightly', PACER_JOB_REGION: 'us-central1' }).launch(ATTEMPT, {
      timeoutSeconds: 900,
    });
    expect(standIn.requests.at(-1)?.path).toBe(`/v2/${job}:run`);
  });

  it('fails with the API’s answer when the job does not exist', async () => {
    await expect(
      launcher({ PACER_JOB_NAME: 'not-deployed' }).launch(ATTEMPT, { timeoutSeconds: 900 }),
    ).rejects.toThrow(/not-deployed.*was not found/);
  });

  it('names what is missing when it cannot tell where the job is', () => {
    const env = { GOOGLE_CLOUD_PROJECT: 'pacer-prod' };
    expect(() => createJobLauncher(loadSettings(env), env, capturingLogger().logger)).toThrow(
      /the job's region \(PACER_JOB_REGION\)/,
    );
  });
});
