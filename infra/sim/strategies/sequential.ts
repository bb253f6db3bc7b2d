/**
 * The designs pacer replaces, both one loop that syncs one schedule at a time:
 *
 * - `flat`: every cycle takes all due schedules, most overdue first, and syncs them one after
 *   another, sleeping 1 s between syncs and 30 s between cycles;
 * - `fixed-caps` (the first fix): every cycle takes at most 50 high, 20 medium and 10 low due
 *   schedules, high first and most overdue first within a lane, and syncs them one after
 *   another, 0.5 s between syncs, 10 s between cycles.
 *
 * They decide what is due with the same cadence engine as pacer (the next due point follows
 * from the point served, missed points coalesced), so the comparison is about the loop, not
 * about the cadences. A failed sync (of any kind) leaves the schedule due for the next cycle;
 * there are no retries within a cycle, no dead letters and no leases. A planner outage stops
 * the loop: no sync starts during one, and a new cycle begins when it ends. The shared limit
 * never binds a loop that runs one sync at a time.
 */
import { firstDueAt, laneAt, nextDueAt } from '../../../functions/schedule/cadence.js';
import { LANES, type Lane, type LaneThresholds } from '../../../functions/schedule/lane.js';
import type { PerLane } from '../../../functions/config.js';
import type { SimSchedule } from '../population.js';
import { stream } from '../random.js';
import type { RunRecord, StrategyName, SyncAttempt } from '../record.js';
import type { Scenario } from '../scenario.js';
import { drawCall, ProviderLimiter } from '../target.js';

interface LoopDesign {
  name: Extract<StrategyName, 'flat' | 'fixed-caps'>;
  /** Per-lane limits per cycle, or `null` for all due schedules. */
  caps: PerLane<number> | null;
  pauseBetweenSyncsMs: number;
  pauseBetweenCyclesMs: number;
}

export const FLAT: LoopDesign = {
  name: 'flat',
  caps: null,
  pauseBetweenSyncsMs: 1_000,
  pauseBetweenCyclesMs: 30_000,
};

export const FIXED_CAPS: LoopDesign = {
  name: 'fixed-caps',
  caps: { high: 50, medium: 20, low: 10 },
  pauseBetweenSyncsMs: 500,
  pauseBetweenCyclesMs: 10_000,
};

/** What a loop keeps per schedule: whether it is still going, when it is next due, its lane. */
interface LoopState {
  status: 'active' | 'finished';
  nextDueAt: number | null;
  lane: Lane;
}

interface Entry {
  schedule: SimSchedule;
  state: LoopState;
}

/** A schedule as it is written: first due from its creation, in the lane of that point. */
function initialState(schedule: SimSchedule, thresholds: LaneThresholds): LoopState {
  const { cadence, lane } = schedule.spec;
  const first = firstDueAt(cadence, schedule.createdAt);
  return {
    status: first === null ? 'finished' : 'active',
    nextDueAt: first,
    lane: laneAt(cadence, lane, first ?? schedule.createdAt, thresholds),
  };
}

/** Runs one of the old loops through the scenario. */
export function runSequential(
  design: LoopDesign,
  scenario: Scenario,
  schedules: readonly SimSchedule[],
): RunRecord {
  const thresholds = scenario.pacer.settings.laneThresholds;
  const rng = stream(scenario.seed, design.name);
  const entries: Entry[] = schedules.map((schedule) => ({
    schedule,
    state: initialState(schedule, thresholds),
  }));
  const attempts: SyncAttempt[] = [];
  const consecutiveFailures = new Map<string, number>();
  // The provider refuses calls over its rate limit; the old loops never heard of Retry-After.
  const provider = scenario.rateLimit === null ? null : new ProviderLimiter(scenario.rateLimit);
  let now = scenario.start - scenario.warmUpMs;

  const outageAt = (at: number) =>
    scenario.outages.find((outage) => at >= outage.from && at < outage.to);

  while (now < scenario.end) {
    const outage = outageAt(now);
    if (outage !== undefined) {
      now = outage.to;
      continue;
    }
    const cycle = chooseCycle(design, entries, now);
    for (const [index, entry] of cycle.entries()) {
      if (now >= scenario.end || outageAt(now) !== undefined) break;
      const dueAt = entry.state.nextDueAt ?? now;
      const refused = provider?.admit(now).ok === false;
      if (refused) {
        // A 429 before any work: the schedule stays due for the next cycle.
        const failures = consecutiveFailures.get(entry.schedule.id) ?? 0;
        attempts.push({
          scheduleId: entry.schedule.id,
          dueAt,
          start: now,
          end: now,
          outcome: 'rejected',
          attempt: failures + 1,
        });
        consecutiveFailures.set(entry.schedule.id, failures + 1);
        now += index < cycle.length - 1 ? design.pauseBetweenSyncsMs : 0;
        continue;
      }
      const call = drawCall(rng, scenario.syncDuration, scenario.failures);
      const end = now + call.durationMs;
      const failures = consecutiveFailures.get(entry.schedule.id) ?? 0;
      attempts.push({
        scheduleId: entry.schedule.id,
        dueAt,
        start: now,
        end,
        outcome: call.outcome,
        attempt: failures + 1,
      });
      if (call.outcome === 'success') {
        consecutiveFailures.delete(entry.schedule.id);
        const { cadence, lane } = entry.schedule.spec;
        const next = nextDueAt(cadence, dueAt, end);
        entry.state.nextDueAt = next;
        entry.state.status = next === null ? 'finished' : 'active';
        entry.state.lane = laneAt(cadence, lane, next ?? end, thresholds);
      } else {
        consecutiveFailures.set(entry.schedule.id, failures + 1);
      }
      now = end + (index < cycle.length - 1 ? design.pauseBetweenSyncsMs : 0);
    }
    now += design.pauseBetweenCyclesMs;
  }
  return { strategy: design.name, attempts, deadLetters: null, planner: null, usage: null };
}

/** What one cycle syncs, in order. */
function chooseCycle(design: LoopDesign, entries: readonly Entry[], now: number): Entry[] {
  const due = entries
    .filter(
      (entry) =>
        entry.state.status === 'active' &&
        entry.state.nextDueAt !== null &&
        entry.state.nextDueAt <= now,
    )
    .sort(
      (a, b) =>
        (a.state.nextDueAt ?? 0) - (b.state.nextDueAt ?? 0) ||
        (a.schedule.id < b.schedule.id ? -1 : 1),
    );
  const caps = design.caps;
  if (caps === null) return due;
  const byLane = (lane: Lane) =>
    due.filter((entry) => entry.state.lane === lane).slice(0, caps[lane]);
  return LANES.flatMap(byLane);
}
