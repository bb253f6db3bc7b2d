/**
 * An optimistic decision on one schedule: a read, the decision at the read's store time, and a
 * write conditional on the version read — what a read-write transaction on one document gives,
 * without one (the slowest step on Firestore's emulator, and the one a completing worker can
 * skip altogether: it knows the version its own start wrote, see {@link Decided}). A write by
 * anyone in between is a conflict: read and decide again, a few times at most.
 */
import type { Subject } from '../protocol/decisions.js';
import { applyPatch, type Decision } from '../protocol/patch.js';
import type { ScheduleStore, Version } from './port.js';

/** How often a decision is read again after conflicting writes before it gives up. */
export const OPTIMISTIC_ATTEMPTS = 10;

/** What this process wrote: the schedule as it now is, at the version written. */
export interface Written {
  subject: Subject;
  version: Version;
  /** The store's time the write was decided at (its read's). */
  decidedAt: number;
}

export interface Decided<T> {
  outcome: T;
  /** `null` when nothing was written. */
  written: Written | null;
}

/** Writes kept meeting other writes: as a transaction's ABORTED after its retries. */
export class ConflictError extends Error {
  readonly code = 10; // gRPC ABORTED
  constructor(id: string) {
    super(`schedule ${id} kept changing under an optimistic decision`);
  }
}

export async function decideOptimistically<T>(
  store: ScheduleStore,
  id: string,
  decide: (subject: Subject | null, now: number) => Decision<T>,
): Promise<Decided<T>> {
  for (let attempt = 1; ; attempt++) {
    const { schedule, now } = await store.read(id);
    const { outcome, patch } = decide(schedule, now);
    if (patch === null || schedule === null) return { outcome, written: null };
    const result = await store.commitIfUnchanged(id, schedule.version, patch, now);
    if (result.kind === 'written') {
      const subject: Subject = {
        id: schedule.id,
        data: schedule.data,
        state: applyPatch(schedule.state, patch),
        validation: schedule.validation,
      };
      return {
        outcome,
        written: {
          subject,
          version: result.version,
          decidedAt: now,
        },
      };
    }
    if (result.kind === 'failed') throw result.error;
    if (attempt >= OPTIMISTIC_ATTEMPTS) throw new ConflictError(id);
  }
}
