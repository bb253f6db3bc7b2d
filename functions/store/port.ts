/**
 * The store port: everything the planner, the workers, the dead-letter function, the reconciler
 * and the CLI's protocol commands ask of the store, in terms of the protocol's subjects,
 * decisions and patches. Two adapters implement it — Firestore (./firestore.ts) and memory
 * (./memory.ts, for the simulator and the protocol checker) — and one conformance suite
 * (test/functions/store/conformance.ts) holds both to the same contract:
 *
 * - a schedule is two documents: the operator's (`schedules/{id}`, which pacer never writes and
 *   only `transactReconcile` reads) and pacer's (`scheduleStates/{id}`: a copy of the operator's
 *   fields as last reconciled, and the state), which everything else reads and writes;
 * - `transact` reads one schedule, hands it to a pure decision with the store's time at the
 *   read, and writes the decision's patch atomically: nothing written in between is lost, and
 *   the decision never sees a caller's clock;
 * - `writeIfUnchanged` writes each patch only if its schedule is still at the version read
 *   (a claim, a screening, an escalation): a change by anyone in between is a `conflict`;
 * - the queries answer what the planner's indexed queries answer, with the store's read time.
 */
import type { ClaimUndo, LetterView, Subject } from '../protocol/decisions.js';
import type { Decision, Patch } from '../protocol/patch.js';
import type { PlannerLeaseState, PlannerLeaseWrite } from '../protocol/planner-lease.js';
import type { Lane } from '../schedule/lane.js';
import type { ReadMeter } from './queries.js';

/** Which write a conditional write is based on: opaque to everyone but its adapter. */
export interface Version {
  readonly adapter: string;
  readonly token: unknown;
}

/** A schedule as read, with the version conditional writes are based on. */
export interface StoredSchedule extends Subject {
  version: Version;
}

/** Documents a query returned, and the store's time they were read at. */
export interface QueryResult {
  schedules: StoredSchedule[];
  readTime: number;
}

export type ConditionalOutcome =
  | { kind: 'written'; version: Version }
  /** The schedule changed (or was deleted) since it was read: nothing written. */
  | { kind: 'conflict' }
  /** The store did not answer: the write may or may not have landed. */
  | { kind: 'failed'; error: unknown };

/** A schedule read outside a transaction, and the store's time at the read. */
export interface ReadResult {
  schedule: StoredSchedule | null;
  now: number;
}

export interface ConditionalWrite {
  schedule: Pick<StoredSchedule, 'id' | 'version'>;
  patch: Patch;
}

export interface ScheduleStore {
  /**
   * Reads schedule `id` (`null` when it does not exist), decides, and writes the decision's
   * patch, in one transaction; `now` is the store's time at the read.
   */
  transact<T>(
    id: string,
    decide: (subject: Subject | null, now: number) => Decision<T>,
  ): Promise<T>;
  /**
   * Reconciles schedule `id` in one transaction: reads the operator's document
   * (`schedules/{id}`) and pacer's (`scheduleStates/{id}`), decides on a subject whose `data` is
   * the operator's fields and whose state is pacer's (when pacer has no document yet, the
   * `state` map an older version kept in the operator's document, if any: the upgrade), and
   * writes pacer's document with the operator's fields as its spec copy plus the patch. The
   * operator's document gone, the decision gets `null` and pacer's document is deleted. The only
   * read of the operator's document; it is never written.
   */
  transactReconcile<T>(
    id: string,
    decide: (subject: Subject | null, now: number) => Decision<T>,
  ): Promise<T>;
  /** Writes each patch if its schedule is still at the version read; sent together. */
  writeIfUnchanged(writes: readonly ConditionalWrite[]): Promise<ConditionalOutcome[]>;
  /** Reads schedule `id` (no transaction): the first half of an optimistic decision. */
  read(id: string): Promise<ReadResult>;
  /**
   * Writes `patch` — its state fields and its run record, atomically — if schedule `id` is still
   * at `version` (a read's, or a write's this process made): the second half of an optimistic
   * decision (./optimistic.ts), and a completion that needs no read. `decidedAt`: the store's
   * time the patch was decided at, for observers (the checker's `early` invariant).
   */
  commitIfUnchanged(
    id: string,
    version: Version,
    patch: Patch,
    decidedAt: number,
  ): Promise<ConditionalOutcome>;
  /** Up to `limit` schedules of a lane due at `now`, most overdue first. */
  readDue(lane: Lane, now: number, limit: number, meter: ReadMeter): Promise<QueryResult>;
  /**
   * Up to `limit` schedules of every lane due at `now`, most overdue first (by due point, then
   * id): what each lane's `readDue` would return together, in one query.
   */
  readDueAllLanes(now: number, limit: number, meter: ReadMeter): Promise<QueryResult>;
  /** How many schedules of a lane are due at `now`. */
  countDue(lane: Lane, now: number, meter: ReadMeter): Promise<number>;
  /** How many schedules of a lane hold a lease that has not lapsed at `now`. */
  countInFlight(lane: Lane, now: number, meter: ReadMeter): Promise<number>;
  /**
   * Up to `limit` schedules, of every lane that escalates, whose escalation point has passed at
   * `now`, most overdue first: one query.
   */
  readEscalations(now: number, limit: number, meter: ReadMeter): Promise<QueryResult>;
}

/** What a dead letter records (`deadLetters/{id}`). Times in ms. */
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

/** What a replay changes on its dead letter. */
export type LetterPatch =
  { kind: 'replayed'; leaseId: string; at: number } | { kind: 'reopened'; leaseId: string };

export interface ReplayDecision<T> {
  outcome: T;
  schedule: Patch | null;
  letter: LetterPatch | null;
}

export interface DeadLetterStore {
  /** Creates `deadLetters/{id}` unless it exists (a redelivery of the same dead letter). */
  createDeadLetter(id: string, record: DeadLetterRecord): Promise<'created' | 'exists'>;
  /**
   * Reads dead letter `letterId` and its schedule, decides, and writes both, in one transaction;
   * `now` is the store's time at the read.
   */
  transactReplay<T>(
    letterId: string,
    decide: (letter: LetterView | null, subject: Subject | null, now: number) => ReplayDecision<T>,
  ): Promise<T>;
  /** Undoes a replay claim on schedule `scheduleId` and its letter, in one transaction. */
  revertReplay(request: {
    letterId: string;
    scheduleId: string;
    leaseId: string;
    previous: ClaimUndo;
  }): Promise<'reverted' | 'started' | 'gone'>;
}

export interface PlannerStore {
  /**
   * Reads the planner lease, decides, writes, in one transaction; `now` is the store's time.
   */
  transactPlannerLease<T>(
    decide: (
      state: PlannerLeaseState,
      now: number,
    ) => { outcome: T; write: PlannerLeaseWrite | null },
  ): Promise<T>;
  /**
   * `transactPlannerLease`, answering also what the decision wrote ({@link PlannerLeaseWritten};
   * `null` when it wrote nothing), so the planner's next write can be conditional on it.
   */
  decidePlannerLease<T>(
    decide: (
      state: PlannerLeaseState,
      now: number,
    ) => { outcome: T; write: PlannerLeaseWrite | null },
  ): Promise<{ outcome: T; written: PlannerLeaseWritten | null }>;
  /**
   * Writes the planner lease if its document is still at `version` (this planner's own last
   * write), without reading it: a renewal or a release that bills no read. Anyone's write in
   * between (another planner taking a lapsed lease, say) makes it a `conflict`, and nothing is
   * written.
   */
  writePlannerLeaseIfUnchanged(
    version: Version,
    write: PlannerLeaseWrite,
  ): Promise<PlannerLeaseConditionalOutcome>;
  /** The sub-tick summaries kept for `pacer status`. */
  readRecentSummaries<T>(): Promise<T[]>;
  /** Replaces them (only the planner writes them, under its lease). */
  writeRecentSummaries(summaries: readonly object[]): Promise<void>;
  /** `pacer/config`'s fields, or `{}` when it does not exist. */
  readLiveConfig(): Promise<Record<string, unknown>>;
}

/** The planner lease document as a write left it: what a conditional write is based on. */
export interface PlannerLeaseWritten {
  /** The lease as written. */
  state: PlannerLeaseState;
  version: Version;
  /**
   * The store's time of the write: a decision's read time, a conditional write's commit time.
   * With the time measured since, it bounds the store's time now (see functions/planner/lease.ts).
   */
  at: number;
}

export type PlannerLeaseConditionalOutcome =
  | { kind: 'written'; written: PlannerLeaseWritten }
  /** Someone wrote the lease document since `version` (or it is gone): nothing written. */
  | { kind: 'conflict' }
  /** The store did not answer: the write may or may not have landed. */
  | { kind: 'failed'; error: unknown };
