/**
 * What a sub-tick reads, beyond the points it dispatches.
 *
 * - Escalations cost two queries (medium and low lanes) each time the planner looks for
 *   schedules that waited past a tier boundary. It looks at a tick's first sub-tick, and after
 *   that only while the sub-tick before left something waiting in the medium or low lane: with
 *   nothing waiting, nothing can have waited past a boundary since.
 * - A lane's due points are read up to the most it could take; only a read that comes back full
 *   is followed by a count of the lane's due points.
 *
 * The real planner and workers on the in-memory store and bus, on a virtual clock.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Settings } from '../../../functions/config.js';
import { reconcileSchedule } from '../../../functions/reconciler/reconcile.js';
import { MemoryStore } from '../../../functions/store/memory.js';
import { SIMULATED_TARGET } from '../../../infra/sim/population.js';
import { testWorld, WORLD_BEGIN } from '../../support/world.js';

const MINUTES = 4;

/** `count` schedules every 5 minutes (the medium lane), all due at the start. */
async function mediumWorld(count: number, settings: Partial<Settings>, syncMs: number) {
  const context = testWorld({ settings, syncMs });
  for (let i = 0; i < count; i++) {
    context.world.store.put(`five-${i}`, {
      cadence: {
        kind: 'interval',
        every: '5m',
        startAt: new Date(WORLD_BEGIN).toISOString(),
        spread: false,
      },
      target: SIMULATED_TARGET,
    });
    await reconcileSchedule(context.world.store, `five-${i}`, {
      thresholds: context.settings.laneThresholds,
    });
  }
  const escalations = vi.spyOn(MemoryStore.prototype, 'readEscalations');
  const counts = vi.spyOn(MemoryStore.prototype, 'countDue');
  await context.runMinutes(MINUTES);
  return { ...context, escalations, counts };
}

describe('looking for escalations', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('happens once a tick while nothing waits', async () => {
    const { world, escalations, callsOf } = await mediumWorld(
      3,
      { inFlightBudget: { high: 4, medium: 4, low: 4 } },
      200,
    );
    expect(callsOf('five-0').length).toBeGreaterThan(0);
    expect(world.summaries.every((s) => s.lanes.medium.deferred === 0)).toBe(true);
    expect(world.summaries.length).toBe(MINUTES * 6);
    // The medium and the low lane, at each tick's first sub-tick only.
    expect(escalations.mock.calls.length).toBe(2 * MINUTES);
  });

  it('happens every sub-tick while the medium lane keeps schedules waiting', async () => {
    // One medium slot, syncs of 2 minutes: two of the three wait, sub-tick after sub-tick.
    const { world, escalations } = await mediumWorld(
      3,
      { inFlightBudget: { high: 4, medium: 1, low: 4 } },
      120_000,
    );
    const waiting = world.summaries.filter((s) => s.lanes.medium.deferred > 0).length;
    expect(waiting).toBeGreaterThan(MINUTES * 3);
    // Each tick's first sub-tick, and every sub-tick after one that left medium points waiting.
    const looked = world.summaries.filter((s, i) => {
      const before = world.summaries[i - 1];
      return s.subTick === 0 || (before !== undefined && before.lanes.medium.deferred > 0);
    }).length;
    expect(looked).toBeGreaterThan(MINUTES * 3);
    expect(escalations.mock.calls.length).toBe(2 * looked);
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
