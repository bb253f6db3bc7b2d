/**
 * `pacer schedules trigger|backfill|backfill-cancel` end to end: the built CLI, the real
 * Firestore and Pub/Sub emulators, `syncHigh` and `syncLow` served by functions-framework and fed
 * by the push subscriptions the topology describes, and a local HTTP target that records every
 * call with when it began and ended — so an overlap of two calls of one schedule would show.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BackfillCliResult, TriggerResult } from '../../../functions/cli/runs.js';
import { PubSubBus } from '../../../functions/bus/publisher.js';
import { loadSettings } from '../../../functions/config.js';
import { perLane } from '../../../functions/planner/plan.js';
import { claim } from '../../../functions/protocol/decisions.js';
import { BACKFILLS } from '../../../functions/store/backfills.js';
import { FirestoreStore } from '../../../functions/store/firestore.js';
import { ReadMeter } from '../../../functions/store/queries.js';
import { RUNS, SCHEDULES, timestamp } from '../../../functions/store/state.js';
import { existingState, writeReconciled } from '../../support/schedule-docs.js';
import { describeTopology, type Topology } from '../../../functions/topology.js';
import { startFunctionServer, type FunctionServer } from '../../../infra/local/functions.js';
import { applyTopology } from '../../../infra/local/topology.js';
import { pacerJson, runPacer } from '../../support/cli.js';
import { useTestProject } from '../../support/emulators.js';
import { TestTarget, type Hit } from '../../support/target.js';

const project = useTestProject('cli-runs');
const target = new TestTarget();
const MIN = 60_000;
const HOUR = 60 * MIN;

const WORKER_ENV = {
  PACER_LEASE_SECONDS: '5',
  PACER_MAX_ATTEMPTS: '3',
  PACER_ALLOW_TARGET_NETWORKS: '127.0.0.0/8',
  PACER_LOG_LEVEL: 'debug',
};
const settings = loadSettings({ ...WORKER_ENV, GOOGLE_CLOUD_PROJECT: project.projectId });
const topology: Topology = describeTopology(settings);
const store = new FirestoreStore(project.firestore);
const bus = new PubSubBus(project.pubsub, {
  topics: perLane((lane) => topology.lanes[lane].topic),
  timeoutMs: 10_000,
});
const servers: FunctionServer[] = [];
const lines: Record<string, unknown>[] = [];

beforeAll(async () => {
  await target.start();
  const urls: Record<string, string> = {};
  for (const name of ['syncHigh', 'syncLow']) {
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
}, 120_000);

afterAll(async () => {
  await bus.close();
  await Promise.all(servers.map((server) => server.process.stop()));
  await target.stop();
});

/** An interval schedule syncing `path`, active, with the state given. */
async function schedule(
  id: string,
  path: string,
  fields: Record<string, unknown>,
  state: Record<string, unknown>,
): Promise<void> {
  await writeReconciled(
    project.firestore,
    id,
    { name: id, target: { type: 'http', url: target.url(path) }, ...fields },
    { status: 'active', lease: null, health: 'ok', ...state },
  );
}

async function stateOf(id: string) {
  return existingState(project.firestore, id);
}

async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline)
      throw new Error(`not met in ${timeoutMs} ms: ${JSON.stringify(value)}`);
    await sleep(100);
  }
}

/** The most calls of `path` in flight at once, from when each began and ended. */
function mostAtOnce(hits: readonly Hit[]): number {
  const edges = hits.flatMap((hit) => [
    { at: hit.at, step: 1 },
    { at: hit.closedAt ?? Infinity, step: -1 },
  ]);
  edges.sort((a, b) => a.at - b.at || a.step - b.step);
  let now = 0;
  let most = 0;
  for (const edge of edges) {
    now += edge.step;
    most = Math.max(most, now);
  }
  return most;
}

/** Dispatches a due high-lane schedule the way the planner does: a claim, then a publish. */
async function dispatchPlanned(id: string): Promise<string> {
  const read = await store.readDue('high', Date.now(), 100, new ReadMeter());
  const due = read.schedules.find((s) => s.id === id);
  if (due === undefined) throw new Error(`${id} is not due`);
  const leaseId = randomUUID();
  const claimed = claim(
    due,
    { leaseId, graceMs: 60_000, thresholds: settings.laneThresholds },
    read.readTime,
  );
  if (claimed.outcome.kind !== 'claimed' || claimed.patch === null) throw new Error('not claimed');
  const [written] = await store.writeIfUnchanged([{ schedule: due, patch: claimed.patch }]);
  expect(written?.kind).toBe('written');
  const [published] = await bus.publish([
    {
      v: 1,
      scheduleId: id,
      leaseId,
      dueAt: new Date(claimed.outcome.lease.dueAt).toISOString(),
      lane: 'high',
    },
  ]);
  expect(published?.ok).toBe(true);
  return leaseId;
}

describe('pacer schedules trigger', () => {
  it('never runs beside a running sync: it refuses, or waits for it, then runs once without moving the cadence', async () => {
    const dueAt = Date.now() - 5_000;
    // The planned call takes 15 s (longer than two CLI runs take to start); the manual one is quick.
    target.on('/busy', (n) => ({ delayMs: n === 0 ? 15_000 : 100 }));
    await schedule(
      'busy',
      '/busy',
      { cadence: { kind: 'interval', every: '1h', spread: false }, lane: 'high' },
      {
        lane: 'high',
        nextDueAt: timestamp(dueAt),
      },
    );
    const planned = await dispatchPlanned('busy');
    await target.waitForHits('/busy', 1);

    const refused = await runPacer(['schedules', 'trigger', 'busy'], project.env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(
      `pacer: cannot trigger "busy": a sync is running (planned lease ${planned},`,
    );
    expect(refused.stderr).toContain('pass --wait SECONDS');

    const waited = await runPacer(
      ['--json', 'schedules', 'trigger', 'busy', '--wait', '60'],
      project.env,
    );
    expect(waited.code, waited.stderr).toBe(0);
    expect(waited.stderr).toContain(`waiting: a sync is running (planned lease ${planned},`);
    const triggered = JSON.parse(waited.stdout) as TriggerResult;
    expect(triggered).toMatchObject({ scheduleId: 'busy', kind: 'manual', lane: 'high' });

    const hits = await target.waitForHits('/busy', 2);
    await until(
      () => stateOf('busy'),
      (state) => state.lastLeaseId === triggered.leaseId,
    );
    expect(mostAtOnce(target.hits.filter((hit) => hit.path === '/busy'))).toBe(1);
    expect(hits[0]?.body).toMatchObject({ kind: 'planned', dueAt: new Date(dueAt).toISOString() });
    expect(hits[1]?.body).toMatchObject({ kind: 'manual', dueAt: triggered.dueAt });

    // The cadence is where the planned run left it: one hour after the point it served.
    const state = await stateOf('busy');
    expect(state.nextDueAt).toBe(dueAt + HOUR);
    expect(state.dueAt).toBe(dueAt);
    const run = await project.firestore
      .collection(SCHEDULES)
      .doc('busy')
      .collection(RUNS)
      .doc(triggered.leaseId)
      .get();
    expect(run.data()).toMatchObject({ kind: 'manual', status: 'succeeded' });
    expect(
      lines.filter((line) => line.event === 'sync.operator_run' && line.scheduleId === 'busy'),
    ).toMatchObject([{ runKind: 'manual', leaseId: triggered.leaseId }]);
    await sleep(1_000);
    expect(target.count('/busy')).toBe(2);
  }, 90_000);

  it('refuses a paused schedule with the reason and dispatches nothing', async () => {
    await schedule(
      'paused',
      '/paused',
      { cadence: { kind: 'interval', every: '1h' }, enabled: false },
      { status: 'paused', lane: 'medium', nextDueAt: null },
    );
    const run = await runPacer(['schedules', 'trigger', 'paused'], project.env);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('pacer: cannot trigger "paused": it is paused (resume it first)');
    expect((await stateOf('paused')).lease).toBeNull();
  });
});

describe('pacer schedules backfill', () => {
  const START = Date.parse('2026-01-01T00:00:00Z');
  /** A 10-minute grid from START; last served at FROM + 1 h, its own next point an hour ahead. */
  async function gridSchedule(id: string, path: string) {
    await schedule(
      id,
      path,
      {
        cadence: {
          kind: 'interval',
          every: '10m',
          startAt: new Date(START).toISOString(),
          spread: false,
        },
        lane: 'high',
      },
      {
        lane: 'high',
        nextDueAt: timestamp(Date.now() + HOUR),
        dueAt: timestamp(START + 6 * 10 * MIN),
      },
    );
  }
  const from = new Date(START).toISOString();
  const to = new Date(START + 30 * MIN).toISOString();

  it('dry-runs, then serves each unserved point once, oldest first in the low lane; a second run adds nothing', async () => {
    target.on('/history', () => ({ delayMs: 200 }));
    await gridSchedule('history', '/history');
    // 00:10 was served already.
    await project.firestore
      .collection(SCHEDULES)
      .doc('history')
      .collection(RUNS)
      .doc('served-before')
      .set({ status: 'succeeded', kind: 'planned', dueAt: timestamp(START + 10 * MIN) });

    const dry = await pacerJson<BackfillCliResult>(
      ['schedules', 'backfill', 'history', '--from', from, '--to', to, '--dry-run'],
      project.env,
    );
    expect(dry).toMatchObject({ kind: 'dry_run', points: 4 });
    expect(dry.dispatched.map((point) => point.dueAt)).toEqual(
      [0, 20, 30].map((m) => START + m * MIN),
    );
    await sleep(2_000);
    expect(target.count('/history')).toBe(0);
    expect((await stateOf('history')).lease).toBeNull();

    const run = await runPacer(
      ['--json', 'schedules', 'backfill', 'history', '--from', from, '--to', to, '--spacing', '0'],
      project.env,
    );
    expect(run.code, run.stderr).toBe(0);
    const first = JSON.parse(run.stdout) as BackfillCliResult;
    expect(first).toMatchObject({ kind: 'finished', points: 4, served: [START + 10 * MIN] });
    expect(first.dispatched.map((point) => [point.dueAt, point.outcome])).toEqual(
      [0, 20, 30].map((m) => [START + m * MIN, 'succeeded']),
    );
    expect(run.stderr).toContain(`[0/3] ${new Date(START).toISOString()} dispatched`);
    expect(run.stderr).toContain(`[3/3] ${new Date(START + 30 * MIN).toISOString()} succeeded`);
    const hits = target.hits.filter((hit) => hit.path === '/history');
    expect(hits.map((hit) => [hit.body.kind, hit.body.dueAt, hit.body.lane])).toEqual(
      [0, 20, 30].map((m) => ['backfill', new Date(START + m * MIN).toISOString(), 'low']),
    );
    expect(mostAtOnce(hits)).toBe(1);

    const again = await pacerJson<BackfillCliResult>(
      ['schedules', 'backfill', 'history', '--from', from, '--to', to, '--spacing', '0'],
      project.env,
    );
    expect(again).toMatchObject({ kind: 'finished', dispatched: [], points: 4 });
    expect(again.served).toHaveLength(4);
    await sleep(1_000);
    expect(target.count('/history')).toBe(3);
    // The schedule's own cadence has not moved.
    const state = await stateOf('history');
    expect(state.dueAt).toBe(START + 60 * MIN);
    expect(state.lease).toBeNull();
  }, 90_000);

  it('stops at the next point when cancelled; the point in flight runs to its end', async () => {
    target.on('/cancel', () => ({ delayMs: 10_000 }));
    await gridSchedule('cancelled', '/cancel');
    const running = runPacer(
      [
        '--json',
        'schedules',
        'backfill',
        'cancelled',
        '--from',
        from,
        '--to',
        to,
        '--spacing',
        '0',
      ],
      project.env,
    );
    await target.waitForHits('/cancel', 1);
    const cancel = await pacerJson<{ cancelled: string[] }>(
      ['schedules', 'backfill-cancel', 'cancelled'],
      project.env,
    );
    expect(cancel.cancelled).toHaveLength(1);
    const run = await running;
    expect(run.code, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout) as BackfillCliResult;
    expect(result.kind).toBe('cancelled');
    expect(result.dispatched).toHaveLength(1);
    expect(result.remaining).toBe(3);
    await sleep(2_000);
    expect(target.count('/cancel')).toBe(1);
    const doc = await project.firestore
      .collection(SCHEDULES)
      .doc('cancelled')
      .collection(BACKFILLS)
      .doc(cancel.cancelled[0] ?? '')
      .get();
    expect(doc.get('status')).toBe('cancelled');
  }, 90_000);
});
