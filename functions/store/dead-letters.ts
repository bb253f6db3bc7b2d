/**
 * `deadLetters/{id}`: what pacer gave up on, with the reason and enough to replay it. Recording
 * is idempotent (a dead letter is created once per id); replaying claims the schedule with a
 * fresh lease in the same transaction that marks the dead letter replayed.
 */
import firestore, { FieldValue, type DocumentData, type Firestore } from '@google-cloud/firestore';
import type { Lane, LaneThresholds } from '../schedule/lane.js';
import { validateSchedule } from '../schedule/spec.js';
import { DEAD_LETTERS, millis, ownProgress, readState, SCHEDULES, timestamp } from './state.js';
import { dispatchChanges, escalationWhileHeld } from './transitions.js';

// Named imports of GrpcStatus fail under Node ESM; the default export carries it.
const { GrpcStatus } = firestore;

export interface DeadLetterRecord {
  reason: string;
  scheduleId: string | null;
  leaseId: string | null;
  lane: Lane | null;
  dueAt: number | null;
  attempts: number | null;
  lastError: { code: string | null; message: string | null } | null;
  sourceSubscription: string | null;
  /** The original message: its data as text and its attributes. */
  message: { data: string; attributes: Record<string, string> };
  recordedAt: number;
}

/** Creates the dead letter unless it exists already (a redelivery of the same dead letter). */
export async function createDeadLetter(
  db: Firestore,
  id: string,
  record: DeadLetterRecord,
): Promise<'created' | 'exists'> {
  try {
    await db
      .collection(DEAD_LETTERS)
      .doc(id)
      .create({
        ...record,
        dueAt: timestamp(record.dueAt),
        recordedAt: timestamp(record.recordedAt),
        replayedAt: null,
        replayCount: 0,
      });
    return 'created';
  } catch (error) {
    if ((error as { code?: unknown }).code === GrpcStatus.ALREADY_EXISTS) return 'exists';
    throw error;
  }
}

export type ReplayClaim =
  | {
      kind: 'claimed';
      scheduleId: string;
      lane: Lane;
      dueAt: number;
      /** What the claim changed besides the lease (the rest is in the lease), for a revert. */
      previous: { lane: Lane | null; escalatesAt: number | null };
    }
  | { kind: 'not_found' }
  | { kind: 'not_replayable'; reason: string }
  | { kind: 'schedule_missing'; scheduleId: string }
  | { kind: 'in_flight'; leaseId: string };

/**
 * Claims the dead letter's schedule with a fresh lease (unless a live lease holds it) and marks
 * the dead letter replayed, in one transaction.
 */
export async function claimForReplay(
  db: Firestore,
  request: { id: string; leaseId: string; now: number; until: number; thresholds: LaneThresholds },
): Promise<ReplayClaim> {
  const letterRef = db.collection(DEAD_LETTERS).doc(request.id);
  return db.runTransaction(async (transaction): Promise<ReplayClaim> => {
    const letter = await transaction.get(letterRef);
    if (!letter.exists) return { kind: 'not_found' };
    const scheduleId = letter.get('scheduleId') as unknown;
    if (typeof scheduleId !== 'string') {
      return { kind: 'not_replayable', reason: 'it names no schedule (the message was malformed)' };
    }
    const scheduleRef = db.collection(SCHEDULES).doc(scheduleId);
    const schedule = await transaction.get(scheduleRef);
    if (!schedule.exists) return { kind: 'schedule_missing', scheduleId };
    const state = readState(schedule.data());
    if (state.lease !== null && state.lease.until > request.now) {
      return { kind: 'in_flight', leaseId: state.lease.id };
    }
    const validation = validateSchedule(schedule.data());
    if (!validation.ok || state.status !== 'active') {
      const status = validation.ok ? (state.status ?? 'not planned yet') : 'invalid';
      return { kind: 'not_replayable', reason: `schedule ${scheduleId} is ${status}` };
    }
    const lane = state.lane ?? (letter.get('lane') as Lane | null) ?? 'low';
    // A replay serves the point the dead letter failed on. Where the schedule's own cadence
    // stands goes with the lease (`resumeAt`, `resumeDueAt`), so that ending the replay neither
    // rewinds the schedule to the old point nor repeats the points served since.
    const dueAt = millis(letter.get('dueAt')) ?? state.dueAt ?? request.now;
    const own = ownProgress(state);
    const escalation = escalationWhileHeld(
      validation.spec,
      lane,
      request.until,
      request.now,
      request.thresholds,
    );
    transaction.update(scheduleRef, {
      ...dispatchChanges({
        leaseId: request.leaseId,
        until: request.until,
        now: request.now,
        dueAt,
        escalatesAt: escalation,
        resume: { at: own.resumeAt ?? request.now, dueAt: own.dueAt },
      }),
      'state.lane': lane,
    });
    transaction.update(letterRef, {
      replayedAt: timestamp(request.now),
      replayLeaseId: request.leaseId,
      replayCount: FieldValue.increment(1),
    } satisfies DocumentData);
    return {
      kind: 'claimed',
      scheduleId,
      lane,
      dueAt,
      previous: { lane: state.lane, escalatesAt: state.escalatesAt },
    };
  });
}

/**
 * Undoes a replay claim whose message could not be published: the schedule goes back to where
 * its own cadence stood (the lease's `resumeAt` and `resumeDueAt`) and the letter is open again.
 * Unless a worker has started under the lease: then the message did go out after all.
 */
export async function revertReplay(
  db: Firestore,
  request: {
    id: string;
    scheduleId: string;
    leaseId: string;
    now: number;
    previous: { lane: Lane | null; escalatesAt: number | null };
  },
): Promise<'reverted' | 'started'> {
  const letterRef = db.collection(DEAD_LETTERS).doc(request.id);
  const scheduleRef = db.collection(SCHEDULES).doc(request.scheduleId);
  return db.runTransaction(async (transaction) => {
    const schedule = await transaction.get(scheduleRef);
    const letter = await transaction.get(letterRef);
    const lease = schedule.exists ? readState(schedule.data()).lease : null;
    if (lease?.id === request.leaseId) {
      if (lease.attempt > 0) return 'started';
      transaction.update(scheduleRef, {
        'state.lease': null,
        'state.nextDueAt': timestamp(lease.resumeAt ?? request.now),
        'state.dueAt': timestamp(lease.resumeDueAt),
        'state.escalatesAt': timestamp(request.previous.escalatesAt),
        ...(request.previous.lane === null ? {} : { 'state.lane': request.previous.lane }),
      });
    }
    if (letter.get('replayLeaseId') === request.leaseId) {
      transaction.update(letterRef, {
        replayedAt: null,
        replayLeaseId: null,
        replayCount: FieldValue.increment(-1),
      });
    }
    return 'reverted';
  });
}
