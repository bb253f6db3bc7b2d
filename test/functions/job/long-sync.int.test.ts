/**
 * A long sync (`runner: "job"`) end to end on the emulators, with short settings: the real
 * planner ticking, the low-lane worker served by functions-framework and fed by its push
 * subscription, and the worker handing each attempt to a job execution run as a child process
 * (`PACER_JOB_LAUNCHER=local`, the same request the Cloud Run client sends). The target records
 * every call, so overlap is measured where it would hurt.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExplainResult } from '../../../functions/cli/explain.js';
import type { StatusResult } from '../../../functions/cli/status.js';
import { loadSettings } from '../../../functions/config.js';
import { runTick } from '../../../functions/planner/tick.js';
import { RUNS, SCHEDULES, timestamp } from '../../../functions/store/state.js';
import { existingState, writeReconciled } from '../../support/schedule-docs.js';
import { describeTopology } from '../../../functions/topology.js';
import { startFunctionServer, type FunctionServer } from '../../../infra/local/functions.js';
import { applyTopology } from '../../../infra/local/topology.js';
import { pacerJson } from '../../support/cli.js';
import { useTestProject } from '../../support/emulators.js';
import { FakeClock } from '../../support/fixtures.js';
import { testPlanner } from '../../support/planner.js';
import { TestTarget } from '../../support/target.js';

const project = useTestProject('long-sync');
const target = new TestTarget();

/** A 20-second lease, renewed every ~7 s by the job execution; a 30-second hand-off. */
const JOB_ENV = {
  PACER_LEASE_SECONDS: '20',
  PACER_JOB_START_SECONDS: '30',
  PACER_JOB_LAUNCHER: 'local',
  PACER_ALLOW_TARGET_NETWORKS: '127.0.0.0/8',
  PACER_DISPATCH_GRACE_SECONDS: '30',
  PACER_LOG_LEVEL: 'debug',
};
const settings = loadSettings({ ...JOB_ENV, GOOGLE_CLOUD_PROJECT: project.projectId });
const topology = describeTopology(settings);
const SYNC_MS = 180_000;

let worker: FunctionServer;
const lines: Record<string, unknown>[] = [];
let ticking = true;
let planner: Promise<void> = Promise.resolve();

beforeAll(async () => {
  await target.start();
  worker = await startFunctionServer({
    target: 'syncLow',
    signatureType: 'cloudevent',
    env: { ...project.env, ...JOB_ENV },
    onLine: (line) => {
      try {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // functions-framework's own start-up lines are plain text
      }
    },
  });
  await applyTopology(project.pubsub, topology, {
    projectId: project.projectId,
    endpoint: (name) => (name === 'syncLow' ? worker.url : 'http://127.0.0.1:9'),
  });
  // The planner as Cloud Scheduler runs it, one short tick every 2 seconds.
  const clock = new FakeClock(Date.now());
  const { deps } = testPlanner(project, clock, {
    ...settings,
    tickBudgetSeconds: 1,
    subTickSeconds: 1,
  });
  planner = (async () => {
    while (ticking) {
      clock.now = Date.now();
      await runTick(deps).catch(() => undefined);
      await sleep(2_000);
    }
  })();
}, 120_000);

afterAll(async () => {
  ticking = false;
  await planner;
  await worker.process.stop();
  await target.stop();
});

function logged(event: string): Record<string, unknown>[] {
  return lines.filter((line) => line.event === event);
}

async function until<T>(
  read: () => T | Promise<T>,
  done: (value: T) => boolean,
  timeoutMs: number,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`condition not met in ${timeoutMs} ms`);
    await sleep(250);
  }
}

describe('a long sync in a job execution', () => {
  it('runs 3 minutes under a 20-s lease, survives a SIGKILL of its execution, and completes once without overlap', async () => {
    const url = target.on('/full-sync', () => ({ delayMs: SYNC_MS }));
    await writeReconciled(
      project.firestore,
      'full-sync',
      {
        name: 'the daily full sync',
        cadence: { kind: 'interval', every: '24h' },
        target: { type: 'http', url },
        runner: 'job',
        maxRunSeconds: 600,
      },
      { status: 'active', lane: 'low', nextDueAt: timestamp(Date.now() - 1_000), lease: null },
    );

    // The first execution starts its call; it is killed 40 s in, mid-way.
    await until(
      () => target.hits.length,
      (n) => n >= 1,
      60_000,
    );
    const started = await until(
      () => logged('job.started'),
      (found) => found.length >= 1,
      10_000,
    );
    await sleep(40_000);
    const during = await existingState(project.firestore, 'full-sync');
    // Renewed by the execution: the lease ends within a lease of now, not at the hand-off's end.
    expect(during.lease?.running).toBe(true);
    expect(during.lease?.until).toBeLessThanOrEqual(Date.now() + 20_000 + 2_000);
    // `explain` and `status` show it running, with its last heartbeat and lease end.
    const explained = await pacerJson<ExplainResult>(['explain', 'full-sync'], project.env);
    expect(explained.runner).toBe('job');
    expect(explained.planned.lease).toMatchObject({ running: true, attempt: 1 });
    const heartbeat = Date.parse(explained.planned.lease?.renewedAt ?? '');
    expect(Date.now() - heartbeat).toBeLessThan(20_000);
    const status = await pacerJson<StatusResult>(['status'], project.env);
    expect(status.longSyncs.map((sync) => [sync.id, sync.attempt])).toEqual([['full-sync', 1]]);
    const pid = Number(started[0]?.pid);
    expect(pid).toBeGreaterThan(0);
    process.kill(pid, 'SIGKILL');

    // The lease lapses, the planner dispatches again, a second execution runs the whole sync.
    const done = await until(
      async () => existingState(project.firestore, 'full-sync'),
      (state) => state.lastSuccessAt !== null,
      SYNC_MS + 120_000,
    );
    await sleep(2_000);

    const calls = target.hits.filter((hit) => hit.path === '/full-sync');
    expect(calls).toHaveLength(2);
    const [first, second] = calls;
    if (first === undefined || second === undefined) throw new Error('two calls expected');
    expect(first.aborted).toBe(true);
    expect(second.aborted).toBe(false);
    // No overlap: the killed call was over before the second began.
    expect(first.closedAt).not.toBeNull();
    expect(first.closedAt ?? Infinity).toBeLessThanOrEqual(second.at);
    expect(second.closedAt ?? 0).toBeGreaterThanOrEqual(second.at + SYNC_MS);

    expect(done.runCount).toBe(1);
    expect(done.lease).toBeNull();
    expect(done.health).toBe('ok');
    expect(logged('sync.completed')).toHaveLength(1);
    expect(logged('sync.handed_off')).toHaveLength(2);
    const runs = await project.firestore
      .collection(SCHEDULES)
      .doc('full-sync')
      .collection(RUNS)
      .get();
    // One run record per lease: the killed one's was never finished; the second succeeded, as
    // the second attempt (attempts carry over to the planner's new lease).
    const succeeded = runs.docs.filter((doc) => doc.get('status') === 'succeeded');
    expect(runs.docs).toHaveLength(2);
    expect(succeeded).toHaveLength(1);
    expect(succeeded[0]?.get('attempt')).toBe(2);
  }, 480_000);
});
