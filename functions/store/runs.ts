/**
 * The worker's side of the schedule store: start an attempt, renew the lease, complete the run,
 * record a retryable failure, release after a dead letter. Each is one transaction that first
 * checks the lease is still the one the message carries, and returns an outcome the worker
 * branches on; none assumes an earlier, separate write is visible.
 *
 * Run history goes to `schedules/{id}/runs/{leaseId}` in the same transactions, with an
 * `expireAt` field for Firestore's TTL policy.
 */
import {
  FieldValue,
  type DocumentData,
  type DocumentReference,
  type Firestore,
} from '@google-cloud/firestore';
import type { LaneThresholds } from '../schedule/lane.js';
import { validateSchedule, type ScheduleSpec } from '../schedule/spec.js';
import { readState, RUNS, SCHEDULES, timestamp, type ScheduleState } from './state.js';
import { ahead, aheadChanges, heldUntilChanges, invalidChanges } from './transitions.js';

/** The TTL field on run history. */
export const RUN_EXPIRE_FIELD = 'expireAt';

export interface LeaseRef {
  scheduleId: string;
  leaseId: string;
}

/** A running attempt: its lease and its own token (see `Lease.attemptId`). */
export interface AttemptRef extends LeaseRef {
  attemptId: string;
}

export type StartOutcome =
  | { kind: 'started'; spec: ScheduleSpec; state: ScheduleState; attempt: number; dueAt: number }
  /** The schedule was deleted. */
  | { kind: 'missing' }
  /** Another lease holds the schedule (a newer dispatch, or nobody). */
  | { kind: 'stale'; currentLeaseId: string | null }
  /** This lease already completed (or was dead-lettered): a redelivery. */
  | { kind: 'duplicate' }
  /** More attempts than allowed: dead-letter and release. */
  | { kind: 'exhausted'; attempts: number; state: ScheduleState; spec: ScheduleSpec | null }
  /** The document no longer validates: it was marked invalid and its lease released. */
  | { kind: 'invalid'; problems: string[] }
  /**
   * An attempt under this lease is running (or its worker died and the lease has not lapsed
   * yet): another delivery of the same message. `until` is the lease's end as seen now.
   */
  | { kind: 'running'; until: number };

/**
 * Starts an attempt under the message's lease: counts it, extends the lease to
 * `now + leaseMs`, marks it started and opens the run record.
 */
export async function startAttempt(
  db: Firestore,
  request: AttemptRef & {
    now: number;
    leaseMs: number;
    maxAttempts: number;
    expireAt: number;
    thresholds: LaneThresholds;
    /**
     * Take over a running attempt whose lease still ends here: its worker stopped renewing
     * (it died). A renewed lease (another `until`) means it is alive: `running` again.
     */
    takeOverUntil?: number;
  },
): Promise<StartOutcome> {
  const ref = scheduleRef(db, request.scheduleId);
  return db.runTransaction(async (transaction): Promise<StartOutcome> => {
    const snapshot = await transaction.get(ref);
    if (!snapshot.exists) return { kind: 'missing' };
    const data = snapshot.data() ?? {};
    const state = readState(data);
    const held = heldBy(state, request.leaseId);
    const lease = state.lease;
    if (held !== 'ours' || lease === null)
      return held === 'ours' ? { kind: 'stale', currentLeaseId: null } : held;

    const validation = validateSchedule(data);
    if (!validation.ok) {
      transaction.update(ref, {
        ...invalidChanges(validation.problems),
        'state.lease': null,
        'state.lastLeaseId': request.leaseId,
      });
      return { kind: 'invalid', problems: validation.problems };
    }
    if (lease.running && lease.until > request.now && lease.until !== request.takeOverUntil) {
      return { kind: 'running', until: lease.until };
    }
    const attempt = lease.attempt + 1;
    if (attempt > request.maxAttempts) {
      return { kind: 'exhausted', attempts: lease.attempt, state, spec: validation.spec };
    }
    const dueAt = state.dueAt ?? lease.dispatchedAt;
    transaction.update(ref, {
      ...heldUntilChanges(
        validation.spec,
        state.lane ?? 'low',
        request.now + request.leaseMs,
        request.now,
        request.thresholds,
      ),
      'state.lease.attempt': attempt,
      'state.lease.startedAt': timestamp(lease.startedAt ?? request.now),
      'state.lease.running': true,
      'state.lease.attemptId': request.attemptId,
    });
    transaction.set(
      runRef(ref, request.leaseId),
      {
        scheduleId: request.scheduleId,
        leaseId: request.leaseId,
        lane: state.lane,
        dueAt: timestamp(dueAt),
        status: 'running',
        attempt,
        firstStartedAt: timestamp(lease.startedAt ?? request.now),
        lastStartedAt: timestamp(request.now),
        [RUN_EXPIRE_FIELD]: timestamp(request.expireAt),
      },
      { merge: true },
    );
    return { kind: 'started', spec: validation.spec, state, attempt, dueAt };
  });
}

/**
 * Extends a running sync's lease to `now + leaseMs` (and the schedule's `nextDueAt` with it),
 * if the lease and the attempt are still ours. Resolves with the lease's new end.
 */
export async function renewLease(
  db: Firestore,
  request: AttemptRef & { now: number; leaseMs: number; thresholds: LaneThresholds },
): Promise<{ kind: 'renewed'; until: number } | { kind: 'lost' }> {
  const ref = scheduleRef(db, request.scheduleId);
  return db.runTransaction(async (transaction) => {
    const snapshot = await transaction.get(ref);
    if (!snapshot.exists) return { kind: 'lost' };
    const data = snapshot.data() ?? {};
    const state = readState(data);
    if (!runsAttempt(state, request)) return { kind: 'lost' };
    const validation = validateSchedule(data);
    const until = request.now + request.leaseMs;
    transaction.update(
      ref,
      heldUntilChanges(
        validation.ok ? validation.spec : null,
        state.lane ?? 'low',
        until,
        request.now,
        request.thresholds,
      ),
    );
    return { kind: 'renewed', until };
  });
}

export type CompleteOutcome =
  { kind: 'completed'; nextDueAt: number | null; status: string } | { kind: 'lost' };

/**
 * Completes a successful run, if the lease is still ours: records it, clears the lease and
 * computes the next due time from the due point served (not from now, so nothing drifts) under
 * the schedule's current spec.
 */
export async function completeRun(
  db: Firestore,
  request: AttemptRef & {
    now: number;
    dueAt: number;
    startedAt: number;
    attempt: number;
    thresholds: LaneThresholds;
    detail?: Record<string, unknown>;
  },
): Promise<CompleteOutcome> {
  const ref = scheduleRef(db, request.scheduleId);
  return db.runTransaction(async (transaction): Promise<CompleteOutcome> => {
    const snapshot = await transaction.get(ref);
    if (!snapshot.exists) return { kind: 'lost' };
    const data = snapshot.data() ?? {};
    const state = readState(data);
    if (!runsAttempt(state, request)) return { kind: 'lost' };
    const next = following(data, state, request.dueAt, request.now, request.thresholds);
    transaction.update(ref, {
      'state.lease': null,
      'state.lastLeaseId': request.leaseId,
      'state.lastRunAt': timestamp(request.startedAt),
      'state.lastSuccessAt': timestamp(request.now),
      'state.lastDurationMs': request.now - request.startedAt,
      'state.lastError': null,
      'state.consecutiveFailures': 0,
      'state.runCount': FieldValue.increment(1),
      'state.health': 'ok',
      ...next.changes,
    });
    transaction.set(
      runRef(ref, request.leaseId),
      {
        status: 'succeeded',
        attempt: request.attempt,
        finishedAt: timestamp(request.now),
        durationMs: request.now - request.startedAt,
        lateMs: request.startedAt - request.dueAt,
        ...(request.detail ? { detail: request.detail } : {}),
      },
      { merge: true },
    );
    return { kind: 'completed', nextDueAt: next.nextDueAt, status: next.status };
  });
}

export interface FailureRecord {
  code: string;
  message: string;
}

/**
 * Records a failed attempt that Pub/Sub will retry, and keeps the lease until `keepUntil` (past
 * the longest retry backoff) so the planner does not dispatch the schedule again meanwhile.
 */
export async function recordRetryableFailure(
  db: Firestore,
  request: AttemptRef & {
    now: number;
    keepUntil: number;
    attempt: number;
    error: FailureRecord;
    thresholds: LaneThresholds;
  },
): Promise<'recorded' | 'lost'> {
  const ref = scheduleRef(db, request.scheduleId);
  return db.runTransaction(async (transaction) => {
    const snapshot = await transaction.get(ref);
    if (!snapshot.exists) return 'lost';
    const data = snapshot.data() ?? {};
    const state = readState(data);
    if (!runsAttempt(state, request)) return 'lost';
    const validation = validateSchedule(data);
    const lastError = { ...request.error, at: timestamp(request.now) };
    transaction.update(ref, {
      // Held past the retry backoff: not due again while Pub/Sub still retries the message.
      ...heldUntilChanges(
        validation.ok ? validation.spec : null,
        state.lane ?? 'low',
        request.keepUntil,
        request.now,
        request.thresholds,
      ),
      'state.lease.running': false,
      'state.lastError': lastError,
      'state.consecutiveFailures': FieldValue.increment(1),
    });
    transaction.set(
      runRef(ref, request.leaseId),
      {
        status: 'retrying',
        attempt: request.attempt,
        lastError,
        errors: FieldValue.arrayUnion({ attempt: request.attempt, ...lastError }),
      },
      { merge: true },
    );
    return 'recorded';
  });
}

/**
 * Releases a lease whose message was dead-lettered, if it is still that lease: the schedule
 * goes on with its cadence after the due point that failed, marked `health: failing`.
 * Redeliveries of the message then count as duplicates.
 */
export async function releaseAfterDeadLetter(
  db: Firestore,
  request: LeaseRef & {
    /**
     * The worker's attempt that gave up, when it is one: released only if that attempt still
     * runs the lease (a redelivery may have taken it over). Not set for a message dead-lettered
     * without a running attempt (attempts exhausted at start, Pub/Sub's delivery limit).
     */
    attemptId?: string;
    now: number;
    reason: string;
    error: FailureRecord | null;
    thresholds: LaneThresholds;
  },
): Promise<'released' | 'not_held' | 'missing'> {
  const ref = scheduleRef(db, request.scheduleId);
  return db.runTransaction(async (transaction) => {
    const snapshot = await transaction.get(ref);
    if (!snapshot.exists) return 'missing';
    const data = snapshot.data() ?? {};
    const state = readState(data);
    // Released already (the worker releases before the dead-letter function records), or the
    // schedule has moved on to another lease: that failure is no longer the schedule's news.
    if (heldBy(state, request.leaseId) !== 'ours') return 'not_held';
    if (
      request.attemptId !== undefined &&
      !runsAttempt(state, { ...request, attemptId: request.attemptId })
    ) {
      return 'not_held';
    }
    const failing = {
      'state.health': 'failing',
      ...(request.error
        ? { 'state.lastError': { ...request.error, at: timestamp(request.now) } }
        : {}),
    };
    const dueAt = state.dueAt ?? state.lease?.dispatchedAt ?? request.now;
    const next = following(data, state, dueAt, request.now, request.thresholds);
    transaction.update(ref, {
      ...failing,
      'state.lease': null,
      'state.lastLeaseId': request.leaseId,
      'state.consecutiveFailures': FieldValue.increment(1),
      ...next.changes,
    });
    transaction.set(
      runRef(ref, request.leaseId),
      {
        status: 'dead_lettered',
        reason: request.reason,
        finishedAt: timestamp(request.now),
        ...(request.error ? { lastError: request.error } : {}),
      },
      { merge: true },
    );
    return 'released';
  });
}

/** Whether the attempt still runs under its lease (no other attempt took it over). */
function runsAttempt(state: ScheduleState, attempt: AttemptRef): boolean {
  return state.lease?.id === attempt.leaseId && state.lease.attemptId === attempt.attemptId;
}

/** Whether `leaseId` holds the schedule, and if not, why its message is not to be worked on. */
function heldBy(
  state: ScheduleState,
  leaseId: string,
): 'ours' | { kind: 'duplicate' } | { kind: 'stale'; currentLeaseId: string | null } {
  if (state.lease?.id === leaseId) return 'ours';
  if (state.lastLeaseId === leaseId) return { kind: 'duplicate' };
  return { kind: 'stale', currentLeaseId: state.lease?.id ?? null };
}

/** The state after serving `dueAt`: next due time and lane, or finished, paused, invalid. */
function following(
  data: DocumentData,
  state: ScheduleState,
  dueAt: number,
  now: number,
  thresholds: LaneThresholds,
): { nextDueAt: number | null; status: string; changes: DocumentData } {
  const validation = validateSchedule(data);
  if (!validation.ok) {
    return { nextDueAt: null, status: 'invalid', changes: invalidChanges(validation.problems) };
  }
  const resumeAt = state.lease?.resumeAt ?? null;
  const next = ahead(validation.spec, dueAt, now, thresholds, resumeAt);
  return {
    nextDueAt: next.nextDueAt,
    status: next.status,
    changes: {
      ...aheadChanges(next),
      ...(state.status === 'invalid' ? { 'state.error': null } : {}),
      // A replay's lease ends: the schedule's own last point is the one from before it.
      ...(resumeAt === null ? {} : { 'state.dueAt': timestamp(state.lease?.resumeDueAt ?? null) }),
    },
  };
}

function scheduleRef(db: Firestore, scheduleId: string): DocumentReference {
  return db.collection(SCHEDULES).doc(scheduleId);
}

function runRef(schedule: DocumentReference, leaseId: string): DocumentReference {
  return schedule.collection(RUNS).doc(leaseId);
}

/** When run history written now expires. */
export function runExpiry(now: number, days: number): number {
  return now + days * 86_400_000;
}
