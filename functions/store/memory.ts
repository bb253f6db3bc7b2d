/**
 * The store port in memory, for the simulator and the protocol checker: the same contract as
 * the Firestore adapter (the conformance suite runs against both). Every document has a version;
 * a conditional write is refused when its version is no longer current; a transaction reads,
 * decides and commits atomically, and is retried when a write landed in between, as Firestore's
 * client retries an aborted transaction.
 *
 * How an operation reaches the store is up to a {@link StoreLink}: at once by default; the
 * simulator and the checker give each operation a latency on their virtual clock, fail it
 * before or after it lands, or stall it. Reads and writes are counted the way Firestore bills
 * them, for the simulator's cost line.
 */
import type { ClaimUndo, LetterView, Subject } from '../protocol/decisions.js';
import { specHash, unclaimReplay } from '../protocol/decisions.js';
import { applyPatch, type Decision, type Patch } from '../protocol/patch.js';
import type { PlannerLeaseState, PlannerLeaseWrite } from '../protocol/planner-lease.js';
import { EMPTY_STATE, liveLease, type ScheduleState } from '../protocol/state.js';
import { ESCALATING_LANES, LANES, type Lane } from '../schedule/lane.js';
import { plannerLeaseDoc, servesStored, WHOLE, type Shard } from '../schedule/shard.js';
import {
  DEPLOYED,
  validateSchedule,
  type Validation,
  type ValidationContext,
} from '../schedule/spec.js';
import type {
  ConditionalOutcome,
  ConditionalWrite,
  DeadLetterRecord,
  DeadLetterStore,
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
import type { ReadMeter } from './queries.js';

const ADAPTER = 'memory';

/** What kind of operation is on its way to the store (for latency and fault injection). */
export type StoreOperation =
  'read' | 'commit' | 'query' | 'count' | 'write' | 'deadletter' | 'planner' | 'stats' | 'config';

/**
 * How an operation reaches the store and its answer comes back. `apply` runs at the store (the
 * moment the operation lands); the link may delay it, refuse it (reject without applying), or
 * apply it and lose the answer (reject after applying).
 */
export interface StoreLink {
  send<T>(operation: StoreOperation, id: string | null, apply: () => T): Promise<T>;
}

/** Every operation lands at once and answers. */
export const DIRECT_LINK: StoreLink = {
  send: (_operation, _id, apply) => Promise.resolve().then(apply),
};

/** A transaction that kept meeting concurrent writes, as Firestore's ABORTED after its retries. */
export class ContentionError extends Error {
  readonly code = 10; // gRPC ABORTED, as Firestore reports it
  constructor(id: string) {
    super(`transaction on ${id} aborted: too much contention`);
  }
}

/** pacer's document of a schedule in memory (`scheduleStates/{id}`). */
interface MemoryDocument {
  id: string;
  /** The spec copy: the operator's fields as last reconciled; replaced, never mutated. */
  data: Readonly<Record<string, unknown>>;
  state: ScheduleState;
  version: number;
}

/** The operator's document of a schedule in memory (`schedules/{id}`). */
interface OperatorDocument {
  /** The operator's fields (never `state`); replaced, never mutated. */
  data: Readonly<Record<string, unknown>>;
  version: number;
  /** The `state` map a version before `scheduleStates` kept here (only an upgrade has one). */
  oldState: ScheduleState | null;
}

interface MemoryLetter {
  record: DeadLetterRecord;
  replayedAt: number | null;
  replayLeaseId: string | null;
  replayCount: number;
}

/** A write to a schedule, as a {@link WriteListener} sees it. */
export interface ScheduleWrite {
  id: string;
  before: ScheduleState | null;
  /** `null`: deleted. */
  after: ScheduleState | null;
  /**
   * The operator's fields after the write: for an operator's write, what the operator wrote
   * (`null`: deleted); for a protocol write, the spec copy the protocol decided with.
   */
  data: Readonly<Record<string, unknown>> | null;
  /** The protocol's patch, for a protocol write. */
  patch: Patch | null;
  cause: 'operator' | 'protocol';
  /** The store's time of the write. */
  at: number;
  /**
   * The store's time the write was decided at: a transaction's read time (its decision's `now`),
   * else the time of the write.
   */
  decidedAt: number;
}

/** Called after every write to a schedule (operator writes included). */
export type WriteListener = (write: ScheduleWrite) => void;

export interface MemoryStoreOptions {
  /** The store's time: decisions get it as `now`. */
  now: () => number;
  link?: StoreLink;
  /** What schedules are validated against (the simulator registers its own handler). */
  validation?: ValidationContext;
  /** The shard whose schedules the planner's queries see, and whose lease it takes. */
  shard?: Shard;
}

/**
 * Attempts before a transaction gives up. Firestore queues transactions on a document's lock;
 * optimistic retries here reach the same end as long as contention is not endless.
 */
const TRANSACTION_ATTEMPTS = 25;

const validations = new WeakMap<
  ValidationContext,
  WeakMap<object, { id: string; validation: Validation }>
>();

/**
 * `validateSchedule`, remembered per context and (never mutated) document object, for the id it
 * was validated for (the id places a spread cadence's points).
 */
function validationOf(
  id: string,
  data: Readonly<Record<string, unknown>>,
  context: ValidationContext,
): Validation {
  let known = validations.get(context);
  if (known === undefined) {
    known = new WeakMap();
    validations.set(context, known);
  }
  const remembered = known.get(data);
  if (remembered?.id === id) return remembered.validation;
  const validation = validateSchedule(data, context, id);
  known.set(data, { id, validation });
  return validation;
}

/** What every view of one memory store shares. */
interface MemoryData {
  usage: { reads: number; writes: number };
  documents: Map<string, MemoryDocument>;
  operators: Map<string, OperatorDocument>;
  runs: Map<string, Map<string, Record<string, unknown>>>;
  letters: Map<string, MemoryLetter>;
  plannerLease: PlannerLeaseState;
  summaries: object[];
  liveConfig: Record<string, unknown>;
  nextVersion: number;
  /** Bumped by every schedule write: lets same-moment scans share their work. */
  generation: number;
  scan: { generation: number; now: number; result: Scan } | null;
  /** The planner leases and recent summaries of shards other than one of one. */
  shardLeases?: Map<number, PlannerLeaseState>;
  shardSummaries?: Map<number, object[]>;
  /** Each planner lease document's version (by its path), for conditional writes. */
  leaseVersions?: Map<string, number>;
  listeners: WriteListener[];
  clock: () => number;
  validation: ValidationContext;
}

export class MemoryStore implements ScheduleStore, DeadLetterStore, PlannerStore {
  private readonly db: MemoryData;
  /** The shard whose schedules the planner's queries see, and whose lease it takes. */
  readonly shard: Shard;

  constructor(
    options: MemoryStoreOptions,
    private readonly link: StoreLink = options.link ?? DIRECT_LINK,
    shared?: MemoryData,
  ) {
    this.shard = options.shard ?? WHOLE;
    this.db = shared ?? {
      usage: { reads: 0, writes: 0 },
      documents: new Map(),
      operators: new Map(),
      runs: new Map(),
      letters: new Map(),
      plannerLease: { leaseId: null, holder: null, until: null },
      summaries: [],
      liveConfig: {},
      nextVersion: 1,
      generation: 0,
      scan: null,
      listeners: [],
      clock: options.now,
      validation: options.validation ?? DEPLOYED,
    };
  }

  /** The same store, reached through another link (each simulated process has its own). */
  withLink(link: StoreLink): MemoryStore {
    return new MemoryStore({ now: this.db.clock, shard: this.shard }, link, this.db);
  }

  /** The same store, as planner `shard` sees it (its schedules, its lease). */
  withShard(shard: Shard): MemoryStore {
    return new MemoryStore({ now: this.db.clock, shard }, this.link, this.db);
  }

  /** Documents read and written, as Firestore bills them. */
  get usage(): { reads: number; writes: number } {
    return this.db.usage;
  }

  // -------------------------------------------------------------------------------------------
  // What operators (and tests) do directly: write documents, read them back.

  /**
   * The operator writes a schedule's fields (`schedules/{id}`): pacer's document is untouched
   * until the schedule is reconciled. With `state` (a test's fixture), pacer's document is also
   * written, as if reconciled: the spec copy is `data`, the state `state`.
   */
  put(id: string, data: Readonly<Record<string, unknown>>, state?: ScheduleState): void {
    const operator = withoutField(data, 'state');
    if (state !== undefined) this.store(id, operator, state, null);
    this.writeOperator(id, { data: operator, version: this.db.nextVersion++, oldState: null });
  }

  /**
   * The operator's document as a version before `scheduleStates` wrote it: the operator's fields
   * and pacer's `state` map in one document (reconciling it seeds pacer's own document).
   */
  putWithOldState(id: string, data: Readonly<Record<string, unknown>>, state: ScheduleState): void {
    const operator = withoutField(data, 'state');
    this.writeOperator(id, { data: operator, version: this.db.nextVersion++, oldState: state });
  }

  /** The operator deletes a schedule and its run history; pacer's document goes when reconciled. */
  delete(id: string): void {
    if (!this.db.operators.has(id)) return;
    this.db.runs.delete(id);
    this.writeOperator(id, null);
  }

  /** A schedule as pacer has it now (no billing, no link): for tests, the checker and reports. */
  peek(id: string): StoredSchedule | null {
    const document = this.db.documents.get(id);
    return document === undefined ? null : this.stored(document);
  }

  /** The operator's fields of a schedule now (`null`: no such document); no billing. */
  peekOperator(id: string): Readonly<Record<string, unknown>> | null {
    return this.db.operators.get(id)?.data ?? null;
  }

  /** The version of the operator's document of a schedule (`null`: none); for tests. */
  operatorVersion(id: string): number | null {
    return this.db.operators.get(id)?.version ?? null;
  }

  /** The ids of pacer's documents. */
  ids(): string[] {
    return [...this.db.documents.keys()];
  }

  /** The ids of the operator's documents. */
  operatorIds(): string[] {
    return [...this.db.operators.keys()];
  }

  private writeOperator(id: string, operator: OperatorDocument | null): void {
    if (operator === null) this.db.operators.delete(id);
    else this.db.operators.set(id, operator);
    this.db.usage.writes++;
    const state = this.db.documents.get(id)?.state ?? null;
    for (const listener of this.db.listeners) {
      listener({
        id,
        before: state,
        after: state,
        data: operator?.data ?? null,
        patch: null,
        cause: 'operator',
        at: this.db.clock(),
        decidedAt: this.db.clock(),
      });
    }
  }

  /** A schedule's run records, each with its lease id. */
  runRecords(id: string): Record<string, unknown>[] {
    return [...(this.db.runs.get(id) ?? [])].map(([leaseId, record]) => ({ ...record, leaseId }));
  }

  deadLetters(): {
    id: string;
    record: DeadLetterRecord;
    replayCount: number;
    replayLeaseId: string | null;
  }[] {
    return [...this.db.letters].map(([id, letter]) => ({
      id,
      record: letter.record,
      replayCount: letter.replayCount,
      replayLeaseId: letter.replayLeaseId,
    }));
  }

  setLiveConfig(config: Record<string, unknown>): void {
    this.db.liveConfig = config;
  }

  onWrite(listener: WriteListener): void {
    this.db.listeners.push(listener);
  }

  // -------------------------------------------------------------------------------------------
  // The port.

  async transact<T>(
    id: string,
    decide: (subject: Subject | null, now: number) => Decision<T>,
  ): Promise<T> {
    // A read, the decision and a commit conditional on the version read, retried on a conflict:
    // what Firestore's transaction gives on one document.
    for (let attempt = 1; ; attempt++) {
      const { schedule, now } = await this.read(id);
      const { outcome, patch } = decide(schedule, now);
      if (patch === null || schedule === null) return outcome;
      const committed = await this.link.send('commit', id, () => {
        if (this.db.documents.get(id)?.version !== versionNumber(schedule.version)) return false;
        this.applyPatch(id, patch, now);
        return true;
      });
      if (committed) return outcome;
      if (attempt >= TRANSACTION_ATTEMPTS) throw new ContentionError(id);
    }
  }

  async transactReconcile<T>(
    id: string,
    decide: (subject: Subject | null, now: number) => Decision<T>,
  ): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const read = await this.link.send('read', id, () => {
        // Both documents in one read, billed as Firestore bills a `getAll` of two.
        this.db.usage.reads += 2;
        const operator = this.db.operators.get(id);
        const document = this.db.documents.get(id);
        return {
          operator,
          document,
          version: document?.version ?? 0,
          operatorVersion: operator?.version ?? 0,
          now: this.db.clock(),
        };
      });
      const { operator, document } = read;
      const subject: Subject | null =
        operator === undefined
          ? null
          : {
              id,
              data: operator.data,
              state: document?.state ?? operator.oldState ?? EMPTY_STATE,
              validation: validationOf(id, operator.data, this.db.validation),
            };
      const { outcome, patch } = decide(subject, read.now);
      const write =
        subject === null
          ? document !== undefined
          : document === undefined ||
            patch !== null ||
            specHash(document.data) !== specHash(subject.data);
      if (!write) return outcome;
      const committed = await this.link.send('commit', id, () => {
        if ((this.db.documents.get(id)?.version ?? 0) !== read.version) return false;
        if ((this.db.operators.get(id)?.version ?? 0) !== read.operatorVersion) return false;
        if (subject === null) this.deleteDocument(id, read.now);
        else this.applyPatch(id, patch ?? { state: {} }, read.now, subject);
        return true;
      });
      if (committed) return outcome;
      if (attempt >= TRANSACTION_ATTEMPTS) throw new ContentionError(id);
    }
  }

  async writeIfUnchanged(writes: readonly ConditionalWrite[]): Promise<ConditionalOutcome[]> {
    return Promise.all(
      writes.map(async ({ schedule, patch }): Promise<ConditionalOutcome> => {
        if (patch.run !== undefined) {
          throw new Error('a conditional write carries no run record (use transact)');
        }
        try {
          return await this.link.send('write', schedule.id, () => {
            const document = this.db.documents.get(schedule.id);
            if (document?.version !== versionNumber(schedule.version)) {
              return { kind: 'conflict' as const };
            }
            const written = this.applyPatch(schedule.id, patch);
            return { kind: 'written' as const, version: memoryVersion(written.version) };
          });
        } catch (error) {
          return { kind: 'failed', error };
        }
      }),
    );
  }

  read(id: string): Promise<ReadResult> {
    return this.link.send('read', id, () => {
      this.db.usage.reads++;
      const document = this.db.documents.get(id);
      return {
        schedule: document === undefined ? null : this.stored(document),
        now: this.db.clock(),
      };
    });
  }

  async commitIfUnchanged(
    id: string,
    at: Version,
    patch: Patch,
    decidedAt: number,
  ): Promise<ConditionalOutcome> {
    try {
      return await this.link.send('commit', id, () => {
        if (this.db.documents.get(id)?.version !== versionNumber(at)) {
          return { kind: 'conflict' as const };
        }
        const written = this.applyPatch(id, patch, decidedAt);
        return { kind: 'written' as const, version: memoryVersion(written.version) };
      });
    } catch (error) {
      return { kind: 'failed', error };
    }
  }

  readDue(lane: Lane, now: number, limit: number, meter: ReadMeter): Promise<QueryResult> {
    return this.link.send('query', null, () => {
      const due = this.inShard(this.scanAt(now).due[lane]);
      const chosen = smallest(due, limit, byDueThenId).map((d) => this.stored(d));
      meter.query(chosen.length);
      this.db.usage.reads += Math.max(1, chosen.length);
      return { schedules: chosen, readTime: this.db.clock() };
    });
  }

  readDueAllLanes(now: number, limit: number, meter: ReadMeter): Promise<QueryResult> {
    return this.link.send('query', null, () => {
      const scan = this.scanAt(now);
      const due = LANES.flatMap((lane) => this.inShard(scan.due[lane]));
      const chosen = smallest(due, limit, byDueThenId).map((d) => this.stored(d));
      meter.query(chosen.length);
      this.db.usage.reads += Math.max(1, chosen.length);
      return { schedules: chosen, readTime: this.db.clock() };
    });
  }

  countDue(lane: Lane, now: number, meter: ReadMeter): Promise<number> {
    return this.link.send('count', null, () =>
      this.counted(this.inShard(this.scanAt(now).due[lane]).length, meter),
    );
  }

  countInFlight(lane: Lane, now: number, meter: ReadMeter): Promise<number> {
    return this.link.send('count', null, () =>
      this.counted(this.inFlightInShard(this.scanAt(now), lane), meter),
    );
  }

  readEscalations(now: number, limit: number, meter: ReadMeter): Promise<QueryResult> {
    return this.link.send('query', null, () => {
      const found: MemoryDocument[] = [];
      for (const document of this.db.documents.values()) {
        const { lane, escalatesAt } = document.state;
        if (
          lane !== null &&
          ESCALATING_LANES.includes(lane) &&
          escalatesAt !== null &&
          escalatesAt <= now &&
          servesStored(this.shard, document.state.shard)
        ) {
          found.push(document);
        }
      }
      const chosen = smallest(found, limit, byEscalationThenId);
      meter.query(chosen.length);
      this.db.usage.reads += Math.max(1, chosen.length);
      return { schedules: chosen.map((d) => this.stored(d)), readTime: this.db.clock() };
    });
  }

  // -------------------------------------------------------------------------------------------
  // Dead letters.

  createDeadLetter(id: string, record: DeadLetterRecord): Promise<'created' | 'exists'> {
    return this.link.send('deadletter', id, () => {
      this.db.usage.writes++;
      if (this.db.letters.has(id)) return 'exists';
      this.db.letters.set(id, { record, replayedAt: null, replayLeaseId: null, replayCount: 0 });
      return 'created';
    });
  }

  async transactReplay<T>(
    letterId: string,
    decide: (letter: LetterView | null, subject: Subject | null, now: number) => ReplayDecision<T>,
  ): Promise<T> {
    return this.link.send('deadletter', letterId, () => {
      const letter = this.db.letters.get(letterId);
      const view: LetterView | null =
        letter === undefined
          ? null
          : {
              scheduleId: letter.record.scheduleId,
              dueAt: letter.record.dueAt,
              lane: letter.record.lane,
            };
      const document = view?.scheduleId ? this.db.documents.get(view.scheduleId) : undefined;
      this.db.usage.reads += document === undefined ? 1 : 2;
      const decided = decide(view, document ? this.stored(document) : null, this.db.clock());
      if (decided.schedule !== null && document !== undefined) {
        this.applyPatch(document.id, decided.schedule);
      }
      if (decided.letter !== null && letter !== undefined) {
        this.db.usage.writes++;
        if (decided.letter.kind === 'replayed') {
          letter.replayedAt = decided.letter.at;
          letter.replayLeaseId = decided.letter.leaseId;
          letter.replayCount++;
        } else {
          letter.replayedAt = null;
          letter.replayLeaseId = null;
          letter.replayCount--;
        }
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
    return this.link.send('deadletter', request.letterId, () => {
      const document = this.db.documents.get(request.scheduleId);
      this.db.usage.reads += 2;
      const { outcome, patch } = unclaimReplay(document ? this.stored(document) : null, request);
      if (patch !== null) this.applyPatch(request.scheduleId, patch);
      const letter = this.db.letters.get(request.letterId);
      if (outcome !== 'started' && letter?.replayLeaseId === request.leaseId) {
        this.db.usage.writes++;
        letter.replayedAt = null;
        letter.replayLeaseId = null;
        letter.replayCount--;
      }
      return outcome;
    });
  }

  // -------------------------------------------------------------------------------------------
  // The planner's own documents.

  async transactPlannerLease<T>(
    decide: (
      state: PlannerLeaseState,
      now: number,
    ) => { outcome: T; write: PlannerLeaseWrite | null },
  ): Promise<T> {
    return (await this.decidePlannerLease(decide)).outcome;
  }

  decidePlannerLease<T>(
    decide: (
      state: PlannerLeaseState,
      now: number,
    ) => { outcome: T; write: PlannerLeaseWrite | null },
  ): Promise<{ outcome: T; written: PlannerLeaseWritten | null }> {
    return this.link.send('planner', null, () => {
      this.db.usage.reads++;
      const now = this.db.clock();
      const { outcome, write } = decide(this.plannerLease(), now);
      return { outcome, written: write === null ? null : this.writePlannerLease(write, now) };
    });
  }

  async writePlannerLeaseIfUnchanged(
    version: Version,
    write: PlannerLeaseWrite,
  ): Promise<PlannerLeaseConditionalOutcome> {
    try {
      return await this.link.send('planner', null, () => {
        const current = this.db.leaseVersions?.get(plannerLeaseDoc(this.shard));
        if (current !== versionNumber(version)) return { kind: 'conflict' as const };
        return {
          kind: 'written' as const,
          written: this.writePlannerLease(write, this.db.clock()),
        };
      });
    } catch (error) {
      return { kind: 'failed', error };
    }
  }

  /** This shard's planner lease document, as stored (a copy). */
  private plannerLease(): PlannerLeaseState {
    const current =
      this.shard.count > 1 ? this.db.shardLeases?.get(this.shard.index) : this.db.plannerLease;
    return { ...(current ?? { leaseId: null, holder: null, until: null }) };
  }

  /** Writes this shard's planner lease document (billed), under a new version. */
  private writePlannerLease(write: PlannerLeaseWrite, at: number): PlannerLeaseWritten {
    this.db.usage.writes++;
    const state = { leaseId: write.leaseId, holder: write.holder, until: write.until };
    if (this.shard.count > 1) {
      (this.db.shardLeases ??= new Map()).set(this.shard.index, state);
    } else {
      this.db.plannerLease = state;
    }
    const versions = (this.db.leaseVersions ??= new Map<string, number>());
    const version = (versions.get(plannerLeaseDoc(this.shard)) ?? 0) + 1;
    versions.set(plannerLeaseDoc(this.shard), version);
    return { state: { ...state }, version: memoryVersion(version), at };
  }

  readRecentSummaries<T>(): Promise<T[]> {
    return this.link.send('stats', null, () => {
      this.db.usage.reads++;
      if (this.shard.index > 0) {
        return [...(this.db.shardSummaries?.get(this.shard.index) ?? [])] as T[];
      }
      return [...this.db.summaries] as T[];
    });
  }

  writeRecentSummaries(summaries: readonly object[]): Promise<void> {
    return this.link.send('stats', null, () => {
      this.db.usage.writes++;
      if (this.shard.index > 0) {
        (this.db.shardSummaries ??= new Map()).set(this.shard.index, [...summaries]);
        return;
      }
      this.db.summaries = [...summaries];
    });
  }

  readLiveConfig(): Promise<Record<string, unknown>> {
    return this.link.send('config', null, () => {
      this.db.usage.reads++;
      return { ...this.db.liveConfig };
    });
  }

  // -------------------------------------------------------------------------------------------

  private stored(document: MemoryDocument): StoredSchedule {
    return {
      id: document.id,
      data: document.data,
      state: document.state,
      validation: validationOf(document.id, document.data, this.db.validation),
      version: memoryVersion(document.version),
    };
  }

  /**
   * Writes a patch to pacer's document of `id`; with `reconciled` (reconciling), the document
   * takes its operator fields as its spec copy, and is created from its state if it is missing.
   */
  private applyPatch(
    id: string,
    patch: Patch,
    decidedAt?: number,
    reconciled?: Subject,
  ): MemoryDocument {
    const document = this.db.documents.get(id);
    const base = reconciled ?? document;
    if (base === undefined) throw new Error(`no schedule ${id} to write`);
    const written = this.store(id, base.data, applyPatch(base.state, patch), patch, decidedAt);
    if (patch.run !== undefined) {
      this.db.usage.writes++;
      let runs = this.db.runs.get(id);
      if (runs === undefined) {
        runs = new Map();
        this.db.runs.set(id, runs);
      }
      const record: Record<string, unknown> = {
        ...(runs.get(patch.run.leaseId) ?? {}),
        ...patch.run.fields,
      };
      if (patch.run.appendError !== undefined) {
        const errors = Array.isArray(record.errors) ? (record.errors as unknown[]) : [];
        record.errors = [...errors, patch.run.appendError];
      }
      runs.set(patch.run.leaseId, record);
    }
    return written;
  }

  /** Deletes pacer's document of `id` (its operator's document is gone). */
  private deleteDocument(id: string, decidedAt: number): void {
    const before = this.db.documents.get(id);
    if (before === undefined) return;
    this.db.documents.delete(id);
    this.db.generation++;
    this.db.usage.writes++;
    for (const listener of this.db.listeners) {
      listener({
        id,
        before: before.state,
        after: null,
        data: null,
        patch: null,
        cause: 'protocol',
        at: this.db.clock(),
        decidedAt,
      });
    }
  }

  /** Stores pacer's document; `patch` is the protocol's, `null` for a test's fixture. */
  private store(
    id: string,
    data: Readonly<Record<string, unknown>>,
    state: ScheduleState,
    patch: Patch | null,
    decidedAt = this.db.clock(),
  ): MemoryDocument {
    const before = this.db.documents.get(id)?.state ?? null;
    const document: MemoryDocument = { id, data, state, version: this.db.nextVersion++ };
    this.db.documents.set(id, document);
    this.db.generation++;
    this.db.usage.writes++;
    for (const listener of this.db.listeners) {
      listener({
        id,
        before,
        after: state,
        data,
        patch,
        cause: 'protocol',
        at: this.db.clock(),
        decidedAt,
      });
    }
    return document;
  }

  /** The documents of `documents` this store's shard serves. */
  private inShard(documents: MemoryDocument[]): MemoryDocument[] {
    if (this.shard.count <= 1) return documents;
    return documents.filter((document) => servesStored(this.shard, document.state.shard));
  }

  private inFlightInShard(scan: Scan, lane: Lane): number {
    if (this.shard.count <= 1) return scan.inFlight[lane];
    let count = 0;
    for (const [stored, counts] of scan.inFlightByShard) {
      if (servesStored(this.shard, stored)) count += counts[lane];
    }
    return count;
  }

  private counted(count: number, meter: ReadMeter): number {
    meter.aggregation(count);
    this.db.usage.reads += Math.max(1, Math.ceil(count / 1_000));
    return count;
  }

  /**
   * Due and in-flight documents per lane at `now`: one pass over the collection, shared by
   * every count and due query at the same moment until the next write.
   */
  private scanAt(now: number): Scan {
    if (this.db.scan?.generation === this.db.generation && this.db.scan.now === now) {
      return this.db.scan.result;
    }
    const result: Scan = {
      due: { high: [], medium: [], low: [] },
      inFlight: { high: 0, medium: 0, low: 0 },
      inFlightByShard: new Map(),
    };
    for (const document of this.db.documents.values()) {
      const { lane, nextDueAt } = document.state;
      if (lane === null) continue;
      if (liveLease(document.state, now) !== null) {
        result.inFlight[lane]++;
        const stored = document.state.shard;
        let counts = result.inFlightByShard.get(stored);
        if (counts === undefined) {
          counts = { high: 0, medium: 0, low: 0 };
          result.inFlightByShard.set(stored, counts);
        }
        counts[lane]++;
      }
      if (nextDueAt !== null && nextDueAt <= now) result.due[lane].push(document);
    }
    this.db.scan = { generation: this.db.generation, now, result };
    return result;
  }
}

interface Scan {
  due: Record<Lane, MemoryDocument[]>;
  inFlight: Record<Lane, number>;
  /** In-flight counts by stored shard (`undefined`: none stored). */
  inFlightByShard: Map<number | undefined, Record<Lane, number>>;
}

/** `data` without `field`. */
export function withoutField(
  data: Readonly<Record<string, unknown>>,
  field: string,
): Record<string, unknown> {
  return Object.fromEntries(Object.entries(data).filter(([key]) => key !== field));
}

function memoryVersion(version: number): Version {
  return { adapter: ADAPTER, token: version };
}

function versionNumber(version: Version): number {
  if (version.adapter !== ADAPTER) {
    throw new Error(`a ${version.adapter} version given to the memory store`);
  }
  return version.token as number;
}

function byEscalationThenId(a: MemoryDocument, b: MemoryDocument): number {
  return (
    (a.state.escalatesAt ?? 0) - (b.state.escalatesAt ?? 0) ||
    (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
  );
}

function byDueThenId(a: MemoryDocument, b: MemoryDocument): number {
  return (
    (a.state.nextDueAt ?? 0) - (b.state.nextDueAt ?? 0) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
  );
}

/**
 * The `k` smallest items in order, in O(n log k): a sort of thousands of due documents every
 * sub-tick would dominate a simulated overload day.
 */
export function smallest<T>(items: readonly T[], k: number, compare: (a: T, b: T) => number): T[] {
  if (k <= 0) return [];
  if (items.length <= k) return [...items].sort(compare);
  // A max-heap of the k smallest seen so far; its root is the largest of them.
  const heap: T[] = [];
  const siftUp = (index: number) => {
    let i = index;
    const item = heap[i] as T;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (compare(heap[parent] as T, item) >= 0) break;
      heap[i] = heap[parent] as T;
      i = parent;
    }
    heap[i] = item;
  };
  const siftDown = () => {
    let i = 0;
    const item = heap[0] as T;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const child =
        right < heap.length && compare(heap[right] as T, heap[left] as T) > 0 ? right : left;
      if (compare(heap[child] as T, item) <= 0) break;
      heap[i] = heap[child] as T;
      i = child;
    }
    heap[i] = item;
  };
  for (const item of items) {
    if (heap.length < k) {
      heap.push(item);
      siftUp(heap.length - 1);
    } else if (compare(item, heap[0] as T) < 0) {
      heap[0] = item;
      siftDown();
    }
  }
  return heap.sort(compare);
}
