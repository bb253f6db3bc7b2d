/**
 * The operator's runs on the in-memory world (the real planner, workers and store): a backfill
 * serves each past point once, one call at a time, leaves the schedule's own runs on time, and
 * adds nothing when run again; a trigger waits for a running sync, or refuses.
 */
import { describe, expect, it } from 'vitest';
import { MemoryDispatchBus } from '../../../functions/bus/memory.js';
import {
  dispatchOperatorRun,
  runBackfill,
  triggerRun,
  type BackfillResult,
  type DispatchOutcome,
  type OperatorRunDeps,
} from '../../../functions/operator/runs.js';
import { perLane } from '../../../functions/planner/plan.js';
import { reconcileSchedule } from '../../../functions/reconciler/reconcile.js';
import { MemoryBackfills } from '../../../functions/store/backfills.js';
import { ReadMeter } from '../../../functions/store/queries.js';
import { SIMULATED_TARGET } from '../../../infra/sim/population.js';
import type { CallRecord } from '../../../infra/sim/world.js';
import { testWorld, WORLD_BEGIN } from '../../support/world.js';

const MIN = 60_000;

function setUp(options: Parameters<typeof testWorld>[0] = {}) {
  const built = testWorld(options);
  const { world, settings, topology } = built;
  const backfills = new MemoryBackfills((id) => world.store.runRecords(id));
  const process = world.spawn('operator');
  const deps: OperatorRunDeps & { backfills: MemoryBackfills } = {
    store: world.storeFor(process),
    bus: new MemoryDispatchBus(
      world.pubsub,
      perLane((lane) => topology.lanes[lane].topic),
    ),
    newId: () => world.newId('op-'),
    dispatchGraceMs: settings.dispatchGraceSeconds * 1_000,
    thresholds: settings.laneThresholds,
    sleep: (ms) => process.clock.sleep(ms),
    backfills,
  };
  /** Writes a schedule and reconciles it, as the reconciler's trigger would. */
  const put = async (id: string, document: Record<string, unknown>) => {
    world.store.put(id, document);
    await reconcileSchedule(world.store, id, { thresholds: settings.laneThresholds });
  };
  return { ...built, deps, put };
}

/** The most calls in flight at once. */
function mostAtOnce(calls: readonly CallRecord[]): number {
  return Math.max(
    0,
    ...calls.map(
      (call) =>
        calls.filter((other) => other.start <= call.start && (other.end ?? Infinity) > call.start)
          .length,
    ),
  );
}

const backfillOptions = {
  from: WORLD_BEGIN - 60 * MIN,
  to: WORLD_BEGIN,
  lane: 'low' as const,
  max: 100,
  dryRun: false,
  pollMs: 1_000,
  spacingMs: 500,
  maxPoints: 1_000,
};

/** Every 10 minutes on the exact grid, from two hours before the world begins. */
const GRID = {
  name: 'grid',
  cadence: {
    kind: 'interval',
    every: '10m',
    startAt: new Date(WORLD_BEGIN - 120 * MIN).toISOString(),
    spread: false,
  },
  target: SIMULATED_TARGET,
};

describe('a backfill on the world', () => {
  it('serves each unserved point once, oldest first, beside the schedule’s own runs; again adds nothing', async () => {
    const { world, deps, put, runMinutes, callsOf } = setUp();
    await put('grid', GRID);
    const results: BackfillResult[] = [];
    world.clock.at(WORLD_BEGIN + 2 * MIN, () => {
      void runBackfill(deps, 'grid', backfillOptions).then((result) => results.push(result));
    });
    world.clock.at(WORLD_BEGIN + 14 * MIN, () => {
      void runBackfill(deps, 'grid', backfillOptions).then((result) => results.push(result));
    });
    await runMinutes(16);

    expect(results.map((result) => result.kind)).toEqual(['finished', 'finished']);
    const [first, again] = results;
    if (first?.kind !== 'finished' || again?.kind !== 'finished') throw new Error('not finished');
    // 08:00 was the schedule's own first point, served by the planner before the backfill.
    expect(first.served).toEqual([WORLD_BEGIN]);
    expect(first.dispatched.map((point) => [point.dueAt, point.outcome])).toEqual(
      [60, 50, 40, 30, 20, 10].map((m) => [WORLD_BEGIN - m * MIN, 'succeeded']),
    );
    expect(again.dispatched).toEqual([]);
    expect(again.served).toHaveLength(7);

    const calls = callsOf('grid');
    expect(mostAtOnce(calls)).toBe(1);
    const dueAts = calls.map((call) => call.dueAt);
    // Every point once, and the schedule's own 08:10 point served on its way.
    expect(new Set(dueAts).size).toBe(dueAts.length);
    expect(dueAts).toContain(WORLD_BEGIN + 10 * MIN);
    const own = calls.find((call) => call.dueAt === WORLD_BEGIN + 10 * MIN);
    expect((own?.start ?? Infinity) - (WORLD_BEGIN + 10 * MIN)).toBeLessThan(2 * MIN);
    expect(world.store.peek('grid')?.state.dueAt).toBe(WORLD_BEGIN + 10 * MIN);
  });

  it('refuses a range reaching into the future and one with too many points, dispatching nothing', async () => {
    const { world, deps, put, runMinutes, callsOf } = setUp();
    await put('minutely', {
      name: 'minutely',
      cadence: { kind: 'interval', every: '1m' },
      target: SIMULATED_TARGET,
    });
    const results: BackfillResult[] = [];
    world.clock.at(WORLD_BEGIN + 30_000, () => {
      void runBackfill(deps, 'minutely', { ...backfillOptions, to: WORLD_BEGIN + 5 * MIN }).then(
        (result) => results.push(result),
      );
      void runBackfill(deps, 'minutely', {
        ...backfillOptions,
        from: WORLD_BEGIN - 3 * 24 * 60 * MIN,
      }).then((result) => results.push(result));
    });
    await runMinutes(2);
    expect(results).toEqual([
      { kind: 'refused', reason: '--to (2026-06-20T08:05:00.000Z) is in the future' },
      {
        kind: 'refused',
        reason: 'the range holds more than 1000 cadence points; backfill a shorter range',
      },
    ]);
    expect(callsOf('minutely').every((call) => call.dueAt >= WORLD_BEGIN)).toBe(true);
  });
});

describe('a backfill without a record of every run', () => {
  it('refuses a window from the first point served without a record (runHistory: failures)', async () => {
    const { world, deps, put, runMinutes, callsOf } = setUp({
      settings: { runHistory: 'failures' },
    });
    await put('grid', GRID);
    const results: BackfillResult[] = [];
    world.clock.at(WORLD_BEGIN + 2 * MIN, () => {
      void runBackfill(deps, 'grid', backfillOptions).then((result) => results.push(result));
      void runBackfill(deps, 'grid', { ...backfillOptions, to: WORLD_BEGIN - MIN }).then((result) =>
        results.push(result),
      );
    });
    await runMinutes(4);
    // 08:00 was served with no record: a window reaching it is refused, one before it is not.
    const records = world.store.runRecords('grid');
    expect(records.filter((record) => record.kind === 'planned')).toEqual([]);
    expect(records.filter((record) => record.kind === 'backfill').length).toBeGreaterThan(0);
    // From the first to the last point served without one (the latest, at the backfill).
    const served = world.store.peek('grid')?.state;
    expect(served?.unrecordedFrom).toBe(WORLD_BEGIN);
    expect(results[0]).toEqual({
      kind: 'refused',
      reason: `runs from ${new Date(WORLD_BEGIN).toISOString()} to ${new Date(served?.unrecordedUntil ?? 0).toISOString()} may have no record (PACER_RUN_HISTORY=failures), so which points were served cannot be told; backfill only outside it`,
    });
    expect(results[1]?.kind).toBe('finished');
    expect(callsOf('grid').length).toBeGreaterThan(1);
  });
});

describe('a trigger on the world', () => {
  it('waits for the running sync, runs once, and leaves the cadence where it stood', async () => {
    const { world, deps, put, runMinutes, callsOf } = setUp();
    await put('hourly', {
      name: 'hourly',
      cadence: { kind: 'interval', every: '1h', spread: false },
      target: SIMULATED_TARGET,
    });
    const outcomes: DispatchOutcome[] = [];
    const waitedFor: string[] = [];
    // The planner dispatches the first point at the first tick; its call takes 200 ms.
    world.clock.at(WORLD_BEGIN + 50, () => {
      void triggerRun(deps, 'hourly', { waitMs: 0, pollMs: 100 }).then((o) => outcomes.push(o));
      void triggerRun(deps, 'hourly', {
        waitMs: 30_000,
        pollMs: 100,
        onWait: (wait) => waitedFor.push(wait.kind === 'busy' ? wait.leaseId : wait.key),
      }).then((o) => outcomes.push(o));
    });
    await runMinutes(3);
    expect(outcomes.map((outcome) => outcome.kind)).toEqual(['busy', 'dispatched']);
    expect(waitedFor).toHaveLength(1);
    const calls = callsOf('hourly');
    expect(calls).toHaveLength(2);
    expect(mostAtOnce(calls)).toBe(1);
    expect(world.store.peek('hourly')?.state).toMatchObject({
      dueAt: calls[0]?.dueAt,
      nextDueAt: (calls[0]?.dueAt ?? 0) + 60 * MIN,
    });
  });
});

describe("the operator's runs and a provider key's budget", () => {
  const LIMIT = { perMinute: 3, perHour: null, burst: 1, concurrency: null };
  const keyed = {
    name: 'keyed',
    rateLimitKey: 'provider',
    cadence: {
      kind: 'interval',
      every: '10m',
      startAt: new Date(WORLD_BEGIN - 120 * MIN).toISOString(),
    },
    target: SIMULATED_TARGET,
  };

  /** The most calls of `calls` that started within any minute. */
  const mostInAMinute = (calls: readonly CallRecord[]) =>
    Math.max(
      0,
      ...calls.map(
        (call) => calls.filter((o) => o.start >= call.start && o.start < call.start + MIN).length,
      ),
    );

  it('a backfill spends the key’s tokens like the planner: never more than its budget in any minute', async () => {
    const { world, deps, put, runMinutes, callsOf } = setUp();
    const budgeted = {
      ...deps,
      rateLimits: { store: world.rateLimits, limits: { provider: LIMIT } },
    };
    await put('keyed', keyed);
    const results: BackfillResult[] = [];
    const waits: string[] = [];
    world.clock.at(WORLD_BEGIN + 2 * MIN, () => {
      void runBackfill(budgeted, 'keyed', {
        ...backfillOptions,
        spacingMs: 0,
        onProgress: (progress) => {
          if (progress.step === 'waiting') waits.push(progress.reason ?? '');
        },
      }).then((result) => results.push(result));
    });
    await runMinutes(8);

    expect(results.map((result) => result.kind)).toEqual(['finished']);
    const calls = callsOf('keyed').filter((call) => call.start >= WORLD_BEGIN + 2 * MIN);
    expect(calls.length).toBeGreaterThanOrEqual(6);
    // A bucket of 1 refilled at 2 a minute: 3 in any minute at the most.
    expect(mostInAMinute(calls)).toBeLessThanOrEqual(3);
    expect(waits.some((reason) => reason.includes('key provider has no call left'))).toBe(true);
  });

  it('without a budget the same backfill goes as fast as its runs end (the test can fail)', async () => {
    const { deps, put, runMinutes, callsOf, world } = setUp();
    await put('keyed', keyed);
    world.clock.at(WORLD_BEGIN + 2 * MIN, () => {
      void runBackfill(deps, 'keyed', { ...backfillOptions, spacingMs: 0 });
    });
    await runMinutes(8);
    const calls = callsOf('keyed').filter((call) => call.start >= WORLD_BEGIN + 2 * MIN);
    expect(mostInAMinute(calls)).toBeGreaterThan(3);
  });

  it('a run that would not be claimed spends no token: a backfill may wait for its turn for long', async () => {
    const { world, deps, put } = setUp();
    const budgeted = {
      ...deps,
      rateLimits: { store: world.rateLimits, limits: { provider: LIMIT } },
    };
    await put('keyed', keyed);
    // The schedule owes its own point (the planner has not served it yet): a backfill waits.
    for (let i = 0; i < 5; i++) {
      const outcome = await dispatchOperatorRun(budgeted, 'keyed', {
        kind: 'backfill',
        dueAt: WORLD_BEGIN - 60 * MIN,
      });
      expect(outcome.kind).toBe('owed');
    }
    const saved = (await world.rateLimits.readKeys(['provider'], new ReadMeter())).get('provider');
    expect(saved?.tokens ?? null).toBeNull();
  });

  it('a trigger of a key with no call left says so, and with --wait goes once the budget allows', async () => {
    const { world, deps, put, runMinutes } = setUp();
    const budgeted = {
      ...deps,
      rateLimits: { store: world.rateLimits, limits: { provider: LIMIT } },
    };
    await put('keyed', keyed);
    const outcomes: DispatchOutcome[] = [];
    world.clock.at(WORLD_BEGIN + 2 * MIN, () => {
      // The key's one token goes to the first trigger; the second has none left.
      void world.rateLimits
        .takeTokens('provider', LIMIT, 1, world.clock.now())
        .then(() => triggerRun(budgeted, 'keyed', { waitMs: 0, pollMs: 100 }))
        .then((outcome) => outcomes.push(outcome))
        .then(() => triggerRun(budgeted, 'keyed', { waitMs: 60_000, pollMs: 1_000 }))
        .then((outcome) => outcomes.push(outcome));
    });
    await runMinutes(4);
    expect(outcomes.map((outcome) => outcome.kind)).toEqual(['rate_limited', 'dispatched']);
    const [limited] = outcomes;
    if (limited?.kind !== 'rate_limited') throw new Error('not rate limited');
    expect(limited.reason).toMatch(/^key provider has no call left in its budget until /);
  });
});
