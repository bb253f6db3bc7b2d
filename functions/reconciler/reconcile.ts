/**
 * Reconciling a schedule: from what the operator wrote to the `state` pacer plans with. The
 * decision is `reconcile` in functions/protocol/decisions.ts; this applies it to one schedule in
 * one transaction, at the store's time. The same function serves the Firestore trigger, the CLI
 * and `reconcile --all`.
 *
 * It never fails on a document's content: a document that cannot be reconciled or written is
 * marked invalid with the reason; only a failing store (which a retry may cure) makes it throw.
 */
import { errorMessage, isContentError } from '../errors.js';
import {
  problemText,
  reconcile,
  type ReconcileOutcome,
  type Subject,
} from '../protocol/decisions.js';
import { liveLease, type Lease } from '../protocol/state.js';
import type { LaneThresholds } from '../schedule/lane.js';
import { withShard } from '../schedule/shard.js';
import type { ScheduleStore } from '../store/port.js';

export type { ReconcileOutcome };

export interface ReconcileOptions {
  thresholds: LaneThresholds;
  /** `PACER_SHARDS`: with more than one, the schedule's `state.shard` is kept up to date. */
  shards?: number;
}

/** Reconciles `schedules/{id}` into pacer's `scheduleStates/{id}`, in one transaction. */
export async function reconcileSchedule(
  store: ScheduleStore,
  id: string,
  options: ReconcileOptions,
): Promise<ReconcileOutcome> {
  try {
    return await store.transactReconcile(id, (subject, now) => {
      try {
        return withShard(reconcile(subject, now, options.thresholds), subject, options.shards ?? 1);
      } catch (error) {
        return unreconcilable(`cannot be reconciled (${errorMessage(error)})`, subject, now);
      }
    });
  } catch (error) {
    if (!isContentError(error)) throw error;
    // The write itself was refused for what it held: say so in a state that surely fits.
    return store.transactReconcile(id, (subject, now) =>
      subject === null
        ? reconcile(null, now, options.thresholds)
        : unreconcilable(`cannot be written (${errorMessage(error)})`, subject, now),
    );
  }
}

/**
 * Marks the schedule invalid with `reason`. A live lease is kept (its worker finds the schedule
 * invalid and calls nothing more), so that `nextDueAt` stays at its end as the protocol wants.
 */
function unreconcilable(reason: string, subject: Subject | null, now: number) {
  const problems = [`(document): ${reason}`];
  let live: Lease | null;
  try {
    live = subject === null ? null : liveLease(subject.state, now);
  } catch {
    live = null;
  }
  return {
    outcome: { kind: 'invalid' as const, status: 'invalid' as const, problems },
    patch: {
      state: {
        status: 'invalid' as const,
        error: problemText(problems),
        escalatesAt: null,
        ...(live === null ? { nextDueAt: null, lease: null } : { nextDueAt: live.until }),
      },
    },
  };
}
