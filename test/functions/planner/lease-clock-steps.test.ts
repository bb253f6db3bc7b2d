/**
 * The planner lease renewed and released without a read (functions/planner/lease.ts) when the
 * planner's wall clock steps (found in review). The store's time is estimated as the last
 * write's store time plus the time measured since. Measured on the wall clock, a step back
 * smaller than that time made "the latest the store's time can be" earlier than the store's time
 * (a renewal too short, or one of a lapsed lease), and a step forward made "the earliest" later (a
 * release that kept the lease held). It is now measured on the monotonic clock, which does not
 * step; these tests expect what deciding on the document as read would answer.
 *
 * The in-memory store, its time and the planner's clock set by hand (as in lease.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { LEASE_SKEW, leaseBench } from '../../support/planner-lease.js';
import { releasePlannerLease, renewPlannerLease } from '../../../functions/planner/lease.js';

const SKEW = LEASE_SKEW;

const setup = leaseBench;

describe('the planner lease when the planner’s clock steps back less than the time since its last write', () => {
  it('is renewed from the store’s time, so no other planner takes it while the renewal lasts', async () => {
    // Found in review, before the monotonic clock: 10 s after the take the clock steps back 8 s;
    // the renewal was written until 2 s + 40 s after the take (not 10 s + 40 s), and another
    // planner took the lease 35 s into a renewal of 40 s while the first still planned.
    const { time, passes, stored, take, store, clock } = setup();
    const { held } = await take('p1');
    const takenAt = time.store;
    passes(10_000);
    time.offset = SKEW - 8_000;
    expect(await renewPlannerLease(store, clock, held, 40_000)).toBe('renewed');
    const until = (await stored()).until ?? 0;
    expect(until).toBeGreaterThanOrEqual(takenAt + 10_000 + 40_000);
    expect(until).toBeLessThanOrEqual(takenAt + 10_000 + 40_010);
    passes(35_000);
    const theirs = await take('p2');
    expect(theirs.outcome.kind).toBe('busy');
  });

  it('is not renewed once it lapsed in the store’s time', async () => {
    // Found in review, before the monotonic clock: the lease (10 s) lapsed 5 s ago by the
    // store's time; with the clock 8 s back the estimate was 7 s after the take, and the renewal
    // decided the lease still held and wrote it.
    const { time, passes, take, store, clock } = setup();
    const { held } = await take('p1', 10_000);
    passes(15_000);
    time.offset = SKEW - 8_000;
    expect(await renewPlannerLease(store, clock, held, 40_000)).toBe('lost');
  });
});

describe('the planner lease when the planner’s clock steps forward', () => {
  it('released, can be taken at once by the next planner', async () => {
    // Found in review, before the monotonic clock: the release's "earliest the store's time can
    // be" was 130 s after the take, the lease was written to hold until then, and the next
    // minute's planner found it held ('busy').
    const { time, passes, stored, take, store, clock } = setup();
    const { held } = await take('p1');
    passes(10_000);
    time.offset = SKEW + 120_000;
    expect(await releasePlannerLease(store, clock, held)).toBe('released');
    expect.soft((await stored()).until).toBeLessThanOrEqual(time.store);
    passes(1_000);
    const next = await take('p2');
    expect(next.outcome.kind).toBe('acquired');
  });
});
