/**
 * Where pacer keeps things in Firestore, and how the `state` map (functions/protocol/state.ts)
 * is stored there: times as Timestamps, read back as milliseconds, a patch written as one
 * update of `state.*` fields (and its run record in the same write).
 */
import {
  FieldValue,
  Timestamp,
  type DocumentData,
  type DocumentReference,
  type SetOptions,
} from '@google-cloud/firestore';
import type { Patch, RunFields } from '../protocol/patch.js';
import { isLane } from '../schedule/lane.js';
import {
  HEALTHS,
  isStatus,
  LEASE_KINDS,
  type Health,
  type LastError,
  type Lease,
  type Pause,
  type ScheduleState,
} from '../protocol/state.js';

export const SCHEDULES = 'schedules';
/**
 * pacer's own document of a schedule, `scheduleStates/{id}`: `{ spec, state }`, the operator's
 * fields as last reconciled (`spec`) and the `state` map. pacer never writes `schedules/{id}`
 * (whose writes fire the reconciler's trigger); only reconciling reads it.
 */
export const SCHEDULE_STATES = 'scheduleStates';
/** The state document's copy of the operator's fields, as last reconciled. */
export const SPEC_FIELD = 'spec';
export const RUNS = 'runs';
/** A schedule's backfills: `schedules/{id}/backfills/{backfillId}`. */
export const BACKFILLS = 'backfills';
export const DEAD_LETTERS = 'deadLetters';
export const CONFIG_DOC = 'pacer/config';
export const PLANNER_DOC = 'pacer/planner';
export const STATS_DOC = 'pacer/stats';

/** The TTL field on run history. */
export const RUN_EXPIRE_FIELD = 'expireAt';

/** Reads `state` from a schedule document, tolerating a missing or partial map. */
export function readState(data: DocumentData | undefined): ScheduleState {
  const state: Record<string, unknown> = isRecord(data?.state) ? data.state : {};
  const dueAt = planTime(state.dueAt);
  return {
    status: isStatus(state.status) ? state.status : null,
    lane: isLane(state.lane) ? state.lane : null,
    nextDueAt: planTime(state.nextDueAt),
    dueAt,
    escalatesAt: planTime(state.escalatesAt),
    lease: readLease(state.lease, dueAt),
    lastRunAt: planTime(state.lastRunAt),
    lastSuccessAt: planTime(state.lastSuccessAt),
    lastDurationMs: typeof state.lastDurationMs === 'number' ? state.lastDurationMs : null,
    lastError: readLastError(state.lastError),
    consecutiveFailures: count(state.consecutiveFailures),
    runCount: count(state.runCount),
    lastLeaseId: typeof state.lastLeaseId === 'string' ? state.lastLeaseId : null,
    lastSkippedDueAt: planTime(state.lastSkippedDueAt),
    skippedCount: count(state.skippedCount),
    unrecordedFrom: planTime(state.unrecordedFrom),
    unrecordedUntil: planTime(state.unrecordedUntil),
    specHash: typeof state.specHash === 'string' ? state.specHash : null,
    error: typeof state.error === 'string' ? state.error : null,
    health: HEALTHS.includes(state.health as Health) ? (state.health as Health) : null,
    consecutiveDeadLetters: count(state.consecutiveDeadLetters),
    pause: readPause(state.pause),
    ...(Number.isInteger(state.shard) ? { shard: state.shard as number } : {}),
  };
}

/** The `state.*` fields (and run record) a patch writes, as Firestore values. */
export function stateUpdate(patch: Patch): DocumentData {
  const update: DocumentData = {};
  for (const [key, value] of Object.entries(patch.state) as [keyof ScheduleState, unknown][]) {
    update[`state.${key}`] = stateValue(key, value);
  }
  return update;
}

/** A (partial) state as the `state` map of a document, for writing it whole. */
export function stateFields(state: Partial<ScheduleState>): DocumentData {
  return Object.fromEntries(
    Object.entries(stateUpdate({ state })).map(([path, value]) => [
      path.slice('state.'.length),
      value,
    ]),
  );
}

/** Anything that writes documents together: a transaction or a batch. */
export interface PatchWriter {
  update(ref: DocumentReference, data: DocumentData): unknown;
  set(ref: DocumentReference, data: DocumentData, options: SetOptions): unknown;
}

/**
 * Writes a patch in a transaction (or batch): the state update of the state document `ref`
 * (`scheduleStates/{id}`), and the run record if any, which stays under the operator's document
 * (`schedules/{id}/runs/{leaseId}`: a subcollection write fires no trigger on `schedules/{id}`).
 */
export function writePatch(writer: PatchWriter, ref: DocumentReference, patch: Patch): void {
  if (Object.keys(patch.state).length > 0) writer.update(ref, stateUpdate(patch));
  if (patch.run) writer.set(runRef(ref, patch.run.leaseId), runData(patch.run), { merge: true });
}

/** The run record `schedules/{id}/runs/{leaseId}` of the schedule whose state is `ref`. */
export function runRef(ref: DocumentReference, leaseId: string): DocumentReference {
  return ref.firestore.collection(SCHEDULES).doc(ref.id).collection(RUNS).doc(leaseId);
}

/**
 * A state document (`{ spec, state }`) as one schedule document of today's shape: the spec
 * copy's fields and the `state` map, which is what a decision's subject holds.
 */
export function combinedOf(stateDocument: DocumentData | undefined): DocumentData {
  const spec: unknown = stateDocument?.[SPEC_FIELD];
  const state: unknown = stateDocument?.state;
  return { ...(isRecord(spec) ? spec : {}), state };
}

/** A run record's fields as Firestore values. */
export function runData(run: NonNullable<Patch['run']>): DocumentData {
  const data: DocumentData = {};
  for (const [key, value] of Object.entries(run.fields) as [keyof RunFields, unknown][]) {
    if (value === undefined) continue;
    data[key] = TIME_FIELDS.has(key) && typeof value === 'number' ? timestamp(value) : value;
  }
  const lastError = run.fields.lastError;
  if (lastError !== undefined && 'at' in lastError) {
    data.lastError = { ...lastError, at: timestamp(lastError.at) };
  }
  if (run.appendError) {
    data.errors = FieldValue.arrayUnion({
      ...run.appendError,
      at: timestamp(run.appendError.at),
    });
  }
  return data;
}

const TIME_FIELDS = new Set<string>([
  'dueAt',
  'firstStartedAt',
  'lastStartedAt',
  'finishedAt',
  'expireAt',
]);

function stateValue(key: keyof ScheduleState, value: unknown): unknown {
  switch (key) {
    case 'nextDueAt':
    case 'dueAt':
    case 'escalatesAt':
    case 'lastRunAt':
    case 'lastSuccessAt':
    case 'lastSkippedDueAt':
    case 'unrecordedFrom':
    case 'unrecordedUntil':
      return timestamp(value as number | null);
    case 'lease':
      return value === null ? null : leaseData(value as Lease);
    case 'pause': {
      const pause = value as Pause | null;
      return pause === null ? null : { ...pause, at: timestamp(pause.at) };
    }
    case 'lastError': {
      const error = value as LastError | null;
      return error === null ? null : { ...error, at: timestamp(error.at) };
    }
    default:
      return value;
  }
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
    const ms = (value.toMillis as () => unknown)();
    return typeof ms === 'number' && Number.isFinite(ms) ? ms : null;
  }
  return null;
}

/**
 * The times pacer's own state can hold: what it computes from schedules (years 2000 to 2099)
 * plus every interval, lease and backoff it adds. A time outside them was not written by pacer
 * (a hand edited the state, or something else did): it is read as absent, so that no decision
 * computes from it a time Firestore cannot store.
 */
const STATE_EARLIEST_MS = Date.parse('1970-01-01T00:00:00Z');
const STATE_LATEST_MS = Date.parse('2200-01-01T00:00:00Z');

/** A time of pacer's state, or `null` when it is not one (see {@link STATE_EARLIEST_MS}). */
function planTime(value: unknown): number | null {
  const ms = millis(value);
  return ms !== null && ms >= STATE_EARLIEST_MS && ms < STATE_LATEST_MS ? ms : null;
}

/** The lease as written to Firestore. */
export function leaseData(lease: Lease): DocumentData {
  return {
    id: lease.id,
    kind: lease.kind,
    until: timestamp(lease.until),
    attempt: lease.attempt,
    dispatchedAt: timestamp(lease.dispatchedAt),
    startedAt: timestamp(lease.startedAt),
    running: lease.running,
    attemptId: lease.attemptId,
    dueAt: timestamp(lease.dueAt),
    owedSince: timestamp(lease.owedSince),
    ...(lease.renewedAt === undefined ? {} : { renewedAt: timestamp(lease.renewedAt) }),
    ...(lease.recorded === undefined ? {} : { recorded: lease.recorded }),
  };
}

/**
 * A lease as stored; `null` when it is unreadable. Leases written before `dueAt` and
 * `owedSince` were kept in the lease served `state.dueAt`.
 */
function readLease(value: unknown, stateDueAt: number | null): Lease | null {
  if (!isRecord(value) || typeof value.id !== 'string') return null;
  const until = planTime(value.until);
  if (until === null) return null;
  const dispatchedAt = planTime(value.dispatchedAt) ?? until;
  const dueAt = planTime(value.dueAt) ?? stateDueAt ?? dispatchedAt;
  const renewedAt = planTime(value.renewedAt);
  return {
    id: value.id,
    kind: LEASE_KINDS.find((kind) => kind === value.kind) ?? 'planned',
    until,
    attempt: count(value.attempt),
    dispatchedAt,
    startedAt: planTime(value.startedAt),
    running: value.running === true,
    attemptId: typeof value.attemptId === 'string' ? value.attemptId : null,
    dueAt,
    owedSince: planTime(value.owedSince) ?? planTime(value.resumeAt) ?? dueAt,
    ...(renewedAt === null ? {} : { renewedAt }),
    ...(value.recorded === false ? { recorded: false } : {}),
  };
}

/** A pause note as stored; `null` when there is none or it is unreadable. */
function readPause(value: unknown): Pause | null {
  if (!isRecord(value)) return null;
  const at = planTime(value.at);
  if (at === null || (value.cause !== 'operator' && value.cause !== 'failures')) return null;
  return {
    cause: value.cause,
    by: typeof value.by === 'string' ? value.by : 'unknown',
    at,
    reason: typeof value.reason === 'string' ? value.reason : null,
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

function count(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : 0;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
