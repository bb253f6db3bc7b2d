/**
 * The planner's side of the schedule store: what is due, what is in flight, and the claim that
 * turns a due schedule into a dispatched one.
 *
 * Every change is one conditional write with a precondition on the update time that was read
 * (or that the claim wrote), so a change made by anyone in between makes the write fail
 * instead of overwriting it.
 */
import firestore, {
  FieldValue,
  type DocumentData,
  type DocumentReference,
  type Firestore,
  type Query,
  type QueryDocumentSnapshot,
  type Timestamp,
} from '@google-cloud/firestore';
import type { Lane } from '../schedule/lane.js';
import { dueQuery, escalationQuery, inFlightQuery, type ReadMeter } from './queries.js';
import { readState, timestamp, type ScheduleState } from './state.js';
import { dispatchChanges, invalidChanges } from './transitions.js';

// A CommonJS export that Node's ESM loader cannot see as a named export.
const { GrpcStatus } = firestore;

/** A due schedule as read by the planner, with the version its changes are conditional on. */
export interface DueSchedule {
  id: string;
  ref: DocumentReference;
  updateTime: Timestamp;
  data: DocumentData;
  state: ScheduleState;
}

function dueSchedule(doc: QueryDocumentSnapshot): DueSchedule {
  const data = doc.data();
  return { id: doc.id, ref: doc.ref, updateTime: doc.updateTime, data, state: readState(data) };
}

/** Up to `limit` due schedules of a lane, most overdue first. */
export async function readDue(
  db: Firestore,
  lane: Lane,
  now: number,
  limit: number,
  meter: ReadMeter,
): Promise<DueSchedule[]> {
  return readSchedules(dueQuery(db, lane, now), limit, meter);
}

/** How many schedules of a lane are due. */
export async function countDue(
  db: Firestore,
  lane: Lane,
  now: number,
  meter: ReadMeter,
): Promise<number> {
  return countOf(dueQuery(db, lane, now), meter);
}

/** How many schedules of a lane hold a lease that has not lapsed. */
export async function countInFlight(
  db: Firestore,
  lane: Lane,
  now: number,
  meter: ReadMeter,
): Promise<number> {
  return countOf(inFlightQuery(db, lane, now), meter);
}

export interface ClaimRequest {
  schedule: DueSchedule;
  leaseId: string;
  /** The due point this dispatch serves. */
  dueAt: number;
  /** When the lease lapses if no worker takes it: the schedule is due again from then. */
  until: number;
  /** When, due again at `until` and still waiting, it would move to a more urgent lane. */
  escalatesAt: number | null;
  now: number;
}

export type ClaimOutcome =
  | { kind: 'claimed'; request: ClaimRequest; writeTime: Timestamp }
  | { kind: 'conflict'; request: ClaimRequest }
  /**
   * Firestore did not answer (after BulkWriter's own retries). The claim may or may not have
   * been written; if it was, its lease lapses after the dispatch grace and the schedule is due
   * again.
   */
  | { kind: 'failed'; request: ClaimRequest; error: unknown };

/**
 * Claims schedules for dispatch, one conditional write each (sent together through a
 * BulkWriter): a new lease, `nextDueAt = lease.until`, and the due point served. A schedule
 * changed since it was read (another planner, a worker, an operator) is a `conflict` and is
 * left alone.
 */
export async function claimSchedules(
  db: Firestore,
  requests: readonly ClaimRequest[],
): Promise<ClaimOutcome[]> {
  if (requests.length === 0) return [];
  const writer = db.bulkWriter({ throttling: false });
  // A failed precondition is an answer, not a fault: never retry it.
  writer.onWriteError(
    (error) => error.code !== GrpcStatus.FAILED_PRECONDITION && error.failedAttempts < 3,
  );
  const outcomes = requests.map(async (request): Promise<ClaimOutcome> => {
    try {
      const result = await writer.update(request.schedule.ref, dispatchChanges(request), {
        lastUpdateTime: request.schedule.updateTime,
      });
      return { kind: 'claimed', request, writeTime: result.writeTime };
    } catch (error) {
      if (isPreconditionFailure(error)) return { kind: 'conflict', request };
      // One failed write must not cost the others their dispatch: report it, go on.
      return { kind: 'failed', request, error };
    }
  });
  await writer.close();
  return Promise.all(outcomes);
}

export type ReleaseOutcome = 'released' | 'changed';

/**
 * Gives a claim back after its message could not be published: no lease, due again at the due
 * point it was claimed for. Conditional on the claim being the last write, so a worker that
 * did receive the message is never undone.
 */
export async function releaseClaim(claim: {
  ref: DocumentReference;
  dueAt: number;
  /** The escalation point the schedule had before the claim. */
  escalatesAt: number | null;
  writeTime: Timestamp;
}): Promise<ReleaseOutcome> {
  try {
    await claim.ref.update(
      {
        'state.lease': null,
        'state.nextDueAt': timestamp(claim.dueAt),
        'state.escalatesAt': timestamp(claim.escalatesAt),
      },
      { lastUpdateTime: claim.writeTime },
    );
    return 'released';
  } catch (error) {
    if (isPreconditionFailure(error)) return 'changed';
    throw error;
  }
}

export type MarkOutcome = 'marked' | 'changed';

/**
 * Takes a schedule whose document fails validation out of planning: `status: invalid`, the
 * reason in `state.error`, no `nextDueAt`. Conditional on the version that was validated.
 */
export async function markInvalid(
  schedule: Pick<DueSchedule, 'ref' | 'updateTime'>,
  problems: readonly string[],
): Promise<MarkOutcome> {
  return conditionalUpdate(schedule, { ...invalidChanges(problems), 'state.lease': null });
}

/**
 * Takes a disabled schedule out of planning (`status: paused`, no `nextDueAt`), for the case
 * where `enabled: false` was written while the reconciler was not running.
 */
export async function markPaused(
  schedule: Pick<DueSchedule, 'ref' | 'updateTime'>,
): Promise<MarkOutcome> {
  return conditionalUpdate(schedule, {
    'state.status': 'paused',
    'state.nextDueAt': null,
    'state.escalatesAt': null,
    'state.lease': null,
  });
}

/**
 * Moves a cron schedule whose run was missed by more than its catch-up window to its next
 * occurrence, without running it.
 */
export async function skipMissedRun(
  schedule: Pick<DueSchedule, 'ref' | 'updateTime'>,
  next: { nextDueAt: number; lane: Lane; escalatesAt: number | null; skippedDueAt: number },
): Promise<MarkOutcome> {
  return conditionalUpdate(schedule, {
    'state.nextDueAt': timestamp(next.nextDueAt),
    'state.lane': next.lane,
    'state.escalatesAt': timestamp(next.escalatesAt),
    'state.lease': null,
    'state.lastSkippedDueAt': timestamp(next.skippedDueAt),
    'state.skippedCount': FieldValue.increment(1),
  });
}

/**
 * Gives a schedule back to its own cadence after a dead letter's replay lapsed undelivered: no
 * lease, due at the point it was waiting for before the replay. Conditional on the version read.
 */
export async function resumeAfterReplay(
  schedule: Pick<DueSchedule, 'ref' | 'updateTime'>,
  next: { nextDueAt: number; dueAt: number | null; lane: Lane; escalatesAt: number | null },
): Promise<MarkOutcome> {
  return conditionalUpdate(schedule, {
    'state.nextDueAt': timestamp(next.nextDueAt),
    'state.dueAt': timestamp(next.dueAt),
    'state.lane': next.lane,
    'state.escalatesAt': timestamp(next.escalatesAt),
    'state.lease': null,
  });
}

/**
 * Moves a schedule that became more urgent while it waited into the lane in force now, with its
 * next escalation point. Conditional on the version read.
 */
export async function escalate(
  schedule: Pick<DueSchedule, 'ref' | 'updateTime'>,
  to: { lane: Lane; escalatesAt: number | null },
): Promise<MarkOutcome> {
  return conditionalUpdate(schedule, {
    'state.lane': to.lane,
    'state.escalatesAt': timestamp(to.escalatesAt),
  });
}

/** Up to `limit` schedules of a lane whose escalation point has passed. */
export async function readEscalations(
  db: Firestore,
  lane: Lane,
  now: number,
  limit: number,
  meter: ReadMeter,
): Promise<DueSchedule[]> {
  return readSchedules(escalationQuery(db, lane, now), limit, meter);
}

async function countOf(query: Query, meter: ReadMeter): Promise<number> {
  const snapshot = await query.count().get();
  const count = snapshot.data().count;
  meter.aggregation(count);
  return count;
}

async function readSchedules(query: Query, limit: number, meter: ReadMeter) {
  const snapshot = await query.limit(limit).get();
  meter.query(snapshot.size);
  return snapshot.docs.map(dueSchedule);
}

async function conditionalUpdate(
  schedule: Pick<DueSchedule, 'ref' | 'updateTime'>,
  changes: DocumentData,
): Promise<MarkOutcome> {
  try {
    await schedule.ref.update(changes, { lastUpdateTime: schedule.updateTime });
    return 'marked';
  } catch (error) {
    if (isPreconditionFailure(error)) return 'changed';
    throw error;
  }
}

/** A write refused because the document changed since the version it was conditional on. */
export function isPreconditionFailure(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return code === GrpcStatus.FAILED_PRECONDITION || code === GrpcStatus.NOT_FOUND;
}
