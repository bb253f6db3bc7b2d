/**
 * pacer as built, on the virtual clock: the real planner (`runTick`), the real workers
 * (`handleDelivery`) and the real dead-letter function, through the in-memory store and bus
 * (../world.ts). Cloud Scheduler calls the planner every minute; schedules are written by an
 * operator at their creation time and reconciled by the real reconciler; each store operation
 * takes the scenario's store latency; the target answers as the scenario draws. This file
 * decides no lease, attempt or completion: it only drives and records.
 */
import type { Settings } from '../../../functions/config.js';
import { reconcileSchedule } from '../../../functions/reconciler/reconcile.js';
import { LANES } from '../../../functions/schedule/lane.js';
import type { StoreLink } from '../../../functions/store/memory.js';
import { describeTopology } from '../../../functions/topology.js';
import type { VirtualClock } from '../clock.js';
import type { SimSchedule } from '../population.js';
import { stream, type Rng } from '../random.js';
import type {
  AttemptOutcome,
  DeadLetterReason,
  LanePlannerCounts,
  PlannerCounts,
  RunRecord,
  SyncAttempt,
} from '../record.js';
import type { Outage, Scenario } from '../scenario.js';
import { drawCall, ProviderLimiter } from '../target.js';
import { World, type CallRecord } from '../world.js';

/** How long the simulation goes on after the window, so that syncs started in it can finish. */
export const DRAIN_MS = 15 * 60_000;

/** Runs pacer through the scenario and records what happened. */
export async function runPacer(
  scenario: Scenario,
  schedules: readonly SimSchedule[],
): Promise<RunRecord> {
  const rng = stream(scenario.seed, 'pacer');
  const settings = scenario.pacer.settings;
  const begin = scenario.start - scenario.warmUpMs;
  const made: { clock?: VirtualClock } = {};
  const storeLink = latencyLink(() => made.clock, scenario.pacer.storeLatencyMs);
  const world = new World({
    begin,
    settings,
    topology: describeTopology(settings),
    workers: scenario.workers,
    deliveryLatencyMs: scenario.pacer.deliveryLatencyMs,
    storeLink: () => storeLink,
    busLink: duplicatingLink(() => made.clock, rng, scenario.failures.duplicateDelivery),
    target: () => drawCall(rng, scenario.syncDuration, scenario.failures),
    sharedLimit: scenario.sharedLimit,
    ...(scenario.rateLimit === null
      ? {}
      : { providerLimit: new ProviderLimiter(scenario.rateLimit) }),
  });
  made.clock = world.clock;

  // Each schedule is written by an operator when it is created, and reconciled: the trigger on
  // `schedules/{id}` fires for operator writes only (pacer writes `scheduleStates/{id}`), one
  // invocation each, whose reads and writes the store counts.
  for (const schedule of schedules) {
    world.clock.at(schedule.createdAt, () => {
      world.store.put(schedule.id, schedule.document);
      world.invocations++;
      void reconcileSchedule(world.store, schedule.id, {
        thresholds: settings.laneThresholds,
        shards: settings.shards,
      });
    });
  }
  // Cloud Scheduler: one tick per minute (per shard: one job each), a little late by a random
  // amount; none in an outage, and an outage stops the planner that runs into it.
  const completedTicks = { count: 0 };
  const firstMinute = Math.ceil(begin / 60_000) * 60_000;
  for (let minute = firstMinute; minute < scenario.end; minute += 60_000) {
    for (let index = 0; index < settings.shards; index++) {
      const at = minute + Math.floor(rng() * scenario.pacer.tickJitterMs);
      if (isInOutage(scenario.outages, at)) continue;
      const shard = { index, count: settings.shards };
      world.clock.at(at, () => {
        void world.tick('planner', shard).done.then((result) => {
          if (result?.outcome === 'completed') completedTicks.count++;
        });
      });
    }
  }
  for (const outage of scenario.outages) {
    world.clock.at(outage.from, () => {
      for (const process of world.processes) if (process.kind === 'planner') process.kill();
    });
  }
  await world.run(scenario.end + DRAIN_MS);

  const lanePushes = LANES.reduce(
    (sum, lane) => sum + world.pubsub.pushes(world.options.topology.lanes[lane].subscription),
    0,
  );
  return {
    strategy: 'pacer',
    attempts: world.calls.flatMap(syncAttempt),
    deadLetters: world.store.deadLetters().flatMap(({ record }) => {
      const reason = deadLetterReason(record.reason);
      return reason === null || record.scheduleId === null || record.dueAt === null
        ? []
        : [{ scheduleId: record.scheduleId, dueAt: record.dueAt, at: record.recordedAt, reason }];
    }),
    planner: plannerCounts(world, settings, completedTicks.count),
    usage: {
      firestoreReads: world.store.usage.reads,
      firestoreWrites: world.store.usage.writes,
      messagesPublished: world.pubsub.published,
      deliveries: lanePushes,
      invocations: world.invocations,
    },
  };
}

/**
 * Every store operation takes `latencyMs` of virtual time: it lands at the store when that has
 * passed, and its answer is back at once (one event per operation keeps a simulated day quick).
 */
function latencyLink(clock: () => VirtualClock | undefined, latencyMs: number): StoreLink {
  return {
    send: (_operation, _id, apply) =>
      new Promise((resolve, reject) => {
        const virtual = clock();
        if (virtual === undefined) throw new Error('the world has no clock yet');
        virtual.after(latencyMs, () => {
          try {
            resolve(apply());
          } catch (error) {
            reject(error instanceof Error ? error : new Error(String(error)));
          }
        });
      }),
  };
}

/** Pub/Sub's at-least-once delivery: a share of messages reaches the topic twice. */
function duplicatingLink(clock: () => VirtualClock | undefined, rng: Rng, rate: number) {
  return {
    send: (_topic: string, deliver: () => void) => {
      deliver();
      if (rate > 0 && rng() < rate) {
        // A second copy, up to 10 s later.
        clock()?.after(rng() * 10_000, deliver);
      }
      return Promise.resolve();
    },
  };
}

function syncAttempt(call: CallRecord): SyncAttempt[] {
  if (call.end === null || call.outcome === null) return [];
  // A refusal for the provider's rate limit is a 429 before any work, as the report counts it.
  const outcome: AttemptOutcome = call.outcome === 'rate_limited' ? 'rejected' : call.outcome;
  return [
    {
      scheduleId: call.scheduleId,
      dueAt: call.dueAt,
      start: call.start,
      end: call.end,
      outcome,
      attempt: call.attempt,
    },
  ];
}

function deadLetterReason(reason: string): DeadLetterReason | null {
  switch (reason) {
    case 'permanent_failure':
      return 'permanent';
    case 'attempts_exhausted':
      return 'attempts';
    case 'delivery_limit':
      return 'delivery_limit';
    default:
      return null;
  }
}

/** The planner's counts, from the sub-tick summaries it wrote and the workers' answers. */
function plannerCounts(world: World, settings: Settings, ticks: number): PlannerCounts {
  const lanes = {
    high: emptyLaneCounts(),
    medium: emptyLaneCounts(),
    low: emptyLaneCounts(),
  };
  let conflicts = 0;
  let skipped = 0;
  let escalated = 0;
  for (const summary of world.summaries) {
    conflicts += summary.conflicts;
    skipped += summary.skipped;
    escalated += summary.escalated;
    for (const lane of LANES) {
      const { due, dispatched, deferred, inFlight, oldestLagMs } = summary.lanes[lane];
      if (due === 0) continue;
      // The reserve is owed to work already due: a lane whose only demand is a point to come
      // (dispatched ahead) gets only the room due points leave, and is due at the next sub-tick.
      const overdue = oldestLagMs !== null && oldestLagMs > 0;
      const counts = lanes[lane];
      counts.demandSubTicks += 1;
      counts.deferred += deferred;
      if (deferred > 0) counts.deferringSubTicks += 1;
      counts.maxDeferred = Math.max(counts.maxDeferred, deferred);
      if (overdue && inFlight + dispatched < Math.min(settings.reserved[lane], inFlight + due)) {
        counts.belowReserve += 1;
      }
    }
  }
  return {
    ticks,
    subTicks: world.summaries.length,
    conflicts,
    staleAcks: world.deliveries.stale,
    duplicateAcks: world.deliveries.duplicate,
    skippedCronRuns: skipped,
    escalated,
    lanes,
  };
}

function emptyLaneCounts(): LanePlannerCounts {
  return { demandSubTicks: 0, deferred: 0, deferringSubTicks: 0, maxDeferred: 0, belowReserve: 0 };
}

/** Whether `at` falls in one of the outages. */
export function isInOutage(outages: readonly Outage[], at: number): boolean {
  return outages.some((outage) => at >= outage.from && at < outage.to);
}
