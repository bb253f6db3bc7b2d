/**
 * From a run to numbers: coverage, lateness, duplicates, dead letters, deferrals and cost, per
 * lane. Pure. The definitions (also in docs/simulator.md):
 *
 * - *Required due points*: for each schedule, the due points its cadence asks for, walked
 *   with the real engine from its first due point (`firstDueAt` at creation, then
 *   `nextDueAt(cadence, d, d)`: every point served on time). A point `d` belongs to the lane
 *   in force at `d` and has the interval `I` in force at `d`.
 * - *Expected*: required points in the window `[start, end)` whose coverage window
 *   `[d, d + I + one sub-tick)` ends by `end` (so it can be judged).
 * - *Covered*: some successful sync of the schedule started in `[d, d + I + one sub-tick)`.
 * - *Lateness* of a successful sync: its start minus the due point it served (every strategy
 *   serves explicit due points from the same engine); counted for syncs started in the window,
 *   in the lane of the point served.
 * - *Duplicate*: a call of a schedule's target that starts while another call of the same
 *   schedule is still running.
 */
import type { PerLane } from '../../functions/config.js';
import { perLane } from '../../functions/planner/plan.js';
import { firstDueAt, intervalAt, laneAt, nextDueAt } from '../../functions/schedule/cadence.js';
import { LANES, type Lane, type LaneThresholds } from '../../functions/schedule/lane.js';
import { itemAt } from './arrays.js';
import type { SimSchedule } from './population.js';
import type {
  AttemptOutcome,
  DeadLetterRecord,
  PlannerCounts,
  RunRecord,
  StrategyName,
  SyncAttempt,
  UsageCounts,
} from './record.js';
import { meanDuration, type Scenario } from './scenario.js';

/** A due point the cadence asks for. */
export interface DuePoint {
  at: number;
  intervalMs: number;
  lane: Lane;
}

export interface Percentiles {
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

export interface LaneResult {
  /** Required due points that can be judged in the window. */
  expected: number;
  covered: number;
  /** `covered / expected`, or `null` when nothing was expected. */
  coverage: number | null;
  /** Successful syncs started in the window. */
  syncs: number;
  /** Calls of the target started in the window, whatever their outcome. */
  attempts: number;
  /** Lateness of the successful syncs, ms. */
  lateness: Percentiles | null;
  /** Dead letters in the window; `null` for designs without dead letters. */
  deadLetters: number | null;
  /** pacer only: due schedules the planner deferred, summed over sub-ticks. */
  deferred: number | null;
  /** pacer only: sub-ticks that deferred some of the lane's schedules / had demand. */
  deferringSubTicks: number | null;
  demandSubTicks: number | null;
  maxDeferred: number | null;
  /** pacer only: sub-ticks with demand that left the lane below its reserved slots. */
  belowReserve: number | null;
  /** Share of the shared limit's slot-time that the lane's calls used in the window. */
  slotShare: number | null;
}

/** How fast high-lane coverage came back after a planner outage. */
export interface OutageRecovery {
  from: number;
  to: number;
  /**
   * From the planner's return to the first high-lane due point after which every high-lane
   * point (until the next outage or the end) is covered; 0 when none after the return was
   * missed; `null` when coverage never came back.
   */
  highRecoveryMs: number | null;
  /** High-lane points due from 10 minutes after the return that were covered. */
  highCoverageFromTenMinutes: number | null;
}

/** Usage per successful sync (all of the run, warm-up included), for pacer. */
export interface CostPerSync {
  firestoreReads: number;
  firestoreWrites: number;
  messagesPublished: number;
  deliveries: number;
  invocations: number;
}

export interface StrategyResult {
  strategy: StrategyName;
  lanes: PerLane<LaneResult>;
  total: {
    expected: number;
    covered: number;
    coverage: number | null;
    syncs: number;
    attempts: number;
    outcomes: Record<AttemptOutcome, number>;
  };
  duplicates: number;
  deadLetters: number | null;
  outages: OutageRecovery[];
  planner: PlannerCounts | null;
  usage: UsageCounts | null;
  costPerSync: CostPerSync | null;
}

/** What the schedules ask of the capacity, from their required due points alone. */
export interface Load {
  /** Mean sync duration, ms. */
  meanSyncMs: number;
  /** Syncs per minute the shared limit can serve at the mean duration; `null` without one. */
  capacityPerMinute: number | null;
  bucketMinutes: number;
  lanes: PerLane<{ meanPerMinute: number; peakPerMinute: number }>;
  total: { meanPerMinute: number; minPerMinute: number; peakPerMinute: number };
  /** The high lane's peak demand as a share of the shared limit (slots needed / limit). */
  highPeakShareOfLimit: number | null;
  /** All lanes' least demand, in multiples of the shared limit. */
  totalMinTimesLimit: number | null;
}

const LOAD_BUCKET_MINUTES = 10;

/** The due points a schedule's cadence asks for from its creation until `until`. */
export function requiredDuePoints(
  schedule: SimSchedule,
  until: number,
  thresholds: LaneThresholds,
): DuePoint[] {
  const { cadence, lane } = schedule.spec;
  const points: DuePoint[] = [];
  let at = firstDueAt(cadence, schedule.createdAt);
  while (at !== null && at < until) {
    const intervalMs = intervalAt(cadence, at);
    if (intervalMs === null) break;
    points.push({ at, intervalMs, lane: laneAt(cadence, lane, at, thresholds) });
    at = nextDueAt(cadence, at, at);
  }
  return points;
}

/** The measuring stick shared by every strategy of one scenario. */
export interface Yardstick {
  scenario: Scenario;
  schedules: readonly SimSchedule[];
  /** Per schedule id, the required due points within the window. */
  points: ReadonlyMap<string, DuePoint[]>;
  subTickMs: number;
  thresholds: LaneThresholds;
}

export function yardstick(scenario: Scenario, schedules: readonly SimSchedule[]): Yardstick {
  const thresholds = scenario.pacer.settings.laneThresholds;
  const points = new Map<string, DuePoint[]>();
  for (const schedule of schedules) {
    points.set(
      schedule.id,
      requiredDuePoints(schedule, scenario.end, thresholds).filter(
        (point) => point.at >= scenario.start,
      ),
    );
  }
  return {
    scenario,
    schedules,
    points,
    subTickMs: scenario.pacer.settings.subTickSeconds * 1_000,
    thresholds,
  };
}

/** Demand per lane over the window, against the shared limit. */
export function measureLoad(stick: Yardstick): Load {
  const { scenario } = stick;
  const bucketMs = LOAD_BUCKET_MINUTES * 60_000;
  const buckets = Math.max(1, Math.floor((scenario.end - scenario.start) / bucketMs));
  const counts = perLane(() => new Array<number>(buckets).fill(0));
  for (const points of stick.points.values()) {
    for (const point of points) {
      const bucket = Math.floor((point.at - scenario.start) / bucketMs);
      if (bucket < buckets) counts[point.lane][bucket] = (counts[point.lane][bucket] ?? 0) + 1;
    }
  }
  const perMinute = (count: number) => count / LOAD_BUCKET_MINUTES;
  const lanes = perLane((lane) => ({
    meanPerMinute: round(perMinute(sum(counts[lane]) / buckets), 2),
    peakPerMinute: round(perMinute(Math.max(...counts[lane])), 2),
  }));
  const totals = Array.from({ length: buckets }, (_, i) =>
    LANES.reduce((total, lane) => total + (counts[lane][i] ?? 0), 0),
  );
  const meanSyncMs = meanDuration(scenario.syncDuration);
  const limit = scenario.sharedLimit;
  const slotsNeeded = (syncsPerMinute: number) => (syncsPerMinute * meanSyncMs) / 60_000;
  return {
    meanSyncMs: round(meanSyncMs, 0),
    capacityPerMinute: limit === null ? null : round((limit * 60_000) / meanSyncMs, 2),
    bucketMinutes: LOAD_BUCKET_MINUTES,
    lanes,
    total: {
      meanPerMinute: round(perMinute(sum(totals) / buckets), 2),
      minPerMinute: round(perMinute(Math.min(...totals)), 2),
      peakPerMinute: round(perMinute(Math.max(...totals)), 2),
    },
    highPeakShareOfLimit:
      limit === null ? null : round(slotsNeeded(perMinute(Math.max(...counts.high))) / limit, 3),
    totalMinTimesLimit:
      limit === null ? null : round(slotsNeeded(perMinute(Math.min(...totals))) / limit, 2),
  };
}

/** Measures one strategy's run. */
export function measureRun(stick: Yardstick, run: RunRecord): StrategyResult {
  const { scenario, thresholds } = stick;
  const byId = new Map(stick.schedules.map((schedule) => [schedule.id, schedule]));
  const laneOf = (scheduleId: string, at: number): Lane => {
    const schedule = byId.get(scheduleId);
    if (schedule === undefined) throw new Error(`unknown schedule ${scheduleId}`);
    return laneAt(schedule.spec.cadence, schedule.spec.lane, at, thresholds);
  };
  const inWindow = (at: number) => at >= scenario.start && at < scenario.end;

  const successStarts = successStartsById(run.attempts);
  const coverage = coverageByLane(stick, successStarts);

  const lateness = perLane((): number[] => []);
  const syncs = perLane(() => 0);
  const attempts = perLane(() => 0);
  const busyMs = perLane(() => 0);
  const outcomes: Record<AttemptOutcome, number> = {
    success: 0,
    retryable: 0,
    timeout: 0,
    permanent: 0,
    crash: 0,
    aborted: 0,
    rejected: 0,
  };
  for (const attempt of run.attempts) {
    if (!inWindow(attempt.start)) continue;
    const lane = laneOf(attempt.scheduleId, attempt.dueAt);
    attempts[lane] += 1;
    outcomes[attempt.outcome] += 1;
    busyMs[lane] += Math.min(attempt.end, scenario.end) - attempt.start;
    if (attempt.outcome === 'success') {
      syncs[lane] += 1;
      lateness[lane].push(attempt.start - attempt.dueAt);
    }
  }
  const deadLetters = perLane(() => 0);
  for (const letter of run.deadLetters ?? []) {
    if (inWindow(letter.at)) deadLetters[laneOf(letter.scheduleId, letter.dueAt)] += 1;
  }
  const windowMs = scenario.end - scenario.start;
  const planner = run.planner;

  const lanes = perLane((lane): LaneResult => ({
    expected: coverage[lane].expected,
    covered: coverage[lane].covered,
    coverage: ratio(coverage[lane].covered, coverage[lane].expected),
    syncs: syncs[lane],
    attempts: attempts[lane],
    lateness: percentiles(lateness[lane]),
    deadLetters: run.deadLetters === null ? null : deadLetters[lane],
    deferred: planner?.lanes[lane].deferred ?? null,
    deferringSubTicks: planner?.lanes[lane].deferringSubTicks ?? null,
    demandSubTicks: planner?.lanes[lane].demandSubTicks ?? null,
    maxDeferred: planner?.lanes[lane].maxDeferred ?? null,
    belowReserve: planner?.lanes[lane].belowReserve ?? null,
    slotShare:
      scenario.sharedLimit === null
        ? null
        : round(busyMs[lane] / (scenario.sharedLimit * windowMs), 4),
  }));
  const expected = sum(LANES.map((lane) => lanes[lane].expected));
  const covered = sum(LANES.map((lane) => lanes[lane].covered));
  const allSyncs = run.attempts.filter((attempt) => attempt.outcome === 'success').length;

  return {
    strategy: run.strategy,
    lanes,
    total: {
      expected,
      covered,
      coverage: ratio(covered, expected),
      syncs: sum(LANES.map((lane) => syncs[lane])),
      attempts: sum(LANES.map((lane) => attempts[lane])),
      outcomes,
    },
    duplicates: countDuplicates(run.attempts, scenario.end),
    deadLetters: run.deadLetters === null ? null : sum(LANES.map((lane) => deadLetters[lane])),
    outages: scenario.outages
      .filter((outage) => outage.to > scenario.start && outage.to < scenario.end)
      .map((outage) => recovery(stick, successStarts, outage)),
    planner,
    usage: run.usage,
    costPerSync:
      run.usage === null || allSyncs === 0
        ? null
        : {
            firestoreReads: round(run.usage.firestoreReads / allSyncs, 2),
            firestoreWrites: round(run.usage.firestoreWrites / allSyncs, 2),
            messagesPublished: round(run.usage.messagesPublished / allSyncs, 2),
            deliveries: round(run.usage.deliveries / allSyncs, 2),
            invocations: round(run.usage.invocations / allSyncs, 2),
          },
  };
}

/** One schedule's required points against one run: which were covered, which missed. */
export interface ScheduleRun {
  strategy: StrategyName;
  expected: number;
  covered: number;
  missed: number[];
  /** Missed points grouped into runs of consecutive required points. */
  missedRuns: { from: number; to: number; count: number }[];
  attempts: (SyncAttempt & { lane: Lane; latenessMs: number })[];
  deadLetters: DeadLetterRecord[] | null;
}

/** The detail of one schedule under one run. */
export function measureSchedule(stick: Yardstick, run: RunRecord, scheduleId: string): ScheduleRun {
  const schedule = stick.schedules.find((candidate) => candidate.id === scheduleId);
  if (schedule === undefined) throw new Error(`unknown schedule ${scheduleId}`);
  const own = run.attempts.filter((attempt) => attempt.scheduleId === scheduleId);
  const starts = successStartsById(own).get(scheduleId) ?? [];
  const missed: number[] = [];
  const missedRuns: { from: number; to: number; count: number }[] = [];
  let expected = 0;
  let previousMissed = false;
  for (const point of stick.points.get(scheduleId) ?? []) {
    if (!judged(stick, point)) continue;
    expected += 1;
    const covered = isCovered(starts, point, stick.subTickMs);
    if (!covered) {
      missed.push(point.at);
      const last = missedRuns[missedRuns.length - 1];
      if (previousMissed && last !== undefined) {
        last.to = point.at;
        last.count += 1;
      } else {
        missedRuns.push({ from: point.at, to: point.at, count: 1 });
      }
    }
    previousMissed = !covered;
  }
  const { cadence, lane } = schedule.spec;
  return {
    strategy: run.strategy,
    expected,
    covered: expected - missed.length,
    missed,
    missedRuns,
    attempts: own
      .filter(
        (attempt) => attempt.start >= stick.scenario.start && attempt.start < stick.scenario.end,
      )
      .map((attempt) => ({
        ...attempt,
        lane: laneAt(cadence, lane, attempt.dueAt, stick.thresholds),
        latenessMs: attempt.start - attempt.dueAt,
      })),
    deadLetters:
      run.deadLetters === null
        ? null
        : run.deadLetters.filter((letter) => letter.scheduleId === scheduleId),
  };
}

// ---------------------------------------------------------------------------------------------

function successStartsById(attempts: readonly SyncAttempt[]): Map<string, number[]> {
  const starts = new Map<string, number[]>();
  for (const attempt of attempts) {
    if (attempt.outcome !== 'success') continue;
    let list = starts.get(attempt.scheduleId);
    if (list === undefined) {
      list = [];
      starts.set(attempt.scheduleId, list);
    }
    list.push(attempt.start);
  }
  for (const list of starts.values()) list.sort((a, b) => a - b);
  return starts;
}

function judged(stick: Yardstick, point: DuePoint): boolean {
  return point.at + point.intervalMs + stick.subTickMs <= stick.scenario.end;
}

function isCovered(sortedStarts: readonly number[], point: DuePoint, subTickMs: number): boolean {
  const first = lowerBound(sortedStarts, point.at);
  const start = sortedStarts[first];
  return start !== undefined && start < point.at + point.intervalMs + subTickMs;
}

function coverageByLane(stick: Yardstick, successStarts: ReadonlyMap<string, number[]>) {
  const result = perLane(() => ({ expected: 0, covered: 0 }));
  for (const [id, points] of stick.points) {
    const starts = successStarts.get(id) ?? [];
    for (const point of points) {
      if (!judged(stick, point)) continue;
      result[point.lane].expected += 1;
      if (isCovered(starts, point, stick.subTickMs)) result[point.lane].covered += 1;
    }
  }
  return result;
}

function recovery(
  stick: Yardstick,
  successStarts: ReadonlyMap<string, number[]>,
  outage: { from: number; to: number },
): OutageRecovery {
  const { scenario } = stick;
  const spanEnd = Math.min(
    scenario.end,
    ...scenario.outages.filter((other) => other.from >= outage.to).map((other) => other.from),
  );
  const high: { at: number; covered: boolean }[] = [];
  for (const [id, points] of stick.points) {
    const starts = successStarts.get(id) ?? [];
    for (const point of points) {
      if (point.lane !== 'high' || point.at < outage.to || point.at >= spanEnd) continue;
      if (!judged(stick, point)) continue;
      high.push({ at: point.at, covered: isCovered(starts, point, stick.subTickMs) });
    }
  }
  high.sort((a, b) => a.at - b.at);
  // Recovered from the first point after the last one missed (points due together share a time).
  const missed = high.filter((point) => !point.covered);
  const lastMissedAt = missed.length === 0 ? null : Math.max(...missed.map((point) => point.at));
  const recoveredFrom =
    lastMissedAt === null ? undefined : high.find((point) => point.at > lastMissedAt);
  const fromTen = high.filter((point) => point.at >= outage.to + 10 * 60_000);
  return {
    from: outage.from,
    to: outage.to,
    highRecoveryMs:
      lastMissedAt === null ? 0 : recoveredFrom === undefined ? null : recoveredFrom.at - outage.to,
    highCoverageFromTenMinutes: ratio(
      fromTen.filter((point) => point.covered).length,
      fromTen.length,
    ),
  };
}

/** Calls that started while another call of the same schedule was still running. */
function countDuplicates(attempts: readonly SyncAttempt[], before: number): number {
  const byId = new Map<string, SyncAttempt[]>();
  for (const attempt of attempts) {
    if (attempt.outcome === 'rejected' || attempt.start >= before) continue;
    const list = byId.get(attempt.scheduleId) ?? [];
    list.push(attempt);
    byId.set(attempt.scheduleId, list);
  }
  let duplicates = 0;
  for (const list of byId.values()) {
    list.sort((a, b) => a.start - b.start);
    let runningUntil = -Infinity;
    for (const attempt of list) {
      if (attempt.start < runningUntil) duplicates += 1;
      runningUntil = Math.max(runningUntil, attempt.end);
    }
  }
  return duplicates;
}

/** Nearest-rank percentiles. */
export function percentiles(values: readonly number[]): Percentiles | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p: number) => itemAt(sorted, Math.max(0, Math.ceil(p * sorted.length) - 1));
  return {
    p50: rank(0.5),
    p95: rank(0.95),
    p99: rank(0.99),
    max: itemAt(sorted, sorted.length - 1),
  };
}

function lowerBound(sorted: readonly number[], value: number): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const middle = (low + high) >> 1;
    if (itemAt(sorted, middle) < value) low = middle + 1;
    else high = middle;
  }
  return low;
}

function ratio(part: number, whole: number): number | null {
  return whole === 0 ? null : part / whole;
}

function sum(values: readonly number[]): number {
  return values.reduce((total, value) => total + value, 0);
}

function round(value: number, digits: number): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}
