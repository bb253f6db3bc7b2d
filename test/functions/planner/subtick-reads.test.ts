/**
 * What a sub-tick reads, beyond the points it dispatches: a lane's due points are read up to
 * the most it could take, and only a read that comes back full is followed by a count of the
 * lane's due points. And escalations, which every sub-tick but a refill looks for.
 *
 * The real planner and workers on the in-memory store and bus, on a virtual clock.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Settings } from '../../../functions/config.js';
import { EMPTY_STATE } from '../../../functions/protocol/state.js';
import { dueInAll } from '../../../functions/planner/tick.js';
import { MemoryStore } from '../../../functions/store/memory.js';
import { SIMULATED_TARGET } from '../../../infra/sim/population.js';
import { testWorld, WORLD_BEGIN } from '../../support/world.js';

const MINUTES = 4;
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** `count` schedules every 5 minutes (the medium lane), all due at the start. */
async function mediumWorld(count: number, settings: Partial<Settings>, syncMs: number) {
  const context = testWorld({ settings, syncMs });
  // Every 5 minutes: the medium lane.
  await context.putDue('five', count, {}, '5m');
  const counts = vi.spyOn(MemoryStore.prototype, 'countDue');
  await context.runMinutes(MINUTES);
  return { ...context, counts };
}

describe('escalations', () => {
  it('an event held past its tier boundary goes out in the high lane at the first sub-tick it is due', async () => {
    // Found in review: a sub-tick that skipped escalations when the one before left nothing
    // waiting planned it in its old lane. A hold (retry, rate limit) that ends past the boundary
    // makes it due and escalation-eligible at the same moment, between two sub-ticks, with the
    // medium lane's one slot busy.
    const context = testWorld({
      settings: { dispatchAheadSeconds: 0, inFlightBudget: { high: 4, medium: 1, low: 4 } },
      syncMs: 120_000,
    });
    const { world } = context;
    await context.putDue('blocker', 1, {}, '5m');
    // In its one-minute (high) tier for five minutes, still stored in the medium lane, held until
    // 13 s in (between the sub-ticks at 10 s and 20 s).
    const heldUntil = WORLD_BEGIN + 13_000;
    world.store.put(
      'race',
      {
        cadence: {
          kind: 'event',
          startsAt: new Date(WORLD_BEGIN + 4 * HOUR - 5 * MINUTE).toISOString(),
        },
        target: SIMULATED_TARGET,
      },
      {
        ...EMPTY_STATE,
        status: 'active',
        lane: 'medium',
        nextDueAt: heldUntil,
        escalatesAt: heldUntil,
        health: 'ok',
      },
    );
    await context.runMinutes(1);
    const at20 = world.summaries.find((s) => Date.parse(s.at) === WORLD_BEGIN + 20_000);
    expect(at20).toMatchObject({ escalated: 1 });
    expect(at20?.lanes.high.dispatched).toBe(1);
    expect(context.callsOf('race')[0]?.start).toBeLessThan(WORLD_BEGIN + 21_000);
  });
});

describe('counting due points', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('never happens while every lane reads all it has due', async () => {
    const { world, counts } = await mediumWorld(
      3,
      { inFlightBudget: { high: 4, medium: 4, low: 4 } },
      200,
    );
    expect(counts).not.toHaveBeenCalled();
    // The due points are known all the same: the three at the start, dispatched at once.
    expect(world.summaries[0]?.lanes.medium).toMatchObject({ due: 3, dispatched: 3, deferred: 0 });
  });

  it('follows a read that came back full, so what waits is reported exactly', async () => {
    const { world, counts } = await mediumWorld(
      3,
      { inFlightBudget: { high: 4, medium: 1, low: 4 } },
      120_000,
    );
    expect(counts).toHaveBeenCalled();
    // One slot: one point read and dispatched, the other two counted as waiting.
    expect(world.summaries[0]?.lanes.medium).toMatchObject({ due: 3, dispatched: 1, deferred: 2 });
    expect(world.summaries[1]?.lanes.medium).toMatchObject({ due: 2, dispatched: 0, deferred: 2 });
  });
});

describe('reading the lanes together', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('takes one query for every lane while little is due, with the due numbers exact', async () => {
    const context = testWorld({ settings: { inFlightBudget: { high: 4, medium: 4, low: 4 } } });
    await context.putDue('medium', 2, { lane: 'medium' });
    await context.putDue('low', 3, { lane: 'low' });
    const together = vi.spyOn(MemoryStore.prototype, 'readDueAllLanes');
    const byLane = vi.spyOn(MemoryStore.prototype, 'readDue');
    const counts = vi.spyOn(MemoryStore.prototype, 'countDue');
    await context.runMinutes(1);

    // One query per sub-tick (six in the minute), none lane by lane, no count.
    expect(together).toHaveBeenCalledTimes(6);
    expect(byLane).not.toHaveBeenCalled();
    expect(counts).not.toHaveBeenCalled();
    expect(context.world.summaries[0]?.lanes).toMatchObject({
      high: { due: 0, dispatched: 0 },
      medium: { due: 2, dispatched: 2 },
      low: { due: 3, dispatched: 3 },
    });
    expect(context.world.calls).toHaveLength(5);
  });

  it('goes lane by lane after a sub-tick that found more due than one query could read', async () => {
    // One medium slot and 20 medium points due: one query could read 9 (4 + 1 + 4), so the first
    // sub-tick's comes back full and the lanes are read one by one; the sub-ticks after it, which
    // know 20 were due, read lane by lane at once.
    const context = testWorld({
      settings: { inFlightBudget: { high: 4, medium: 1, low: 4 } },
      syncMs: 120_000,
    });
    await context.putDue('medium', 20, { lane: 'medium' });
    const together = vi.spyOn(MemoryStore.prototype, 'readDueAllLanes');
    const byLane = vi.spyOn(MemoryStore.prototype, 'readDue');
    await context.runMinutes(2);

    // Once in two ticks: the second begins with what the last sub-tick kept in pacer/stats.
    expect(together).toHaveBeenCalledTimes(1);
    expect(byLane).toHaveBeenCalled();
    expect(context.world.summaries[0]?.lanes.medium).toMatchObject({
      due: 20,
      dispatched: 1,
      deferred: 19,
    });
  });
});

describe('dueInAll: what the last kept sub-tick found due', () => {
  it.each([
    ['none kept', undefined, null],
    ['every lane', { lanes: { high: { due: 1 }, medium: { due: 2 }, low: { due: 3 } } }, 6],
    ['a lane missing', { lanes: { high: { due: 1 }, medium: { due: 2 } } }, null],
    ['a due number negative', { lanes: { high: { due: -1 }, medium: {}, low: {} } }, null],
    ['not a summary', 'x', null],
  ])('%s', (_, summary, due) => {
    expect(dueInAll(summary)).toBe(due);
  });
});

describe('the planner’s fixed reads', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('read the planner lease once a tick, and the escalations once a sub-tick', async () => {
    const decided = vi.spyOn(MemoryStore.prototype, 'decidePlannerLease');
    const written = vi.spyOn(MemoryStore.prototype, 'writePlannerLeaseIfUnchanged');
    const escalations = vi.spyOn(MemoryStore.prototype, 'readEscalations');
    const { world } = await mediumWorld(3, { inFlightBudget: { high: 4, medium: 4, low: 4 } }, 200);
    const full = world.summaries.filter((summary) => summary.refill !== true).length;
    expect(full).toBe(MINUTES * 6);
    // Each tick: the take reads; its renewals before each sub-tick after the first, and the
    // release, write on the planner's own last write.
    expect(decided).toHaveBeenCalledTimes(MINUTES);
    const renewals = full - MINUTES;
    const releases = MINUTES;
    expect(written).toHaveBeenCalledTimes(renewals + releases);
    expect(escalations).toHaveBeenCalledTimes(full);
  });
});
