/**
 * The cadence engine: when a schedule is due, how often, in which lane, and when it is done.
 *
 * Pure: times are milliseconds since the epoch, the clock is an argument, nothing is read or
 * written. The planner, the worker, the reconciler, the CLI and the simulator all ask it.
 *
 * Vocabulary:
 * - a *due point* is a time a schedule should be synced at;
 * - `nextDueAt(cadence, served, now)` is the due point after the one just served, with any
 *   points missed in between coalesced into one run;
 * - a cadence is *finished* once it will never be due again (an event after `startsAt + after`,
 *   an interval after `endAt`; a cron never finishes);
 * - a *spread* cadence (one with a `phase`, see spread.ts) has its points at an offset of
 *   `floor(phase × every)` within each interval instead of on the exact grid, so schedules that
 *   share a grid do not fall due together (a cron with `jitter`: each occurrence shifted by
 *   `floor(phase × jitter)`). Without a phase the points are the exact grid's.
 */
import { CronExpressionParser, type CronExpression } from 'cron-parser';
import { LANES, laneForInterval, type Lane, type LaneThresholds } from './lane.js';
import type { Cadence, CronCadence, EventCadence, IntervalCadence } from './spec.js';
import { spreadOffset } from './spread.js';

/** When the cadence stops for good, or `null` if it never does. */
export function finishesAt(cadence: Cadence): number | null {
  switch (cadence.kind) {
    case 'event':
      return cadence.startsAt + cadence.after;
    case 'interval':
      return cadence.endAt ?? null;
    case 'cron':
      return null;
  }
}

export function isFinished(cadence: Cadence, at: number): boolean {
  const end = finishesAt(cadence);
  return end !== null && at >= end;
}

/** The interval between syncs in force at `at`, or `null` once the cadence has finished. */
export function intervalAt(cadence: Cadence, at: number): number | null {
  switch (cadence.kind) {
    case 'event':
      return eventInterval(cadence, at);
    case 'interval':
      return isFinished(cadence, at) ? null : cadence.every;
    case 'cron':
      return cronNextAfter(cadence, at) - cronLatestAtOrBefore(cadence, at);
  }
}

/**
 * The lane a schedule belongs in at `at`: the operator's explicit lane wins; otherwise the lane
 * follows the interval in force (a finished cadence keeps the lane of its last interval).
 */
export function laneAt(
  cadence: Cadence,
  explicitLane: Lane | undefined,
  at: number,
  thresholds: LaneThresholds,
): Lane {
  if (explicitLane !== undefined) return explicitLane;
  return laneForInterval(intervalAt(cadence, at) ?? finalInterval(cadence), thresholds);
}

/**
 * When a schedule that has never run is first due, or `null` if it is already finished.
 *
 * Events and intervals are due at once (an interval with a future `startAt` at its first grid
 * point, one with a past `startAt` at its latest grid point, so the grid stays aligned). A
 * spread schedule due at once is due at `now` too (a new schedule is synced at once), and its
 * next point is the first of its spread grid after that. A cron schedule waits for its next
 * occurrence: creating it is not a missed run.
 */
export function firstDueAt(cadence: Cadence, now: number): number | null {
  if (isFinished(cadence, now)) return null;
  switch (cadence.kind) {
    case 'event':
      return now;
    case 'interval': {
      if (cadence.startAt === undefined) return now;
      const origin = intervalOrigin(cadence, cadence.startAt);
      if (origin > now) return isFinished(cadence, origin) ? null : origin;
      return origin + Math.floor((now - origin) / cadence.every) * cadence.every;
    }
    case 'cron':
      return cronNextAfter(cadence, now - 1);
  }
}

/**
 * The due point after `servedDueAt`, computed from the due point (not from when the sync ran),
 * so a schedule does not drift. Points missed by `now` are coalesced: if any lie in
 * `(servedDueAt, now]`, the latest of them is returned (due at once, run once); otherwise the
 * first point after `now`. An event never sleeps through a tier boundary: a step that would
 * jump past the moment a shorter interval takes over lands on that moment instead.
 *
 * Returns `null` when the cadence is finished.
 */
export function nextDueAt(cadence: Cadence, servedDueAt: number, now: number): number | null {
  let latestMissed: number | null = null;
  let at = servedDueAt;
  for (;;) {
    const next = step(cadence, at);
    if (next === null) return latestMissed;
    if (next > now) return latestMissed ?? next;
    at = fastForward(cadence, next, now);
    latestMissed = at;
  }
}

/**
 * The first moment after `after` at which the lane in force becomes more urgent than `lane`
 * (an event entering a faster tier), or `null` if it never does (an explicit lane, an interval,
 * a cron). The planner moves a schedule still waiting past that moment into the lane in force,
 * so a backlog in a slower lane cannot hold it back once it has become urgent.
 */
export function escalatesAt(
  cadence: Cadence,
  explicitLane: Lane | undefined,
  after: number,
  lane: Lane,
  thresholds: LaneThresholds,
): number | null {
  if (explicitLane !== undefined || cadence.kind !== 'event') return null;
  const rank = LANES.indexOf(lane);
  for (const boundary of eventBoundaries(cadence)) {
    if (boundary <= after) continue;
    if (LANES.indexOf(laneAt(cadence, undefined, boundary, thresholds)) < rank) return boundary;
  }
  return null;
}

/**
 * The due point a sync started at `now` serves, for a schedule due since `dueAt`: the latest
 * point of the cadence in `[dueAt, now]`. Points missed in between (an outage, a backlog) are
 * coalesced into that one run, and lateness and catch-up are judged against it.
 */
export function owedDueAt(cadence: Cadence, dueAt: number, now: number): number {
  if (dueAt >= now) return dueAt;
  const later = nextDueAt(cadence, dueAt, now);
  return later !== null && later <= now ? later : dueAt;
}

/** What to do with a due point that is found late: run it, or skip it (cron only). */
export type CatchUp = { run: true } | { run: false; missedByMs: number; nextDueAt: number };

/**
 * Decides whether a due point found at `now` still runs. A cron run missed by at most
 * `catchUpWithin` runs once; an older one is skipped to the next occurrence after `now`. Events
 * and intervals always run (late, once).
 */
export function catchUp(cadence: Cadence, dueAt: number, now: number): CatchUp {
  const missedByMs = now - dueAt;
  if (cadence.kind !== 'cron' || missedByMs <= cadence.catchUpWithin) return { run: true };
  return { run: false, missedByMs, nextDueAt: cronNextAfter(cadence, now) };
}

// ---------------------------------------------------------------------------------------------
// Stepping: one due point to the next, and whole runs of points at once.

/** The due point after `at`, without coalescing; `null` when the cadence is finished. */
function step(cadence: Cadence, at: number): number | null {
  switch (cadence.kind) {
    case 'event':
      return eventStep(cadence, at);
    case 'interval': {
      const next = intervalPointAfter(cadence, at);
      return isFinished(cadence, next) ? null : next;
    }
    case 'cron':
      return cronNextAfter(cadence, at);
  }
}

/**
 * The interval's first point after `at`: on the grid `startAt + k × every` when it has a
 * `startAt` (so editing `startAt` or `every` moves the points that follow, from wherever the
 * schedule stands), else one interval on. Spread, on the grid
 * `(startAt ?? 0) + floor(phase × every) + k × every` (k ≥ 0 with a `startAt`).
 */
function intervalPointAfter(cadence: IntervalCadence, at: number): number {
  if (cadence.startAt === undefined && cadence.phase === undefined) return at + cadence.every;
  const origin = intervalOrigin(cadence, cadence.startAt ?? 0);
  if (at < origin) return origin;
  return origin + (Math.floor((at - origin) / cadence.every) + 1) * cadence.every;
}

/** The interval's first grid point from `start`: `start` itself, or spread within an interval. */
function intervalOrigin(cadence: IntervalCadence, start: number): number {
  return start + spreadOffset(cadence.phase ?? 0, cadence.every);
}

/**
 * From due point `at` (≤ `now`), the last point that plain steps reach without passing `now`
 * or a change of interval. Lets `nextDueAt` cross a long outage in O(tiers), not O(points).
 */
function fastForward(cadence: Cadence, at: number, now: number): number {
  switch (cadence.kind) {
    case 'event': {
      if (cadence.phase !== undefined)
        return spreadEventFastForward(cadence, cadence.phase, at, now);
      const every = eventInterval(cadence, at);
      if (every === null) return at;
      const limit = eventSegmentEnd(cadence, at, every);
      return at + Math.min(wholeSteps(now - at, every), stepsBefore(limit - at, every)) * every;
    }
    case 'interval': {
      const steps = wholeSteps(now - at, cadence.every);
      const end = cadence.endAt;
      return (
        at +
        (end === undefined ? steps : Math.min(steps, stepsBefore(end - at, cadence.every))) *
          cadence.every
      );
    }
    case 'cron': {
      // Around a DST gap cron-parser's prev() can land before a point next() produced; never go
      // backwards (the caller then steps forward with next(), which always advances).
      const latest = cronLatestAtOrBefore(cadence, now);
      return latest > at ? latest : at;
    }
  }
}

/** How many whole `every` steps fit in `span`. */
function wholeSteps(span: number, every: number): number {
  return Math.floor(span / every);
}

/** How many whole `every` steps stay strictly before `span`. */
function stepsBefore(span: number, every: number): number {
  return Math.ceil(span / every) - 1;
}

function finalInterval(cadence: Cadence): number {
  switch (cadence.kind) {
    case 'event':
      return cadence.tiers[0]?.every ?? cadence.otherwise;
    case 'interval':
      return cadence.every;
    case 'cron':
      return 0; // never finishes; unreachable through laneAt
  }
}

// ---------------------------------------------------------------------------------------------
// Events.

function eventInterval(cadence: EventCadence, at: number): number | null {
  if (at >= cadence.startsAt + cadence.after) return null;
  const left = cadence.startsAt - at;
  // Tiers are sorted closest first; the closest tier whose window has begun is in force.
  for (const tier of cadence.tiers) if (left <= tier.before) return tier.every;
  return cadence.otherwise;
}

/** Tier boundaries (the moment each tier comes into force), earliest first. */
function eventBoundaries(cadence: EventCadence): number[] {
  return cadence.tiers.map((tier) => cadence.startsAt - tier.before).sort((a, b) => a - b);
}

function eventStep(cadence: EventCadence, at: number): number | null {
  const every = eventInterval(cadence, at);
  if (every === null) return null;
  if (cadence.phase !== undefined) {
    const next = Math.min(at + every, spreadEventPointAfter(cadence, cadence.phase, at));
    return next >= cadence.startsAt + cadence.after ? null : next;
  }
  let next = at + every;
  for (const boundary of eventBoundaries(cadence)) {
    if (boundary <= at || boundary >= next) continue;
    const then = eventInterval(cadence, boundary);
    if (then !== null && then < every) {
      next = boundary;
      break;
    }
  }
  return next >= cadence.startsAt + cadence.after ? null : next;
}

/** The first moment after `at` where the interval stops being `every`: a boundary or the end. */
function eventSegmentEnd(cadence: EventCadence, at: number, every: number): number {
  for (const boundary of eventBoundaries(cadence)) {
    if (boundary > at && eventInterval(cadence, boundary) !== every) return boundary;
  }
  return cadence.startsAt + cadence.after;
}

// ---------------------------------------------------------------------------------------------
// Spread events.
//
// An event's time line is cut into *runs*: stretches where one interval is in force (adjacent
// tiers of the same interval make one run). The spread points of a run that begins at `start`
// with interval `every` are `start + floor(phase × every) + k × every` within the run (the run
// before the first tier, which has no beginning, counts from `startsAt` instead). From a point,
// the next is the earlier of one interval on and the first spread point after it, so a
// schedule lands on the first spread point of a faster tier (within one new interval of its
// boundary) and never waits longer than the interval it was in.

interface EventRun {
  /** Where the run begins (`-Infinity` for the run before the first tier). */
  start: number;
  /** Where the next run begins, or the event's end. */
  end: number;
  every: number;
}

const runsOf = new WeakMap<EventCadence, EventRun[]>();

/** The runs of an event, earliest first; remembered per (never mutated) cadence object. */
function eventRuns(cadence: EventCadence): EventRun[] {
  const known = runsOf.get(cadence);
  if (known !== undefined) return known;
  const end = cadence.startsAt + cadence.after;
  const runs: EventRun[] = [];
  let start = -Infinity;
  let every = cadence.otherwise;
  for (const boundary of eventBoundaries(cadence)) {
    if (boundary >= end) break;
    const then = eventInterval(cadence, boundary);
    if (then === null || then === every) continue;
    runs.push({ start, end: boundary, every });
    start = boundary;
    every = then;
  }
  runs.push({ start, end, every });
  runsOf.set(cadence, runs);
  return runs;
}

/** The run's first spread point at or after `from`, or `null` if none lies before its end. */
function spreadPointFrom(cadence: EventCadence, phase: number, run: EventRun, from: number) {
  const origin =
    (Number.isFinite(run.start) ? run.start : cadence.startsAt) + spreadOffset(phase, run.every);
  const point = origin + Math.ceil((from - origin) / run.every) * run.every;
  return point < run.end ? point : null;
}

/** The first spread point strictly after `at` (`Infinity` when the event has none left). */
function spreadEventPointAfter(cadence: EventCadence, phase: number, at: number): number {
  for (const run of eventRuns(cadence)) {
    if (run.end <= at) continue;
    const point = spreadPointFrom(cadence, phase, run, Math.max(at + 1, run.start));
    if (point !== null) return point;
  }
  return Infinity;
}

/** The latest spread point of `at`'s run at or before `now` (and after `at`), else `at`. */
function spreadEventFastForward(
  cadence: EventCadence,
  phase: number,
  at: number,
  now: number,
): number {
  const run = eventRuns(cadence).find((candidate) => candidate.start <= at && at < candidate.end);
  if (run === undefined) return at;
  const limit = Math.min(now, run.end - 1);
  const origin =
    (Number.isFinite(run.start) ? run.start : cadence.startsAt) + spreadOffset(phase, run.every);
  const latest = origin + Math.floor((limit - origin) / run.every) * run.every;
  return latest > at ? latest : at;
}

// ---------------------------------------------------------------------------------------------
// Cron, through cron-parser (time zones and DST).

const cronCache = new Map<string, CronExpression>();

function cronFor(cadence: CronCadence): CronExpression {
  const key = `${cadence.timezone}\n${cadence.expression}`;
  let expression = cronCache.get(key);
  if (expression === undefined) {
    if (cronCache.size >= 1_000) cronCache.clear();
    expression = CronExpressionParser.parse(cadence.expression, { tz: cadence.timezone });
    cronCache.set(key, expression);
  }
  return expression;
}

/** How far a cron's occurrences are shifted: `floor(phase × jitter)`, 0 without jitter. */
function cronShift(cadence: CronCadence): number {
  return cadence.jitter === undefined ? 0 : spreadOffset(cadence.phase ?? 0, cadence.jitter);
}

/** The first (shifted) occurrence strictly after `at`. */
function cronNextAfter(cadence: CronCadence, at: number): number {
  const shift = cronShift(cadence);
  const expression = cronFor(cadence);
  expression.reset(new Date(at - shift));
  return expression.next().getTime() + shift;
}

/** The last (shifted) occurrence at or before `at`. */
function cronLatestAtOrBefore(cadence: CronCadence, at: number): number {
  const shift = cronShift(cadence);
  const expression = cronFor(cadence);
  expression.reset(new Date(at - shift + 1));
  return expression.prev().getTime() + shift;
}
