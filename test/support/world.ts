/**
 * A small world for tests of the whole path on the in-memory store and bus: the real planner
 * ticking every minute, the real workers and dead-letter recorder (infra/sim/world.ts), a target
 * that answers every call in 200 ms, and logs the test can read back.
 */
import { checkSettings, checkTopology } from '../../infra/check/history.js';
import { SIMULATED, SIMULATED_TARGET } from '../../infra/sim/population.js';
import { reconcileSchedule } from '../../functions/reconciler/reconcile.js';
import { World } from '../../infra/sim/world.js';
import type { TickResult } from '../../functions/planner/tick.js';
import type { BusLink } from '../../functions/bus/memory.js';
import type { Settings } from '../../functions/config.js';
import type { ValidationContext } from '../../functions/schedule/spec.js';
import { DIRECT_LINK } from '../../functions/store/memory.js';
import { capturingLogger } from './fixtures.js';

export const WORLD_BEGIN = Date.parse('2026-06-20T08:00:00Z');

export function testWorld(
  options: {
    validation?: ValidationContext;
    busLink?: BusLink;
    settings?: Partial<Settings>;
    /** How long each sync takes (200 ms by default). */
    syncMs?: number;
  } = {},
) {
  const settings = { ...checkSettings(), ...options.settings };
  const topology = checkTopology(settings);
  const { logger, lines } = capturingLogger('world');
  const world = new World({
    begin: WORLD_BEGIN,
    settings,
    topology,
    workers: { high: 2, medium: 2, low: 2 },
    deliveryLatencyMs: 30,
    storeLink: () => DIRECT_LINK,
    target: () => ({ durationMs: options.syncMs ?? 200, outcome: 'success' }),
    sharedLimit: null,
    validation: options.validation ?? SIMULATED,
    logger,
    ...(options.busLink ? { busLink: options.busLink } : {}),
  });
  const ticks: Promise<TickResult | null>[] = [];
  /** Cloud Scheduler: a tick at the top of every minute from the start for `minutes`. */
  const runMinutes = async (minutes: number): Promise<void> => {
    for (let minute = 0; minute < minutes; minute++) {
      world.clock.at(WORLD_BEGIN + minute * 60_000, () => {
        ticks.push(world.tick().done);
      });
    }
    await world.run(WORLD_BEGIN + minutes * 60_000);
    await Promise.all(ticks);
  };
  /** Calls of the target made for `id`. */
  const callsOf = (id: string) => world.calls.filter((call) => call.scheduleId === id);
  /**
   * `count` schedules `${prefix}-0`, `${prefix}-1`, …, each due at the start and every `every`
   * after (exact grid points), reconciled; `fields` go into each spec (a lane, a provider key).
   */
  const putDue = async (
    prefix: string,
    count: number,
    fields: Record<string, unknown> = {},
    every = '1h',
  ): Promise<void> => {
    for (let i = 0; i < count; i++) {
      const id = `${prefix}-${i}`;
      world.store.put(id, {
        cadence: {
          kind: 'interval',
          every,
          startAt: new Date(WORLD_BEGIN).toISOString(),
          spread: false,
        },
        ...fields,
        target: SIMULATED_TARGET,
      });
      await reconcileSchedule(world.store, id, { thresholds: settings.laneThresholds });
    }
  };
  return { world, settings, topology, lines, runMinutes, callsOf, putDue, ticks };
}
