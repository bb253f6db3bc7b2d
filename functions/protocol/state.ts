/**
 * pacer's view of a schedule — the `state` map it owns inside `schedules/{id}` — as plain data:
 * times are milliseconds since the epoch, nothing here knows Firestore. The decisions
 * (./decisions.ts) read it and return patches of it; the store adapters read and write it.
 */
import { laneAt } from '../schedule/cadence.js';
import type { Lane, LaneThresholds } from '../schedule/lane.js';
import type { ScheduleSpec } from '../schedule/spec.js';

export const STATUSES = ['active', 'paused', 'finished', 'invalid'] as const;
export type ScheduleStatus = (typeof STATUSES)[number];
/** `paused_by_failures`: `pauseAfterFailures` dead letters in a row paused it (see {@link Pause}). */
export type Health = 'ok' | 'failing' | 'paused_by_failures';
export const HEALTHS: readonly Health[] = ['ok', 'failing', 'paused_by_failures'];

/**
 * Who paused a schedule, when and why. `operator`: `pacer schedules pause` (with `enabled:
 * false`, which is what keeps it paused); the note goes when it is enabled again. `failures`:
 * pacer itself, after `pauseAfterFailures` consecutive dead letters; this note alone keeps the
 * schedule paused (its `enabled` stays true) until `pacer schedules resume` clears it.
 */
export interface Pause {
  cause: 'operator' | 'failures';
  by: string;
  at: number;
  reason: string | null;
}

/**
 * What a lease was taken for: `planned`, the schedule's own due point (the planner's claim);
 * `replay`, a dead letter's point served again on request; `manual`, a run an operator asked for
 * now (`pacer schedules trigger`); `backfill`, a past cadence point served on an operator's
 * request (`pacer schedules backfill`). Every kind but `planned` ends by returning the schedule
 * to its own cadence, `owedSince`, without moving it.
 */
export type LeaseKind = 'planned' | 'replay' | 'manual' | 'backfill';

export const LEASE_KINDS: readonly LeaseKind[] = ['planned', 'replay', 'manual', 'backfill'];

/**
 * A hold on a schedule: a dispatched message waiting for a worker, or a worker running an
 * attempt. Kept after it lapses (until the next claim replaces it), so that the point it served,
 * what the schedule owed and the attempts already made are not forgotten.
 */
export interface Lease {
  id: string;
  kind: LeaseKind;
  /** When it lapses (store time); while it holds, the schedule's `nextDueAt` is this. */
  until: number;
  /**
   * Attempts made at the point owed, counted when an attempt starts. A lease that replaces a
   * lapsed one for the same point carries its count on, so a target that keeps failing (or
   * keeps crashing its worker) reaches the attempt limit whatever happens to its messages.
   */
  attempt: number;
  dispatchedAt: number;
  startedAt: number | null;
  /** An attempt runs now (set at start; cleared by a retry hold). */
  running: boolean;
  /** The running attempt's own token: renewals and completion are fenced on it. */
  attemptId: string | null;
  /** When the running attempt last confirmed it holds the lease (its start, or a renewal). */
  renewedAt?: number;
  /** The due point this lease serves. */
  dueAt: number;
  /**
   * `false` while the lease's run has no record yet (a first attempt under `runHistory:
   * "failures"`): a failure then writes the record whole. Absent (leases written before it
   * existed): recorded.
   */
  recorded?: boolean;
  /**
   * The schedule's own oldest point owed when the lease was taken (for a replay: where its own
   * cadence stood, which may lie ahead). If the lease ends without serving, the schedule owes
   * from here again.
   */
  owedSince: number;
}

/**
 * Which runs get a record (`schedules/{id}/runs/{leaseId}`): `all`, or `failures` — every run
 * but a planned one that succeeds at its first attempt, which the logs (`sync.completed`) and
 * the schedule's `last*` fields already tell, so a sync costs no run-record writes.
 */
export const RUN_HISTORIES = ['failures', 'all'] as const;
export type RunHistory = (typeof RUN_HISTORIES)[number];

export interface LastError {
  code: string;
  message: string;
  at: number;
}

export interface ScheduleState {
  status: ScheduleStatus | null;
  /** The lane in force at `nextDueAt` (the lane the planner queries it in). */
  lane: Lane | null;
  /** When the planner should next pick it up; while a lease holds it, the lease's end. */
  nextDueAt: number | null;
  /** The schedule's own last due point served (run or given up): where its cadence stands. */
  dueAt: number | null;
  /** When a schedule still waiting by then moves to a more urgent lane. */
  escalatesAt: number | null;
  lease: Lease | null;
  lastRunAt: number | null;
  lastSuccessAt: number | null;
  lastDurationMs: number | null;
  lastError: LastError | null;
  consecutiveFailures: number;
  runCount: number;
  /** The last lease that ended by completing or by a dead letter (its redeliveries: duplicates). */
  lastLeaseId: string | null;
  /** The last cron point skipped as too late for its catch-up window, and how many were. */
  lastSkippedDueAt: number | null;
  skippedCount: number;
  /**
   * The earliest point served by a run that got no record (`runHistory: "failures"`): from
   * there the run history has gaps, so a backfill cannot tell which points were served.
   */
  unrecordedFrom: number | null;
  /**
   * The latest point served by a run that got no record: after it (once `runHistory` is back to
   * `all`) every run has its record again. `null` with `unrecordedFrom` set: written by a version
   * that kept no end, so the gaps run on from `unrecordedFrom`.
   */
  unrecordedUntil: number | null;
  specHash: string | null;
  error: string | null;
  health: Health | null;
  /** Dead letters since the last success (a replay's too): what `pauseAfterFailures` counts. */
  consecutiveDeadLetters: number;
  /** Who paused it, when and why; `null` when it is not paused (or was paused by hand in the document). */
  pause: Pause | null;
  /**
   * The shard whose planner plans it (functions/schedule/shard.ts), as of the last reconcile or
   * claim; absent until pacer writes one.
   */
  shard?: number;
}

/** A state with nothing in it: a schedule pacer has not reconciled yet. */
export const EMPTY_STATE: ScheduleState = Object.freeze({
  status: null,
  lane: null,
  nextDueAt: null,
  dueAt: null,
  escalatesAt: null,
  lease: null,
  lastRunAt: null,
  lastSuccessAt: null,
  lastDurationMs: null,
  lastError: null,
  consecutiveFailures: 0,
  runCount: 0,
  lastLeaseId: null,
  lastSkippedDueAt: null,
  skippedCount: 0,
  unrecordedFrom: null,
  unrecordedUntil: null,
  specHash: null,
  error: null,
  health: null,
  consecutiveDeadLetters: 0,
  pause: null,
});

/** Whether pacer paused the schedule after failures, so that only a resume plans it again. */
export function pausedByFailures(state: ScheduleState): boolean {
  return state.pause?.cause === 'failures';
}

/** The lease, if it has not lapsed at `now`. */
export function liveLease(state: ScheduleState, now: number): Lease | null {
  return state.lease !== null && state.lease.until > now ? state.lease : null;
}

/**
 * The schedule's own oldest due point owed — or, when it owes none yet, its next one (a time
 * after `now`); `null` when it is not planned (paused, invalid, finished, never reconciled).
 * Under a lease, even a lapsed one, that is the point the lease found owed: the lease's own
 * point is not served until it completes.
 */
export function owedSince(state: ScheduleState): number | null {
  return state.lease !== null ? state.lease.owedSince : state.nextDueAt;
}

/**
 * The lane a schedule is planned in: the one stored with `nextDueAt`, or, for a state that has
 * none yet, the lane its spec puts it in at `at`. Never a silent default.
 */
export function plannedLane(
  state: ScheduleState,
  spec: ScheduleSpec,
  at: number,
  thresholds: LaneThresholds,
): Lane {
  return state.lane ?? laneAt(spec.cadence, spec.lane, at, thresholds);
}

export function isStatus(value: unknown): value is ScheduleStatus {
  return (STATUSES as readonly unknown[]).includes(value);
}

/**
 * The points whose runs may have no record (`runHistory: "failures"`): from `unrecordedFrom` to
 * `unrecordedUntil` (on without end for a state that kept no end); `null` when every run has one.
 * A point outside it was served with a record or not served at all.
 */
export function unrecordedWindow(
  state: Pick<ScheduleState, 'unrecordedFrom' | 'unrecordedUntil'>,
): { from: number; until: number | null } | null {
  if (state.unrecordedFrom === null) return null;
  const until = state.unrecordedUntil;
  return {
    from: state.unrecordedFrom,
    until: until !== null && until >= state.unrecordedFrom ? until : null,
  };
}

/** Whether the window `[from, to]` holds a point whose run may have no record. */
export function overlapsUnrecorded(
  state: Pick<ScheduleState, 'unrecordedFrom' | 'unrecordedUntil'>,
  from: number,
  to: number,
): boolean {
  const window = unrecordedWindow(state);
  return window !== null && window.from <= to && (window.until === null || window.until >= from);
}

/** How a log or an error names the window: "from X to Y" or "from X on". */
export function describeUnrecorded(window: { from: number; until: number | null }): string {
  const from = new Date(window.from).toISOString();
  return window.until === null
    ? `from ${from} on`
    : `from ${from} to ${new Date(window.until).toISOString()}`;
}
