/**
 * A provider key that holds the due points of one lane must not hold the lanes below it: the
 * points a key holds take no room in the plan, so they must not shrink what a lower lane reads
 * either. Found in review: with the high lane's points all held by a blocked key, the medium
 * lane was read one point at a time (its read limit counted the held points as due above it),
 * and dispatched one per sub-tick with eight slots free.
 *
 * The real planner and workers on the in-memory store and bus, on a virtual clock.
 */
import { describe, expect, it } from 'vitest';
import type { Settings } from '../../../functions/config.js';
import { testWorld, WORLD_BEGIN } from '../../support/world.js';

const HOUR = 3_600_000;

/** A world whose lanes share 10 slots, each lane allowed all 10, with no dispatch ahead. */
function sharedTen(settings: Partial<Settings> = {}) {
  return testWorld({
    settings: {
      dispatchAheadSeconds: 0,
      inFlightBudget: { high: 10, medium: 10, low: 10 },
      totalInFlightBudget: 10,
      reserved: { high: 0, medium: 0, low: 0 },
      caps: { high: 100, medium: 100, low: 100 },
      rateLimits: {
        blocked: { perMinute: null, perHour: null, burst: 1, concurrency: null },
        open: { perMinute: null, perHour: null, burst: 1, concurrency: null },
      },
      ...settings,
    },
    syncMs: 30_000,
  });
}

const firstSubTick = (context: ReturnType<typeof testWorld>) =>
  context.world.summaries.find((summary) => Date.parse(summary.at) === WORLD_BEGIN);

describe('a lane below a lane held by its provider key', () => {
  it('is read and dispatched as if the held points were not due', async () => {
    const context = sharedTen();
    await context.putDue('held', 10, { lane: 'high', rateLimitKey: 'blocked' });
    await context.putDue('free', 8, { lane: 'medium', rateLimitKey: 'open' });
    await context.world.rateLimits.block('blocked', WORLD_BEGIN + HOUR, {
      scheduleId: 'held-0',
      status: 429,
      at: WORLD_BEGIN,
    });
    await context.runMinutes(1);

    const first = firstSubTick(context);
    expect(first).toMatchObject({
      rateLimited: 10,
      lanes: { high: { dispatched: 0 }, medium: { due: 8, dispatched: 8 } },
    });
    expect(context.world.calls.filter((call) => call.scheduleId.startsWith('held'))).toEqual([]);
  });

  it('still leaves the room of what its key admits to the lane above', async () => {
    // The same world with the high lane's key open: the high lane takes the 10 slots, the medium
    // lane none (the fix must not hand a lower lane what an admitted point above needs).
    const context = sharedTen();
    await context.putDue('held', 10, { lane: 'high', rateLimitKey: 'open' });
    await context.putDue('free', 8, { lane: 'medium', rateLimitKey: 'open' });
    await context.runMinutes(1);

    expect(firstSubTick(context)).toMatchObject({
      lanes: { high: { dispatched: 10 }, medium: { due: 8, dispatched: 0 } },
    });
  });
});
