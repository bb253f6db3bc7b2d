/**
 * The workers end to end: the real Pub/Sub and Firestore emulators, `syncHigh` and
 * `recordDeadLetter` served by functions-framework and fed by the push subscriptions the
 * topology describes, and a local HTTP target.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeMessage } from '../../../functions/bus/message.js';
import { PubSubBus } from '../../../functions/bus/publisher.js';
import { defaultSettings, loadSettings } from '../../../functions/config.js';
import { replayDeadLetter } from '../../../functions/deadletter/replay.js';
import { perLane } from '../../../functions/planner/plan.js';
import { claim } from '../../../functions/protocol/decisions.js';
import type { RunHistory } from '../../../functions/protocol/state.js';
import { FirestoreStore } from '../../../functions/store/firestore.js';
import { ReadMeter } from '../../../functions/store/queries.js';
import {
  DEAD_LETTERS,
  RUNS,
  SCHEDULE_STATES,
  SCHEDULES,
  timestamp,
} from '../../../functions/store/state.js';
import { describeTopology, type Topology } from '../../../functions/topology.js';
import { startFunctionServer, type FunctionServer } from '../../../infra/local/functions.js';
import { applyTopology } from '../../../infra/local/topology.js';
import { useTestProject } from '../../support/emulators.js';
import { TestTarget } from '../../support/target.js';
import { stateOf, stateRef, writeReconciled } from '../../support/schedule-docs.js';
import { EMPTY_STATE } from '../../../functions/protocol/state.js';

const project = useTestProject('worker');
const target = new TestTarget();

/** The workers' settings: short leases and few attempts, so the tests run in seconds. */
const WORKER_ENV = {
  PACER_LEASE_SECONDS: '3',
  PACER_MAX_ATTEMPTS: '3',
  PACER_ALLOW_TARGET_NETWORKS: '127.0.0.0/8',
  PACER_LOG_LEVEL: 'debug',
};
const settings = loadSettings({ ...WORKER_ENV, GOOGLE_CLOUD_PROJECT: project.projectId });
const topology: Topology = (() => {
  const described = describeTopology(settings);
  // Seconds, not minutes, between retries, so retry tests finish quickly.
  for (const lane of ['high', 'medium', 'low'] as const) {
    described.lanes[lane].retry = { minimumBackoffSeconds: 1, maximumBackoffSeconds: 2 };
  }
  return described;
})();
const store = new FirestoreStore(project.firestore);
const bus = new PubSubBus(project.pubsub, {
  topics: perLane((lane) => topology.lanes[lane].topic),
  timeoutMs: 10_000,
});

interface Served {
  server: FunctionServer;
  lines: Record<string, unknown>[];
}
const served = new Map<string, Served>();

async function serve(name: string, port?: number): Promise<Served> {
  const lines: Record<string, unknown>[] = served.get(name)?.lines ?? [];
  const server = await startFunctionServer({
    target: name,
    signatureType: 'cloudevent',
    env: { ...project.env, ...WORKER_ENV },
    ...(port ? { port } : {}),
    onLine: (line) => {
      try {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // functions-framework's own start-up lines are plain text
      }
    },
  });
  const entry = { server, lines };
  served.set(name, entry);
  return entry;
}

function logged(name: string, event: string, scheduleId?: string): Record<string, unknown>[] {
  return (served.get(name)?.lines ?? []).filter(
    (line) => line.event === event && (scheduleId === undefined || line.scheduleId === scheduleId),
  );
}

beforeAll(async () => {
  await target.start();
  const [worker, deadLetter] = await Promise.all([serve('syncHigh'), serve('recordDeadLetter')]);
  const urls: Record<string, string> = {
    syncHigh: worker.server.url,
    recordDeadLetter: deadLetter.server.url,
  };
  await applyTopology(project.pubsub, topology, {
    projectId: project.projectId,
    // Only the high lane and dead letters are served here; the other lanes go nowhere.
    endpoint: (name) => urls[name] ?? 'http://127.0.0.1:9',
  });
});

afterAll(async () => {
  await bus.close();
  await Promise.all([...served.values()].map(({ server }) => server.process.stop()));
  await target.stop();
});

/** A high-lane schedule syncing `path` on the target every `every`, due at `dueAt`. */
async function schedule(
  id: string,
  path: string,
  options: { every?: string; dueAt?: number; lane?: 'high' } = {},
) {
  const url = target.url(path);
  await writeReconciled(
    project.firestore,
    id,
    {
      name: id,
      // The exact grid: these tests follow the cadence one interval on from a point served.
      cadence: { kind: 'interval', every: options.every ?? '1h', spread: false },
      target: { type: 'http', url },
      payload: { id },
      ...(options.lane ? { lane: options.lane } : {}),
    },
    {
      status: 'active',
      lane: 'high',
      nextDueAt: timestamp(options.dueAt ?? Date.now() - 1_000),
      lease: null,
    },
  );
  return url;
}

/**
 * Dispatches one schedule the way the planner does: a conditional claim, then a publish. The
 * claim's lease lapses after `graceMs` unless a worker starts the sync.
 */
async function dispatch(
  id: string,
  graceMs = 120_000,
  history: RunHistory = 'all',
): Promise<{ leaseId: string; dueAt: number }> {
  const read = await store.readDue('high', Date.now(), 100, new ReadMeter());
  const due = read.schedules.find((s) => s.id === id);
  if (due === undefined) throw new Error(`${id} is not due`);
  const leaseId = randomUUID();
  const claimed = claim(
    due,
    { leaseId, graceMs, thresholds: settings.laneThresholds, history },
    read.readTime,
  );
  if (claimed.outcome.kind !== 'claimed' || claimed.patch === null) {
    throw new Error(`${id} could not be claimed: ${JSON.stringify(claimed.outcome)}`);
  }
  const [written] = await store.writeIfUnchanged([{ schedule: due, patch: claimed.patch }]);
  expect(written?.kind).toBe('written');
  const dueAt = claimed.outcome.lease.dueAt;
  const [published] = await bus.publish([
    { v: 1, scheduleId: id, leaseId, dueAt: new Date(dueAt).toISOString(), lane: 'high' },
  ]);
  expect(published?.ok).toBe(true);
  return { leaseId, dueAt };
}

/** The ids the planner's due query would find in the high lane now. */
async function dueNow(): Promise<string[]> {
  const read = await store.readDue('high', Date.now(), 100, new ReadMeter());
  return read.schedules.map((s) => s.id);
}

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
    if (Date.now() > deadline)
      throw new Error(`condition not met in ${timeoutMs} ms: ${JSON.stringify(value)}`);
    await sleep(100);
  }
}

async function deadLetter(id: string) {
  return until(
    () => project.firestore.collection(DEAD_LETTERS).doc(id).get(),
    (snapshot) => snapshot.exists,
  );
}

describe('a due schedule', () => {
  it('is synced once, completed, and due next one interval after the due point it served', async () => {
    const dueAt = Date.now() - 5_000;
    await schedule('complete', '/complete', { every: '15m', dueAt });
    const { leaseId } = await dispatch('complete');

    const done = await until(
      () => state('complete'),
      (s) => s.runCount === 1,
    );
    expect(done).toMatchObject({
      lease: null,
      lastLeaseId: leaseId,
      health: 'ok',
      status: 'active',
      lane: 'low',
    });
    expect(done.nextDueAt).toBe(dueAt + 15 * 60_000);
    const [hit] = await target.waitForHits('/complete', 1);
    expect(hit?.body).toEqual({
      scheduleId: 'complete',
      dueAt: new Date(dueAt).toISOString(),
      lane: 'high',
      attempt: 1,
      kind: 'planned',
      payload: { id: 'complete' },
    });
    const run = await project.firestore.doc(`${SCHEDULES}/complete/${RUNS}/${leaseId}`).get();
    expect(run.data()).toMatchObject({ status: 'succeeded', attempt: 1, detail: { status: 200 } });
    expect(run.get('expireAt')).toBeDefined();
    const [completed] = await until(
      () => logged('syncHigh', 'sync.completed', 'complete'),
      (lines) => lines.length === 1,
    );
    expect(completed).toMatchObject({
      status: 'active',
      nextDueAt: new Date(dueAt + 15 * 60_000).toISOString(),
      detail: { status: 200 },
    });
  });

  it('claimed under runHistory "failures": synced and completed with no run record; a retried run gets its record whole', async () => {
    const dueAt = Date.now() - 5_000;
    await schedule('unrecorded', '/unrecorded', { every: '15m', dueAt });
    const { leaseId } = await dispatch('unrecorded', 120_000, 'failures');
    const done = await until(
      () => state('unrecorded'),
      (s) => s.runCount === 1,
    );
    expect(done).toMatchObject({ lease: null, lastLeaseId: leaseId, unrecordedFrom: dueAt });
    expect(done.lastSuccessAt).not.toBeNull();
    await until(
      () => logged('syncHigh', 'sync.completed', 'unrecorded'),
      (lines) => lines.length === 1,
    );
    const runs = await project.firestore.collection(`${SCHEDULES}/unrecorded/${RUNS}`).get();
    expect(runs.size).toBe(0);

    // A run that fails first is recorded whole, from its first attempt's failure on.
    target.on('/recorded-on-failure', (n) => ({ status: n < 1 ? 503 : 200 }));
    await schedule('recorded-on-failure', '/recorded-on-failure', { every: '15m' });
    const retried = await dispatch('recorded-on-failure', 120_000, 'failures');
    await until(
      () => state('recorded-on-failure'),
      (s) => s.runCount === 1,
    );
    const run = await project.firestore
      .doc(`${SCHEDULES}/recorded-on-failure/${RUNS}/${retried.leaseId}`)
      .get();
    expect(run.data()).toMatchObject({
      scheduleId: 'recorded-on-failure',
      kind: 'planned',
      status: 'succeeded',
      attempt: 2,
      errors: [expect.objectContaining({ attempt: 1, code: 'target_unavailable' })],
    });
    expect(run.get('expireAt')).toBeDefined();
    expect((await state('recorded-on-failure')).unrecordedFrom).toBeNull();
  });

  it('delivered twice is synced once; the second delivery is logged as a duplicate', async () => {
    await schedule('twice', '/twice');
    const { leaseId, dueAt } = await dispatch('twice');
    await until(
      () => state('twice'),
      (s) => s.runCount === 1,
    );

    // The same message again, as Pub/Sub may deliver it.
    await project.pubsub.topic(topology.lanes.high.topic).publishMessage(
      encodeMessage({
        v: 1,
        scheduleId: 'twice',
        leaseId,
        dueAt: new Date(dueAt).toISOString(),
        lane: 'high',
      }),
    );
    await until(
      () => logged('syncHigh', 'sync.duplicate', 'twice'),
      (lines) => lines.length === 1,
    );
    expect(target.count('/twice')).toBe(1);
    expect((await state('twice')).runCount).toBe(1);
  });
});

describe('leases', () => {
  it('a worker killed mid-sync: once its lease lapses the sync runs again, as attempt 2, and completes', async () => {
    const worker = served.get('syncHigh');
    if (!worker) throw new Error('no worker');
    const port = worker.server.port;
    let killed: Promise<void> | undefined;
    target.on('/killed', (n) =>
      n === 0
        ? {
            delayMs: 10_000,
            onArrive: () => {
              worker.server.process.signal('SIGKILL');
              killed = worker.server.process.exit;
            },
          }
        : {},
    );
    await schedule('killed', '/killed');
    await dispatch('killed');

    await target.waitForHits('/killed', 1);
    await killed;
    await serve('syncHigh', port); // the instance comes back on the same address

    // Its lease is never taken over while it holds. Once it has lapsed, Pub/Sub's redelivery
    // takes the attempt over — or, if that came while the lease still held (acked as a
    // duplicate), the planner dispatches the schedule again, its attempts carried.
    const lapsed = await until(
      () => state('killed'),
      (s) => s.runCount === 1 || (s.lease !== null && s.lease.until < Date.now() - 2_000),
    );
    if (lapsed.runCount === 0 && (await state('killed')).lease?.running === true) {
      if ((await dueNow()).includes('killed')) await dispatch('killed');
    }
    const done = await until(
      () => state('killed'),
      (s) => s.runCount === 1,
    );
    expect(done.lease).toBeNull();
    const hits = await target.waitForHits('/killed', 2);
    expect(hits[1]?.body.attempt).toBe(2);
  });

  it('a second delivery of a message while the first still syncs does not start a second sync', async () => {
    // Filled in once dispatched; the target's hook reads it when the first request arrives.
    const sent: { copy?: { leaseId: string; dueAt: number } } = {};
    target.on('/concurrent', (n) => ({
      delayMs: 6_000,
      onArrive: () => {
        const copy = sent.copy;
        if (n > 0 || copy === undefined) return;
        // Pub/Sub delivers the same message again while the first delivery runs.
        void project.pubsub.topic(topology.lanes.high.topic).publishMessage(
          encodeMessage({
            v: 1,
            scheduleId: 'concurrent',
            leaseId: copy.leaseId,
            dueAt: new Date(copy.dueAt).toISOString(),
            lane: 'high',
          }),
        );
      },
    }));
    await schedule('concurrent', '/concurrent');
    sent.copy = await dispatch('concurrent');

    await until(
      () => logged('syncHigh', 'sync.duplicate', 'concurrent'),
      (lines) => lines.some((line) => line.inProgress === true),
    );
    await until(
      () => state('concurrent'),
      (s) => s.runCount === 1,
    );
    expect(target.count('/concurrent')).toBe(1);
  });

  it('a sync three times longer than the lease keeps its lease by heartbeat: never due, no second copy', async () => {
    target.on('/long', () => ({ delayMs: 9_000 })); // the lease is 3 s
    await schedule('long', '/long');
    // The dispatch grace is short too: only the worker's renewals keep the schedule out of
    // the planner's due query.
    await dispatch('long', 2_000);
    await target.waitForHits('/long', 1);

    // Meanwhile the lease keeps moving ahead of now, so the schedule never falls due.
    let renewals = 0;
    let previous = 0;
    const started = Date.now();
    while (Date.now() - started < 7_000) {
      const current = await state('long');
      if (current.runCount === 1) break;
      expect(current.lease).not.toBeNull();
      expect(current.lease?.until).toBeGreaterThan(Date.now());
      if ((current.lease?.until ?? 0) > previous) {
        if (previous !== 0) renewals++;
        previous = current.lease?.until ?? 0;
      }
      expect(await dueNow()).not.toContain('long');
      await sleep(500);
    }
    await until(
      () => state('long'),
      (s) => s.runCount === 1,
    );
    expect(renewals).toBeGreaterThanOrEqual(2);
    expect(target.count('/long')).toBe(1);
  });

  it('a lease stolen mid-sync aborts the running sync, which does not complete the schedule', async () => {
    target.on('/stolen', (n) => ({
      delayMs: 8_000,
      onArrive: () => {
        if (n > 0) return;
        void stateRef(project.firestore, 'stolen').update({
          'state.lease': {
            id: 'thief',
            until: timestamp(Date.now() + 60_000),
            attempt: 0,
            dispatchedAt: timestamp(Date.now()),
            startedAt: null,
          },
        });
      },
    }));
    await schedule('stolen', '/stolen');
    await dispatch('stolen');

    await until(
      () => logged('syncHigh', 'lease.lost', 'stolen'),
      (lines) => lines.length === 1,
    );
    const [hit] = await target.waitForHits('/stolen', 1);
    await until(
      () => hit?.aborted,
      (aborted) => aborted === true,
      5_000,
    );
    const after = await state('stolen');
    expect(after.runCount).toBe(0);
    expect(after.lease?.id).toBe('thief');
  });
});

describe('failures', () => {
  it('503 twice then 200: completed on the third attempt, the attempts recorded', async () => {
    target.on('/flaky', (n) => ({ status: n < 2 ? 503 : 200 }));
    await schedule('flaky', '/flaky');
    const { leaseId } = await dispatch('flaky');

    const done = await until(
      () => state('flaky'),
      (s) => s.runCount === 1,
    );
    expect(done).toMatchObject({ lease: null, health: 'ok', consecutiveFailures: 0 });
    const hits = await target.waitForHits('/flaky', 3);
    expect(hits.map((hit) => hit.body.attempt)).toEqual([1, 2, 3]);
    const run = (await project.firestore.doc(`${SCHEDULES}/flaky/${RUNS}/${leaseId}`).get()).data();
    expect(run).toMatchObject({ status: 'succeeded', attempt: 3 });
    expect(
      (run?.errors as { attempt: number; code: string }[]).map((e) => [e.attempt, e.code]),
    ).toEqual([
      [1, 'target_unavailable'],
      [2, 'target_unavailable'],
    ]);
    await until(
      () => logged('syncHigh', 'sync.failed', 'flaky'),
      (lines) => lines.length === 2,
    );
  });

  it('while Pub/Sub retries with backoff the schedule is never due; it is dead-lettered once', async () => {
    target.on('/retrying', () => ({ status: 503 }));
    await schedule('retrying', '/retrying');
    // The claim lapses in 1 s; the retries (1–2 s apart) run well past it.
    const { leaseId } = await dispatch('retrying', 1_000);

    let polls = 0;
    while (!(await project.firestore.collection(DEAD_LETTERS).doc(leaseId).get()).exists) {
      expect(await dueNow()).not.toContain('retrying');
      polls++;
      await sleep(200);
    }
    expect(polls).toBeGreaterThan(5); // the retry window was watched, not skipped
    const letter = await deadLetter(leaseId);
    expect(letter.data()).toMatchObject({ reason: 'attempts_exhausted', attempts: 3 });
    expect(target.count('/retrying')).toBe(3);
  });

  it('always 500: after the maximum attempts it is dead-lettered once, the lease released, the cadence kept', async () => {
    target.on('/down', () => ({ status: 500 }));
    const dueAt = Date.now() - 1_000;
    await schedule('down', '/down', { every: '1h', dueAt });
    const { leaseId } = await dispatch('down');

    const letter = await deadLetter(leaseId);
    expect(letter.data()).toMatchObject({
      reason: 'attempts_exhausted',
      scheduleId: 'down',
      leaseId,
      attempts: 3,
      lastError: { code: 'target_unavailable' },
      sourceSubscription: topology.lanes.high.subscription,
      replayedAt: null,
    });
    const after = await until(
      () => state('down'),
      (s) => s.lease === null,
    );
    expect(after).toMatchObject({ health: 'failing', status: 'active', lastLeaseId: leaseId });
    expect(after.nextDueAt).toBe(dueAt + 3_600_000);
    expect(target.count('/down')).toBe(3);
    const letters = await project.firestore
      .collection(DEAD_LETTERS)
      .where('scheduleId', '==', 'down')
      .get();
    expect(letters.size).toBe(1);
    // The record is written before the function's log line reaches us.
    await until(
      () => logged('recordDeadLetter', 'deadletter.recorded'),
      (lines) => lines.some((line) => line.leaseId === leaseId),
    );
  });

  it('404: dead-lettered at once, no retries', async () => {
    target.on('/gone', () => ({ status: 404 }));
    await schedule('gone', '/gone');
    const { leaseId } = await dispatch('gone');

    const letter = await deadLetter(leaseId);
    expect(letter.data()).toMatchObject({
      reason: 'permanent_failure',
      attempts: 1,
      lastError: { code: 'target_rejected' },
    });
    await sleep(3_000); // longer than a retry would take
    expect(target.count('/gone')).toBe(1);
    expect(await state('gone')).toMatchObject({ lease: null, health: 'failing' });
  });

  it('a malformed body and a message for a deleted schedule are acked, and the lane keeps flowing', async () => {
    const topic = project.pubsub.topic(topology.lanes.high.topic);
    const malformedId = await topic.publishMessage({ data: Buffer.from('this is not json') });
    await topic.publishMessage(
      encodeMessage({
        v: 1,
        scheduleId: 'deleted',
        leaseId: 'l-1',
        dueAt: new Date().toISOString(),
        lane: 'high',
      }),
    );
    await schedule('after', '/after');
    await dispatch('after');

    await until(
      () => state('after'),
      (s) => s.runCount === 1,
    );
    const malformed = await deadLetter(`message-${malformedId}`);
    expect(malformed.data()).toMatchObject({
      reason: 'malformed',
      scheduleId: null,
      message: { data: 'this is not json' },
      lastError: { code: 'invalid_message' },
    });
    await until(
      () => logged('syncHigh', 'sync.missing', 'deleted'),
      (lines) => lines.length === 1,
    );
  });

  it('a poison message (ids that are no document ids) is recorded once under a safe id, and nothing is redelivered', async () => {
    const topic = project.pubsub.topic(topology.lanes.high.topic);
    const poisonId = await topic.publishMessage({
      data: Buffer.from(
        JSON.stringify({
          v: 1,
          scheduleId: 'a/b',
          leaseId: 'x/y/z',
          dueAt: new Date().toISOString(),
          lane: 'high',
        }),
      ),
    });
    await schedule('beside-poison', '/beside-poison');
    await dispatch('beside-poison');

    await until(
      () => state('beside-poison'),
      (s) => s.runCount === 1,
    );
    const letter = await deadLetter(`message-${poisonId}`);
    expect(letter.data()).toMatchObject({
      reason: 'malformed',
      scheduleId: null,
      leaseId: null,
      lastError: {
        code: 'invalid_message',
        message:
          'not a pacer dispatch message (scheduleId: is not a document id (no "/", not "." or "..", not __…__); leaseId: is not a document id (no "/", not "." or "..", not __…__))',
      },
    });
    // Longer than the lanes' and the dead-letter subscription's retry backoff: a message that
    // looped would have come back by now.
    await sleep(6_000);
    const pushes = (name: string, event: string) =>
      logged(name, event).filter(
        (line) => line.messageId === poisonId || line.deadLetterId === `message-${poisonId}`,
      );
    expect(pushes('syncHigh', 'sync.malformed')).toHaveLength(1);
    expect(pushes('recordDeadLetter', 'deadletter.recorded')).toHaveLength(1);
    expect(pushes('recordDeadLetter', 'deadletter.duplicate')).toHaveLength(0);
    // No document was written under the slashed ids.
    const nested = await project.firestore.collection(`${DEAD_LETTERS}/x/y`).get();
    expect(nested.size).toBe(0);
    expect((await project.firestore.doc(`${SCHEDULES}/a/b/c`).get()).exists).toBe(false);
    expect((await project.firestore.doc(`${SCHEDULE_STATES}/a/b/c`).get()).exists).toBe(false);
  });

  it('a target at 169.254.169.254 or 10.0.0.1 is refused (dead-lettered as permanent)', async () => {
    for (const [id, url] of [
      ['metadata', 'http://169.254.169.254/computeMetadata/v1/'],
      ['private', 'http://10.0.0.1/sync'],
    ] as const) {
      await writeReconciled(
        project.firestore,
        id,
        { name: id, cadence: { kind: 'interval', every: '1h' }, target: { type: 'http', url } },
        { status: 'active', lane: 'high', nextDueAt: timestamp(Date.now() - 1_000), lease: null },
      );
      const { leaseId } = await dispatch(id);
      const letter = await deadLetter(leaseId);
      expect(letter.get('reason')).toBe('permanent_failure');
      expect(letter.get('lastError')).toMatchObject({ code: 'target_forbidden' });
      expect(String(letter.get('lastError.message'))).toContain('which is not allowed');
    }
  });

  it('replaying a dead letter syncs the schedule again and marks the letter replayed', async () => {
    target.on('/replay', (n) => ({ status: n === 0 ? 404 : 200 }));
    // Pinned to the high lane (the one served here); replay dispatches in the schedule's lane.
    await schedule('replay', '/replay', { lane: 'high' });
    const { leaseId } = await dispatch('replay');
    await deadLetter(leaseId);
    await until(
      () => state('replay'),
      (s) => s.lease === null,
    );

    const outcome = await replayDeadLetter(
      {
        store,
        bus,
        newId: randomUUID,
        dispatchGraceMs: defaultSettings().dispatchGraceSeconds * 1_000,
        thresholds: defaultSettings().laneThresholds,
      },
      leaseId,
    );
    expect(outcome).toMatchObject({ kind: 'replayed', scheduleId: 'replay', lane: 'high' });
    const done = await until(
      () => state('replay'),
      (s) => s.runCount === 1,
    );
    expect(done).toMatchObject({ lease: null, health: 'ok' });
    expect(target.count('/replay')).toBe(2);
    const letter = await project.firestore.collection(DEAD_LETTERS).doc(leaseId).get();
    expect(letter.get('replayedAt')).not.toBeNull();
    expect(letter.get('replayLeaseId')).toBe(
      outcome.kind === 'replayed' ? outcome.leaseId : undefined,
    );
  });
});
