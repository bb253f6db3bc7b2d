/**
 * A planner lease on the in-memory store, with the store's time and the planner's clock set by
 * hand: the wall clock `offset` off the store's (5 s unless a test moves it, as a clock that
 * steps), the monotonic clock on the store's time (it never steps).
 */
import type { Clock } from '../../functions/clock.js';
import { takePlannerLease } from '../../functions/planner/lease.js';
import type { PlannerLeaseState } from '../../functions/protocol/planner-lease.js';
import { MemoryStore, type StoreLink } from '../../functions/store/memory.js';

export const LEASE_MINUTE = 60_000;
export const LEASE_SKEW = 5_000;

export function leaseBench(link?: StoreLink) {
  const time = { store: 1_000_000, offset: LEASE_SKEW };
  const store = new MemoryStore({ now: () => time.store }, link);
  const clock = { now: () => time.store + time.offset, monotonic: () => time.store } as Clock;
  const passes = (ms: number) => {
    time.store += ms;
  };
  /** The lease document as stored (read in a transaction that writes nothing). */
  const stored = async (): Promise<PlannerLeaseState> => {
    let seen: PlannerLeaseState | undefined;
    await store.transactPlannerLease((state) => {
      seen = state;
      return { outcome: null, write: null };
    });
    if (seen === undefined) throw new Error('no lease state');
    return seen;
  };
  const take = (leaseId: string, forMs = LEASE_MINUTE) =>
    takePlannerLease(store, clock, { leaseId, holder: `host-${leaseId}`, forMs });
  return { time, store, clock, passes, stored, take };
}
