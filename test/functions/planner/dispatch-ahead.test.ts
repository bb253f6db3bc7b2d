/**
 * Dispatch ahead: a sub-tick also claims the points due before the next sub-tick and publishes
 * them at once; the worker starts each at its point. A schedule every 20 s whose points fall
 * between sub-ticks (every 10 s) is then synced on time instead of waiting for the next
 * sub-tick. The real planner and workers on the in-memory store and bus, on a virtual clock;
 * lateness is what the worker logs (`sync.started`'s `lateMs`: its start, by the store's time,
 * minus the point it serves).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Settings } from '../../../functions/config.js';
import { reconcileSchedule } from '../../../functions/reconciler/reconcile.js';
import { MemoryStore } from '../../../functions/store/memory.js';
import { SIMULATED_TARGET } from '../../../infra/sim/population.js';
import { testWorld, WORLD_BEGIN } from '../../support/world.js';

const MINUTES = 5;

/** Schedules every 20 s, each with its first point `offsetsMs` after the first sub-tick. */
async function twentySecondSyncs(settings: Partial<Settings>, offsetsMs = [3_000], syncMs = 200) {
  const context = testWorld({ settings, syncMs });
  const { world } = context;
  for (const [i, offset] of offsetsMs.entries()) {
    world.store.put(`race-${i}`, {
      cadence: {
        kind: 'interval',
        every: '20s',
        // At 3 s: points at :03, :23 and :43 of each minute, 3 to 7 s after a sub-tick.
        startAt: new Date(WORLD_BEGIN + offset).toISOString(),
        // Exact grid points, so that they fall between sub-ticks as the cases say.
        spread: false,
      },
      target: SIMULATED_TARGET,
    });
    await reconcileSchedule(world.store, `race-${i}`, {
      thresholds: context.settings.laneThresholds,
    });
  }
  await context.runMinutes(MINUTES);
  const lateness = context.lines
    .filter((line) => line.event === 'sync.started' && line.scheduleId === 'race-0')
    .map((line) => line.lateMs as number);
  return { ...context, lateness };
}

describe('dispatch ahead', () => {
  it('starts each sync at its point, within a second and never before it', async () => {
    const { lateness, world } = await twentySecondSyncs({ dispatchAheadSeconds: 10 });
    expect(lateness.length).toBeGreaterThanOrEqual(MINUTES * 3 - 1);
    for (const late of lateness) {
      expect(late).toBeGreaterThanOrEqual(0);
      expect(late).toBeLessThan(1_000);
    }
    const ahead = world.summaries.reduce((sum, s) => sum + s.lanes.high.dispatched, 0);
    expect(ahead).toBeGreaterThanOrEqual(lateness.length);
  });

  it('without it, a point between sub-ticks waits for the next one', async () => {
    const { lateness } = await twentySecondSyncs({ dispatchAheadSeconds: 0 });
    expect(lateness.length).toBeGreaterThanOrEqual(MINUTES * 3 - 1);
    // Points 3 s after a sub-tick start 7 s late, at the next one: never within a second.
    for (const late of lateness.slice(1)) expect(late).toBeGreaterThan(2_000);
  });

  it('counts what waits for its point as in flight: one slot, two points ahead, one claim', async () => {
    const { world, callsOf } = await twentySecondSyncs(
      { dispatchAheadSeconds: 10, inFlightBudget: { high: 1, medium: 1, low: 1 } },
      [3_000, 5_000],
    );
    const busy = world.summaries.map((s) => s.lanes.high.inFlight + s.lanes.high.dispatched);
    expect(Math.max(...busy)).toBe(1);
    // The second schedule's point (2 s after the first's) waited for the next sub-tick.
    expect(callsOf('race-1').length).toBeGreaterThan(0);
    expect(world.summaries.some((s) => s.lanes.high.deferred > 0)).toBe(true);
  });
});

describe('refill', () => {
  /** Three schedules due together every 20 s, one high-lane slot, syncs of 200 ms. */
  const crowded = (refillSeconds: number) =>
    twentySecondSyncs(
      { dispatchAheadSeconds: 10, refillSeconds, inFlightBudget: { high: 1, medium: 1, low: 1 } },
      [3_000, 3_000, 3_000],
    );
  const startsOf = (lines: Record<string, unknown>[]) =>
    lines
      .filter((line) => line.event === 'sync.started')
      .map((line) => ({ id: line.scheduleId as string, lateMs: line.lateMs as number }));

  it('takes a slot a finished sync frees within about a second, never past the budget', async () => {
    const { lines, world } = await crowded(1);
    const starts = startsOf(lines);
    // Each point of the three: the first on time, the two others each a refill later.
    expect(starts.length).toBeGreaterThanOrEqual(3 * 3 * (MINUTES - 1));
    for (const { lateMs } of starts) expect(lateMs).toBeLessThan(3_000);
    const busy = [...world.summaries, ...world.refills].map(
      (s) => s.lanes.high.inFlight + s.lanes.high.dispatched,
    );
    expect(Math.max(...busy)).toBe(1);
    expect(world.refills.reduce((sum, s) => sum + s.published, 0)).toBeGreaterThan(0);
  });

  it('without it, the others wait for the next sub-tick', async () => {
    const { lines, world } = await crowded(0);
    const late = startsOf(lines).map((start) => start.lateMs);
    expect(world.refills).toEqual([]);
    expect(late.filter((ms) => ms >= 7_000).length).toBeGreaterThan(late.length / 2);
  });

  describe('with every slot busy', () => {
    afterEach(() => {
      vi.restoreAllMocks();
    });

    it('counts only what is in flight until a slot frees, then takes it', async () => {
      const readDue = vi.spyOn(MemoryStore.prototype, 'readDue');
      const countInFlight = vi.spyOn(MemoryStore.prototype, 'countInFlight');
      // Syncs of 3 s, one slot in all (a lane with room but nothing due is room all the same),
      // refills every half second: about five refills per sync find the slot still busy.
      const { lines, world } = await twentySecondSyncs(
        {
          dispatchAheadSeconds: 10,
          refillSeconds: 0.5,
          inFlightBudget: { high: 1, medium: 1, low: 1 },
          totalInFlightBudget: 1,
          reserved: { high: 0, medium: 0, low: 0 },
        },
        [3_000, 3_000, 3_000],
        3_000,
      );
      const starts = startsOf(lines);
      expect(starts.length).toBeGreaterThanOrEqual(3 * 3 * (MINUTES - 1));
      // The second starts when the first ends, the third 3 s later: each within half a second
      // of the slot freeing (plus delivery).
      for (const { lateMs } of starts) expect(lateMs).toBeLessThan(2 * 3_000 + 1_000);
      const busy = [...world.summaries, ...world.refills].map(
        (s) => s.lanes.high.inFlight + s.lanes.high.dispatched,
      );
      expect(Math.max(...busy)).toBe(1);
      // Every sub-tick that planned read each lane's due points once; the refills that found
      // the slot busy counted what is in flight and read nothing else.
      const planned = world.summaries.length + world.refills.length;
      expect(readDue.mock.calls.length).toBe(3 * planned);
      expect(countInFlight.mock.calls.length).toBeGreaterThan(readDue.mock.calls.length + 3 * 10);
    });
  });
});
