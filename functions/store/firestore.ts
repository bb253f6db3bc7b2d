/**
 * The store port on Firestore. Every protocol decision goes through one of two helpers: a
 * transaction that reads the document(s) and takes `now` from Firestore's read time, or a
 * conditional write with a precondition on the update time that was read. Nothing here decides
 * anything: the decisions are in functions/protocol/decisions.ts.
 */
import firestore, {
  FieldValue,
  type DocumentData,
  type DocumentReference,
  type DocumentSnapshot,
  type Firestore,
  type Query,
  type QueryDocumentSnapshot,
  type Timestamp,
  type Transaction,
} from '@google-cloud/firestore';
import type { ClaimUndo, LetterView, Subject } from '../protocol/decisions.js';
import { unclaimReplay } from '../protocol/decisions.js';
import { specHash } from '../protocol/decisions.js';
import { applyPatch, type Decision, type Patch } from '../protocol/patch.js';
import { EMPTY_STATE } from '../protocol/state.js';
import type { PlannerLeaseState, PlannerLeaseWrite } from '../protocol/planner-lease.js';
import { isLane, type Lane } from '../schedule/lane.js';
import { DEPLOYED, validateSchedule, type ValidationContext } from '../schedule/spec.js';
import type {
  ConditionalOutcome,
  ConditionalWrite,
  DeadLetterRecord,
  DeadLetterStore,
  LetterPatch,
  PlannerLeaseConditionalOutcome,
  PlannerLeaseWritten,
  PlannerStore,
  QueryResult,
  ReadResult,
  ReplayDecision,
  ScheduleStore,
  StoredSchedule,
  Version,
} from './port.js';
import {
  dueQuery,
  dueQueryAllLanes,
  escalationQuery,
  inFlightQuery,
  inShard,
  type ReadMeter,
} from './queries.js';
import { plannerLeaseDoc, statsDoc, WHOLE, type Shard } from '../schedule/shard.js';
import {
  combinedOf,
  CONFIG_DOC,
  DEAD_LETTERS,
  millis,
  PLANNER_DOC,
  readState,
  runData,
  runRef,
  SCHEDULE_STATES,
  SCHEDULES,
  SPEC_FIELD,
  stateFields,
  STATS_DOC,
  stateUpdate,
  timestamp,
  writePatch,
} from './state.js';

// A CommonJS export that Node's ESM loader cannot see as a named export.
const { GrpcStatus } = firestore;

const ADAPTER = 'firestore';

/** How many sub-tick summaries `pacer/stats` keeps (about ten minutes at the defaults). */
export const RECENT_SUMMARIES = 60;

/**
 * A schedule document as a decision sees it. Never throws: a document that cannot even be read
 * is a subject whose validation says so (and is marked invalid), not a failed query.
 */
export function subjectOf(
  id: string,
  data: DocumentData,
  validation: ValidationContext = DEPLOYED,
): Subject {
  try {
    return {
      id,
      data,
      state: readState(data),
      validation: validateSchedule(data, validation, id),
    };
  } catch (error) {
    return {
      id,
      data,
      state: EMPTY_STATE,
      validation: { ok: false, problems: [`(document): cannot be read (${String(error)})`] },
    };
  }
}

/** A state document (`scheduleStates/{id}`) as a decision sees it: its spec copy and state. */
export function subjectOfState(
  id: string,
  stateDocument: DocumentData | undefined,
  validation: ValidationContext = DEPLOYED,
): Subject {
  return subjectOf(id, combinedOf(stateDocument), validation);
}

function stored(doc: QueryDocumentSnapshot, validation: ValidationContext): StoredSchedule {
  return { ...subjectOfState(doc.id, doc.data(), validation), version: version(doc.updateTime) };
}

function version(updateTime: Timestamp): Version {
  return { adapter: ADAPTER, token: updateTime };
}

function updateTimeOf(version: Version): Timestamp {
  if (version.adapter !== ADAPTER) {
    throw new Error(`a ${version.adapter} version given to the Firestore store`);
  }
  return version.token as Timestamp;
}

/** The store's time of a read (the emulator and Firestore both give one). */
function readTimeOf(snapshot: DocumentSnapshot): number {
  return snapshot.readTime.toMillis();
}

export class FirestoreStore implements ScheduleStore, DeadLetterStore, PlannerStore {
  /**
   * @param validation what schedules are validated against: a deployment's handlers and secret
   *   bindings (`validationFor(settings)`)
   */
  constructor(
    readonly db: Firestore,
    private readonly validation: ValidationContext = DEPLOYED,
    /** The shard whose schedules the planner's queries see, and whose lease it takes. */
    readonly shard: Shard = WHOLE,
  ) {}

  /** pacer's document of schedule `id` (`scheduleStates/{id}`): what the protocol reads. */
  private schedule(id: string): DocumentReference {
    return this.db.collection(SCHEDULE_STATES).doc(id);
  }

  transact<T>(
    id: string,
    decide: (subject: Subject | null, now: number) => Decision<T>,
  ): Promise<T> {
    const ref = this.schedule(id);
    return this.db.runTransaction(async (transaction) => {
      const snapshot = await transaction.get(ref);
      const subject = snapshot.exists ? subjectOfState(id, snapshot.data(), this.validation) : null;
      const { outcome, patch } = decide(subject, readTimeOf(snapshot));
      if (patch !== null && subject !== null) writePatch(transaction, ref, patch);
      return outcome;
    });
  }

  transactReconcile<T>(
    id: string,
    decide: (subject: Subject | null, now: number) => Decision<T>,
  ): Promise<T> {
    const operatorRef = this.db.collection(SCHEDULES).doc(id);
    const stateRef = this.schedule(id);
    return this.db.runTransaction(async (transaction) => {
      const [operator, current] = await transaction.getAll(operatorRef, stateRef);
      if (operator === undefined || current === undefined) throw new Error('getAll lost a read');
      const now = readTimeOf(operator);
      if (!operator.exists) {
        // The operator deleted the schedule: pacer's document goes with it.
        if (current.exists) transaction.delete(stateRef);
        return decide(null, now).outcome;
      }
      const written: DocumentData = operator.data() ?? {};
      const spec = withoutState(written);
      // No state document yet: a new schedule, or one written by a version that kept `state`
      // in the operator's document, whose leases and due points carry over (the upgrade).
      const raw: unknown = current.exists ? current.get('state') : written.state;
      const subject = subjectOf(id, { ...spec, state: raw }, this.validation);
      const { outcome, patch } = decide(subject, now);
      if (!current.exists) {
        transaction.set(stateRef, {
          [SPEC_FIELD]: spec,
          state: stateFields(applyPatch(subject.state, patch)),
        });
        if (patch?.run) {
          transaction.set(runRef(stateRef, patch.run.leaseId), runData(patch.run), {
            merge: true,
          });
        }
        return outcome;
      }
      const copy = combinedOf(current.data());
      if (patch !== null || specHash(copy) !== specHash(spec)) {
        transaction.update(stateRef, { [SPEC_FIELD]: spec, ...(patch ? stateUpdate(patch) : {}) });
        if (patch?.run) {
          transaction.set(runRef(stateRef, patch.run.leaseId), runData(patch.run), {
            merge: true,
          });
        }
      }
      return outcome;
    });
  }

  async writeIfUnchanged(writes: readonly ConditionalWrite[]): Promise<ConditionalOutcome[]> {
    if (writes.length === 0) return [];
    const writer = this.db.bulkWriter({ throttling: false });
    // A failed precondition is an answer, not a fault: never retry it.
    writer.onWriteError(
      (error) => error.code !== GrpcStatus.FAILED_PRECONDITION && error.failedAttempts < 3,
    );
    const outcomes = writes.map(async ({ schedule, patch }): Promise<ConditionalOutcome> => {
      if (patch.run !== undefined) {
        throw new Error('a conditional write carries no run record (use transact)');
      }
      try {
        const result = await writer.update(this.schedule(schedule.id), stateUpdate(patch), {
          lastUpdateTime: updateTimeOf(schedule.version),
        });
        return { kind: 'written', version: version(result.writeTime) };
      } catch (error) {
        if (isPreconditionFailure(error)) return { kind: 'conflict' };
        // One failed write must not cost the others: report it, go on.
        return { kind: 'failed', error };
      }
    });
    await writer.close();
    return Promise.all(outcomes);
  }

  async read(id: string): Promise<ReadResult> {
    const snapshot = await this.schedule(id).get();
    const schedule =
      snapshot.exists && snapshot.updateTime !== undefined
        ? {
            ...subjectOfState(id, snapshot.data(), this.validation),
            version: version(snapshot.updateTime),
          }
        : null;
    return { schedule, now: readTimeOf(snapshot) };
  }

  async commitIfUnchanged(
    id: string,
    at: Version,
    patch: Patch,
    _decidedAt: number,
  ): Promise<ConditionalOutcome> {
    if (Object.keys(patch.state).length === 0) {
      throw new Error('a conditional commit writes state fields (its precondition needs one)');
    }
    const ref = this.schedule(id);
    const batch = this.db.batch();
    batch.update(ref, stateUpdate(patch), { lastUpdateTime: updateTimeOf(at) });
    if (patch.run) {
      batch.set(runRef(ref, patch.run.leaseId), runData(patch.run), { merge: true });
    }
    try {
      const [result] = await batch.commit();
      if (result === undefined) throw new Error('a batch commit returned no write result');
      return { kind: 'written', version: version(result.writeTime) };
    } catch (error) {
      if (isPreconditionFailure(error)) return { kind: 'conflict' };
      return { kind: 'failed', error };
    }
  }

  readDue(lane: Lane, now: number, limit: number, meter: ReadMeter): Promise<QueryResult> {
    return this.readQuery(inShard(dueQuery(this.db, lane, now), this.shard), limit, meter);
  }

  readDueAllLanes(now: number, limit: number, meter: ReadMeter): Promise<QueryResult> {
    return this.readQuery(inShard(dueQueryAllLanes(this.db, now), this.shard), limit, meter);
  }

  countDue(lane: Lane, now: number, meter: ReadMeter): Promise<number> {
    return countOf(inShard(dueQuery(this.db, lane, now), this.shard), meter);
  }

  countInFlight(lane: Lane, now: number, meter: ReadMeter): Promise<number> {
    return countOf(inShard(inFlightQuery(this.db, lane, now), this.shard), meter);
  }

  readEscalations(now: number, limit: number, meter: ReadMeter): Promise<QueryResult> {
    return this.readQuery(inShard(escalationQuery(this.db, now), this.shard), limit, meter);
  }

  private async readQuery(query: Query, limit: number, meter: ReadMeter): Promise<QueryResult> {
    const snapshot = await query.limit(limit).get();
    meter.query(snapshot.size);
    return {
      schedules: snapshot.docs.map((doc) => stored(doc, this.validation)),
      readTime: snapshot.readTime.toMillis(),
    };
  }

  // -------------------------------------------------------------------------------------------
  // Dead letters.

  async createDeadLetter(id: string, record: DeadLetterRecord): Promise<'created' | 'exists'> {
    try {
      await this.db
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

  transactReplay<T>(
    letterId: string,
    decide: (letter: LetterView | null, subject: Subject | null, now: number) => ReplayDecision<T>,
  ): Promise<T> {
    const letterRef = this.db.collection(DEAD_LETTERS).doc(letterId);
    return this.db.runTransaction(async (transaction) => {
      const letter = await transaction.get(letterRef);
      const view = letter.exists ? letterView(letter) : null;
      const scheduleRef = view?.scheduleId ? this.schedule(view.scheduleId) : null;
      const schedule = scheduleRef ? await transaction.get(scheduleRef) : null;
      const subject =
        schedule?.exists === true
          ? subjectOfState(schedule.id, schedule.data(), this.validation)
          : null;
      const decided = decide(view, subject, readTimeOf(letter));
      if (decided.schedule !== null && scheduleRef !== null && subject !== null) {
        writePatch(transaction, scheduleRef, decided.schedule);
      }
      if (decided.letter !== null && view !== null) {
        updateLetter(transaction, letterRef, decided.letter);
      }
      return decided.outcome;
    });
  }

  revertReplay(request: {
    letterId: string;
    scheduleId: string;
    leaseId: string;
    previous: ClaimUndo;
  }): Promise<'reverted' | 'started' | 'gone'> {
    const letterRef = this.db.collection(DEAD_LETTERS).doc(request.letterId);
    const scheduleRef = this.schedule(request.scheduleId);
    return this.db.runTransaction(async (transaction) => {
      const schedule = await transaction.get(scheduleRef);
      const letter = await transaction.get(letterRef);
      const subject = schedule.exists
        ? subjectOfState(schedule.id, schedule.data(), this.validation)
        : null;
      const { outcome, patch } = unclaimReplay(subject, request);
      if (patch !== null) writePatch(transaction, scheduleRef, patch);
      if (outcome !== 'started' && letter.get('replayLeaseId') === request.leaseId) {
        updateLetter(transaction, letterRef, { kind: 'reopened', leaseId: request.leaseId });
      }
      return outcome;
    });
  }

  // -------------------------------------------------------------------------------------------
  // The planner's own documents.

  transactPlannerLease<T>(
    decide: (
      state: PlannerLeaseState,
      now: number,
    ) => { outcome: T; write: PlannerLeaseWrite | null },
  ): Promise<T> {
    const ref = this.plannerLeaseRef();
    return this.db.runTransaction(async (transaction) => {
      const snapshot = await transaction.get(ref);
      const { outcome, write } = decide(plannerLeaseState(snapshot), readTimeOf(snapshot));
      if (write !== null) transaction.set(ref, plannerLeaseFields(write), { merge: true });
      return outcome;
    });
  }

  async decidePlannerLease<T>(
    decide: (
      state: PlannerLeaseState,
      now: number,
    ) => { outcome: T; write: PlannerLeaseWrite | null },
  ): Promise<{ outcome: T; written: PlannerLeaseWritten | null }> {
    const ref = this.plannerLeaseRef();
    // A read and a write conditional on it rather than a transaction: the write's result carries
    // the update time a later conditional write needs, a transaction's does not. Tried again on
    // a conflict, as a transaction would be.
    for (let attempt = 1; ; attempt++) {
      const snapshot = await ref.get();
      const now = readTimeOf(snapshot);
      const { outcome, write } = decide(plannerLeaseState(snapshot), now);
      if (write === null) return { outcome, written: null };
      try {
        const result =
          snapshot.updateTime === undefined
            ? await ref.create(plannerLeaseFields(write))
            : await ref.update(plannerLeaseFields(write), {
                lastUpdateTime: snapshot.updateTime,
              });
        return {
          outcome,
          written: { state: writtenLease(write), version: version(result.writeTime), at: now },
        };
      } catch (error) {
        const conflict =
          isPreconditionFailure(error) ||
          (error as { code?: unknown }).code === GrpcStatus.ALREADY_EXISTS;
        if (!conflict || attempt >= PLANNER_LEASE_ATTEMPTS) throw error;
      }
    }
  }

  async writePlannerLeaseIfUnchanged(
    at: Version,
    write: PlannerLeaseWrite,
  ): Promise<PlannerLeaseConditionalOutcome> {
    try {
      const result = await this.plannerLeaseRef().update(plannerLeaseFields(write), {
        lastUpdateTime: updateTimeOf(at),
      });
      return {
        kind: 'written',
        written: {
          state: writtenLease(write),
          version: version(result.writeTime),
          at: result.writeTime.toMillis(),
        },
      };
    } catch (error) {
      if (isPreconditionFailure(error)) return { kind: 'conflict' };
      return { kind: 'failed', error };
    }
  }

  private plannerLeaseRef(): DocumentReference {
    return this.db.doc(this.shard.count <= 1 ? PLANNER_DOC : plannerLeaseDoc(this.shard));
  }

  async readRecentSummaries<T>(): Promise<T[]> {
    const snapshot = await this.db
      .doc(this.shard.index === 0 ? STATS_DOC : statsDoc(this.shard))
      .get();
    const recent = snapshot.get('recent') as unknown;
    return Array.isArray(recent) ? (recent as T[]) : [];
  }

  async writeRecentSummaries(summaries: readonly object[]): Promise<void> {
    await this.db
      .doc(this.shard.index === 0 ? STATS_DOC : statsDoc(this.shard))
      .set({ recent: summaries, updatedAt: FieldValue.serverTimestamp() });
  }

  async readLiveConfig(): Promise<Record<string, unknown>> {
    const snapshot = await this.db.doc(CONFIG_DOC).get();
    return snapshot.exists ? (snapshot.data() ?? {}) : {};
  }
}

/** The operator's fields of a document (without an older version's `state` map). */
function withoutState(data: DocumentData): DocumentData {
  return Object.fromEntries(Object.entries(data).filter(([key]) => key !== 'state'));
}

function letterView(letter: DocumentSnapshot): LetterView {
  const scheduleId = letter.get('scheduleId') as unknown;
  const lane = letter.get('lane') as unknown;
  return {
    scheduleId: typeof scheduleId === 'string' ? scheduleId : null,
    dueAt: millis(letter.get('dueAt')),
    lane: isLane(lane) ? lane : null,
  };
}

function updateLetter(transaction: Transaction, ref: DocumentReference, patch: LetterPatch): void {
  if (patch.kind === 'replayed') {
    transaction.update(ref, {
      replayedAt: timestamp(patch.at),
      replayLeaseId: patch.leaseId,
      replayCount: FieldValue.increment(1),
    });
  } else {
    transaction.update(ref, {
      replayedAt: null,
      replayLeaseId: null,
      replayCount: FieldValue.increment(-1),
    });
  }
}

async function countOf(query: Query, meter: ReadMeter): Promise<number> {
  const snapshot = await query.count().get();
  const count = snapshot.data().count;
  meter.aggregation(count);
  return count;
}

/** How often `decidePlannerLease` tries when another write keeps landing between read and write. */
const PLANNER_LEASE_ATTEMPTS = 5;

/** The planner lease document as a decision sees it. */
function plannerLeaseState(snapshot: DocumentSnapshot): PlannerLeaseState {
  const holder = snapshot.get('holder') as unknown;
  const leaseId = snapshot.get('leaseId') as unknown;
  return {
    leaseId: typeof leaseId === 'string' ? leaseId : null,
    holder: typeof holder === 'string' ? holder : null,
    until: millis(snapshot.get('until')),
  };
}

/** A planner lease write's fields, as stored (times as Timestamps). */
function plannerLeaseFields(write: PlannerLeaseWrite): DocumentData {
  return {
    leaseId: write.leaseId,
    holder: write.holder,
    until: timestamp(write.until),
    ...(write.acquiredAt === undefined ? {} : { acquiredAt: timestamp(write.acquiredAt) }),
    ...(write.releasedAt === undefined ? {} : { releasedAt: timestamp(write.releasedAt) }),
  };
}

/** The lease a write leaves. */
function writtenLease(write: PlannerLeaseWrite): PlannerLeaseState {
  return { leaseId: write.leaseId, holder: write.holder, until: write.until };
}

/** A write refused because the document changed (or went) since the version it was based on. */
export function isPreconditionFailure(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return code === GrpcStatus.FAILED_PRECONDITION || code === GrpcStatus.NOT_FOUND;
}
