/**
 * Hostile documents on the real Firestore and Pub/Sub emulators (issue 13): a poison `startsAt`,
 * a `state` corrupted by hand and a reference value sit among healthy schedules. Every sub-tick
 * runs; the healthy schedules are dispatched in the same sub-ticks as without them; the hostile
 * ones are marked invalid (or, a valid one with a broken state, repaired and dispatched).
 */
import { GeoPoint, Timestamp } from '@google-cloud/firestore';
import { describe, expect, it } from 'vitest';
import { runTick } from '../../../functions/planner/tick.js';
import { reconcileSchedule } from '../../../functions/reconciler/reconcile.js';
import { FirestoreStore } from '../../../functions/store/firestore.js';
import { SCHEDULES, timestamp } from '../../../functions/store/state.js';
import { existingState, writeReconciled } from '../../support/schedule-docs.js';
import { useProjects } from '../../support/emulators.js';
import { events, FakeClock, intervalSpec, seedSchedules } from '../../support/fixtures.js';
import { testPlanner } from '../../support/planner.js';
import { laneTopicsWithCollector } from '../../support/pubsub.js';

const newProject = useProjects();
const MINUTE = 60_000;

const POISON_TIME = '+100000-01-01T00:00:00Z';
const OUT_OF_YEARS = `cadence.startsAt: "${POISON_TIME}" is outside the years pacer plans for (2000 to 2099)`;

describe('hostile documents among healthy ones', () => {
  it('cost no sub-tick and no healthy sync: each is marked invalid, or repaired, on its own', async () => {
    const project = newProject('hostile-docs');
    const T0 = Date.now();
    const clock = new FakeClock(T0);
    const { deps, lines, topics } = testPlanner(project, clock, {
      tickBudgetSeconds: 30,
      subTickSeconds: 10,
    });
    const collector = await laneTopicsWithCollector(project.pubsub, topics);
    const healthy = Array.from({ length: 5 }, (_, i) => ({
      id: `healthy-${i}`,
      spec: intervalSpec('1m'),
      lane: 'high' as const,
      nextDueAt: T0 - 1_000 - i,
    }));
    await seedSchedules(project.firestore, healthy);
    const race = (startsAt: unknown) => ({
      name: 'race',
      cadence: { kind: 'event', startsAt },
      target: { type: 'http', url: 'https://target.example.com/sync' },
    });
    const db = project.firestore;
    // Each written as if reconciled: the operator's fields, and pacer's document with `state`.
    const put = (id: string, { state, ...fields }: Record<string, unknown>) =>
      writeReconciled(db, id, fields, state);
    await Promise.all([
      // Waiting in the medium lane, its escalation due: the first incident's path.
      put('poison-escalating', {
        ...race(POISON_TIME),
        state: {
          status: 'active',
          lane: 'medium',
          nextDueAt: timestamp(T0 + 60 * MINUTE),
          escalatesAt: timestamp(T0 - MINUTE),
          lease: null,
        },
      }),
      // A waiting race whose startsAt was edited, due now.
      put('poison-due', {
        ...race(POISON_TIME),
        state: { status: 'active', lane: 'high', nextDueAt: timestamp(T0 - 2_000), lease: null },
      }),
      // A valid schedule whose state a hand corrupted: times Firestore holds but pacer never
      // writes, fields of the wrong type, a lease that is no lease.
      put('corrupted-state', {
        ...intervalSpec('1m'),
        state: {
          status: 'active',
          lane: 'high',
          nextDueAt: timestamp(T0 - 3_000),
          dueAt: new Timestamp(253402300790, 0), // 9999-12-31T23:59:50Z
          escalatesAt: Timestamp.fromMillis(Date.parse('0001-01-01T00:00:00Z')),
          lease: { id: 42, until: 'later', attempt: 'many' },
          consecutiveFailures: -3,
          runCount: 'lots',
          lastError: 'boom',
          health: 7,
        },
      }),
      // A state that is not even a map, due by its own (absent) fields: never read, never
      // planned, until the reconciler sees it (below).
      put('state-not-a-map', { ...intervalSpec('1m'), state: new GeoPoint(1, 2) }),
      // Reference values in the payload and as a field of their own.
      put('reference-payload', {
        ...intervalSpec('1m', { payload: { owner: db.doc('teams/ops') } }),
        state: { status: 'active', lane: 'high', nextDueAt: timestamp(T0 - 4_000), lease: null },
      }),
      put('reference-escalating', {
        ...intervalSpec('2m', { owner: db.doc('teams/ops') }),
        state: {
          status: 'active',
          lane: 'medium',
          nextDueAt: timestamp(T0 + MINUTE),
          escalatesAt: timestamp(T0 - MINUTE),
          lease: null,
        },
      }),
    ]);

    const result = await runTick(deps);

    expect(result.outcome).toBe('completed');
    if (result.outcome !== 'completed') return;
    expect(result.failedSubTicks).toBe(0);
    expect(result.subTicks).toHaveLength(3);
    expect(events(lines, 'tick.subtick_failed')).toEqual([]);
    expect(events(lines, 'schedule.error')).toEqual([]);
    // Every healthy schedule and the repaired one were dispatched in the first sub-tick.
    const first = result.subTicks[0];
    expect(first?.lanes.high.dispatched).toBe(6);
    const received = await collector.settle(6);
    await collector.close();
    expect(received.map((r) => r.message.scheduleId).sort()).toEqual(
      [...healthy.map((h) => h.id), 'corrupted-state'].sort(),
    );

    const state = (id: string) => existingState(db, id);
    for (const id of ['poison-escalating', 'poison-due']) {
      expect(await state(id)).toMatchObject({
        status: 'invalid',
        error: OUT_OF_YEARS,
        nextDueAt: null,
      });
    }
    expect(await state('reference-payload')).toMatchObject({
      status: 'invalid',
      error: 'payload.owner: a document reference cannot be sent as JSON',
    });
    expect(await state('reference-escalating')).toMatchObject({
      status: 'invalid',
      error: 'owner: unknown field',
    });
    const repaired = await state('corrupted-state');
    expect(repaired.lease?.id).toEqual(expect.any(String));
    expect(repaired.lease?.dueAt).toBeLessThanOrEqual(Date.now());
    expect(repaired.status).toBe('active');
  });

  it('the reconciler marks a reference value invalid and repairs a state that is not a map', async () => {
    const project = newProject('hostile-reconcile');
    const db = project.firestore;
    const store = new FirestoreStore(db);
    await db
      .collection(SCHEDULES)
      .doc('reference-label')
      .set({ ...intervalSpec('5m'), labels: { team: db.doc('teams/ops') } });
    await db
      .collection(SCHEDULES)
      .doc('state-not-a-map')
      .set({ ...intervalSpec('5m'), state: new GeoPoint(1, 2) });
    await db
      .collection(SCHEDULES)
      .doc('poison-time')
      .set({
        name: 'race',
        cadence: { kind: 'event', startsAt: new Timestamp(253402300799, 0) },
        target: { type: 'http', url: 'https://target.example.com/sync' },
      });
    const thresholds = { highMaxIntervalMs: MINUTE, mediumMaxIntervalMs: 5 * MINUTE };

    expect(await reconcileSchedule(store, 'reference-label', { thresholds })).toEqual({
      kind: 'invalid',
      status: 'invalid',
      problems: ['labels.team: expected a string, got a document reference'],
    });
    expect(await reconcileSchedule(store, 'poison-time', { thresholds })).toEqual({
      kind: 'invalid',
      status: 'invalid',
      problems: [
        'cadence.startsAt: 9999-12-31T23:59:59.000Z is outside the years pacer plans for (2000 to 2099)',
      ],
    });
    const repaired = await reconcileSchedule(store, 'state-not-a-map', { thresholds });
    expect(repaired).toMatchObject({ kind: 'scheduled', status: 'active', lane: 'medium' });
    // Reconciling again changes nothing (an event delivered twice writes once).
    for (const id of ['reference-label', 'poison-time', 'state-not-a-map']) {
      expect((await reconcileSchedule(store, id, { thresholds })).kind).toBe('unchanged');
    }
  });
});
