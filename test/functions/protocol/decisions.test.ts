/**
 * The lease protocol's decisions, one transition at a time, without a store: each is a pure
 * function of a schedule, a request and the store's time. The defects a review found (a live
 * lease taken over, an owed point dropped by an edit, a pause that pinged-ponged or stuck a
 * schedule, a `startAt` edit ignored, a failing target that never dead-lettered) each have a case
 * here; the protocol checker (test/infra/check/) finds them again in random histories.
 */
import { describe, expect, it } from 'vitest';
import {
  claim,
  claimReplay,
  complete,
  escalate,
  holdForRetry,
  reconcile,
  release,
  renew,
  resume,
  screen,
  start,
  unclaim,
  unclaimReplay,
} from '../../../functions/protocol/decisions.js';
import { owedSince } from '../../../functions/protocol/state.js';
import { after, at, documentOf, edited, interval, subject, THRESHOLDS } from './subjects.js';

const NOW = at('2026-06-20T10:00:00Z');
const MINUTE = 60_000;
const GRACE = 120_000;
const LEASE = 60_000;
const startRequest = (attemptId: string, leaseId = 'L1') => ({
  leaseId,
  attemptId,
  leaseMs: LEASE,
  maxAttempts: 3,
  expireAt: NOW + 86_400_000,
  thresholds: THRESHOLDS,
});
const claimRequest = (leaseId = 'L1') => ({ leaseId, graceMs: GRACE, thresholds: THRESHOLDS });

/** A 1-minute interval schedule due at `dueAt`, nothing holding it. */
function dueEveryMinute(dueAt = NOW) {
  return subject(interval('1m'), {
    status: 'active',
    lane: 'high',
    nextDueAt: dueAt,
    health: 'ok',
  });
}

/** A schedule claimed at NOW and started by attempt `a1` (its lease until NOW + LEASE). */
function running() {
  const claimed = after(dueEveryMinute(), claim(dueEveryMinute(), claimRequest(), NOW));
  return after(claimed, start(claimed, startRequest('a1'), NOW));
}

describe('the planner claims a due schedule', () => {
  it('with a lease until now + grace, nextDueAt at its end, serving the latest point owed', () => {
    const due = dueEveryMinute(NOW - 3 * MINUTE); // three points missed: coalesced into one
    const decided = claim(due, claimRequest(), NOW);
    expect(decided.outcome).toMatchObject({
      kind: 'claimed',
      lane: 'high',
      lease: { id: 'L1', until: NOW + GRACE, dueAt: NOW, owedSince: NOW - 3 * MINUTE, attempt: 0 },
    });
    const claimed = after(due, decided);
    expect(claimed.state.nextDueAt).toBe(NOW + GRACE);
    expect(owedSince(claimed.state)).toBe(NOW - 3 * MINUTE);
  });

  it('not before it is due, and never while a live lease holds it', () => {
    expect(claim(dueEveryMinute(NOW + 1), claimRequest(), NOW).outcome).toEqual({
      kind: 'not_claimed',
      screening: { kind: 'not_due' },
    });
    const held = running();
    expect(claim(held, claimRequest('L2'), NOW + 1_000).outcome).toEqual({
      kind: 'not_claimed',
      screening: { kind: 'held' },
    });
  });

  it('again after its lease lapsed: the same point still owed, the attempts carried over', () => {
    const lapsed = running(); // attempt 1 ran, its worker died; the lease ends NOW + LEASE
    const later = NOW + LEASE + 5_000;
    const decided = claim(lapsed, claimRequest('L2'), later);
    expect(decided.outcome).toMatchObject({
      kind: 'claimed',
      lease: { id: 'L2', attempt: 1, owedSince: NOW, dueAt: NOW + MINUTE },
    });
  });

  it('a claim whose message could not be published is given back exactly', () => {
    const before = running();
    const later = NOW + LEASE + 5_000;
    const decided = claim(before, claimRequest('L2'), later);
    if (decided.outcome.kind !== 'claimed') throw new Error('not claimed');
    const restored = after(after(before, decided), {
      outcome: null,
      patch: unclaim(decided.outcome.previous),
    });
    expect(restored.state).toEqual(before.state);
  });
});

describe('dispatch ahead: a point due before the next sub-tick', () => {
  const AHEAD = 10_000;
  const aheadRequest = (leaseId = 'L1') => ({ ...claimRequest(leaseId), aheadMs: AHEAD });

  it.each([
    ['due now', 0, 'candidate'],
    ['due in 4 s', 4_000, 'candidate'],
    ['due exactly at the horizon', AHEAD, 'candidate'],
    ['due 1 ms past the horizon', AHEAD + 1, 'not_due'],
  ])('%s: screened as %s', (_name, inMs, kind) => {
    expect(screen(dueEveryMinute(NOW + inMs), NOW, THRESHOLDS, AHEAD).outcome.kind).toBe(kind);
  });

  it('is claimed now, serving its own point, its lease lapsing grace after that point', () => {
    const due = dueEveryMinute(NOW + 7_000);
    const decided = claim(due, aheadRequest(), NOW);
    expect(decided.outcome).toMatchObject({
      kind: 'claimed',
      lease: {
        dueAt: NOW + 7_000,
        owedSince: NOW + 7_000,
        dispatchedAt: NOW,
        until: NOW + 7_000 + GRACE,
        attempt: 0,
      },
    });
    expect(after(due, decided).state.nextDueAt).toBe(NOW + 7_000 + GRACE);
  });

  it('without aheadMs, only what is due', () => {
    expect(claim(dueEveryMinute(NOW + 7_000), claimRequest(), NOW).outcome.kind).toBe(
      'not_claimed',
    );
  });

  it('an overdue point is still served as the latest point owed, not pushed ahead', () => {
    const due = dueEveryMinute(NOW - 3 * MINUTE);
    const decided = claim(due, aheadRequest(), NOW);
    expect(decided.outcome).toMatchObject({ lease: { dueAt: NOW, until: NOW + GRACE } });
  });

  it('its attempt starts at the point by the store clock, never before', () => {
    const claimed = after(
      dueEveryMinute(NOW + 7_000),
      claim(dueEveryMinute(NOW + 7_000), aheadRequest(), NOW),
    );
    const early = start(claimed, startRequest('a1'), NOW + 6_999);
    expect(early.outcome).toEqual({ kind: 'early', dueAt: NOW + 7_000, inMs: 1 });
    expect(early.patch).toBeNull();
    const onTime = start(claimed, startRequest('a1'), NOW + 7_000);
    expect(onTime.outcome).toMatchObject({ kind: 'started', attempt: 1, dueAt: NOW + 7_000 });
  });

  it('a paused schedule is not kept waiting for its point: the lease ends at once', () => {
    const claimed = after(
      dueEveryMinute(NOW + 7_000),
      claim(dueEveryMinute(NOW + 7_000), aheadRequest(), NOW),
    );
    const paused = edited(claimed, interval('1m', { enabled: false }));
    expect(start(paused, startRequest('a1'), NOW + 1_000).outcome.kind).toBe('paused');
  });
});

describe('screening what the due query found', () => {
  it('marks a document that no longer validates invalid, out of the due index', () => {
    const broken = edited(dueEveryMinute(), interval('5 min'));
    const decided = screen(broken, NOW, THRESHOLDS);
    expect(decided.outcome).toMatchObject({ kind: 'invalid' });
    expect(after(broken, decided).state).toMatchObject({ status: 'invalid', nextDueAt: null });
  });

  it('pauses a disabled one and ends its lapsed lease', () => {
    const paused = edited(running(), interval('1m', { enabled: false }));
    const decided = screen(paused, NOW + 2 * LEASE, THRESHOLDS);
    expect(decided.outcome).toEqual({ kind: 'paused' });
    expect(after(paused, decided).state).toMatchObject({
      status: 'paused',
      nextDueAt: null,
      lease: null,
    });
  });

  it('skips a cron point missed by more than its catch-up window, with a record', () => {
    const nightly = subject(
      documentOf({ kind: 'cron', expression: '0 2 * * *', catchUpWithin: '2h' }),
      { status: 'active', lane: 'low', nextDueAt: at('2026-06-20T02:00:00Z') },
    );
    const decided = screen(nightly, at('2026-06-20T05:00:00Z'), THRESHOLDS);
    expect(decided.outcome).toMatchObject({
      kind: 'skipped',
      dueAt: at('2026-06-20T02:00:00Z'),
      nextDueAt: at('2026-06-21T02:00:00Z'),
    });
    expect(after(nightly, decided).state).toMatchObject({
      lastSkippedDueAt: at('2026-06-20T02:00:00Z'),
      skippedCount: 1,
      dueAt: at('2026-06-20T02:00:00Z'),
    });
  });
});

describe('a worker starts an attempt', () => {
  it('counts it, extends the lease to now + lease, marks it running and opens the run record', () => {
    const claimed = after(dueEveryMinute(), claim(dueEveryMinute(), claimRequest(), NOW));
    const decided = start(claimed, startRequest('a1'), NOW + 100);
    expect(decided.outcome).toMatchObject({
      kind: 'started',
      attempt: 1,
      dueAt: NOW,
      until: NOW + 100 + LEASE,
      startedAt: NOW + 100,
    });
    expect(after(claimed, decided).state).toMatchObject({
      nextDueAt: NOW + 100 + LEASE,
      lease: { running: true, attemptId: 'a1', attempt: 1 },
    });
    expect(decided.patch?.run).toMatchObject({
      leaseId: 'L1',
      fields: { status: 'running', attempt: 1, dueAt: NOW },
    });
  });

  // Defect 1: a second delivery took over a live lease after one failed renewal.
  it('never takes over a running attempt whose lease holds, however long since it was renewed', () => {
    const held = running(); // lease until NOW + LEASE, never renewed since
    for (const when of [NOW + 1, NOW + LEASE / 2, NOW + LEASE - 1]) {
      expect(start(held, startRequest('a2'), when).outcome).toEqual({
        kind: 'running',
        until: NOW + LEASE,
      });
    }
  });

  it('takes over a running attempt whose lease lapsed (its worker died)', () => {
    const decided = start(running(), startRequest('a2'), NOW + LEASE);
    expect(decided.outcome).toMatchObject({ kind: 'started', attempt: 2 });
  });

  it('tells a stale message from a duplicate, and a deleted schedule from both', () => {
    expect(start(running(), startRequest('a2', 'other'), NOW).outcome).toEqual({
      kind: 'stale',
      currentLeaseId: 'L1',
    });
    const done = after(running(), complete(running(), completeRequest(), NOW + 5_000));
    expect(start(done, startRequest('a2'), NOW + 6_000).outcome).toEqual({ kind: 'duplicate' });
    expect(start(null, startRequest('a2'), NOW).outcome).toEqual({ kind: 'missing' });
  });

  // Defect 3: a paused schedule's queued or redelivered message still called the target.
  it('calls nothing for a paused schedule: the lease ends and the schedule is paused', () => {
    const claimed = after(dueEveryMinute(), claim(dueEveryMinute(), claimRequest(), NOW));
    const paused = edited(claimed, interval('1m', { enabled: false }));
    const decided = start(paused, startRequest('a1'), NOW + 100);
    expect(decided.outcome).toEqual({ kind: 'paused' });
    expect(after(paused, decided).state).toMatchObject({
      status: 'paused',
      nextDueAt: null,
      lease: null,
      lastLeaseId: 'L1',
    });
  });

  it('is exhausted past the attempt limit (no attempt started)', () => {
    let schedule = after(dueEveryMinute(), claim(dueEveryMinute(), claimRequest(), NOW));
    for (let attempt = 1; attempt <= 3; attempt++) {
      const started = start(schedule, startRequest(`a${attempt}`), NOW + attempt * 1_000);
      schedule = after(schedule, started);
      schedule = after(schedule, holdForRetry(schedule, retryRequest(`a${attempt}`), NOW));
    }
    expect(start(schedule, startRequest('a4'), NOW + 10_000).outcome).toMatchObject({
      kind: 'exhausted',
      attempts: 3,
    });
  });
});

// Long syncs: the worker hands the attempt to a job execution, which takes it up.
describe('a long sync (runner: "job") is handed to a job execution', () => {
  const HAND_OFF = 300_000;
  const jobSchedule = (extra: Record<string, unknown> = {}) =>
    subject(interval('1h', { runner: 'job', maxRunSeconds: 7_200, ...extra }), {
      status: 'active',
      lane: 'low',
      nextDueAt: NOW,
      health: 'ok',
    });
  const handedOff = (extra: Record<string, unknown> = {}) => {
    const due = jobSchedule(extra);
    const claimed = after(due, claim(due, claimRequest(), NOW));
    return after(claimed, start(claimed, { ...startRequest('a1'), handOffMs: HAND_OFF }, NOW));
  };
  /** The execution takes up `handedAttemptId` as its own attempt `x1`. */
  const resumeRequest = (handedAttemptId = 'a1') => ({
    leaseId: 'L1',
    handedAttemptId,
    attemptId: 'x1',
    leaseMs: LEASE,
    thresholds: THRESHOLDS,
  });
  const renewRequest = { leaseId: 'L1', attemptId: 'x1', leaseMs: LEASE, thresholds: THRESHOLDS };

  it('the start holds the lease for the hand-off, not the running lease', () => {
    const due = jobSchedule();
    const claimed = after(due, claim(due, claimRequest(), NOW));
    const decided = start(claimed, { ...startRequest('a1'), handOffMs: HAND_OFF }, NOW);
    expect(decided.outcome).toMatchObject({ kind: 'started', until: NOW + HAND_OFF });
    expect(after(claimed, decided).state.lease).toMatchObject({
      running: true,
      attemptId: 'a1',
      renewedAt: NOW,
    });
    // A sync in the push request keeps the running lease whatever hand-off is given.
    const request = after(dueEveryMinute(), claim(dueEveryMinute(), claimRequest(), NOW));
    expect(
      start(request, { ...startRequest('a1'), handOffMs: HAND_OFF }, NOW).outcome,
    ).toMatchObject({ until: NOW + LEASE });
  });

  it.each([
    ['the attempt handed off, its lease live', 'a1', NOW + 20_000, 'started'],
    ['another attempt', 'a2', NOW + 20_000, 'lost'],
    ['the attempt, its hand-off lease lapsed', 'a1', NOW + HAND_OFF, 'lost'],
  ] as const)('takes up %s: %s', (_what, attemptId, when, kind) => {
    const decided = resume(handedOff(), resumeRequest(attemptId), when);
    expect(decided.outcome.kind).toBe(kind);
    if (kind === 'started') {
      expect(decided.outcome).toMatchObject({ attempt: 1, dueAt: NOW, until: when + LEASE });
      expect(after(handedOff(), decided).state.lease).toMatchObject({
        running: true,
        attemptId: 'x1',
        until: when + LEASE,
        renewedAt: when,
      });
      expect(after(handedOff(), decided).state.nextDueAt).toBe(when + LEASE);
    } else {
      expect(decided.patch).toBeNull();
    }
  });

  it('takes up nothing of a deleted schedule', () => {
    expect(resume(null, resumeRequest(), NOW).outcome).toEqual({ kind: 'missing' });
  });

  it('calls nothing for a schedule paused or broken since the hand-off: the lease ends', () => {
    const paused = edited(handedOff(), interval('1h', { runner: 'job', enabled: false }));
    const decided = resume(paused, resumeRequest(), NOW + 1_000);
    expect(decided.outcome).toEqual({ kind: 'paused' });
    expect(after(paused, decided).state).toMatchObject({ status: 'paused', lease: null });
    const broken = edited(handedOff(), interval('1h', { runner: 'job', colour: 'red' }));
    const invalid = resume(broken, resumeRequest(), NOW + 1_000);
    expect(invalid.outcome).toMatchObject({ kind: 'invalid' });
    expect(after(broken, invalid).state).toMatchObject({ status: 'invalid', lease: null });
  });

  it('a second delivery of the handed-off message never starts a second attempt while it holds', () => {
    expect(start(handedOff(), startRequest('a2'), NOW + HAND_OFF - 1).outcome).toEqual({
      kind: 'running',
      until: NOW + HAND_OFF,
    });
    expect(start(handedOff(), startRequest('a2'), NOW + HAND_OFF).outcome).toMatchObject({
      kind: 'started',
      attempt: 2,
    });
  });

  // The review's first finding: the worker's launch call failed (its answer was lost) although
  // the execution started; the worker must then neither hold the attempt for a retry nor
  // release it, or a redelivery would start a second call beside the execution's.
  it('makes the attempt the execution’s own: the worker can no longer hold or release it', () => {
    const taken = after(handedOff(), resume(handedOff(), resumeRequest(), NOW + 5_000));
    expect(holdForRetry(taken, retryRequest('a1'), NOW + 60_000).outcome).toBe('lost');
    expect(
      release(
        taken,
        {
          leaseId: 'L1',
          attemptId: 'a1',
          reason: 'attempts_exhausted',
          error: null,
          thresholds: THRESHOLDS,
        },
        NOW + 60_000,
      ).outcome,
    ).toBe('not_held');
    // A second execution of the same hand-off (a Cloud Run task retry) takes up nothing.
    expect(resume(taken, resumeRequest(), NOW + 6_000).outcome).toEqual({ kind: 'lost' });
    // And if the worker's hold came first, the execution takes up nothing.
    const held = after(handedOff(), holdForRetry(handedOff(), retryRequest('a1'), NOW + 1_000));
    expect(resume(held, resumeRequest(), NOW + 5_000).outcome).toEqual({ kind: 'lost' });
  });

  it('renewals record the heartbeat', () => {
    const taken = after(handedOff(), resume(handedOff(), resumeRequest(), NOW + 5_000));
    const renewed = renew(taken, renewRequest, NOW + 25_000);
    expect(after(taken, renewed).state.lease).toMatchObject({
      renewedAt: NOW + 25_000,
      until: NOW + 25_000 + LEASE,
    });
  });
});

const completeRequest = (attemptId = 'a1') => ({
  leaseId: 'L1',
  attemptId,
  startedAt: NOW,
  thresholds: THRESHOLDS,
});
const retryRequest = (attemptId = 'a1') => ({
  leaseId: 'L1',
  attemptId,
  holdMs: 120_000,
  error: { code: 'target_unavailable', message: '503' },
  thresholds: THRESHOLDS,
});

describe('renewing, completing, holding for a retry, releasing', () => {
  it('renews only the attempt that holds the lease, and never a lapsed lease', () => {
    expect(
      renew(
        running(),
        { leaseId: 'L1', attemptId: 'a1', leaseMs: LEASE, thresholds: THRESHOLDS },
        NOW + 20_000,
      ).outcome,
    ).toEqual({
      kind: 'renewed',
      until: NOW + 20_000 + LEASE,
    });
    const request = { leaseId: 'L1', leaseMs: LEASE, thresholds: THRESHOLDS };
    expect(renew(running(), { ...request, attemptId: 'a2' }, NOW).outcome).toEqual({
      kind: 'lost',
    });
    expect(renew(running(), { ...request, attemptId: 'a1' }, NOW + LEASE).outcome).toEqual({
      kind: 'lost',
    });
  });

  it('completes from the point served: next point, no drift, the lease ended, the run counted', () => {
    const decided = complete(running(), completeRequest(), NOW + 5_000);
    expect(decided.outcome).toEqual({
      kind: 'completed',
      nextDueAt: NOW + MINUTE,
      status: 'active',
    });
    expect(after(running(), decided).state).toMatchObject({
      lease: null,
      lastLeaseId: 'L1',
      dueAt: NOW,
      nextDueAt: NOW + MINUTE,
      runCount: 1,
      consecutiveFailures: 0,
      health: 'ok',
    });
  });

  it('a completion after another attempt took over is lost', () => {
    const takenOver = after(running(), start(running(), startRequest('a2'), NOW + LEASE));
    expect(complete(takenOver, completeRequest('a1'), NOW + LEASE + 1).outcome).toEqual({
      kind: 'lost',
    });
  });

  it('a retry hold keeps the lease past the backoff, stops it running, and re-arms escalation', () => {
    const decided = holdForRetry(running(), retryRequest(), NOW + 5_000);
    expect(decided.outcome).toBe('held');
    expect(after(running(), decided).state).toMatchObject({
      nextDueAt: NOW + 5_000 + 120_000,
      lease: { running: false, until: NOW + 5_000 + 120_000 },
      consecutiveFailures: 1,
      lastError: { code: 'target_unavailable' },
    });
  });

  it('a release after a dead letter moves on from the point given up, marked failing', () => {
    const decided = release(
      running(),
      {
        leaseId: 'L1',
        attemptId: 'a1',
        reason: 'permanent_failure',
        error: null,
        thresholds: THRESHOLDS,
      },
      NOW + 5_000,
    );
    expect(decided.outcome).toBe('released');
    expect(after(running(), decided).state).toMatchObject({
      lease: null,
      lastLeaseId: 'L1',
      dueAt: NOW,
      nextDueAt: NOW + MINUTE,
      health: 'failing',
    });
  });

  it('a release with no attempt never cuts short an attempt that runs under a live lease', () => {
    const request = {
      leaseId: 'L1',
      reason: 'delivery_limit',
      error: null,
      thresholds: THRESHOLDS,
    };
    expect(release(running(), request, NOW + 1_000).outcome).toBe('running');
    expect(release(running(), request, NOW + LEASE).outcome).toBe('released');
  });
});

// Defect 7: a redelivery after the retry hold started again at attempt 0 under a new lease.
describe('a target that keeps failing', () => {
  it('reaches the attempt limit across leases: redeliveries late, leases lapsed, claims again', () => {
    let schedule = dueEveryMinute();
    let now = NOW;
    let calls = 0;
    for (let lease = 1; lease <= 10; lease++) {
      const claimed = claim(schedule, claimRequest(`L${lease}`), now);
      if (claimed.outcome.kind !== 'claimed') throw new Error(`lease ${lease} not claimed`);
      schedule = after(schedule, claimed);
      const started = start(schedule, { ...startRequest(`a${lease}`, `L${lease}`) }, now + 100);
      if (started.outcome.kind === 'exhausted') break;
      calls++;
      schedule = after(schedule, started);
      // The call fails; the hold runs out before Pub/Sub redelivers: the planner claims again.
      schedule = after(
        schedule,
        holdForRetry(schedule, { ...retryRequest(`a${lease}`), leaseId: `L${lease}` }, now + 1_000),
      );
      now += 1_000 + 120_000 + 1;
    }
    expect(calls).toBe(3);
  });
});

describe('reconciling', () => {
  const race = documentOf({ kind: 'event', startsAt: '2026-06-27T08:30:00Z' });

  it('a new schedule is due at once, in the lane in force now, and a second pass writes nothing', () => {
    const fresh = subject(race, { specHash: null });
    const decided = reconcile(fresh, NOW, THRESHOLDS);
    expect(decided.outcome).toEqual({
      kind: 'scheduled',
      status: 'active',
      nextDueAt: NOW,
      lane: 'low',
    });
    expect(after(fresh, decided).state).toMatchObject({
      status: 'active',
      health: 'ok',
      // Low until the 5-minute tier begins, 24 hours before the start.
      escalatesAt: at('2026-06-26T08:30:00Z'),
    });
    expect(reconcile(after(fresh, decided), NOW + 1, THRESHOLDS)).toEqual({
      outcome: { kind: 'unchanged', status: 'active' },
      patch: null,
    });
  });

  it('an event edited to start 30 minutes from now moves to the high lane, due at once', () => {
    const before = subject(race, {
      status: 'active',
      lane: 'low',
      nextDueAt: NOW + 30 * MINUTE,
      dueAt: NOW - 30 * MINUTE,
      runCount: 5,
    });
    const moved = edited(before, documentOf({ kind: 'event', startsAt: '2026-06-20T10:30:00Z' }));
    const decided = reconcile(moved, NOW, THRESHOLDS);
    expect(decided.outcome).toMatchObject({ kind: 'scheduled', lane: 'high' });
    expect(decided.outcome.kind === 'scheduled' && decided.outcome.nextDueAt).toBeLessThanOrEqual(
      NOW,
    );
  });

  it('a changed cadence continues from the last point served', () => {
    const hourly = subject(interval('1h'), {
      status: 'active',
      lane: 'low',
      nextDueAt: NOW + 30 * MINUTE,
      dueAt: NOW - 30 * MINUTE,
      runCount: 3,
    });
    // 09:30 served; every 15 minutes from there: 09:45 missed, so due at once (10:00).
    expect(reconcile(edited(hourly, interval('15m')), NOW, THRESHOLDS).outcome).toEqual({
      kind: 'scheduled',
      status: 'active',
      nextDueAt: NOW,
      lane: 'low',
    });
  });

  // Defect 4: editing an interval's startAt was ignored once the schedule had run.
  it('an edited interval startAt moves the points that follow onto the new grid', () => {
    const grid = interval('1h', {}, { startAt: '2026-06-20T00:00:00Z' });
    const before = subject(grid, {
      status: 'active',
      lane: 'low',
      nextDueAt: at('2026-06-20T11:00:00Z'),
      dueAt: at('2026-06-20T10:00:00Z'),
      runCount: 10,
    });
    const shifted = edited(before, interval('1h', {}, { startAt: '2026-06-20T00:20:00Z' }));
    expect(reconcile(shifted, at('2026-06-20T10:05:00Z'), THRESHOLDS).outcome).toMatchObject({
      kind: 'scheduled',
      nextDueAt: at('2026-06-20T10:20:00Z'),
    });
  });

  // Defect 2: an edit while a claim had lapsed dropped the point it owed.
  it("an edit while a lapsed lease owes a point keeps it owed: the day's run is not lost", () => {
    const nightly = documentOf({ kind: 'cron', expression: '0 2 * * *', catchUpWithin: '2h' });
    const claimedAt = at('2026-06-20T02:00:05Z');
    const due = subject(nightly, {
      status: 'active',
      lane: 'low',
      nextDueAt: at('2026-06-20T02:00:00Z'),
      dueAt: at('2026-06-19T02:00:00Z'),
      runCount: 1,
    });
    const claimed = after(due, claim(due, claimRequest(), claimedAt));
    // The message never reached a worker; at 02:30 (lease lapsed) the operator edits the name.
    const renamed = edited(claimed, { ...nightly, name: 'renamed' });
    const editAt = at('2026-06-20T02:30:00Z');
    const decided = reconcile(renamed, editAt, THRESHOLDS);
    const reconciled = after(renamed, decided);
    expect(reconciled.state.nextDueAt).toBe(at('2026-06-20T02:00:00Z'));
    expect(owedSince(reconciled.state)).toBe(at('2026-06-20T02:00:00Z'));
    // The planner then serves 02:00, today.
    expect(claim(reconciled, claimRequest('L2'), editAt).outcome).toMatchObject({
      kind: 'claimed',
      lease: { dueAt: at('2026-06-20T02:00:00Z') },
    });
  });

  // Defect 3: pause while a lease holds.
  describe('pausing while a lease holds', () => {
    const pausedDocument = interval('1m', { enabled: false });

    it('keeps the lease and nextDueAt at its end; a renewal and a second pass write nothing new', () => {
      const paused = edited(running(), pausedDocument);
      const decided = reconcile(paused, NOW + 1_000, THRESHOLDS);
      expect(decided.outcome).toEqual({ kind: 'in_flight', status: 'paused', leaseId: 'L1' });
      const reconciled = after(paused, decided);
      expect(reconciled.state).toMatchObject({ status: 'paused', nextDueAt: NOW + LEASE });
      // The heartbeat renews: nextDueAt follows the lease; the reconciler then has nothing to do.
      const renewed = after(
        reconciled,
        renew(
          reconciled,
          { leaseId: 'L1', attemptId: 'a1', leaseMs: LEASE, thresholds: THRESHOLDS },
          NOW + 20_000,
        ),
      );
      expect(renewed.state.nextDueAt).toBe(NOW + 20_000 + LEASE);
      expect(reconcile(renewed, NOW + 20_001, THRESHOLDS).patch).toBeNull();
    });

    it('resumed before the lease ends, it is active with a due time, never stuck', () => {
      const paused = after(
        edited(running(), pausedDocument),
        reconcile(edited(running(), pausedDocument), NOW + 1_000, THRESHOLDS),
      );
      const resumed = edited(paused, interval('1m'));
      const reconciled = after(resumed, reconcile(resumed, NOW + 2_000, THRESHOLDS));
      expect(reconciled.state).toMatchObject({ status: 'active', nextDueAt: NOW + LEASE });
    });

    it('the attempt may finish; its completion leaves the schedule paused, planned no more', () => {
      const paused = after(
        edited(running(), pausedDocument),
        reconcile(edited(running(), pausedDocument), NOW + 1_000, THRESHOLDS),
      );
      const done = complete(paused, completeRequest(), NOW + 5_000);
      expect(done.outcome).toEqual({ kind: 'completed', nextDueAt: null, status: 'paused' });
    });
  });

  it('an invalid document is marked invalid with the exact reason; fixing it makes it active', () => {
    const broken = subject({ ...race, lane: 'urgent' }, { specHash: null });
    const decided = reconcile(broken, NOW, THRESHOLDS);
    expect(decided.outcome).toEqual({
      kind: 'invalid',
      status: 'invalid',
      problems: ['lane: "urgent" is not a lane (use high, medium, low)'],
    });
    const invalid = after(broken, decided);
    expect(reconcile(invalid, NOW + 1, THRESHOLDS).patch).toBeNull();
    expect(reconcile(edited(invalid, race), NOW + 2, THRESHOLDS).outcome).toMatchObject({
      kind: 'scheduled',
    });
  });

  it('an event already over is finished', () => {
    const over = subject(documentOf({ kind: 'event', startsAt: '2026-06-01T08:30:00Z' }), {
      specHash: null,
    });
    expect(reconcile(over, NOW, THRESHOLDS).outcome).toEqual({
      kind: 'finished',
      status: 'finished',
    });
  });

  it('repairs an active schedule that lost its nextDueAt', () => {
    const broken = subject(race, { status: 'active', nextDueAt: null });
    expect(reconcile(broken, NOW, THRESHOLDS).outcome).toMatchObject({ kind: 'scheduled' });
  });

  it.each([
    ['a new schedule', subject(race, { specHash: null })],
    ['an invalid one', subject({ ...race, lane: 'urgent' }, { specHash: null })],
    ['a paused one', subject({ ...race, enabled: false }, { specHash: null })],
    [
      'a finished one',
      subject(documentOf({ kind: 'event', startsAt: '2026-06-01T08:30:00Z' }), { specHash: null }),
    ],
    [
      'one edited while in flight',
      edited(running(), interval('1m', { payload: { edited: true } })),
    ],
    ['one edited while its lease lapsed', edited(running(), interval('2m'))],
  ])('%s: a second pass over its own write changes nothing', (_name, before) => {
    const first = reconcile(before, NOW + 1_000, THRESHOLDS);
    expect(first.patch).not.toBeNull();
    expect(reconcile(after(before, first), NOW + 2_000, THRESHOLDS).patch).toBeNull();
  });
});

describe('escalation and replays', () => {
  it('moves a waiting event into the lane in force once its faster tier begins', () => {
    const race = documentOf({ kind: 'event', startsAt: '2026-06-20T12:00:00Z' });
    // Waiting in the medium lane; the 1-minute tier began at 08:00.
    const waiting = subject(race, {
      status: 'active',
      lane: 'medium',
      nextDueAt: NOW - 5 * MINUTE,
      escalatesAt: at('2026-06-20T08:00:00Z'),
    });
    expect(escalate(waiting, NOW, THRESHOLDS).outcome).toEqual({
      kind: 'escalated',
      from: 'medium',
      to: 'high',
    });
  });

  it("a replay serves the letter's point and returns the schedule to its own cadence after", () => {
    const schedule = subject(interval('1h'), {
      status: 'active',
      lane: 'low',
      nextDueAt: NOW + 30 * MINUTE,
      dueAt: NOW - 30 * MINUTE,
      runCount: 4,
    });
    const letter = { scheduleId: 's', dueAt: NOW - 5 * 60 * MINUTE, lane: 'low' as const };
    const claimed = claimReplay(
      letter,
      schedule,
      { leaseId: 'R1', graceMs: GRACE, thresholds: THRESHOLDS },
      NOW,
    );
    expect(claimed.outcome).toMatchObject({ kind: 'claimed', dueAt: letter.dueAt });
    const replaying = after(schedule, claimed);
    const started = after(replaying, start(replaying, startRequest('a1', 'R1'), NOW + 100));
    const done = after(
      started,
      complete(started, { ...completeRequest(), leaseId: 'R1' }, NOW + 5_000),
    );
    // Back to its own point (10:30), its own last point served (09:30) untouched.
    expect(done.state).toMatchObject({
      nextDueAt: NOW + 30 * MINUTE,
      dueAt: NOW - 30 * MINUTE,
      lease: null,
    });
  });

  it('a replay claim whose message could not be published is given back, unless it started', () => {
    const schedule = subject(interval('1h'), {
      status: 'active',
      lane: 'low',
      nextDueAt: NOW + 30 * MINUTE,
    });
    const claimed = claimReplay(
      { scheduleId: 's', dueAt: NOW - 60 * MINUTE, lane: 'low' },
      schedule,
      { leaseId: 'R1', graceMs: GRACE, thresholds: THRESHOLDS },
      NOW,
    );
    if (claimed.outcome.kind !== 'claimed') throw new Error('not claimed');
    const replaying = after(schedule, claimed);
    const reverted = unclaimReplay(replaying, {
      leaseId: 'R1',
      previous: claimed.outcome.previous,
    });
    expect(after(replaying, reverted).state).toEqual(schedule.state);
    const started = after(replaying, start(replaying, startRequest('a1', 'R1'), NOW + 1));
    expect(
      unclaimReplay(started, { leaseId: 'R1', previous: claimed.outcome.previous }).outcome,
    ).toBe('started');
  });
});

describe('a write that landed although its answer was lost', () => {
  it('a start asked again by the same attempt is started, with nothing more to write', () => {
    const held = running();
    const again = start(held, startRequest('a1'), NOW + 1_000);
    expect(again.outcome).toMatchObject({ kind: 'started', attempt: 1, until: NOW + LEASE });
    expect(again.patch).toBeNull();
    // Another attempt's delivery is still a duplicate of the running one.
    expect(start(held, startRequest('a2'), NOW + 1_000).outcome).toEqual({
      kind: 'running',
      until: NOW + LEASE,
    });
  });

  it('a completion decided again after it landed is completed, with nothing more to write', () => {
    const held = running();
    const request = { leaseId: 'L1', attemptId: 'a1', startedAt: NOW, thresholds: THRESHOLDS };
    const done = after(held, complete(held, request, NOW + 1_000));
    const again = complete(done, request, NOW + 2_000);
    expect(again.outcome).toEqual({
      kind: 'completed',
      nextDueAt: done.state.nextDueAt,
      status: 'active',
    });
    expect(again.patch).toBeNull();
    // Another attempt of the same lease (a different start) lost it.
    expect(complete(done, { ...request, startedAt: NOW - 1 }, NOW + 2_000).outcome).toEqual({
      kind: 'lost',
    });
  });
});
