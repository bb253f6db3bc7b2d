/**
 * Shards on the in-memory store: each planner invocation plans only the schedules of its shard,
 * under its own lease, with its share of the in-flight budgets; changing the number of shards
 * loses no schedule. The real planner, workers and reconciler (infra/sim/world.ts) on a virtual
 * clock.
 */
import { describe, expect, it } from 'vitest';
import type { Settings } from '../../../functions/config.js';
import { reconcileSchedule } from '../../../functions/reconciler/reconcile.js';
import { shardOf, type Shard } from '../../../functions/schedule/shard.js';
import { SIMULATED_TARGET } from '../../../infra/sim/population.js';
import { testWorld, WORLD_BEGIN } from '../../support/world.js';

const IDS = Array.from({ length: 24 }, (_, i) => `race-${i}`);

/** Schedules every minute (high lane), reconciled as `reconcileShards` shards would. */
async function world(settings: Partial<Settings>, reconcileShards: number) {
  // Room for every shard in the lanes (the check settings' one high-lane slot would leave one
  // shard none, which PACER_SHARDS refuses).
  const context = testWorld({
    settings: { inFlightBudget: { high: 8, medium: 4, low: 4 }, ...settings },
  });
  for (const id of IDS) {
    context.world.store.put(id, {
      cadence: { kind: 'interval', every: '1m', startAt: new Date(WORLD_BEGIN).toISOString() },
      target: SIMULATED_TARGET,
    });
    await reconcileSchedule(context.world.store, id, {
      thresholds: context.settings.laneThresholds,
      shards: reconcileShards,
    });
  }
  return context;
}

/** Cloud Scheduler with one job per shard: a tick of each of `shards` at every minute. */
async function runShards(
  context: Awaited<ReturnType<typeof world>>,
  shards: readonly Shard[],
  minutes: number,
  from = 0,
) {
  const { world: simulated } = context;
  const done: Promise<unknown>[] = [];
  const outcomes: string[] = [];
  for (let minute = from; minute < from + minutes; minute++) {
    for (const shard of shards) {
      simulated.clock.at(WORLD_BEGIN + minute * 60_000, () => {
        done.push(
          simulated.tick('planner', shard).done.then((result) => {
            outcomes.push(result?.outcome ?? 'crashed');
          }),
        );
      });
    }
  }
  await simulated.run(WORLD_BEGIN + (from + minutes) * 60_000);
  await Promise.all(done);
  return outcomes;
}

/** Calls per schedule and due point: 1 everywhere when nothing ran twice. */
function callsPerPoint(context: Awaited<ReturnType<typeof world>>) {
  const counts = new Map<string, number>();
  for (const call of context.world.calls) {
    const key = `${call.scheduleId}@${call.dueAt}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

const TWO: Shard[] = [
  { index: 0, count: 2 },
  { index: 1, count: 2 },
];

describe('a sharded planner', () => {
  it('plans only the schedules of its shard', async () => {
    const context = await world({ shards: 2 }, 2);
    const mine = IDS.filter((id) => shardOf(id, null, 2) === 0);
    expect(mine.length).toBeGreaterThan(0);
    expect(mine.length).toBeLessThan(IDS.length);
    await runShards(context, [TWO[0]!], 3);
    const called = new Set(context.world.calls.map((call) => call.scheduleId));
    expect([...called].sort()).toEqual([...mine].sort());
  });

  it('with one invocation per shard, every schedule is synced at every point, none twice', async () => {
    const context = await world({ shards: 2 }, 2);
    const outcomes = await runShards(context, TWO, 4);
    // Each shard has its own lease: neither answers busy for the other.
    expect(outcomes.filter((outcome) => outcome === 'completed')).toHaveLength(8);
    const counts = callsPerPoint(context);
    for (const id of IDS) {
      const points = [...counts.keys()].filter((key) => key.startsWith(`${id}@`));
      expect(points.length, id).toBeGreaterThanOrEqual(3);
    }
    expect(Math.max(...counts.values())).toBe(1);
  });

  it('keeps to its share of a lane’s in-flight budget: together never more than the budget', async () => {
    const context = await world(
      { shards: 2, inFlightBudget: { high: 2, medium: 2, low: 2 }, refillSeconds: 0 },
      2,
    );
    await runShards(context, TWO, 3);
    const events = context.world.calls.flatMap((call) => [
      { at: call.start, delta: 1 },
      { at: call.end ?? Infinity, delta: -1 },
    ]);
    events.sort((a, b) => a.at - b.at || a.delta - b.delta);
    let running = 0;
    let most = 0;
    for (const event of events) {
      running += event.delta;
      most = Math.max(most, running);
    }
    expect(most).toBe(2);
    for (const summary of context.world.summaries) {
      expect(summary.lanes.high.inFlight + summary.lanes.high.dispatched).toBeLessThanOrEqual(1);
    }
  });
});

describe('changing the number of shards', () => {
  it('from 4 to 2: every schedule is still planned, by one planner, and moves to its new shard', async () => {
    const context = await world({ shards: 2 }, 4);
    expect(new Set(IDS.map((id) => context.world.store.peek(id)?.state.shard)).size).toBe(4);
    await runShards(context, TWO, 3);
    expect(new Set(context.world.calls.map((call) => call.scheduleId)).size).toBe(IDS.length);
    expect(Math.max(...callsPerPoint(context).values())).toBe(1);
    for (const id of IDS) {
      expect(context.world.store.peek(id)?.state.shard, id).toBe(shardOf(id, null, 2));
    }
  });

  it('from 1 to 2: schedules with no stored shard wait for `reconcile --all`, then are planned', async () => {
    const context = await world({ shards: 2 }, 1);
    await runShards(context, TWO, 2);
    expect(context.world.calls).toHaveLength(0);
    for (const id of IDS) {
      await reconcileSchedule(context.world.store, id, {
        thresholds: context.settings.laneThresholds,
        shards: 2,
      });
    }
    await runShards(context, TWO, 2, 2);
    expect(new Set(context.world.calls.map((call) => call.scheduleId)).size).toBe(IDS.length);
  });
});
