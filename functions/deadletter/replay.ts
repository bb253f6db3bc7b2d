/**
 * Replaying a dead letter: its schedule is claimed with a fresh lease and dispatched to its lane
 * again; the dead letter is marked replayed. A schedule that is in flight is left alone.
 */
import type { Firestore } from '@google-cloud/firestore';
import type { Bus } from '../bus/publisher.js';
import type { Lane, LaneThresholds } from '../schedule/lane.js';
import { iso } from '../schedule/time.js';
import { claimForReplay, revertReplay } from '../store/dead-letters.js';

export interface ReplayDeps {
  db: Firestore;
  bus: Bus;
  clock: () => number;
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
  const now = deps.clock();
  const leaseId = deps.newId();
  const claim = await claimForReplay(deps.db, {
    id,
    leaseId,
    now,
    until: now + deps.dispatchGraceMs,
    thresholds: deps.thresholds,
  });
  if (claim.kind !== 'claimed') return claim;
  const [published] = await deps.bus.publish([
    { v: 1, scheduleId: claim.scheduleId, leaseId, dueAt: iso(claim.dueAt), lane: claim.lane },
  ]);
  if (!published?.ok) {
    const reverted = await revertReplay(deps.db, {
      id,
      scheduleId: claim.scheduleId,
      leaseId,
      now,
      previous: claim.previous,
    });
    // The publish reported a failure, yet a worker has the message: it was sent.
    if (reverted === 'started') {
      return { kind: 'replayed', scheduleId: claim.scheduleId, leaseId, lane: claim.lane };
    }
    return {
      kind: 'publish_failed',
      error: String(published?.ok === false ? published.error : 'no outcome'),
    };
  }
  return { kind: 'replayed', scheduleId: claim.scheduleId, leaseId, lane: claim.lane };
}
