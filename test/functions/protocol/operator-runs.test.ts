/**
 * Runs an operator asks for, as decisions: a manual run claims the schedule now without moving
 * its cadence, a backfill serves a past point and yields to the schedule's own; neither ever
 * claims beside a live lease or on a schedule that is not active.
 */
import { describe, expect, it } from 'vitest';
import { claim, complete, release, screen, start } from '../../../functions/protocol/decisions.js';
import {
  cadencePointsBetween,
  claimOperatorRun,
  planBackfill,
  type OperatorRunRequest,
} from '../../../functions/protocol/operator-runs.js';
import { validateSchedule, type Cadence } from '../../../functions/schedule/spec.js';
import { after, at, documentOf, interval, leaseOf, subject, THRESHOLDS } from './subjects.js';

const NOW = at('2026-06-20T10:00:00Z');
const MINUTE = 60_000;
const GRACE = 120_000;

const manual = (extra: Partial<OperatorRunRequest> = {}): OperatorRunRequest => ({
  kind: 'manual',
  leaseId: 'M1',
  graceMs: GRACE,
  thresholds: THRESHOLDS,
  ...extra,
});
const backfill = (dueAt: number, extra: Partial<OperatorRunRequest> = {}): OperatorRunRequest => ({
  kind: 'backfill',
  leaseId: 'B1',
  graceMs: GRACE,
  thresholds: THRESHOLDS,
  dueAt,
  ...extra,
});

/** An hourly schedule that last served 09:30 and is next due at 10:30, nothing holding it. */
function idle(extra: Record<string, unknown> = {}) {
  return subject(interval('1h', extra), {
    status: 'active',
    lane: 'medium',
    nextDueAt: NOW + 30 * MINUTE,
    dueAt: NOW - 30 * MINUTE,
    lastLeaseId: 'P0',
    health: 'ok',
  });
}

describe('claimOperatorRun', () => {
  const runningLease = leaseOf({
    id: 'P1',
    until: NOW + 30_000,
    dueAt: NOW - 10_000,
    running: true,
    attemptId: 'a1',
  });
  const cases: {
    name: string;
    subject: ReturnType<typeof idle> | null;
    request: OperatorRunRequest;
    outcome: Record<string, unknown>;
  }[] = [
    { name: 'a missing schedule', subject: null, request: manual(), outcome: { kind: 'missing' } },
    {
      name: 'a paused schedule (enabled: false)',
      subject: subject(interval('1h', { enabled: false }), { status: 'paused', lane: 'medium' }),
      request: manual(),
      outcome: { kind: 'refused', reason: 'it is paused (resume it first)' },
    },
    {
      name: 'a schedule disabled but not yet reconciled',
      subject: subject(interval('1h', { enabled: false }), {
        status: 'active',
        lane: 'medium',
        nextDueAt: NOW + MINUTE,
      }),
      request: backfill(NOW - 2 * 3_600_000),
      outcome: { kind: 'refused', reason: 'it is paused (resume it first)' },
    },
    {
      name: 'an invalid schedule',
      subject: subject(documentOf({ kind: 'interval', every: 'soon' }), { status: 'invalid' }),
      request: manual(),
      outcome: { kind: 'refused' },
    },
    {
      name: 'a finished schedule',
      subject: subject(interval('1h'), { status: 'finished', nextDueAt: null }),
      request: manual(),
      outcome: { kind: 'refused', reason: 'it is finished' },
    },
    {
      name: 'a schedule never reconciled',
      subject: subject(interval('1h')),
      request: manual(),
      outcome: { kind: 'refused', reason: 'it is not planned yet (not reconciled)' },
    },
    {
      name: 'a running attempt',
      subject: {
        ...idle(),
        state: { ...idle().state, lease: runningLease, nextDueAt: NOW + 30_000 },
      },
      request: manual(),
      outcome: {
        kind: 'busy',
        leaseId: 'P1',
        leaseKind: 'planned',
        running: true,
        until: NOW + 30_000,
      },
    },
    {
      name: 'a dispatched message not yet started',
      subject: {
        ...idle(),
        state: {
          ...idle().state,
          lease: leaseOf({ id: 'P2', until: NOW + 5_000, dueAt: NOW - 10_000 }),
          nextDueAt: NOW + 5_000,
        },
      },
      request: backfill(NOW - 3 * 3_600_000),
      outcome: { kind: 'busy', leaseId: 'P2', running: false },
    },
    {
      name: 'a backfill while the schedule owes its own point',
      subject: { ...idle(), state: { ...idle().state, nextDueAt: NOW - MINUTE } },
      request: backfill(NOW - 3 * 3_600_000),
      outcome: { kind: 'owed', since: NOW - MINUTE },
    },
    {
      name: 'a backfill whose caller saw another lease end',
      subject: idle(),
      request: backfill(NOW - 3 * 3_600_000, { expect: { leaseId: null, lastLeaseId: 'P-1' } }),
      outcome: { kind: 'changed' },
    },
    {
      name: 'a manual run of a schedule that owes its own point (it runs; the point stays owed)',
      subject: { ...idle(), state: { ...idle().state, nextDueAt: NOW - MINUTE } },
      request: manual(),
      outcome: {
        kind: 'claimed',
        lane: 'medium',
        lease: { kind: 'manual', dueAt: NOW, owedSince: NOW - MINUTE },
      },
    },
    {
      name: 'a manual run in the lane asked for',
      subject: idle(),
      request: manual({ lane: 'high' }),
      outcome: { kind: 'claimed', lane: 'high', lease: { kind: 'manual', dueAt: NOW } },
    },
    {
      name: 'a backfill in the low lane by default',
      subject: idle(),
      request: backfill(NOW - 3 * 3_600_000, { expect: { leaseId: null, lastLeaseId: 'P0' } }),
      outcome: {
        kind: 'claimed',
        lane: 'low',
        lease: {
          kind: 'backfill',
          dueAt: NOW - 3 * 3_600_000,
          owedSince: NOW + 30 * MINUTE,
          attempt: 0,
        },
      },
    },
  ];
  for (const { name, subject: s, request, outcome } of cases) {
    it(`answers ${String(outcome.kind)} for ${name}`, () => {
      const decided = claimOperatorRun(s, request, NOW);
      expect(decided.outcome).toMatchObject(outcome);
      expect(decided.patch === null).toBe(outcome.kind !== 'claimed');
    });
  }

  it('holds the schedule until the grace ends, and its end returns it to its own point unmoved', () => {
    const schedule = idle();
    const claimed = claimOperatorRun(schedule, manual(), NOW);
    const held = after(schedule, claimed);
    expect(held.state).toMatchObject({
      nextDueAt: NOW + GRACE,
      lease: { id: 'M1', until: NOW + GRACE },
    });
    const request = {
      leaseId: 'M1',
      attemptId: 'a1',
      leaseMs: 60_000,
      maxAttempts: 3,
      expireAt: NOW + 86_400_000,
      thresholds: THRESHOLDS,
    };
    const started = start(held, request, NOW + 100);
    expect(started.patch?.run?.fields).toMatchObject({ kind: 'manual', dueAt: NOW });
    const running = after(held, started);
    const done = after(
      running,
      complete(
        running,
        { leaseId: 'M1', attemptId: 'a1', startedAt: NOW + 100, thresholds: THRESHOLDS },
        NOW + 5_000,
      ),
    );
    expect(done.state).toMatchObject({
      nextDueAt: NOW + 30 * MINUTE,
      dueAt: NOW - 30 * MINUTE,
      lease: null,
      lastLeaseId: 'M1',
      runCount: 1,
    });
  });

  it('a backfill never claims a point from the first one served without a record (runHistory: failures)', () => {
    const schedule = {
      ...idle(),
      state: { ...idle().state, unrecordedFrom: NOW - 90 * MINUTE },
    };
    expect(claimOperatorRun(schedule, backfill(NOW - 90 * MINUTE), NOW).outcome).toEqual({
      kind: 'refused',
      reason:
        'runs from 2026-06-20T08:30:00.000Z on may have no record (PACER_RUN_HISTORY=failures), so whether 2026-06-20T08:30:00.000Z was served cannot be told',
    });
    expect(claimOperatorRun(schedule, backfill(NOW - 150 * MINUTE), NOW).outcome.kind).toBe(
      'claimed',
    );
    // A manual run is no backfill: nothing to tell apart.
    expect(claimOperatorRun(schedule, manual(), NOW).outcome.kind).toBe('claimed');
  });

  it('a backfill claims a point after the last one served without a record (runHistory back to all)', () => {
    const schedule = {
      ...idle(),
      state: {
        ...idle().state,
        unrecordedFrom: NOW - 150 * MINUTE,
        unrecordedUntil: NOW - 90 * MINUTE,
      },
    };
    expect(claimOperatorRun(schedule, backfill(NOW - 120 * MINUTE), NOW).outcome).toEqual({
      kind: 'refused',
      reason:
        'runs from 2026-06-20T07:30:00.000Z to 2026-06-20T08:30:00.000Z may have no record (PACER_RUN_HISTORY=failures), so whether 2026-06-20T08:00:00.000Z was served cannot be told',
    });
    expect(claimOperatorRun(schedule, backfill(NOW - 90 * MINUTE), NOW).outcome.kind).toBe(
      'refused',
    );
    expect(claimOperatorRun(schedule, backfill(NOW - 60 * MINUTE), NOW).outcome.kind).toBe(
      'claimed',
    );
    expect(claimOperatorRun(schedule, backfill(NOW - 180 * MINUTE), NOW).outcome.kind).toBe(
      'claimed',
    );
  });

  it('a backfill that is dead-lettered also leaves the cadence where it stood', () => {
    const schedule = idle();
    const held = after(schedule, claimOperatorRun(schedule, backfill(NOW - 5 * 3_600_000), NOW));
    const released = after(
      held,
      release(
        held,
        { leaseId: 'B1', reason: 'attempts_exhausted', error: null, thresholds: THRESHOLDS },
        NOW + 1_000,
      ),
    );
    expect(released.state).toMatchObject({
      nextDueAt: NOW + 30 * MINUTE,
      dueAt: NOW - 30 * MINUTE,
      lease: null,
      health: 'failing',
    });
  });
});

function cadenceOf(raw: Record<string, unknown>): Cadence {
  const validation = validateSchedule(documentOf(raw));
  if (!validation.ok) throw new Error(validation.problems.join('; '));
  return validation.spec.cadence;
}

describe('cadencePointsBetween', () => {
  const H = 3_600_000;
  const cases: {
    name: string;
    cadence: Cadence;
    anchor: number | null;
    from: number;
    to: number;
    points: number[];
  }[] = [
    {
      name: 'an interval on the grid of its last point served',
      cadence: cadenceOf({ kind: 'interval', every: '1h' }),
      anchor: NOW - 30 * MINUTE,
      from: NOW - 3 * H,
      to: NOW - H,
      points: [NOW - 150 * MINUTE, NOW - 90 * MINUTE],
    },
    {
      name: 'an interval on its startAt grid, both ends included',
      cadence: cadenceOf({ kind: 'interval', every: '10m', startAt: '2026-06-20T08:00:00Z' }),
      anchor: null,
      from: at('2026-06-20T09:00:00Z'),
      to: at('2026-06-20T09:30:00Z'),
      points: [0, 10, 20, 30].map((m) => at('2026-06-20T09:00:00Z') + m * MINUTE),
    },
    {
      name: 'an interval whose startAt comes after the range',
      cadence: cadenceOf({ kind: 'interval', every: '10m', startAt: '2026-06-21T08:00:00Z' }),
      anchor: null,
      from: at('2026-06-20T09:00:00Z'),
      to: at('2026-06-20T09:30:00Z'),
      points: [],
    },
    {
      name: "a cron's occurrences",
      cadence: cadenceOf({ kind: 'cron', expression: '0 */2 * * *' }),
      anchor: null,
      from: at('2026-06-20T03:30:00Z'),
      to: at('2026-06-20T08:00:00Z'),
      points: ['04', '06', '08'].map((h) => at(`2026-06-20T${h}:00:00Z`)),
    },
    {
      name: "an event's points, closer as it nears",
      cadence: cadenceOf({
        kind: 'event',
        startsAt: '2026-06-20T10:00:00Z',
        tiers: [{ before: '10m', every: '5m' }],
        otherwise: '20m',
        after: '5m',
      }),
      anchor: null,
      from: at('2026-06-20T09:30:00Z'),
      to: at('2026-06-20T10:30:00Z'),
      points: ['09:30', '09:50', '09:55', '10:00'].map((t) => at(`2026-06-20T${t}:00Z`)),
    },
  ];
  for (const { name, cadence, anchor, from, to, points } of cases) {
    it(`lists ${name}`, () => {
      expect(cadencePointsBetween(cadence, anchor, from, to, 100)).toEqual(points);
    });
  }

  it('stops at the limit', () => {
    const cadence = cadenceOf({ kind: 'interval', every: '1m' });
    expect(cadencePointsBetween(cadence, NOW, NOW, NOW + 60 * MINUTE, 3)).toEqual([
      NOW,
      NOW + MINUTE,
      NOW + 2 * MINUTE,
    ]);
  });
});

describe('planBackfill', () => {
  it('skips points served or dispatched before, oldest first, at most max pending', () => {
    expect(planBackfill([5, 1, 4, 2, 3, 6], new Set([2]), new Set([4]), 2)).toEqual({
      pending: [1, 3],
      served: [2],
      dispatched: [4],
    });
  });

  it('has nothing pending when every point is served (running it twice adds nothing)', () => {
    expect(planBackfill([1, 2], new Set([1, 2]), new Set(), 10).pending).toEqual([]);
  });
});

describe('a backfill lease that lapses', () => {
  it('leaves the schedule planned in its own lane, not the backfill lane (checker seed 401)', () => {
    const own = subject(interval('4m'), {
      status: 'active',
      lane: 'medium',
      nextDueAt: NOW + 2 * MINUTE,
      dueAt: NOW - 2 * MINUTE,
      lastLeaseId: 'P0',
      health: 'ok',
    });
    const claimed = after(own, claimOperatorRun(own, backfill(NOW - 6 * MINUTE), NOW));
    expect(claimed.state.lane).toBe('low');
    // Its worker died: the lease lapses (NOW + grace) once the schedule's own point is due.
    const later = NOW + GRACE + 5_000;
    expect(screen(claimed, later, THRESHOLDS).outcome).toMatchObject({
      kind: 'candidate',
      lane: 'medium',
    });
    const reclaimed = after(
      claimed,
      claim(claimed, { leaseId: 'P2', graceMs: GRACE, thresholds: THRESHOLDS }, later),
    );
    expect(reclaimed.state.lane).toBe('medium');
    // Still ahead of its own point: back to its own cadence, in its own lane, first.
    const early = NOW + GRACE - 1;
    const lapsedEarly = after(own, claimOperatorRun(own, backfill(NOW - 6 * MINUTE), NOW - 2));
    expect(screen(lapsedEarly, early, THRESHOLDS, 10_000).outcome).toMatchObject({
      kind: 'resumed',
    });
  });
});
