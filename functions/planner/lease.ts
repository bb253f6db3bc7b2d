/**
 * The planner lease as one tick holds it. The take reads the lease document and decides
 * (functions/protocol/planner-lease.ts); the renewals and the release that follow decide on what
 * this planner itself last wrote, and write conditional on that write's version, reading nothing.
 * If anyone else wrote the document since (another planner took the lease after it lapsed), the
 * conditional write is a conflict and writes nothing, and the step is decided again on the
 * document as read — exactly the decision it would have been without the shortcut, so a lease
 * this planner no longer holds is never extended.
 *
 * The decisions need the store's time. Without a read, it is the store's time of the last write
 * plus the time this process measured since on its monotonic clock (as a worker's completion
 * does, see
 * functions/worker/deliver.ts), bounded on the side that keeps the decision safe: a renewal takes
 * the latest the store's time can be (measured from before the last call began), so it never
 * believes a lease holds that the store would find lapsed — when it might have lapsed, the store
 * decides; a release takes the earliest (measured from after the last call returned), so the
 * released lease never ends later than the release.
 */
import type { Clock } from '../clock.js';
import {
  acquirePlanner,
  releasePlanner,
  renewPlanner,
  type AcquireOutcome,
  type PlannerLeaseState,
  type PlannerLeaseWrite,
} from '../protocol/planner-lease.js';
import type { PlannerLeaseWritten, PlannerStore } from '../store/port.js';

/**
 * What this planner last wrote to the lease document, and when by its own monotonic clock
 * (`Clock.monotonic`: the wall clock may be set back or forward mid-tick, and a step would
 * break the bounds below; found in review).
 */
export interface HeldPlannerLease {
  readonly leaseId: string;
  /** `null` once a decision wrote nothing: the next step reads the document. */
  written: PlannerLeaseWritten | null;
  /** This process's monotonic clock just before the call that wrote it began… */
  sentAt: number;
  /** …and just after it returned. */
  answeredAt: number;
}

/**
 * How far this process's clock may run from the store's while it measures, as a share of the
 * time measured: real clocks are off by parts per million; a thousandth covers them with room.
 */
const RATE_ERROR = 0.001;

type LeaseStep<T> = (
  state: PlannerLeaseState,
  now: number,
) => { outcome: T; write: PlannerLeaseWrite | null };

/** Takes the lease for `forMs` (a read and a write), unless another holder has it. */
export async function takePlannerLease(
  store: PlannerStore,
  clock: Clock,
  request: { leaseId: string; holder: string; forMs: number },
): Promise<{ outcome: AcquireOutcome; held: HeldPlannerLease }> {
  const held: HeldPlannerLease = {
    leaseId: request.leaseId,
    written: null,
    sentAt: 0,
    answeredAt: 0,
  };
  const outcome = await decideOnRead(store, clock, held, (state, now) =>
    acquirePlanner(state, request, now),
  );
  return { outcome, held };
}

/** Extends the lease for `forMs` if this planner still holds it; `lost` otherwise. */
export function renewPlannerLease(
  store: PlannerStore,
  clock: Clock,
  held: HeldPlannerLease,
  forMs: number,
): Promise<'renewed' | 'lost'> {
  const step: LeaseStep<'renewed' | 'lost'> = (state, now) =>
    renewPlanner(state, { leaseId: held.leaseId, forMs }, now);
  const written = held.written;
  const elapsed = clock.monotonic() - held.sentAt;
  // A clock that went back cannot bound the store's time: read.
  if (written === null || elapsed < 0) return decideOnRead(store, clock, held, step);
  // The latest the store's time can be now.
  return decideOnOwnWrite(
    store,
    clock,
    held,
    written,
    written.at + Math.ceil(elapsed * (1 + RATE_ERROR)),
    step,
  );
}

/** Gives the lease back if this planner still holds it. */
export function releasePlannerLease(
  store: PlannerStore,
  clock: Clock,
  held: HeldPlannerLease,
): Promise<'released' | 'not_held'> {
  const step: LeaseStep<'released' | 'not_held'> = (state, now) =>
    releasePlanner(state, { leaseId: held.leaseId }, now);
  const written = held.written;
  if (written === null) return decideOnRead(store, clock, held, step);
  // The earliest the store's time can be now (never before the write itself).
  const earliest =
    written.at + Math.floor(Math.max(0, clock.monotonic() - held.answeredAt) * (1 - RATE_ERROR));
  return decideOnOwnWrite(store, clock, held, written, earliest, step);
}

/**
 * Decides on the lease as this planner wrote it, at `now`, and writes conditional on that
 * write; decides on the document as read instead when the decision would write nothing (the
 * lease may have lapsed) or the write did not land (someone wrote since, or the store failed).
 */
async function decideOnOwnWrite<T>(
  store: PlannerStore,
  clock: Clock,
  held: HeldPlannerLease,
  written: PlannerLeaseWritten,
  now: number,
  step: LeaseStep<T>,
): Promise<T> {
  const { outcome, write } = step({ ...written.state }, now);
  if (write !== null) {
    const sentAt = clock.monotonic();
    const result = await store.writePlannerLeaseIfUnchanged(written.version, write);
    if (result.kind === 'written') {
      Object.assign(held, { written: result.written, sentAt, answeredAt: clock.monotonic() });
      return outcome;
    }
  }
  return decideOnRead(store, clock, held, step);
}

/** Reads the lease document and decides on it, at the store's time of the read. */
async function decideOnRead<T>(
  store: PlannerStore,
  clock: Clock,
  held: HeldPlannerLease,
  step: LeaseStep<T>,
): Promise<T> {
  const sentAt = clock.monotonic();
  const { outcome, written } = await store.decidePlannerLease(step);
  Object.assign(held, { written, sentAt, answeredAt: clock.monotonic() });
  return outcome;
}
