/**
 * The planner lease as a tick holds it: renewals and the release write on the planner's own last
 * write without a read, and fall back to deciding on the document as read whenever that could
 * decide differently. The in-memory store, its time and the planner's clock set by hand (the
 * planner's clock 5 s off the store's: only time measured on it counts).
 */
import { describe, expect, it } from 'vitest';
import { LEASE_MINUTE, LEASE_SKEW, leaseBench } from '../../support/planner-lease.js';
import type { Clock } from '../../../functions/clock.js';
import {
  releasePlannerLease,
  renewPlannerLease,
  takePlannerLease,
} from '../../../functions/planner/lease.js';
import type { StoreLink } from '../../../functions/store/memory.js';

const MINUTE = LEASE_MINUTE;
const SKEW = LEASE_SKEW;

const setup = leaseBench;

describe('the planner lease a tick holds', () => {
  it('renews and releases it with writes alone, no read after the take', async () => {
    const { store, clock, passes, stored, take, time } = setup();
    const { outcome, held } = await take('p1');
    expect(outcome).toEqual({ kind: 'acquired', until: time.store + MINUTE });
    const reads = store.usage.reads;
    const writes = store.usage.writes;
    for (let i = 0; i < 5; i++) {
      passes(10_000);
      expect(await renewPlannerLease(store, clock, held, 40_000)).toBe('renewed');
    }
    passes(10_000);
    expect(await releasePlannerLease(store, clock, held)).toBe('released');
    expect(store.usage.reads).toBe(reads);
    expect(store.usage.writes).toBe(writes + 6);
    // Released at the earliest the store's time could be: the clock's rate error (a thousandth
    // of the 10 s measured) before it, never after.
    const released = await stored();
    expect(released).toMatchObject({ leaseId: 'p1', holder: 'host-p1' });
    expect(released.until).toBeLessThanOrEqual(time.store);
    expect(released.until).toBeGreaterThanOrEqual(time.store - 10);
  });

  it('extends the lease from the store’s time, however far the planner’s clock is off', async () => {
    const { store, clock, passes, stored, take, time } = setup();
    const { held } = await take('p1');
    passes(10_000);
    expect(await renewPlannerLease(store, clock, held, 40_000)).toBe('renewed');
    // From the latest the store's time could be: at most the rate error (10 ms of 10 s) after.
    const until = (await stored()).until ?? 0;
    expect(until).toBeGreaterThanOrEqual(time.store + 40_000);
    expect(until).toBeLessThanOrEqual(time.store + 40_010);
  });

  it('answers lost, writing nothing, when another planner took the lease after it lapsed', async () => {
    const { store, clock, passes, stored, take } = setup();
    const { held } = await take('p1', 10_000);
    passes(20_000);
    const theirs = await take('p2');
    expect(theirs.outcome.kind).toBe('acquired');
    const before = await stored();
    expect(await renewPlannerLease(store, clock, held, 40_000)).toBe('lost');
    expect(await releasePlannerLease(store, clock, held)).toBe('not_held');
    expect(await stored()).toEqual(before);
    // The other planner still holds it, on its own writes.
    expect(await renewPlannerLease(store, clock, theirs.held, 40_000)).toBe('renewed');
  });

  it('answers lost once its own lease lapsed, even if nobody took it, as the store would', async () => {
    const { store, clock, passes, stored, take } = setup();
    const { held } = await take('p1', 10_000);
    const before = await stored();
    passes(10_000);
    const reads = store.usage.reads;
    expect(await renewPlannerLease(store, clock, held, 40_000)).toBe('lost');
    // Decided on the document as read: the estimate could not tell.
    expect(store.usage.reads).toBe(reads + 1);
    expect(await stored()).toEqual(before);
  });

  it('decides on the document as read when the planner’s clock went back', async () => {
    const { store, passes, time } = setup();
    let offset = SKEW;
    const clock = { now: () => time.store + offset, monotonic: () => time.store + offset } as Clock;
    const { held } = await takePlannerLease(store, clock, {
      leaseId: 'p1',
      holder: 'host-p1',
      forMs: MINUTE,
    });
    passes(10_000);
    offset = SKEW - 30_000;
    const reads = store.usage.reads;
    expect(await renewPlannerLease(store, clock, held, 40_000)).toBe('renewed');
    expect(store.usage.reads).toBe(reads + 1);
  });

  it('decides on the document as read when its conditional write did not land', async () => {
    let refuse = false;
    const link: StoreLink = {
      send(operation, _id, apply) {
        if (refuse && operation === 'planner') {
          refuse = false;
          return Promise.reject(new Error('unavailable'));
        }
        return Promise.resolve().then(apply);
      },
    };
    const { store, clock, passes, stored, take, time } = setup(link);
    const { held } = await take('p1');
    passes(10_000);
    refuse = true;
    const reads = store.usage.reads;
    expect(await renewPlannerLease(store, clock, held, 40_000)).toBe('renewed');
    expect(store.usage.reads).toBe(reads + 1);
    expect((await stored()).until).toBe(time.store + 40_000);
    // And writes on its own again after that.
    passes(10_000);
    const after = store.usage.reads;
    expect(await renewPlannerLease(store, clock, held, 40_000)).toBe('renewed');
    expect(store.usage.reads).toBe(after);
  });

  it('takes nothing from a holder whose lease has not lapsed', async () => {
    const { store, clock, take } = setup();
    await take('p1');
    const { outcome, held } = await take('p2');
    expect(outcome).toMatchObject({ kind: 'busy', holder: 'host-p1' });
    expect(held.written).toBeNull();
    expect(await renewPlannerLease(store, clock, held, 40_000)).toBe('lost');
  });
});
