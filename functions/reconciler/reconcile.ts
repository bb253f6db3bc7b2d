/**
 * Reconciling a schedule: from what the operator wrote to the `state` pacer plans with. The
 * decision is `reconcile` in functions/protocol/decisions.ts; this applies it to one schedule in
 * one transaction, at the store's time. The same function serves the Firestore trigger, the CLI
 * and `reconcile --all`.
 */
import { reconcile, type ReconcileOutcome } from '../protocol/decisions.js';
import type { LaneThresholds } from '../schedule/lane.js';
import type { ScheduleStore } from '../store/port.js';

export type { ReconcileOutcome };

export interface ReconcileOptions {
  thresholds: LaneThresholds;
}

/** Reconciles `schedules/{id}` in one transaction. */
export function reconcileSchedule(
  store: ScheduleStore,
  id: string,
  options: ReconcileOptions,
): Promise<ReconcileOutcome> {
  return store.transact(id, (subject, now) => reconcile(subject, now, options.thresholds));
}
