/**
 * The worker's store transactions on the Firestore emulator: while a lease holds a schedule its
 * `nextDueAt` follows the lease's end, and each attempt is fenced by its own token, so a worker
 * whose attempt was taken over can neither renew nor complete it.
 */
import { describe, expect, it } from 'vitest';
import { defaultSettings } from '../../../functions/config.js';
import {
  completeRun,
  recordRetryableFailure,
  releaseAfterDeadLetter,
  renewLease,
  startAttempt,
} from '../../../functions/store/runs.js';
import {
  leaseData,
  readState,
  RUNS,
  SCHEDULES,
  timestamp,
} from '../../../functions/store/state.js';
import { useTestProject } from '../../support/emulators.js';
import { intervalSpec, seedSchedules } from '../../support/fixtures.js';

const project = useTestProject('runs');
const db = project.firestore;
const thresholds = defaultSettings().laneThresholds;
const NOW = Date.UTC(2026, 10, 22, 12, 0, 0);
const DUE_AT = NOW - 60_000;
const LEASE_MS = 30_000;

/** A schedule every 15 minutes, dispatched under `leaseId` until `until`, no attempt yet. */
async function dispatched(id: string, leaseId = `${id}-lease`, until = NOW + 120_000) {
  await seedSchedules(db, [
    {
      id,
      spec: intervalSpec('15m'),
      lane: 'medium',
      nextDueAt: until,
      state: {
        dueAt: timestamp(DUE_AT),
        lease: leaseData({
          id: leaseId,
          until,
          attempt: 0,
          dispatchedAt: NOW - 1_000,
          startedAt: null,
          running: false,
          attemptId: null,
          resumeAt: null,
          resumeDueAt: null,
        }),
      },
    },
  ]);
  return leaseId;
}

async function state(id: string) {
  return readState((await db.collection(SCHEDULES).doc(id).get()).data());
}

function start(id: string, leaseId: string, attemptId: string, now = NOW, takeOverUntil?: number) {
  return startAttempt(db, {
    scheduleId: id,
    leaseId,
    attemptId,
    now,
    leaseMs: LEASE_MS,
    maxAttempts: 3,
    expireAt: now + 86_400_000,
    thresholds,
    ...(takeOverUntil === undefined ? {} : { takeOverUntil }),
  });
}

describe('a lease holds the schedule out of planning', () => {
  it('starting an attempt moves nextDueAt to the lease end', async () => {
    const leaseId = await dispatched('start');
    expect(await start('start', leaseId, 'a1')).toMatchObject({
      kind: 'started',
      attempt: 1,
      dueAt: DUE_AT,
    });
    const after = await state('start');
    expect(after.lease).toMatchObject({ until: NOW + LEASE_MS, running: true, attemptId: 'a1' });
    expect(after.nextDueAt).toBe(NOW + LEASE_MS);
    expect(after.dueAt).toBe(DUE_AT); // the due point served does not move
  });

  it('a second start while the first attempt holds the lease is told it is running', async () => {
    const leaseId = await dispatched('again');
    await start('again', leaseId, 'a1');
    expect(await start('again', leaseId, 'a2', NOW + 1_000)).toEqual({
      kind: 'running',
      until: NOW + LEASE_MS,
    });
    expect((await state('again')).lease?.attemptId).toBe('a1');
  });

  it('renewing moves nextDueAt with the lease', async () => {
    const leaseId = await dispatched('renew');
    await start('renew', leaseId, 'a1');
    const renewed = await renewLease(db, {
      scheduleId: 'renew',
      leaseId,
      attemptId: 'a1',
      now: NOW + 10_000,
      leaseMs: LEASE_MS,
      thresholds,
    });
    expect(renewed).toEqual({ kind: 'renewed', until: NOW + 10_000 + LEASE_MS });
    const after = await state('renew');
    expect(after.lease?.until).toBe(NOW + 10_000 + LEASE_MS);
    expect(after.nextDueAt).toBe(NOW + 10_000 + LEASE_MS);
  });

  it('a retryable failure holds the schedule until past the retry backoff', async () => {
    const leaseId = await dispatched('retry');
    await start('retry', leaseId, 'a1');
    const keepUntil = NOW + 5 * 60_000;
    expect(
      await recordRetryableFailure(db, {
        scheduleId: 'retry',
        leaseId,
        attemptId: 'a1',
        now: NOW + 1_000,
        keepUntil,
        attempt: 1,
        error: { code: 'target_unavailable', message: '503' },
        thresholds,
      }),
    ).toBe('recorded');
    const after = await state('retry');
    expect(after.nextDueAt).toBe(keepUntil);
    expect(after.lease).toMatchObject({ until: keepUntil, running: false, attempt: 1 });
    expect(after.consecutiveFailures).toBe(1);
  });
});

describe('attempts are fenced', () => {
  it('after a takeover the first attempt can neither renew nor complete; the second can', async () => {
    const leaseId = await dispatched('fenced');
    await start('fenced', leaseId, 'first');
    // The first worker stops renewing; its lease lapses and a redelivery takes over.
    const lapsed = NOW + LEASE_MS;
    const takeover = await start('fenced', leaseId, 'second', lapsed + 1, lapsed);
    expect(takeover).toMatchObject({ kind: 'started', attempt: 2 });

    const later = lapsed + 5_000;
    const first = { scheduleId: 'fenced', leaseId, attemptId: 'first' };
    const second = { scheduleId: 'fenced', leaseId, attemptId: 'second' };
    expect(await renewLease(db, { ...first, now: later, leaseMs: LEASE_MS, thresholds })).toEqual({
      kind: 'lost',
    });
    const completion = { now: later, dueAt: DUE_AT, startedAt: NOW, thresholds };
    expect(await completeRun(db, { ...first, ...completion, attempt: 1 })).toEqual({
      kind: 'lost',
    });
    expect((await state('fenced')).runCount).toBe(0);

    expect(await renewLease(db, { ...second, now: later, leaseMs: LEASE_MS, thresholds })).toEqual({
      kind: 'renewed',
      until: later + LEASE_MS,
    });
    expect(await completeRun(db, { ...second, ...completion, attempt: 2 })).toMatchObject({
      kind: 'completed',
      nextDueAt: DUE_AT + 15 * 60_000,
    });
    expect(await state('fenced')).toMatchObject({ runCount: 1, lease: null, health: 'ok' });
  });

  it('a failure reported by a taken-over attempt is not recorded', async () => {
    const leaseId = await dispatched('fenced-failure');
    await start('fenced-failure', leaseId, 'first');
    const lapsed = NOW + LEASE_MS;
    await start('fenced-failure', leaseId, 'second', lapsed + 1, lapsed);
    expect(
      await recordRetryableFailure(db, {
        scheduleId: 'fenced-failure',
        leaseId,
        attemptId: 'first',
        now: lapsed + 2_000,
        keepUntil: lapsed + 300_000,
        attempt: 1,
        error: { code: 'target_timeout', message: 'too slow' },
        thresholds,
      }),
    ).toBe('lost');
    // Nor may it give the lease up for a dead letter.
    expect(
      await releaseAfterDeadLetter(db, {
        scheduleId: 'fenced-failure',
        leaseId,
        attemptId: 'first',
        now: lapsed + 2_000,
        reason: 'permanent_failure',
        error: { code: 'target_rejected', message: 'HTTP 404' },
        thresholds,
      }),
    ).toBe('not_held');
    expect(await state('fenced-failure')).toMatchObject({
      consecutiveFailures: 0,
      lastError: null,
      lease: { attemptId: 'second', running: true },
    });
  });
});

describe('releasing after a dead letter', () => {
  it('releases its own lease: failing, and planned from the due point that failed', async () => {
    const leaseId = await dispatched('released');
    await start('released', leaseId, 'a1');
    expect(
      await releaseAfterDeadLetter(db, {
        scheduleId: 'released',
        leaseId,
        now: NOW + 2_000,
        reason: 'attempts_exhausted',
        error: { code: 'target_unavailable', message: '503' },
        thresholds,
      }),
    ).toBe('released');
    expect(await state('released')).toMatchObject({
      lease: null,
      lastLeaseId: leaseId,
      health: 'failing',
      nextDueAt: DUE_AT + 15 * 60_000,
    });
  });

  it('for a lease that no longer holds the schedule writes nothing', async () => {
    await dispatched('moved-on', 'current');
    const before = (await db.collection(SCHEDULES).doc('moved-on').get()).data();
    expect(
      await releaseAfterDeadLetter(db, {
        scheduleId: 'moved-on',
        leaseId: 'old',
        now: NOW,
        reason: 'attempts_exhausted',
        error: { code: 'target_unavailable', message: '503' },
        thresholds,
      }),
    ).toBe('not_held');
    const after = await db.collection(SCHEDULES).doc('moved-on').get();
    expect(after.data()).toEqual(before);
    expect(readState(after.data()).health).toBe('ok');
    const run = await db.doc(`${SCHEDULES}/moved-on/${RUNS}/old`).get();
    expect(run.exists).toBe(false);
  });
});
