/**
 * Where pacer keeps things in Firestore, and the `state` map it owns inside every schedule.
 * In Firestore, times are Timestamps; in code, milliseconds since the epoch.
 */
import { Timestamp, type DocumentData } from '@google-cloud/firestore';
import { isLane, type Lane } from '../schedule/lane.js';

export const SCHEDULES = 'schedules';
export const RUNS = 'runs';
export const DEAD_LETTERS = 'deadLetters';
export const CONFIG_DOC = 'pacer/config';
export const PLANNER_DOC = 'pacer/planner';
export const STATS_DOC = 'pacer/stats';

export const STATUSES = ['active', 'paused', 'finished', 'invalid'] as const;
export type ScheduleStatus = (typeof STATUSES)[number];
export type Health = 'ok' | 'failing';

/** A worker's (or a dispatched message's) hold on a schedule. */
export interface Lease {
  id: string;
  /** When it lapses; the schedule is due again from then (its `nextDueAt`). */
  until: number;
  /** Deliveries of this lease's message that reached a worker. */
  attempt: number;
  dispatchedAt: number;
  startedAt: number | null;
  /** A worker is running an attempt right now (set at start, cleared when it fails). */
  running: boolean;
  /**
   * The running attempt's own token: a worker that took over another's attempt writes a new one,
   * so the first worker's next renewal finds the lease no longer its own and stops.
   */
  attemptId: string | null;
  /**
   * Where the schedule's own cadence stood when a dead letter's replay took it: after the lease
   * it is due from here at the earliest, so replaying an old due point never rewinds the
   * schedule or repeats points served since. `null` for the planner's dispatches.
   */
  resumeAt: number | null;
  /** With `resumeAt`: the schedule's `dueAt` before the replay, put back when the lease ends. */
  resumeDueAt: number | null;
}

export interface LastError {
  code: string;
  message: string;
  at: number;
}

/** pacer's view of a schedule; the operator fields live beside it in the same document. */
export interface ScheduleState {
  status: ScheduleStatus | null;
  /** The lane in force at `nextDueAt` (the lane the planner queries it in). */
  lane: Lane | null;
  /** When the planner should next pick it up; while leased, the lease's end. */
  nextDueAt: number | null;
  /** The due point the current (or last) lease serves. */
  dueAt: number | null;
  /** When a schedule still waiting by then should move to a more urgent lane (see `escalatesAt`). */
  escalatesAt: number | null;
  lease: Lease | null;
  lastRunAt: number | null;
  lastSuccessAt: number | null;
  lastDurationMs: number | null;
  lastError: LastError | null;
  consecutiveFailures: number;
  runCount: number;
  lastLeaseId: string | null;
  specHash: string | null;
  error: string | null;
  health: Health | null;
}

/** Reads `state` from a schedule document, tolerating a missing or partial map. */
export function readState(data: DocumentData | undefined): ScheduleState {
  const state: Record<string, unknown> = isRecord(data?.state) ? data.state : {};
  return {
    status: (STATUSES as readonly unknown[]).includes(state.status)
      ? (state.status as ScheduleStatus)
      : null,
    lane: isLane(state.lane) ? state.lane : null,
    nextDueAt: millis(state.nextDueAt),
    dueAt: millis(state.dueAt),
    escalatesAt: millis(state.escalatesAt),
    lease: readLease(state.lease),
    lastRunAt: millis(state.lastRunAt),
    lastSuccessAt: millis(state.lastSuccessAt),
    lastDurationMs: typeof state.lastDurationMs === 'number' ? state.lastDurationMs : null,
    lastError: readLastError(state.lastError),
    consecutiveFailures:
      typeof state.consecutiveFailures === 'number' ? state.consecutiveFailures : 0,
    runCount: typeof state.runCount === 'number' ? state.runCount : 0,
    lastLeaseId: typeof state.lastLeaseId === 'string' ? state.lastLeaseId : null,
    specHash: typeof state.specHash === 'string' ? state.specHash : null,
    error: typeof state.error === 'string' ? state.error : null,
    health: state.health === 'ok' || state.health === 'failing' ? state.health : null,
  };
}

/**
 * The oldest due point a schedule owes. A schedule whose lease lapsed without completion is due
 * again at the lease's end, but it still owes the point that lease was serving — or, after a
 * dead letter's replay, the point its own cadence stood at before the replay (`resumeAt`),
 * which may still lie ahead.
 */
export function servedDueAt(state: ScheduleState): number | null {
  if (state.lease?.resumeAt != null) return state.lease.resumeAt;
  if (state.lease !== null && state.dueAt !== null) return state.dueAt;
  return state.nextDueAt;
}

/**
 * Where a schedule's own cadence stands, for a dead letter's replay to put back when it ends:
 * the point it owes ({@link servedDueAt}) and its `dueAt` — both from before an earlier replay,
 * if its lease still holds the schedule, so replaying twice never anchors on a replayed point.
 */
export function ownProgress(state: ScheduleState): {
  resumeAt: number | null;
  dueAt: number | null;
} {
  const dueAt = state.lease?.resumeAt != null ? state.lease.resumeDueAt : state.dueAt;
  return { resumeAt: servedDueAt(state), dueAt };
}

/** Milliseconds → a Firestore Timestamp; `null` stays `null`. */
export function timestamp(ms: number): Timestamp;
export function timestamp(ms: number | null): Timestamp | null;
export function timestamp(ms: number | null): Timestamp | null {
  return ms === null ? null : Timestamp.fromMillis(ms);
}

/** A Firestore Timestamp (or anything with `toMillis`) → milliseconds; otherwise `null`. */
export function millis(value: unknown): number | null {
  if (value instanceof Timestamp) return value.toMillis();
  if (isRecord(value) && typeof value.toMillis === 'function') {
    return (value.toMillis as () => number)();
  }
  return null;
}

/** The lease as written to Firestore. */
export function leaseData(lease: Lease): DocumentData {
  return {
    id: lease.id,
    until: timestamp(lease.until),
    attempt: lease.attempt,
    dispatchedAt: timestamp(lease.dispatchedAt),
    startedAt: timestamp(lease.startedAt),
    running: lease.running,
    attemptId: lease.attemptId,
    resumeAt: timestamp(lease.resumeAt),
    resumeDueAt: timestamp(lease.resumeDueAt),
  };
}

function readLease(value: unknown): Lease | null {
  if (!isRecord(value) || typeof value.id !== 'string') return null;
  const until = millis(value.until);
  if (until === null) return null;
  return {
    id: value.id,
    until,
    attempt: typeof value.attempt === 'number' ? value.attempt : 0,
    dispatchedAt: millis(value.dispatchedAt) ?? until,
    startedAt: millis(value.startedAt),
    running: value.running === true,
    attemptId: typeof value.attemptId === 'string' ? value.attemptId : null,
    resumeAt: millis(value.resumeAt),
    resumeDueAt: millis(value.resumeDueAt),
  };
}

function readLastError(value: unknown): LastError | null {
  if (!isRecord(value)) return null;
  return {
    code: typeof value.code === 'string' ? value.code : 'unexpected',
    message: typeof value.message === 'string' ? value.message : '',
    at: millis(value.at) ?? 0,
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
