/**
 * Reconciling a schedule: from what the operator wrote to the `state` pacer plans with.
 *
 * - New or changed operator fields (their hash differs from `state.specHash`): validated; a
 *   valid, enabled schedule gets its lane and `nextDueAt` (a new one is due at once, a cron one
 *   at its next occurrence; a changed one per its new cadence from the last due point served);
 *   a schedule in flight keeps its lease and `nextDueAt`, and its worker computes the next due
 *   time under the new cadence when it completes.
 * - `enabled: false` → `status: paused`, no `nextDueAt`.
 * - Invalid → `status: invalid`, the exact reason in `state.error`, no `nextDueAt`. Fixing the
 *   document makes it active again.
 * - Unchanged and consistent → nothing is written. This is what stops the loop: the reconciler's
 *   own `state` write triggers it again, finds the hash equal, and writes nothing.
 *
 * One transaction per schedule; the same function serves the Firestore trigger, the CLI and
 * `reconcile --all`.
 */
import { createHash } from 'node:crypto';
import type { DocumentData, Firestore } from '@google-cloud/firestore';
import type { LaneThresholds } from '../schedule/lane.js';
import { STATE_FIELD, validateSchedule } from '../schedule/spec.js';
import { isTimestampLike } from '../schedule/time.js';
import { ownProgress, readState, SCHEDULES, type ScheduleState } from '../store/state.js';
import { ahead, aheadChanges, invalidChanges } from '../store/transitions.js';

export type ReconcileOutcome =
  | { kind: 'missing' }
  | { kind: 'unchanged'; status: string | null }
  | { kind: 'invalid'; problems: string[] }
  | { kind: 'paused' }
  | { kind: 'finished' }
  | { kind: 'scheduled'; nextDueAt: number; lane: string }
  /** The spec changed while a lease is live: the run in flight goes on untouched. */
  | { kind: 'in_flight'; leaseId: string };

export interface ReconcileOptions {
  now: number;
  thresholds: LaneThresholds;
}

/** Reconciles `schedules/{id}` in one transaction. */
export async function reconcileSchedule(
  db: Firestore,
  id: string,
  options: ReconcileOptions,
): Promise<ReconcileOutcome> {
  const ref = db.collection(SCHEDULES).doc(id);
  return db.runTransaction(async (transaction) => {
    const snapshot = await transaction.get(ref);
    if (!snapshot.exists) return { kind: 'missing' };
    const decision = decide(snapshot.data() ?? {}, options);
    if (decision.changes !== null) transaction.update(ref, decision.changes);
    return decision.outcome;
  });
}

/**
 * What reconciling a schedule document means, without I/O: the outcome and the `state` fields
 * to write (`null`: nothing to write).
 */
export function decide(
  data: DocumentData,
  options: ReconcileOptions,
): { outcome: ReconcileOutcome; changes: DocumentData | null } {
  const state = readState(data);
  const hash = specHash(data);
  const changed = state.specHash !== hash;
  const validation = validateSchedule(data);

  if (!validation.ok) {
    const error = validation.problems.join('; ');
    if (
      !changed &&
      state.status === 'invalid' &&
      state.error === error &&
      state.nextDueAt === null
    ) {
      return { outcome: { kind: 'unchanged', status: 'invalid' }, changes: null };
    }
    return {
      outcome: { kind: 'invalid', problems: validation.problems },
      changes: { ...invalidChanges(validation.problems), 'state.specHash': hash },
    };
  }

  const spec = validation.spec;
  const live = state.lease !== null && state.lease.until > options.now;
  if (!changed && consistent(state, spec.enabled, live)) {
    return { outcome: { kind: 'unchanged', status: state.status }, changes: null };
  }
  if (spec.enabled && live && state.lease !== null) {
    // Leave the lease and nextDueAt alone: the worker completes under the new spec.
    return {
      outcome: { kind: 'in_flight', leaseId: state.lease.id },
      changes: { 'state.status': 'active', 'state.error': null, 'state.specHash': hash },
    };
  }

  // The last due point served (kept after a run) anchors a changed cadence; none: a new one.
  // Not a lapsed replay's point: the schedule's own, from before the replay.
  const ownDueAt = ownProgress(state).dueAt;
  const served = ownDueAt !== null && state.runCount > 0 ? ownDueAt : null;
  const next = ahead(spec, served, options.now, options.thresholds);
  const changes = {
    ...aheadChanges(next),
    'state.error': null,
    'state.specHash': hash,
  };
  switch (next.status) {
    case 'paused':
      return { outcome: { kind: 'paused' }, changes };
    case 'finished':
      return { outcome: { kind: 'finished' }, changes: { ...changes, 'state.lease': null } };
    case 'active':
      return {
        outcome: { kind: 'scheduled', nextDueAt: next.nextDueAt, lane: next.lane },
        changes: {
          ...changes,
          'state.lease': null,
          ...(state.health === null ? { 'state.health': 'ok' } : {}),
        },
      };
  }
}

/**
 * Whether the state already says what the spec means: paused when disabled; otherwise active
 * and planned (due or in flight), or finished.
 */
function consistent(state: ScheduleState, enabled: boolean, live: boolean): boolean {
  if (!enabled) return state.status === 'paused' && state.nextDueAt === null;
  if (state.status === 'active') return state.nextDueAt !== null || live;
  return state.status === 'finished' && state.nextDueAt === null;
}

/**
 * A hash of the operator-written fields (everything but `state`), independent of key order and
 * of how a time was written (Timestamp or Date).
 */
export function specHash(data: DocumentData): string {
  const operatorFields = Object.fromEntries(
    Object.entries(data).filter(([key]) => key !== STATE_FIELD),
  );
  return createHash('sha256').update(canonicalJson(operatorFields)).digest('hex').slice(0, 32);
}

function canonicalJson(value: unknown): string {
  if (isTimestampLike(value)) return JSON.stringify({ $time: value.toMillis() });
  if (value instanceof Date) return JSON.stringify({ $time: value.getTime() });
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  // undefined for values JSON cannot hold (functions): those hash as null
  const text = JSON.stringify(value) as string | undefined;
  return text ?? 'null';
}
