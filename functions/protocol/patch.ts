/**
 * What a decision asks the store to write, as plain data: the `state` fields to set (absolute
 * values: a decision has read the state it changes, in the same transaction or under a
 * precondition on its version) and, optionally, the run record `schedules/{id}/runs/{leaseId}`
 * to create or merge into. One adapter applies a patch as one write.
 */
import type { Lane } from '../schedule/lane.js';
import type { LastError, LeaseKind, ScheduleState } from './state.js';

export type RunStatus =
  | 'running'
  | 'retrying'
  | 'succeeded'
  | 'dead_lettered'
  | 'abandoned'
  /** A target's `Retry-After`: the attempt was given back, the schedule held until then. */
  | 'rate_limited';

/** Fields of a run record; times in ms. Merged into what is there. */
export interface RunFields {
  scheduleId?: string;
  leaseId?: string;
  kind?: LeaseKind;
  lane?: Lane | null;
  dueAt?: number;
  status?: RunStatus;
  attempt?: number;
  firstStartedAt?: number;
  lastStartedAt?: number;
  finishedAt?: number;
  durationMs?: number;
  lateMs?: number;
  reason?: string;
  lastError?: LastError | { code: string; message: string };
  detail?: Record<string, unknown>;
  /** When Firestore's TTL policy deletes the record. */
  expireAt?: number;
}

export interface RunPatch {
  leaseId: string;
  fields: RunFields;
  /** Appended to the record's `errors` list. */
  appendError?: { attempt: number; code: string; message: string; at: number };
}

export interface Patch {
  state: Partial<ScheduleState>;
  run?: RunPatch;
}

/** A decision: what it found (`outcome`) and what to write (`null`: nothing). */
export interface Decision<T> {
  outcome: T;
  patch: Patch | null;
}

/** The state after a patch (pure; the in-memory store and the tests use it). */
export function applyPatch(state: ScheduleState, patch: Patch | null): ScheduleState {
  return patch === null ? state : { ...state, ...patch.state };
}
