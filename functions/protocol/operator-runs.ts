/**
 * Runs an operator asks for, as pure decisions beside ./decisions.ts: a run now
 * (`pacer schedules trigger`) and a past cadence point served again (`pacer schedules backfill`).
 * Each is a claim of the schedule under a lease of its own kind (`manual`, `backfill`), so the
 * one-lease-per-schedule rule keeps it from ever running beside another attempt, and its end —
 * completed, dead-lettered or lapsed — returns the schedule to its own cadence (`owedSince`)
 * without moving it, as a replay's does. Backfill points are enumerated and filtered here too.
 */
import { firstDueAt, laneAt, nextDueAt as cadenceNextDueAt } from '../schedule/cadence.js';
import type { Lane, LaneThresholds } from '../schedule/lane.js';
import type { Cadence } from '../schedule/spec.js';
import { claimUndo, freshLease, heldFields, type ClaimUndo, type Subject } from './decisions.js';
import type { Decision } from './patch.js';
import {
  describeUnrecorded,
  liveLease,
  overlapsUnrecorded,
  owedSince,
  unrecordedWindow,
  type Lease,
  type LeaseKind,
} from './state.js';

export type OperatorRunKind = Extract<LeaseKind, 'manual' | 'backfill'>;

/** Where a backfill dispatches unless told: it must not crowd out what is due now. */
export const BACKFILL_LANE: Lane = 'low';

export interface OperatorRunRequest {
  kind: OperatorRunKind;
  leaseId: string;
  /** How long the message may wait for a worker before the schedule is due again. */
  graceMs: number;
  thresholds: LaneThresholds;
  /** The point a backfill serves; a manual run serves `now` (ignored for it). */
  dueAt?: number;
  /** The lane to dispatch in: the schedule's own for a manual run, `low` for a backfill. */
  lane?: Lane;
  /**
   * What the caller saw when it read the run history the point was chosen from: if a lease
   * began or ended since (the point may have been served meanwhile), nothing is claimed.
   */
  expect?: { leaseId: string | null; lastLeaseId: string | null };
}

export type OperatorRunOutcome =
  | { kind: 'claimed'; lease: Lease; lane: Lane; previous: ClaimUndo }
  | { kind: 'missing' }
  /** Paused, invalid, finished or not reconciled yet: nothing is dispatched, `reason` says why. */
  | { kind: 'refused'; reason: string }
  /** A live lease holds the schedule (a message waiting for a worker, or a running attempt). */
  | { kind: 'busy'; leaseId: string; leaseKind: LeaseKind; running: boolean; until: number }
  /** A backfill yields: the schedule's own point is owed now and goes first. */
  | { kind: 'owed'; since: number }
  /** A lease began or ended since the caller read the schedule (see `expect`). */
  | { kind: 'changed' };

const decision = <T>(outcome: T, patch: Decision<T>['patch'] = null): Decision<T> => ({
  outcome,
  patch,
});

/**
 * Claims a schedule for a run an operator asked for: a `manual` lease serving `now`, or a
 * `backfill` lease serving `request.dueAt`, until `now + grace`. Never while a live lease holds
 * the schedule, never when it is not active and enabled; a backfill also waits while the
 * schedule's own point is owed. The lease remembers where the schedule's own cadence stands
 * (`owedSince`), so its end neither moves nor rewinds it.
 */
export function claimOperatorRun(
  subject: Subject | null,
  request: OperatorRunRequest,
  now: number,
): Decision<OperatorRunOutcome> {
  if (subject === null) return decision({ kind: 'missing' });
  const { state, validation } = subject;
  if (!validation.ok) {
    return decision({ kind: 'refused', reason: `it is invalid: ${validation.problems[0] ?? ''}` });
  }
  const spec = validation.spec;
  if (!spec.enabled || state.status === 'paused') {
    return decision({ kind: 'refused', reason: 'it is paused (resume it first)' });
  }
  const own = owedSince(state);
  if (state.status !== 'active' || own === null) {
    const status = state.status ?? 'not planned yet (not reconciled)';
    return decision({ kind: 'refused', reason: `it is ${status}` });
  }
  const live = liveLease(state, now);
  if (live !== null) {
    return decision({
      kind: 'busy',
      leaseId: live.id,
      leaseKind: live.kind,
      running: live.running,
      until: live.until,
    });
  }
  const expect = request.expect;
  if (
    expect !== undefined &&
    ((state.lease?.id ?? null) !== expect.leaseId || state.lastLeaseId !== expect.lastLeaseId)
  ) {
    return decision({ kind: 'changed' });
  }
  if (request.kind === 'backfill' && own <= now) return decision({ kind: 'owed', since: own });
  const dueAt = request.kind === 'manual' ? now : (request.dueAt ?? now);
  // A point served by a run without a record (`runHistory: "failures"`) cannot be told from
  // one never served: a backfill never dispatches a point between the first and the last such.
  const unrecorded = unrecordedWindow(state);
  if (
    request.kind === 'backfill' &&
    unrecorded !== null &&
    overlapsUnrecorded(state, dueAt, dueAt)
  ) {
    return decision({
      kind: 'refused',
      reason: `runs ${describeUnrecorded(unrecorded)} may have no record (PACER_RUN_HISTORY=failures), so whether ${new Date(dueAt).toISOString()} was served cannot be told`,
    });
  }
  const lane =
    request.lane ??
    (request.kind === 'backfill'
      ? BACKFILL_LANE
      : (state.lane ?? laneAt(spec.cadence, spec.lane, now, request.thresholds)));
  const lease = freshLease({
    id: request.leaseId,
    kind: request.kind,
    until: now + request.graceMs,
    attempt: 0,
    dueAt,
    owedSince: own,
    now,
  });
  return decision(
    { kind: 'claimed', lease, lane, previous: claimUndo(state) },
    // Its escalation point is the lane's it is dispatched in (none in the high lane).
    { state: { ...heldFields({ ...state, lane }, spec, lease, now, request.thresholds), lane } },
  );
}

/**
 * The cadence's due points in `[from, to]`, oldest first, at most `limit`. An interval without
 * `startAt` is on the grid of `anchor` (the schedule's last point served, or the point it owes);
 * an event's points step from `from` (its tiers decide the spacing); a cron's are its occurrences.
 */
export function cadencePointsBetween(
  cadence: Cadence,
  anchor: number | null,
  from: number,
  to: number,
  limit: number,
): number[] {
  const points: number[] = [];
  let at: number | null = firstPointFrom(cadence, anchor, from);
  while (at !== null && at <= to && points.length < limit) {
    points.push(at);
    // `now` = the point itself: the next point after it, never coalesced.
    const next = cadenceNextDueAt(cadence, at, at);
    at = next !== null && next > at ? next : null;
  }
  return points;
}

function firstPointFrom(cadence: Cadence, anchor: number | null, from: number): number | null {
  if (cadence.kind === 'interval' && cadence.startAt === undefined && anchor !== null) {
    const steps = Math.ceil((from - anchor) / cadence.every);
    const first = anchor + steps * cadence.every;
    return cadence.endAt !== undefined && first >= cadence.endAt ? null : first;
  }
  if (cadence.kind === 'event') {
    if (from >= cadence.startsAt + cadence.after) return null;
    return from;
  }
  // A cron's first occurrence at or after `from`; an interval's first grid point at or after it.
  const first = firstDueAt(cadence, from);
  if (first === null || first >= from) return first;
  // An interval with `startAt` in the past: its latest grid point is before `from`; step once.
  const next = cadenceNextDueAt(cadence, first, first);
  return next !== null && next >= from ? next : null;
}

/** What a backfill would do with each point of its range. */
export interface BackfillPlan {
  /** Points with no successful run and not yet dispatched by this backfill: to dispatch. */
  pending: number[];
  /** Points with a successful run already. */
  served: number[];
  /** Points this backfill dispatched already (their runs may have failed: not repeated). */
  dispatched: number[];
}

/**
 * Splits a range's points into what a backfill still has to dispatch, oldest first, and what it
 * skips: a point already served (a successful run with that `dueAt`) or already dispatched by
 * this backfill. `max` caps how many are pending.
 */
export function planBackfill(
  points: readonly number[],
  served: ReadonlySet<number>,
  dispatched: ReadonlySet<number>,
  max: number,
): BackfillPlan {
  const plan: BackfillPlan = { pending: [], served: [], dispatched: [] };
  for (const point of [...points].sort((a, b) => a - b)) {
    if (served.has(point)) plan.served.push(point);
    else if (dispatched.has(point)) plan.dispatched.push(point);
    else if (plan.pending.length < max) plan.pending.push(point);
  }
  return plan;
}
