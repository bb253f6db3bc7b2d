/**
 * The planner's own lease, `pacer/planner`: at most one tick plans at a time. A second
 * invocation (Cloud Scheduler retrying, two regions, a manual run) finds it held and returns.
 */
import type { Firestore } from '@google-cloud/firestore';
import { millis, PLANNER_DOC, timestamp } from './state.js';

export type PlannerLeaseOutcome =
  { kind: 'acquired' } | { kind: 'busy'; holder: string; until: number };

/** Takes the planner lease until `until`, unless another holder has it and it has not lapsed. */
export async function acquirePlannerLease(
  db: Firestore,
  request: { leaseId: string; holder: string; now: number; until: number },
): Promise<PlannerLeaseOutcome> {
  const ref = db.doc(PLANNER_DOC);
  return db.runTransaction(async (transaction) => {
    const snapshot = await transaction.get(ref);
    const until = millis(snapshot.get('until'));
    const holder = snapshot.get('holder') as unknown;
    if (until !== null && until > request.now && snapshot.get('leaseId') !== request.leaseId) {
      return { kind: 'busy', holder: typeof holder === 'string' ? holder : 'unknown', until };
    }
    transaction.set(ref, {
      leaseId: request.leaseId,
      holder: request.holder,
      acquiredAt: timestamp(request.now),
      until: timestamp(request.until),
    });
    return { kind: 'acquired' };
  });
}

/** Extends the planner lease to `until`, if it is still ours (before each sub-tick). */
export async function renewPlannerLease(
  db: Firestore,
  request: { leaseId: string; until: number },
): Promise<'renewed' | 'lost'> {
  const ref = db.doc(PLANNER_DOC);
  return db.runTransaction(async (transaction) => {
    const snapshot = await transaction.get(ref);
    if (snapshot.get('leaseId') !== request.leaseId) return 'lost';
    transaction.update(ref, { until: timestamp(request.until) });
    return 'renewed';
  });
}

/** Gives the planner lease back, if it is still ours. */
export async function releasePlannerLease(
  db: Firestore,
  request: { leaseId: string; now: number },
): Promise<'released' | 'not_held'> {
  const ref = db.doc(PLANNER_DOC);
  return db.runTransaction(async (transaction) => {
    const snapshot = await transaction.get(ref);
    if (snapshot.get('leaseId') !== request.leaseId) return 'not_held';
    transaction.update(ref, { until: timestamp(request.now), releasedAt: timestamp(request.now) });
    return 'released';
  });
}
