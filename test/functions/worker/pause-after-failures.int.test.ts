/**
 * `pauseAfterFailures` end to end: the real planner sub-tick, `syncHigh` and `recordDeadLetter`
 * served by functions-framework behind the Pub/Sub emulator's push subscriptions, Firestore's
 * emulator and a local target that refuses every call. A schedule with `pauseAfterFailures: 2`
 * is paused by its second dead letter in a row, logged for the alert, no longer dispatched, shown
 * by the CLI, and planned again by `pacer schedules resume`. Its target is called with its
 * `method` (PUT).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ScheduleRow } from '../../../functions/cli/schedules.js';
import type { StatusResult } from '../../../functions/cli/status.js';
import { loadSettings } from '../../../functions/config.js';
import { runSubTick } from '../../../functions/planner/tick.js';
import { DEAD_LETTERS } from '../../../functions/store/state.js';
import { EMPTY_STATE } from '../../../functions/protocol/state.js';
import { stateOf } from '../../support/schedule-docs.js';
import { describeTopology, type Topology } from '../../../functions/topology.js';
import { startFunctionServer, type FunctionServer } from '../../../infra/local/functions.js';
import { applyTopology } from '../../../infra/local/topology.js';
import { pacerJson } from '../../support/cli.js';
import { useTestProject } from '../../support/emulators.js';
import { FakeClock, seedSchedules } from '../../support/fixtures.js';
import { testPlanner } from '../../support/planner.js';
import { TestTarget } from '../../support/target.js';

const project = useTestProject('pause-after-failures');
const target = new TestTarget();

const WORKER_ENV = {
  PACER_LEASE_SECONDS: '3',
  PACER_MAX_ATTEMPTS: '3',
  PACER_ALLOW_TARGET_NETWORKS: '127.0.0.0/8',
};
const settings = loadSettings({ ...WORKER_ENV, GOOGLE_CLOUD_PROJECT: project.projectId });
const topology: Topology = describeTopology(settings);

const servers: FunctionServer[] = [];
const lines: Record<string, unknown>[] = [];

beforeAll(async () => {
  await target.start();
  const urls: Record<string, string> = {};
  for (const name of ['syncHigh', 'recordDeadLetter']) {
    const server = await startFunctionServer({
      target: name,
      signatureType: 'cloudevent',
      env: { ...project.env, ...WORKER_ENV },
      onLine: (line) => {
        try {
          lines.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          // functions-framework's own start-up lines are plain text
        }
      },
    });
    servers.push(server);
    urls[name] = server.url;
  }
  await applyTopology(project.pubsub, topology, {
    projectId: project.projectId,
    endpoint: (name) => urls[name] ?? 'http://127.0.0.1:9',
  });
});

afterAll(async () => {
  await Promise.all(servers.map((server) => server.process.stop()));
  await target.stop();
});

async function state(id: string) {
  return (await stateOf(project.firestore, id)) ?? EMPTY_STATE;
}

async function until<T>(
  read: () => T | Promise<T>,
  done: (value: T) => boolean,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) {
      throw new Error(`condition not met in ${timeoutMs} ms: ${JSON.stringify(value)}`);
    }
    await sleep(100);
  }
}

describe('pauseAfterFailures: 2 against a target that refuses every call', () => {
  it('is paused after 2 dead letters, no longer dispatched, shown by the CLI, and resumed', async () => {
    const url = target.on('/refuses', () => ({ status: 404 }));
    await seedSchedules(project.firestore, [
      {
        id: 'fragile',
        spec: {
          cadence: { kind: 'interval', every: '10s' },
          target: { type: 'http', url, method: 'PUT' },
          lane: 'high',
          pauseAfterFailures: 2,
        },
        lane: 'high',
        // Due a minute ago: served as the latest point missed, the next is due 10 s after it.
        nextDueAt: Date.now() - 60_000,
      },
    ]);
    const clock = new FakeClock(Date.now());
    const planner = testPlanner(project, clock);
    const tick = async () => {
      clock.now = Date.now();
      return runSubTick(planner.deps, planner.settings, 0);
    };

    // The first dead letter: still active, failing.
    expect((await tick()).published).toBe(1);
    const first = await until(
      () => state('fragile'),
      (s) => s.consecutiveDeadLetters === 1 && s.lease === null,
    );
    expect(first).toMatchObject({ status: 'active', health: 'failing', pause: null });

    // The second: paused by failures, with the log line the alert counts.
    await sleep(Math.max(0, (first.nextDueAt ?? 0) - Date.now()) + 200);
    expect((await tick()).published).toBe(1);
    const paused = await until(
      () => state('fragile'),
      (s) => s.status === 'paused',
    );
    expect(paused).toMatchObject({
      health: 'paused_by_failures',
      nextDueAt: null,
      lease: null,
      consecutiveDeadLetters: 2,
      pause: {
        cause: 'failures',
        by: 'pacer',
        reason: '2 consecutive dead letters (pauseAfterFailures: 2)',
      },
    });
    await until(
      () => lines.filter((l) => l.event === 'schedule.paused_by_failures'),
      (found) => found.length === 1,
    );
    expect(lines.find((l) => l.event === 'schedule.paused_by_failures')).toMatchObject({
      scheduleId: 'fragile',
      severity: 'ERROR',
    });
    expect(target.hits.filter((hit) => hit.path === '/refuses').map((hit) => hit.method)).toEqual([
      'PUT',
      'PUT',
    ]);

    // No longer dispatched: sub-ticks past the point it would have been due next find nothing
    // due, and the target hears nothing more.
    await sleep(10_500);
    for (let i = 0; i < 2; i++) expect((await tick()).published).toBe(0);
    await sleep(1_000);
    expect(target.count('/refuses')).toBe(2);
    const letters = await project.firestore
      .collection(DEAD_LETTERS)
      .where('scheduleId', '==', 'fragile')
      .get();
    expect(letters.size).toBe(2);

    // The CLI shows it.
    const row = (await pacerJson<{ schedules: ScheduleRow[] }>(['schedules', 'list'], project.env))
      .schedules[0];
    expect(row).toMatchObject({
      id: 'fragile',
      status: 'paused',
      enabled: true,
      health: 'paused_by_failures',
      pause: { cause: 'failures', by: 'pacer' },
    });
    const status = await pacerJson<StatusResult>(['status'], project.env);
    expect(status.paused).toMatchObject({ count: 1, byFailures: 1 });

    // Resumed: planned again, the count of dead letters starts over, and it is dispatched.
    const resumed = await pacerJson<ScheduleRow>(['schedules', 'resume', 'fragile'], project.env);
    expect(resumed).toMatchObject({ status: 'active', health: 'failing', pause: null });
    expect((await state('fragile')).consecutiveDeadLetters).toBe(0);
    expect((await tick()).published).toBe(1);
    await target.waitForHits('/refuses', 3);
    await until(
      () => state('fragile'),
      (s) => s.consecutiveDeadLetters === 1 && s.lease === null,
    );
    expect((await state('fragile')).status).toBe('active');
  });
});
