/**
 * `pacer tick-job` and the tick-job line of `pacer status`, run as an operator runs them,
 * against a stand-in for the Cloud Scheduler REST API (there is no emulator): what the CLI
 * sends, and what it makes of the answers.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import type { StatusResult } from '../../../functions/cli/status.js';
import type { EnsureResult, TickJobState } from '../../../functions/cli/tick-job.js';
import type { PauseResult, TickJobStatus } from '../../../functions/cli/tick-job-fleet.js';
import type { ShardJobResult } from '../../../functions/cli/tick-job-shards.js';
import { pacerJson, runPacer } from '../../support/cli.js';
import { useTestProject } from '../../support/emulators.js';
import { JOB_STATE, useSchedulerStandIn } from '../../support/scheduler.js';

const standIn = await useSchedulerStandIn();
const PROJECT = 'pacer-prod';
const REGION = 'europe-west1';
const JOB = `projects/${PROJECT}/locations/${REGION}/jobs/pacer-tick`;
const JOB_PATH = `/v1/${JOB}`;
const PLANNER = 'https://plantick-abc123-ew.a.run.app';
const env = {
  GOOGLE_CLOUD_PROJECT: PROJECT,
  PACER_REGION: REGION,
  PACER_SCHEDULER_ENDPOINT: standIn.endpoint,
  GOOGLE_APPLICATION_CREDENTIALS: standIn.credentialsFile,
};

function ensure(extraEnv: Record<string, string> = {}) {
  return pacerJson<EnsureResult & { shards?: ShardJobResult[] }>(
    ['tick-job', 'ensure', '--planner-url', PLANNER],
    {
      ...env,
      ...extraEnv,
    },
  );
}

/** What pacer wants at the default settings, as the REST API carries it. */
const DESIRED = {
  name: JOB,
  schedule: '* * * * *',
  timeZone: 'Etc/UTC',
  httpTarget: {
    uri: PLANNER,
    httpMethod: 1, // POST
    oidcToken: {
      serviceAccountEmail: `pacer-tick@${PROJECT}.iam.gserviceaccount.com`,
      audience: PLANNER,
    },
  },
  // The planner may run 85 s (tick budget 55 s + 30 s); Cloud Scheduler waits longer.
  attemptDeadline: '100s',
  retryConfig: { retryCount: 1, minBackoffDuration: '10s', maxBackoffDuration: '10s' },
};

const LIST_PATH = `/v1/projects/${PROJECT}/locations/${REGION}/jobs`;

beforeEach(() => {
  standIn.jobs.clear();
  standIn.requests.length = 0;
  standIn.pageSize = 500;
});

/** A job that is not pacer's to keep, as the REST API carries it. */
function someJob(name: string) {
  standIn.jobs.set(name, { name, schedule: '0 * * * *', state: JOB_STATE.ENABLED });
}

describe('pacer tick-job ensure, against a Cloud Scheduler stand-in', () => {
  it('creates the job when it is missing: every minute, POST to the planner with an OIDC token, deadline above the planner’s run time', async () => {
    const result = await ensure();

    expect(result).toEqual({ job: JOB, action: 'created', changed: [], state: 'ENABLED' });
    expect(standIn.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      `GET ${JOB_PATH}`,
      `POST /v1/projects/${PROJECT}/locations/${REGION}/jobs`,
      // The region's jobs, once, for shard jobs left over (none here).
      `GET ${LIST_PATH}`,
    ]);
    expect(standIn.requests[1]?.body).toMatchObject(DESIRED);
    expect(standIn.requests[1]?.authorization).toMatch(/^Bearer /);
  });

  it('does nothing when the job is as wanted', async () => {
    await ensure();
    standIn.requests.length = 0;

    const result = await ensure();

    expect(result).toEqual({ job: JOB, action: 'unchanged', changed: [], state: 'ENABLED' });
    expect(standIn.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      `GET ${JOB_PATH}`,
      `GET ${LIST_PATH}`,
    ]);
  });

  it('updates only the fields that differ, with an update mask', async () => {
    await ensure();
    const job = standIn.jobs.get(JOB)!;
    job.schedule = '*/5 * * * *';
    job.attemptDeadline = '30s';
    job.userUpdateTime = '2026-06-20T08:00:00Z';
    standIn.requests.length = 0;

    const result = await ensure();

    expect(result).toMatchObject({ action: 'updated', changed: ['schedule', 'attempt_deadline'] });
    const patch = standIn.requests.find((r) => r.method === 'PATCH');
    expect(patch?.path).toBe(JOB_PATH);
    // Proto field names, as gRPC (the transport in production) requires.
    expect(patch?.query.updateMask?.split(',').sort()).toEqual(['attempt_deadline', 'schedule']);
    expect(standIn.jobs.get(JOB)).toMatchObject({ schedule: '* * * * *', attemptDeadline: '100s' });
  });

  it('follows the settings: a longer tick budget gives Cloud Scheduler a longer deadline', async () => {
    await ensure();

    const result = await ensure({ PACER_TICK_BUDGET_SECONDS: '100' });

    expect(result).toMatchObject({ action: 'updated', changed: ['attempt_deadline'] });
    expect(standIn.jobs.get(JOB)?.attemptDeadline).toBe('145s');
  });

  it('points the job at a new planner URL and identity', async () => {
    await ensure();
    const moved = 'https://plantick-def456-ew.a.run.app';

    const result = await pacerJson<EnsureResult>(
      [
        'tick-job',
        'ensure',
        '--planner-url',
        moved,
        '--service-account',
        'ticker@pacer-prod.iam.gserviceaccount.com',
      ],
      env,
    );

    expect(result.changed).toEqual(['http_target']);
    expect(standIn.jobs.get(JOB)?.httpTarget).toMatchObject({
      uri: moved,
      oidcToken: {
        serviceAccountEmail: 'ticker@pacer-prod.iam.gserviceaccount.com',
        audience: moved,
      },
    });
  });

  it('refuses to run without a region or a planner URL (exit 2), before calling anything', async () => {
    const noRegion = await runPacer(['tick-job', 'ensure', '--planner-url', PLANNER], {
      ...env,
      PACER_REGION: '',
    });
    expect(noRegion.code).toBe(2);
    expect(noRegion.stderr).toContain('no region: pass --region REGION or set PACER_REGION');

    const noUrl = await runPacer(['tick-job', 'ensure'], env);
    expect(noUrl.code).toBe(2);
    expect(noUrl.stderr).toContain("required option '--planner-url <url>'");

    const badUrl = await runPacer(['tick-job', 'ensure', '--planner-url', 'plantick'], env);
    expect(badUrl.code).toBe(2);
    expect(standIn.requests).toEqual([]);
  });
});

describe('pacer tick-job with PACER_SHARDS', () => {
  it('keeps one job per shard, each calling the planner with its shard, and deletes the jobs of shards gone', async () => {
    const three = await ensure({ PACER_SHARDS: '3' });
    expect(three.shards?.map((shard) => [shard.job, shard.action])).toEqual([
      [JOB, 'created'],
      [`${JOB}-1`, 'created'],
      [`${JOB}-2`, 'created'],
    ]);
    for (const [name, index] of [
      [JOB, 0],
      [`${JOB}-1`, 1],
      [`${JOB}-2`, 2],
    ] as const) {
      expect(standIn.jobs.get(name)?.httpTarget).toMatchObject({
        uri: `${PLANNER}/?shard=${index}`,
        oidcToken: { audience: PLANNER },
      });
    }

    const paused = await pacerJson<PauseResult>(['tick-job', 'pause'], {
      ...env,
      PACER_SHARDS: '3',
    });
    expect(paused).toMatchObject({ job: JOB, state: 'PAUSED' });
    expect(paused.shards?.map((shard) => [shard.job, shard.state])).toEqual([
      [JOB, 'PAUSED'],
      [`${JOB}-1`, 'PAUSED'],
      [`${JOB}-2`, 'PAUSED'],
    ]);
    expect([...standIn.jobs.values()].map((job) => job.state)).toEqual([
      JOB_STATE.PAUSED,
      JOB_STATE.PAUSED,
      JOB_STATE.PAUSED,
    ]);

    const two = await ensure({ PACER_SHARDS: '2' });
    // Only their descriptions ("shard K of N") change; the one left over goes.
    expect(two.shards?.map((shard) => [shard.job, shard.action, shard.changed])).toEqual([
      [JOB, 'updated', ['description']],
      [`${JOB}-1`, 'updated', ['description']],
      [`${JOB}-2`, 'deleted', []],
    ]);
    expect([...standIn.jobs.keys()]).toEqual([JOB, `${JOB}-1`]);
  });

  it('deletes every shard job left over when going back to one shard, and says so', async () => {
    await ensure({ PACER_SHARDS: '4' });
    standIn.requests.length = 0;

    const one = await ensure();

    expect(one).toEqual({
      job: JOB,
      action: 'updated',
      changed: ['description', 'http_target'],
      state: 'ENABLED',
      shards: [
        { job: JOB, action: 'updated', changed: ['description', 'http_target'], state: 'ENABLED' },
        { job: `${JOB}-1`, action: 'deleted', changed: [], state: null },
        { job: `${JOB}-2`, action: 'deleted', changed: [], state: null },
        { job: `${JOB}-3`, action: 'deleted', changed: [], state: null },
      ],
    });
    expect([...standIn.jobs.keys()]).toEqual([JOB]);
    expect(standIn.jobs.get(JOB)?.httpTarget).toMatchObject({ uri: PLANNER });
    // Found with one list of the region, not by trying every possible shard.
    expect(standIn.requests.filter((r) => r.path === LIST_PATH)).toHaveLength(1);
    expect(standIn.requests.filter((r) => r.method === 'DELETE')).toHaveLength(3);

    const text = await runPacer(['tick-job', 'ensure', '--planner-url', PLANNER], env);
    expect(text.code).toBe(0);
    expect(text.stdout.trim()).toBe(`tick job ${JOB}: unchanged`);
  });

  it('deletes only jobs named exactly pacer-tick-K with K at least the shard count, on every page of the list', async () => {
    await ensure({ PACER_SHARDS: '2' });
    const others = [
      `${JOB}-x`,
      `${JOB}-01`,
      `${JOB}-0`,
      `${JOB}-+3`,
      `${JOB}-3-old`,
      `${JOB}-`,
      `${JOB}x-3`,
      `projects/${PROJECT}/locations/${REGION}/jobs/other-tick-3`,
      `projects/${PROJECT}/locations/${REGION}/jobs/nightly-pacer-tick-3`,
      // Another region's shard job: not in this region's list, never named.
      `projects/${PROJECT}/locations/us-central1/jobs/pacer-tick-5`,
    ];
    for (const name of others) someJob(name);
    // Shard jobs of an older, larger N, spread over the pages of the list.
    await ensure({ PACER_SHARDS: '6' });
    for (const name of others) someJob(name);
    standIn.pageSize = 2;
    standIn.requests.length = 0;

    const two = await ensure({ PACER_SHARDS: '2' });

    expect(two.shards?.filter((shard) => shard.action === 'deleted').map((s) => s.job)).toEqual([
      `${JOB}-2`,
      `${JOB}-3`,
      `${JOB}-4`,
      `${JOB}-5`,
    ]);
    expect([...standIn.jobs.keys()].sort()).toEqual([JOB, `${JOB}-1`, ...others].sort());
    expect(standIn.requests.filter((r) => r.path === LIST_PATH).length).toBeGreaterThan(1);
  });
});

describe('pacer tick-job pause, resume and status over every tick job of the region', () => {
  /** Jobs of four shards, then PACER_SHARDS lowered to 2 with no ensure since (no deploy yet). */
  async function fourJobsTwoShards() {
    await ensure({ PACER_SHARDS: '4' });
    // Not pacer's shard jobs by the exact name rule: never shown, paused or resumed.
    for (const name of [`${JOB}-x`, `${JOB}-01`, `${JOB}-4-old`]) someJob(name);
    standIn.requests.length = 0;
    return { ...env, PACER_SHARDS: '2' };
  }
  const states = () =>
    Object.fromEntries([...standIn.jobs].map(([name, job]) => [name.slice(JOB.length), job.state]));

  it('status shows the jobs of every shard, those at or above PACER_SHARDS marked stale, with one list of the region', async () => {
    const twoShards = await fourJobsTwoShards();

    const status = await pacerJson<TickJobStatus>(['tick-job', 'status'], twoShards);

    expect(status).toMatchObject({ job: JOB, exists: true, state: 'ENABLED' });
    expect(status.shards?.map((s) => [s.job, s.shard, s.stale, s.exists, s.state])).toEqual([
      [JOB, 0, false, true, 'ENABLED'],
      [`${JOB}-1`, 1, false, true, 'ENABLED'],
      [`${JOB}-2`, 2, true, true, 'ENABLED'],
      [`${JOB}-3`, 3, true, true, 'ENABLED'],
    ]);
    expect(status.shards?.[2]?.uri).toBe(`${PLANNER}/?shard=2`);
    expect(standIn.requests.map((r) => `${r.method} ${r.path}`)).toEqual([`GET ${LIST_PATH}`]);

    const text = await runPacer(['tick-job', 'status'], twoShards);
    expect(text.code).toBe(0);
    const lines = text.stdout.trim().split('\n');
    expect(lines[0]).toBe(`tick jobs in projects/${PROJECT}/locations/${REGION} (PACER_SHARDS=2):`);
    expect(lines[1]).toMatch(/^shard +job +state +last attempt +next run +note$/);
    expect(lines.slice(2).map((line) => line.trim().split(/ {2,}/).slice(0, 3))).toEqual([
      ['0', 'pacer-tick', 'ENABLED'],
      ['1', 'pacer-tick-1', 'ENABLED'],
      ['2', 'pacer-tick-2', 'ENABLED'],
      ['3', 'pacer-tick-3', 'ENABLED'],
    ]);
    expect(lines[4]).toMatch(
      /stale: shard 2 is not below PACER_SHARDS; pacer tick-job ensure deletes it$/,
    );
    expect(lines[3]).not.toContain('stale');
  });

  it('status with one shard still shows a stale pacer-tick-K, and a missing shard job as missing', async () => {
    await ensure({ PACER_SHARDS: '2' });
    standIn.jobs.delete(`${JOB}-1`);
    someJob(`${JOB}-5`);

    const one = await pacerJson<TickJobStatus>(['tick-job', 'status'], env);
    expect(one.shards?.map((s) => [s.shard, s.stale, s.exists])).toEqual([
      [0, false, true],
      [5, true, true],
    ]);

    const three = await pacerJson<TickJobStatus>(['tick-job', 'status'], {
      ...env,
      PACER_SHARDS: '3',
    });
    expect(three.shards?.map((s) => [s.shard, s.stale, s.exists])).toEqual([
      [0, false, true],
      [1, false, false],
      [2, false, false],
      [5, true, true],
    ]);
    const text = await runPacer(['tick-job', 'status'], { ...env, PACER_SHARDS: '3' });
    expect(text.stdout).toMatch(
      /^ +1 +pacer-tick-1 +MISSING .*missing: pacer tick-job ensure creates it$/m,
    );
  });

  it('pause pauses every shard job and the stale ones; resume resumes the shards and leaves the stale ones paused', async () => {
    const twoShards = await fourJobsTwoShards();

    const paused = await pacerJson<PauseResult>(['tick-job', 'pause'], twoShards);

    expect(paused).toMatchObject({ job: JOB, state: 'PAUSED' });
    expect(paused.shards?.map((s) => [s.job, s.stale, s.state, s.changed])).toEqual([
      [JOB, false, 'PAUSED', true],
      [`${JOB}-1`, false, 'PAUSED', true],
      [`${JOB}-2`, true, 'PAUSED', true],
      [`${JOB}-3`, true, 'PAUSED', true],
    ]);
    expect(states()).toEqual({
      '': JOB_STATE.PAUSED,
      '-1': JOB_STATE.PAUSED,
      '-2': JOB_STATE.PAUSED,
      '-3': JOB_STATE.PAUSED,
      '-x': JOB_STATE.ENABLED,
      '-01': JOB_STATE.ENABLED,
      '-4-old': JOB_STATE.ENABLED,
    });

    standIn.requests.length = 0;
    const resumed = await runPacer(['tick-job', 'resume'], twoShards);

    expect(resumed.code).toBe(0);
    expect(states()).toMatchObject({
      '': JOB_STATE.ENABLED,
      '-1': JOB_STATE.ENABLED,
      '-2': JOB_STATE.PAUSED,
      '-3': JOB_STATE.PAUSED,
    });
    expect(resumed.stdout.trim().split('\n')).toEqual([
      `tick job ${JOB}: ENABLED`,
      `tick job ${JOB}-1: ENABLED`,
      `tick job ${JOB}-2: PAUSED (left as it is, stale: shard 2 is not below PACER_SHARDS; pacer tick-job ensure deletes it)`,
      `tick job ${JOB}-3: PAUSED (left as it is, stale: shard 3 is not below PACER_SHARDS; pacer tick-job ensure deletes it)`,
    ]);
    // The stale jobs were neither resumed nor read one by one: the list had them.
    expect(standIn.requests.filter((r) => r.path.includes('pacer-tick-2'))).toEqual([]);
  });
});

describe('pacer tick-job pause, resume and status', () => {
  it('pauses for maintenance, keeps it paused through ensure, and resumes', async () => {
    await ensure();

    const paused = await pacerJson<{ job: string; state: string }>(['tick-job', 'pause'], env);
    expect(paused).toEqual({ job: JOB, state: 'PAUSED' });
    expect(standIn.requests.at(-1)).toMatchObject({ method: 'POST', path: `${JOB_PATH}:pause` });

    const during = await runPacer(['tick-job', 'ensure', '--planner-url', PLANNER], env);
    expect(during.code).toBe(0);
    expect(during.stdout).toContain('unchanged');
    expect(during.stdout).toContain('it is paused');
    expect(standIn.jobs.get(JOB)?.state).toBe(JOB_STATE.PAUSED);

    const resumed = await pacerJson<{ state: string }>(['--region', REGION, 'tick-job', 'resume'], {
      ...env,
      PACER_REGION: '',
    });
    expect(resumed.state).toBe('ENABLED');
    expect(standIn.requests.at(-1)).toMatchObject({ method: 'POST', path: `${JOB_PATH}:resume` });
  });

  it('reports the state, the last attempt and its outcome, and the next run', async () => {
    standIn.jobs.set(JOB, {
      ...DESIRED,
      state: JOB_STATE.ENABLED,
      lastAttemptTime: '2026-06-20T08:29:00Z',
      status: { code: 14, message: 'UNAVAILABLE' },
      scheduleTime: '2026-06-20T08:31:00Z',
    });

    const state = await pacerJson<TickJobState>(['tick-job', 'status'], env);

    expect(state).toEqual({
      job: JOB,
      exists: true,
      state: 'ENABLED',
      schedule: '* * * * *',
      timeZone: 'Etc/UTC',
      uri: PLANNER,
      serviceAccountEmail: `pacer-tick@${PROJECT}.iam.gserviceaccount.com`,
      lastAttemptAt: '2026-06-20T08:29:00.000Z',
      lastAttemptStatus: { code: 14, message: 'UNAVAILABLE' },
      nextRunAt: '2026-06-20T08:31:00.000Z',
    });
    const text = await runPacer(['tick-job', 'status'], env);
    expect(text.stdout).toMatch(
      /^last attempt: +2026-06-20 08:29:00Z .*failed: code 14, UNAVAILABLE$/m,
    );
  });

  it('says when there is no job, and fails for an operation on a job that does not exist', async () => {
    const state = await pacerJson<TickJobState>(['tick-job', 'status'], env);
    expect(state).toMatchObject({ job: JOB, exists: false, state: null });

    const pause = await runPacer(['tick-job', 'pause'], env);
    expect(pause.code).toBe(1);
    expect(pause.stderr).toContain('Job not found');
  });
});

describe('pacer status and the tick job', () => {
  const project = useTestProject('cli-tick-status');

  it('reads the tick job from Cloud Scheduler (here, the stand-in) beside the emulators’ data', async () => {
    const job = `projects/${project.projectId}/locations/${REGION}/jobs/pacer-tick`;
    standIn.jobs.set(job, {
      ...DESIRED,
      name: job,
      state: JOB_STATE.PAUSED,
      lastAttemptTime: new Date(Date.now() - 30_000).toISOString(),
      status: {},
    });
    const statusEnv = {
      ...project.env,
      PACER_REGION: REGION,
      PACER_SCHEDULER_ENDPOINT: standIn.endpoint,
      GOOGLE_APPLICATION_CREDENTIALS: standIn.credentialsFile,
    };

    const status = await pacerJson<StatusResult>(['status'], statusEnv);

    expect(status.tickJob).toMatchObject({ checked: true, exists: true, job, state: 'PAUSED' });
    const text = await runPacer(['status'], statusEnv);
    expect(text.stdout).toMatch(/^tick job: +PAUSED, last attempt .*\(\d+s ago\), succeeded$/m);
  });

  it('with shards, shows every shard’s job: one paused or missing is named on the tick-job line', async () => {
    const base = `projects/${project.projectId}/locations/${REGION}/jobs/pacer-tick`;
    const put = (name: string, state: number) =>
      standIn.jobs.set(name, { ...DESIRED, name, state, status: {} });
    put(base, JOB_STATE.ENABLED);
    put(`${base}-1`, JOB_STATE.PAUSED);
    // No pacer-tick-2: that shard never ticks.
    const statusEnv = {
      ...project.env,
      PACER_REGION: REGION,
      PACER_SHARDS: '3',
      PACER_SCHEDULER_ENDPOINT: standIn.endpoint,
      GOOGLE_APPLICATION_CREDENTIALS: standIn.credentialsFile,
    };

    const status = await pacerJson<StatusResult>(['status'], statusEnv);

    expect(status.tickJob).toMatchObject({ checked: true, job: base, state: 'ENABLED' });
    const shards = status.tickJob.checked ? status.tickJob.shards : undefined;
    expect(shards?.map((s) => [s.shard, s.exists, s.state, s.stale])).toEqual([
      [0, true, 'ENABLED', false],
      [1, true, 'PAUSED', false],
      [2, false, null, false],
    ]);
    const text = await runPacer(['status'], statusEnv);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(
      /^tick job: +1 of 3 shard jobs ENABLED; shard 1 PAUSED, shard 2 MISSING$/m,
    );
    expect(text.stdout).toContain(
      `tick jobs in projects/${project.projectId}/locations/${REGION} (PACER_SHARDS=3):`,
    );
  });

  it('does not look for one on the emulators, where nothing stands in for Cloud Scheduler', async () => {
    const status = await pacerJson<StatusResult>(['status'], {
      ...project.env,
      PACER_REGION: REGION,
    });
    expect(status.tickJob).toEqual({
      checked: false,
      reason: 'the emulators have no Cloud Scheduler (the local stack calls the planner itself)',
    });
  });
});
