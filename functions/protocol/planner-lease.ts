/**
 * The planner's own lease (`pacer/planner`) as pure decisions: at most one tick plans at a
 * time. A second invocation (Cloud Scheduler retrying, a manual run, a slow tick's successor)
 * finds it held and answers busy. Times are the store's.
 */

/** The lease document, as read. */
export interface PlannerLeaseState {
  leaseId: string | null;
  holder: string | null;
  until: number | null;
}

/** What to write to the lease document (`null`: nothing). */
export interface PlannerLeaseWrite {
  leaseId: string;
  holder: string;
  acquiredAt?: number;
  until: number;
  releasedAt?: number;
}

export type AcquireOutcome =
  { kind: 'acquired'; until: number } | { kind: 'busy'; holder: string; until: number };

/** Takes the lease for `forMs`, unless another holder has it and it has not lapsed. */
export function acquirePlanner(
  state: PlannerLeaseState,
  request: { leaseId: string; holder: string; forMs: number },
  now: number,
): { outcome: AcquireOutcome; write: PlannerLeaseWrite | null } {
  if (state.until !== null && state.until > now && state.leaseId !== request.leaseId) {
    return {
      outcome: { kind: 'busy', holder: state.holder ?? 'unknown', until: state.until },
      write: null,
    };
  }
  const until = now + request.forMs;
  return {
    outcome: { kind: 'acquired', until },
    write: { leaseId: request.leaseId, holder: request.holder, acquiredAt: now, until },
  };
}

/**
 * Extends the lease for `forMs`, if it is still ours and has not lapsed (a lapsed lease may
 * already be another planner's to take).
 */
export function renewPlanner(
  state: PlannerLeaseState,
  request: { leaseId: string; forMs: number },
  now: number,
): { outcome: 'renewed' | 'lost'; write: PlannerLeaseWrite | null } {
  if (state.leaseId !== request.leaseId || state.until === null || state.until <= now) {
    return { outcome: 'lost', write: null };
  }
  return {
    outcome: 'renewed',
    write: {
      leaseId: request.leaseId,
      holder: state.holder ?? 'unknown',
      until: now + request.forMs,
    },
  };
}

/** Gives the lease back, if it is still ours. */
export function releasePlanner(
  state: PlannerLeaseState,
  request: { leaseId: string },
  now: number,
): { outcome: 'released' | 'not_held'; write: PlannerLeaseWrite | null } {
  if (state.leaseId !== request.leaseId) return { outcome: 'not_held', write: null };
  return {
    outcome: 'released',
    write: {
      leaseId: request.leaseId,
      holder: state.holder ?? 'unknown',
      until: now,
      releasedAt: now,
    },
  };
}
