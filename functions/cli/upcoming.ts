/**
 * The next due points of a schedule, each with the lane and the rule (tier) in force at it: what
 * `explain` and `schedules show` list as upcoming runs. Pure: from the spec, the state and `now`.
 *
 * The walk starts at the point the schedule owes (`owedSince`: due already, or its next one) and
 * steps as the protocol does after serving a point at `now`: `nextDueAt(cadence, p, max(p, now))`,
 * so points missed by then are coalesced into the latest of them, as a late run would.
 */
import { laneAt, nextDueAt } from '../schedule/cadence.js';
import type { Lane, LaneThresholds } from '../schedule/lane.js';
import type { ScheduleSpec } from '../schedule/spec.js';
import { owedSince, type ScheduleState } from '../protocol/state.js';
import { formatDuration } from '../schedule/duration.js';
import { ruleInForce } from './describe.js';
import { NONE, formatTimeFrom, renderTable } from './output.js';

/** Upcoming runs listed by default. */
export const DEFAULT_UPCOMING = 5;
/** The most `--upcoming` lists. */
export const MAX_UPCOMING = 100;

export interface UpcomingRun {
  dueAt: number;
  /** The lane the planner dispatches it in: the lane in force at `dueAt`. */
  lane: Lane;
  /** The interval in force at `dueAt` (for cron, the gap between the occurrences around it). */
  intervalMs: number | null;
  /** Which rule of an event or interval gives it: a tier, `otherwise`, `after the start`. */
  rule: string | null;
}

/**
 * Up to `count` due points from the one owed, oldest first; none for a schedule that is not
 * planned (paused, invalid, finished, not reconciled yet), and fewer when its cadence ends first.
 */
export function upcomingRuns(
  spec: ScheduleSpec,
  state: ScheduleState,
  now: number,
  thresholds: LaneThresholds,
  count: number = DEFAULT_UPCOMING,
): UpcomingRun[] {
  if (!spec.enabled || state.status !== 'active') return [];
  let at = owedSince(state);
  const runs: UpcomingRun[] = [];
  while (at !== null && runs.length < count) {
    const rule = ruleInForce(spec, at, thresholds);
    runs.push({
      dueAt: at,
      lane: laneAt(spec.cadence, spec.lane, at, thresholds),
      intervalMs: rule.intervalMs,
      rule: spec.cadence.kind === 'cron' ? null : rule.rule,
    });
    at = nextDueAt(spec.cadence, at, Math.max(at, now));
  }
  return runs;
}

/** An upcoming run as `--json` gives it. */
export interface UpcomingJson {
  dueAt: string;
  lane: Lane;
  interval: string | null;
  intervalMs: number | null;
  rule: string | null;
}

export function upcomingJson(run: UpcomingRun): UpcomingJson {
  return {
    dueAt: new Date(run.dueAt).toISOString(),
    lane: run.lane,
    interval: run.intervalMs === null ? null : formatDuration(run.intervalMs),
    intervalMs: run.intervalMs,
    rule: run.rule,
  };
}

/** The upcoming runs as a table under a heading, or why there are none. */
export function renderUpcoming(runs: readonly UpcomingJson[], now: number): string {
  if (runs.length === 0)
    return 'upcoming runs: none (not planned: paused, finished or not reconciled)';
  return `next ${runs.length === 1 ? 'due point' : `${runs.length} due points`}:\n${renderTable(
    [
      { header: 'DUE', value: (run: UpcomingJson) => formatTimeFrom(run.dueAt, now) },
      { header: 'LANE', value: (run) => run.lane },
      { header: 'EVERY', value: (run) => run.interval ?? NONE },
      { header: 'RULE', value: (run) => run.rule ?? NONE, maxWidth: 60 },
    ],
    runs,
  )}`;
}
