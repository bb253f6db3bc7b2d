/**
 * How a schedule's `state` changes, as pure functions from what is known to the fields to
 * write: taken out of planning as invalid, planned ahead from the due point last served, and
 * held by a lease. The reconciler, the planner and the worker all write through these, so the
 * invariants hold everywhere:
 * - `nextDueAt` and `lane` are written together with `escalatesAt`;
 * - while a lease holds a schedule, `nextDueAt` is the lease's end (if nobody completes it, it is
 *   due again from then).
 */
import type { DocumentData } from '@google-cloud/firestore';
import { escalatesAt, firstDueAt, laneAt, nextDueAt } from '../schedule/cadence.js';
import type { Lane, LaneThresholds } from '../schedule/lane.js';
import type { ScheduleSpec } from '../schedule/spec.js';
import { leaseData, timestamp } from './state.js';

/** Out of planning, with every problem as the reason. */
export function invalidChanges(problems: readonly string[]): DocumentData {
  return {
    'state.status': 'invalid',
    'state.error': problems.join('; '),
    'state.nextDueAt': null,
    'state.escalatesAt': null,
  };
}

/** Where a valid schedule goes next. */
export type Ahead =
  | { status: 'paused' | 'finished'; nextDueAt: null }
  | { status: 'active'; nextDueAt: number; lane: Lane; escalatesAt: number | null };

/**
 * Where a valid schedule goes next: from the due point last served (the next point, missed ones
 * coalesced), or, if it has never been served, from scratch; paused if disabled, finished when
 * its cadence is over. Never before `notBefore` (a replay's `resumeAt`: where the schedule's
 * cadence stood before the replay served an older point).
 */
export function ahead(
  spec: ScheduleSpec,
  servedDueAt: number | null,
  now: number,
  thresholds: LaneThresholds,
  notBefore: number | null = null,
): Ahead {
  if (!spec.enabled) return { status: 'paused', nextDueAt: null };
  const following =
    servedDueAt === null
      ? firstDueAt(spec.cadence, now)
      : nextDueAt(spec.cadence, servedDueAt, now);
  if (following === null) return { status: 'finished', nextDueAt: null };
  const next = notBefore !== null && notBefore > following ? notBefore : following;
  const lane = laneAt(spec.cadence, spec.lane, next, thresholds);
  return {
    status: 'active',
    nextDueAt: next,
    lane,
    escalatesAt: escalatesAt(spec.cadence, spec.lane, next, lane, thresholds),
  };
}

/** The fields for {@link ahead}'s answer. */
export function aheadChanges(next: Ahead): DocumentData {
  if (next.status !== 'active') {
    return { 'state.status': next.status, 'state.nextDueAt': null, 'state.escalatesAt': null };
  }
  return {
    'state.status': 'active',
    'state.nextDueAt': timestamp(next.nextDueAt),
    'state.lane': next.lane,
    'state.escalatesAt': timestamp(next.escalatesAt),
  };
}

/**
 * When a schedule held in `lane` until `until` should move to a more urgent lane if it is
 * still waiting by then: the first tier boundary after `now`, but not before `until` (while
 * held it is not waiting). `null` when it never does, or the spec is unknown.
 */
export function escalationWhileHeld(
  spec: ScheduleSpec | null,
  lane: Lane,
  until: number,
  now: number,
  thresholds: LaneThresholds,
): number | null {
  if (spec === null) return null;
  const boundary = escalatesAt(spec.cadence, spec.lane, now, lane, thresholds);
  return boundary === null ? null : Math.max(boundary, until);
}

/** A lease extended to `until`: the schedule is due again from then unless it completes. */
export function heldUntilChanges(
  spec: ScheduleSpec | null,
  lane: Lane,
  until: number,
  now: number,
  thresholds: LaneThresholds,
): DocumentData {
  return {
    'state.lease.until': timestamp(until),
    'state.nextDueAt': timestamp(until),
    'state.escalatesAt': timestamp(escalationWhileHeld(spec, lane, until, now, thresholds)),
  };
}

/**
 * Dispatched under a new lease (the planner's claim, a dead letter's replay): serving `dueAt`,
 * due again at the lease's end unless a worker takes it. A replay also carries where the
 * schedule's own cadence stood (`resume`).
 */
export function dispatchChanges(dispatch: {
  leaseId: string;
  until: number;
  now: number;
  dueAt: number;
  escalatesAt: number | null;
  resume?: { at: number; dueAt: number | null };
}): DocumentData {
  return {
    'state.lease': leaseData({
      id: dispatch.leaseId,
      until: dispatch.until,
      attempt: 0,
      dispatchedAt: dispatch.now,
      startedAt: null,
      running: false,
      attemptId: null,
      resumeAt: dispatch.resume?.at ?? null,
      resumeDueAt: dispatch.resume?.dueAt ?? null,
    }),
    'state.nextDueAt': timestamp(dispatch.until),
    'state.dueAt': timestamp(dispatch.dueAt),
    'state.escalatesAt': timestamp(dispatch.escalatesAt),
  };
}
