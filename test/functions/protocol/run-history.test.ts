/**
 * `runHistory: "failures"`: a planned run that succeeds at its first attempt gets no run record
 * (the sync costs 3 writes: claim, start, completion); every other run gets its record whole,
 * opened by whichever write first needs it. Decisions only, no store.
 */
import { describe, expect, it } from 'vitest';
import {
  claim,
  complete,
  holdForRetry,
  release,
  start,
} from '../../../functions/protocol/decisions.js';
import {
  overlapsUnrecorded,
  type Lease,
  type RunHistory,
  type ScheduleState,
} from '../../../functions/protocol/state.js';
import { after, at, edited, interval, subject, THRESHOLDS } from './subjects.js';

const NOW = at('2026-06-20T10:00:00Z');
const EXPIRE = NOW + 86_400_000;
const MINUTE = 60_000;
const startRequest = (attemptId: string) => ({
  leaseId: 'L1',
  attemptId,
  leaseMs: 60_000,
  maxAttempts: 3,
  expireAt: EXPIRE,
  thresholds: THRESHOLDS,
});
const completeRequest = (attemptId: string) => ({
  leaseId: 'L1',
  attemptId,
  startedAt: NOW,
  thresholds: THRESHOLDS,
});
const failure = { code: 'http_503', message: 'unavailable' };

function claimed(history: RunHistory, cadence = interval('1m')) {
  const due = subject(cadence, { status: 'active', lane: 'high', nextDueAt: NOW, health: 'ok' });
  return after(
    due,
    claim(due, { leaseId: 'L1', graceMs: 120_000, thresholds: THRESHOLDS, history }, NOW),
  );
}

describe('run history', () => {
  it.each([
    // history, records at start, records at completion
    ['all', true, true],
    ['failures', false, false],
  ] as const)(
    'under %s, a first attempt that succeeds writes a record at start: %s, at completion: %s',
    (history, atStart, atCompletion) => {
      const held = claimed(history);
      const started = start(held, startRequest('a1'), NOW);
      expect(started.outcome.kind).toBe('started');
      expect(started.patch?.run !== undefined).toBe(atStart);
      const running = after(held, started);
      const done = complete(running, completeRequest('a1'), NOW + 1_000);
      expect(done.outcome.kind).toBe('completed');
      expect(done.patch?.run !== undefined).toBe(atCompletion);
      // The state tells the success either way; without a record it marks where gaps begin.
      expect(done.patch?.state).toMatchObject({ lastSuccessAt: NOW + 1_000, lastLeaseId: 'L1' });
      expect(after(running, done).state.unrecordedFrom).toBe(history === 'all' ? null : NOW);
      expect(after(running, done).state.unrecordedUntil).toBe(history === 'all' ? null : NOW);
    },
  );

  it.each([
    // from, until, window from, window to, overlaps
    [null, null, 0, 10, false],
    [5, 7, 0, 4, false],
    [5, 7, 0, 5, true],
    [5, 7, 6, 6, true],
    [5, 7, 7, 9, true],
    [5, 7, 8, 9, false],
    // No end kept (a state written before the end was): on without end.
    [5, null, 80, 90, true],
    [5, null, 0, 4, false],
  ] as const)(
    'overlapsUnrecorded: kept %s–%s, window %s–%s: %s',
    (from, until, windowFrom, windowTo, overlaps) => {
      expect(
        overlapsUnrecorded({ unrecordedFrom: from, unrecordedUntil: until }, windowFrom, windowTo),
      ).toBe(overlaps);
    },
  );

  it('keeps the first and the last point served without a record', () => {
    const served = (state: Partial<ScheduleState>, dueAt: number) => {
      const held = claimed('failures');
      const withState = { ...held, state: { ...held.state, ...state } };
      const claimedLease = withState.state.lease;
      if (claimedLease === null) throw new Error('claimed without a lease');
      const lease: Lease = { ...claimedLease, dueAt };
      const leased = { ...withState, state: { ...withState.state, lease } };
      const running = after(leased, start(leased, startRequest('a1'), NOW));
      return after(running, complete(running, completeRequest('a1'), NOW + 1_000)).state;
    };
    const first = served({}, NOW - 10 * MINUTE);
    expect(first).toMatchObject({
      unrecordedFrom: NOW - 10 * MINUTE,
      unrecordedUntil: NOW - 10 * MINUTE,
    });
    const later = served(
      { unrecordedFrom: first.unrecordedFrom, unrecordedUntil: first.unrecordedUntil },
      NOW - 5 * MINUTE,
    );
    expect(later).toMatchObject({
      unrecordedFrom: NOW - 10 * MINUTE,
      unrecordedUntil: NOW - 5 * MINUTE,
    });
  });

  it('a failure of an unrecorded run writes its record whole, and the retry records on', () => {
    const held = claimed('failures');
    const running = after(held, start(held, startRequest('a1'), NOW));
    const failed = holdForRetry(
      running,
      {
        leaseId: 'L1',
        attemptId: 'a1',
        holdMs: 600_000,
        error: failure,
        thresholds: THRESHOLDS,
        expireAt: EXPIRE,
      },
      NOW + 1_000,
    );
    expect(failed.outcome).toBe('held');
    expect(failed.patch?.run?.fields).toMatchObject({
      scheduleId: running.id,
      leaseId: 'L1',
      kind: 'planned',
      lane: 'high',
      dueAt: NOW,
      attempt: 1,
      firstStartedAt: NOW,
      expireAt: EXPIRE,
      status: 'retrying',
    });
    const heldAgain = after(running, failed);
    expect(heldAgain.state.lease?.recorded).toBe(true);
    const retried = start(heldAgain, startRequest('a2'), NOW + 2_000);
    expect(retried.outcome).toMatchObject({ kind: 'started', attempt: 2 });
    expect(retried.patch?.run?.fields).toMatchObject({ status: 'running', attempt: 2 });
    const done = complete(after(heldAgain, retried), completeRequest('a2'), NOW + 3_000);
    expect(done.patch?.run?.fields).toMatchObject({ status: 'succeeded', attempt: 2 });
    expect(after(heldAgain, done).state.unrecordedFrom).toBeNull();
  });

  it('a dead letter of an unrecorded run writes its record whole', () => {
    const held = claimed('failures');
    const running = after(held, start(held, startRequest('a1'), NOW));
    const released = release(
      running,
      {
        leaseId: 'L1',
        attemptId: 'a1',
        reason: 'permanent_failure',
        error: failure,
        thresholds: THRESHOLDS,
        expireAt: EXPIRE,
      },
      NOW + 1_000,
    );
    expect(released.patch?.run?.fields).toMatchObject({
      scheduleId: running.id,
      kind: 'planned',
      dueAt: NOW,
      expireAt: EXPIRE,
      status: 'dead_lettered',
      reason: 'permanent_failure',
    });
  });

  it('a long sync (runner: "job") is always recorded', () => {
    const held = claimed('failures');
    const job = {
      ...held,
      validation: held.validation.ok
        ? { ...held.validation, spec: { ...held.validation.spec, runner: 'job' as const } }
        : held.validation,
    };
    expect(start(job, startRequest('a1'), NOW).patch?.run?.fields.status).toBe('running');
  });

  it.each([
    ['all', 'abandoned'],
    ['failures', undefined],
  ] as const)(
    'under %s, a lease that ends unstarted (paused meanwhile) writes a record: %s',
    (history, status) => {
      const held = claimed(history);
      const paused = edited(held, { ...held.data, enabled: false });
      const started = start(paused, startRequest('a1'), NOW);
      expect(started.outcome.kind).toBe('paused');
      expect(started.patch?.run?.fields.status).toBe(status);
    },
  );
});
