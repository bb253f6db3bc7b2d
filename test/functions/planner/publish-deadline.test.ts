/**
 * A tick never outruns its minute: with Pub/Sub hanging, each sub-tick gives up publishing at
 * its end (the tick at its budget), gives the claims back, and the next minute's tick plans as
 * usual instead of finding the planner lease held. The real planner and workers on the
 * in-memory store and bus, on a virtual clock.
 */
import { describe, expect, it } from 'vitest';
import type { BusLink } from '../../../functions/bus/memory.js';
import type { TickResult } from '../../../functions/planner/tick.js';
import { reconcileSchedule } from '../../../functions/reconciler/reconcile.js';
import { SIMULATED_TARGET } from '../../../infra/sim/population.js';
import { testWorld, WORLD_BEGIN } from '../../support/world.js';

const STALL_MS = 3 * 60_000;
const MINUTES = 6;

/** Pub/Sub that takes no message and never answers until `STALL_MS` in, then works. */
function stalledFor(now: () => number): BusLink {
  return {
    send: (_topic, deliver) =>
      now() < WORLD_BEGIN + STALL_MS
        ? new Promise<void>(() => undefined)
        : Promise.resolve().then(deliver),
  };
}

async function stalledWorld() {
  let clock = () => WORLD_BEGIN;
  const context = testWorld({ busLink: stalledFor(() => clock()) });
  clock = () => context.world.clock.now();
  const { world, settings } = context;
  for (let i = 0; i < 4; i++) {
    world.store.put(`every-minute-${i}`, {
      name: `every minute ${i}`,
      cadence: { kind: 'interval', every: '1m' },
      target: SIMULATED_TARGET,
    });
    await reconcileSchedule(world.store, `every-minute-${i}`, {
      thresholds: settings.laneThresholds,
    });
  }
  await context.runMinutes(MINUTES);
  const results = (await Promise.all(context.ticks)).filter(
    (result): result is TickResult => result !== null,
  );
  return { ...context, results };
}

describe('a tick with Pub/Sub hanging', () => {
  it('ends within its budget, so no tick of the next minutes finds the planner lease held', async () => {
    const { results, settings } = await stalledWorld();
    expect(results).toHaveLength(MINUTES);
    expect(results.map((result) => result.outcome)).toEqual(Array(MINUTES).fill('completed'));
    for (const result of results) {
      if (result.outcome !== 'completed') continue;
      expect(result.durationMs).toBeLessThanOrEqual(settings.tickBudgetSeconds * 1_000 + 1_000);
    }
  });

  it('gives back what it could not publish, and syncs every schedule once Pub/Sub answers', async () => {
    const { world, lines, callsOf } = await stalledWorld();
    const stalled = world.summaries.filter((s) => Date.parse(s.at) < WORLD_BEGIN + STALL_MS);
    expect(stalled.length).toBeGreaterThan(0);
    expect(stalled.reduce((sum, s) => sum + s.published, 0)).toBe(0);
    expect(stalled.reduce((sum, s) => sum + s.publishFailed, 0)).toBeGreaterThan(0);
    for (const summary of stalled) expect(summary.released).toBe(summary.publishFailed);
    const failures = lines.filter((line) => line.event === 'tick.publish_failed');
    expect(failures.length).toBeGreaterThan(0);
    expect(JSON.stringify(failures[0])).toContain('end of its sub-tick');

    for (let i = 0; i < 4; i++) {
      const calls = callsOf(`every-minute-${i}`);
      expect(calls.filter((call) => call.start < WORLD_BEGIN + STALL_MS)).toEqual([]);
      // Every minute from the end of the stall to the end of the run has its sync.
      expect(calls.length).toBeGreaterThanOrEqual(MINUTES - STALL_MS / 60_000 - 1);
      expect(calls.every((call) => call.outcome === 'success')).toBe(true);
    }
  });
});
