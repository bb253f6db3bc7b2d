/**
 * What a syncer gets for one sync, and what it gives back.
 */
import type { Logger } from '../log.js';
import type { LeaseKind } from '../protocol/state.js';
import type { Lane } from '../schedule/lane.js';

export interface SyncContext {
  scheduleId: string;
  leaseId: string;
  /** The due point this sync serves (ms). */
  dueAt: number;
  /**
   * Why it runs: `planned` (its own cadence), `replay` (a dead letter sent again), `manual`
   * (`pacer schedules trigger`), `backfill` (`pacer schedules backfill`, serving `dueAt`).
   */
  kind?: LeaseKind;
  lane: Lane;
  /** 1 for the first delivery, counted in Firestore across redeliveries. */
  attempt: number;
  /** The schedule's `payload`, as the operator wrote it. */
  payload: Record<string, unknown>;
  /** Aborted when the run time is up or the lease is lost: stop work and throw. */
  signal: AbortSignal;
  logger: Logger;
}

/** Anything worth keeping in the run record (status code, counts); small. */
export type SyncResult = Record<string, unknown>;
