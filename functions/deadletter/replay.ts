/**
 * Replaying a dead letter: its schedule is claimed with a replay lease and dispatched to its lane
 * again, and the dead letter is marked replayed, in one transaction at the store's time (never
 * the operator's clock). A schedule that is in flight is left alone. If the message cannot be
 * published, the claim is given back.
 */
import type { DispatchBus } from '../bus/port.js';
import { claimReplay } from '../protocol/decisions.js';
import type { Lane, LaneThresholds } from '../schedule/lane.js';
import { iso } from '../schedule/time.js';
import type { DeadLetterStore } from '../store/port.js';

export interface ReplayDeps {
  store: DeadLetterStore;
  bus: DispatchBus;
  newId: () => string;
  /** How long the replayed message may wait for a worker (the dispatch grace). */
  dispatchGraceMs: number;
  thresholds: LaneThresholds;
}

export type ReplayOutcome =
  | { kind: 'replayed'; scheduleId: string; leaseId: string; lane: Lane }
  | { kind: 'not_found' }
  | { kind: 'not_replayable'; reason: string }
  | { kind: 'schedule_missing'; scheduleId: string }
  | { kind: 'in_flight'; leaseId: string }
  | { kind: 'publish_failed'; error: string };

export async function replayDeadLetter(deps: ReplayDeps, id: string): Promise<ReplayOutcome> {
  const leaseId = deps.newId();
  const claim = await deps.store.transactReplay(id, (letter, subject, now) => {
    const { outcome, patch } = claimReplay(
      letter,
      subject,
      { leaseId, graceMs: deps.dispatchGraceMs, thresholds: deps.thresholds },
      now,
    );
    return {
      outcome,
      schedule: patch,
      letter: outcome.kind === 'claimed' ? { kind: 'replayed', leaseId, at: now } : null,
    };
  });
  if (claim.kind !== 'claimed') return claim;
  const [published] = await deps.bus.publish([
    { v: 1, scheduleId: claim.scheduleId, leaseId, dueAt: iso(claim.dueAt), lane: claim.lane },
  ]);
  const replayed = {
    kind: 'replayed' as const,
    scheduleId: claim.scheduleId,
    leaseId,
    lane: claim.lane,
  };
  if (published?.ok) return replayed;
  const reverted = await deps.store.revertReplay({
    letterId: id,
    scheduleId: claim.scheduleId,
    leaseId,
    previous: claim.previous,
  });
  // The publish reported a failure, yet a worker has the message: it was sent.
  if (reverted === 'started') return replayed;
  return {
    kind: 'publish_failed',
    error: String(published?.ok === false ? published.error : 'no outcome'),
  };
}
