/**
 * `pacer explain <id>`: a schedule in words (its cadence, the rule, interval and lane in force
 * now, what is planned next, what failed last) and its recent runs held against the cadence,
 * with the due points no run served marked as gaps.
 *
 * The comparison ({@link compareWithCadence}) is pure. It walks the cadence from the oldest run
 * shown, one due point at a time, the way a schedule that is never late would be served:
 * `nextDueAt(cadence, p, p)` (now = the point served, so nothing is coalesced) gives the point
 * after `p`. Each point the walk reaches is
 * - `covered` when a run served it (a run's `dueAt` equals it; workers compute due points from
 *   the cadence, never from the clock, so a served point matches exactly),
 * - `missed` when no run served it and the schedule has moved past it (a later run exists, or
 *   it lies before the due point the schedule owes now); consecutive missed points form one gap,
 * - not judged when it is the point owed now or later (shown as `due` if it is due already).
 * A run whose due point the walk does not reach exactly (the cadence was changed, or its first
 * run was anchored elsewhere) is shown as `off cadence`, and the walk continues from it.
 */
import { nextDueAt } from '../schedule/cadence.js';
import { formatDuration } from '../schedule/duration.js';
import { validateSchedule, validationFor, type Cadence, type Runner } from '../schedule/spec.js';
import { iso } from '../schedule/time.js';
import { runsQuery } from '../store/queries.js';
import { owedSince, unrecordedWindow } from '../protocol/state.js';
import { millis, readState } from '../store/state.js';
import { readSchedules } from './schedule-read.js';
import type { CliContext } from './context.js';
import { describeCadence, describeTarget, ruleInForce } from './describe.js';
import {
  NONE,
  formatSpan,
  formatTime,
  formatTimeFrom,
  plural,
  renderFields,
  renderTable,
} from './output.js';
import { isoOrNull, plain } from './plain.js';
import { OperationError } from './errors.js';
import { describePause, pauseView, type PauseView } from './pause-note.js';
import {
  DEFAULT_UPCOMING,
  upcomingJson,
  upcomingRuns,
  renderUpcoming,
  type UpcomingJson,
} from './upcoming.js';

/** One record of `schedules/{id}/runs`. */
export interface RunRecord {
  leaseId: string;
  dueAt: number;
  /** running, retrying, succeeded, dead_lettered. */
  status: string;
  attempt: number | null;
  startedAt: number | null;
  finishedAt: number | null;
  durationMs: number | null;
  lateMs: number | null;
  /** The last error, as `code: message`. */
  error: string | null;
  /** Why it ran: `planned`, `replay`, `manual` (`schedules trigger`), `backfill`. */
  runKind?: string;
}

export type TimelineEntry =
  | { kind: 'run'; dueAt: number; mark: 'covered' | 'off_cadence'; run: RunRecord }
  /** Consecutive due points no run served. `exact: false`: at least `missed` (walk cut short). */
  | { kind: 'gap'; from: number; to: number; missed: number; exact: boolean }
  /** The due point the schedule owes now, not served yet. */
  | { kind: 'due'; dueAt: number };

export interface Comparison {
  entries: TimelineEntry[];
  /** Due points served by a run on the cadence. */
  covered: number;
  /** Runs whose due point was not on the cadence walk. */
  offCadence: number;
  /** Due points no run served (a lower bound if a gap was cut short). */
  missed: number;
  gaps: number;
}

/** Due points walked one by one per gap before the rest of a long gap is jumped over. */
export const GAP_WALK_LIMIT = 1_000;

/**
 * Holds `runs` against the cadence (see the file comment). `owedDueAt` is the due point the
 * schedule owes now (`null` when it is paused, finished or invalid: then only the gaps between
 * runs count, not the time since the last one).
 */
export function compareWithCadence(input: {
  cadence: Cadence;
  runs: readonly RunRecord[];
  owedDueAt: number | null;
  now: number;
  gapWalkLimit?: number;
  /**
   * No gap is judged from `from` to `until` (on without end when `null`): runs there may have no
   * record (`runHistory: "failures"`; see `unrecordedWindow`).
   */
  unrecorded?: { from: number; until: number | null };
}): Comparison {
  const { cadence, owedDueAt, now } = input;
  const limit = input.gapWalkLimit ?? GAP_WALK_LIMIT;
  const byDueAt = new Map<number, RunRecord[]>();
  for (const run of [...input.runs].sort((a, b) => (a.startedAt ?? 0) - (b.startedAt ?? 0))) {
    byDueAt.set(run.dueAt, [...(byDueAt.get(run.dueAt) ?? []), run]);
  }
  const points = [...byDueAt.keys()].sort((a, b) => a - b);
  const entries: TimelineEntry[] = [];
  const served = (dueAt: number, mark: 'covered' | 'off_cadence') => {
    for (const run of byDueAt.get(dueAt) ?? []) entries.push({ kind: 'run', dueAt, mark, run });
  };

  const first = points[0];
  if (first !== undefined) {
    const last = points.at(-1) ?? first;
    // Missed points after the last run count only while the schedule owes a later point.
    const tailEnd = owedDueAt === null ? last : Math.min(owedDueAt, now + 1);
    served(first, 'covered');
    let at = first;
    let index = 1;
    for (;;) {
      const run = points[index];
      const next = nextDueAt(cadence, at, at);
      if (next === null) {
        // The cadence ended after `at`: any later run is off it.
        for (const dueAt of points.slice(index)) served(dueAt, 'off_cadence');
        break;
      }
      if (run !== undefined && run <= next) {
        served(run, run === next ? 'covered' : 'off_cadence');
        at = run;
        index += 1;
        continue;
      }
      const end = run ?? tailEnd; // missed points lie in [next, end)
      if (next >= end) break;
      const gap = walkGap(cadence, next, end, limit);
      // Between the points served without a record, a point without one may have been served:
      // no gap is judged there.
      const hidden = input.unrecorded;
      if (
        hidden === undefined ||
        gap.from < hidden.from ||
        (hidden.until !== null && gap.from > hidden.until)
      ) {
        entries.push({ kind: 'gap', ...gap });
      }
      at = gap.to;
    }
  }
  if (owedDueAt !== null && owedDueAt <= now && !byDueAt.has(owedDueAt)) {
    entries.push({ kind: 'due', dueAt: owedDueAt });
  }
  entries.sort((a, b) => entryTime(a) - entryTime(b));

  const runs = entries.filter((entry) => entry.kind === 'run');
  const gaps = entries.filter((entry) => entry.kind === 'gap');
  return {
    entries,
    covered: new Set(runs.filter((e) => e.mark === 'covered').map((e) => e.dueAt)).size,
    offCadence: runs.filter((entry) => entry.mark === 'off_cadence').length,
    missed: gaps.reduce((sum, gap) => sum + gap.missed, 0),
    gaps: gaps.length,
  };
}

/** The due points from `from` (a point) up to `end` (exclusive), counted one by one up to `limit`. */
function walkGap(
  cadence: Cadence,
  from: number,
  end: number,
  limit: number,
): { from: number; to: number; missed: number; exact: boolean } {
  let to = from;
  let missed = 1;
  for (;;) {
    const next = nextDueAt(cadence, to, to);
    if (next === null || next >= end) return { from, to, missed, exact: true };
    if (missed >= limit) {
      // Coalescing jumps to the latest point before `end` without walking the rest.
      const latest = nextDueAt(cadence, to, end - 1);
      return { from, to: latest !== null && latest < end ? latest : to, missed, exact: false };
    }
    to = next;
    missed += 1;
  }
}

function entryTime(entry: TimelineEntry): number {
  return entry.kind === 'gap' ? entry.from : entry.dueAt;
}

// ---------------------------------------------------------------------------------------------
// The command.

export interface ExplainResult {
  id: string;
  name: string | null;
  at: string;
  enabled: boolean;
  status: string | null;
  health: string | null;
  valid: boolean;
  problems: string[];
  /** The cadence in words, and as written in the document. */
  cadence: { description: string; written: unknown } | null;
  target: string | null;
  /** Where its syncs run: `request` (in the push request) or `job` (a Cloud Run job execution). */
  runner: Runner;
  /** What the cadence gives now. */
  inForce: {
    interval: string | null;
    intervalMs: number | null;
    rule: string | null;
    lane: string;
    laneSource: 'schedule' | 'interval';
  } | null;
  planned: {
    /** The lane the planner queries the schedule in (the lane in force at `nextDueAt`). */
    lane: string | null;
    nextDueAt: string | null;
    /** The due point owed now (while in flight: the one the lease serves). */
    owedDueAt: string | null;
    lease: {
      id: string;
      until: string;
      attempt: number;
      dispatchedAt: string;
      startedAt: string | null;
      /** An attempt runs under it now. */
      running: boolean;
      /** The running attempt's last heartbeat (its start or latest renewal). */
      renewedAt: string | null;
    } | null;
  };
  lastSuccessAt: string | null;
  lastDurationMs: number | null;
  lastError: { code: string; message: string; at: string } | null;
  consecutiveFailures: number;
  runCount: number;
  /**
   * The first and the last point served by a run with no record (`runHistory: "failures"`;
   * `unrecordedUntil` `null` with `unrecordedFrom` set: no end kept): gaps between them are not
   * judged.
   */
  unrecordedFrom: string | null;
  unrecordedUntil: string | null;
  /** Who paused it, when and why (`null`: not paused, or paused by hand in the document). */
  pause: PauseView | null;
  /** The next due points, each with the lane and rule in force at it (none when not planned). */
  upcoming: UpcomingJson[];
  runs: {
    limit: number;
    shown: number;
    covered: number;
    offCadence: number;
    missed: number;
    gaps: number;
    timeline: TimelineJson[];
  };
}

export type TimelineJson =
  | {
      kind: 'run';
      dueAt: string;
      mark: 'covered' | 'off_cadence';
      leaseId: string;
      status: string;
      attempt: number | null;
      startedAt: string | null;
      finishedAt: string | null;
      durationMs: number | null;
      lateMs: number | null;
      error: string | null;
      /** Why it ran: `planned`, `replay`, `manual`, `backfill`. */
      runKind: string;
    }
  | { kind: 'gap'; from: string; to: string; missed: number; exact: boolean }
  | { kind: 'due'; dueAt: string };

/** Runs `explain` reads by default. */
export const DEFAULT_RUNS = 20;

export async function explainSchedule(
  context: CliContext,
  id: string,
  options: { runs: number; upcoming?: number },
): Promise<ExplainResult> {
  const now = context.clock();
  const [[read], runsSnapshot] = await Promise.all([
    readSchedules(context.db, [id]),
    runsQuery(context.db, id).limit(options.runs).get(),
  ]);
  const data = read?.data ?? null;
  if (data === null) throw new OperationError(`no schedule "${id}"`);
  const state = readState(data);
  const validation = validateSchedule(data, validationFor(context.settings), id);
  const runs = runsSnapshot.docs.flatMap((doc) => {
    const run = readRun(doc.id, doc.data());
    return run === null ? [] : [run];
  });
  const spec = validation.ok ? validation.spec : null;
  const rule = spec === null ? null : ruleInForce(spec, now, context.settings.laneThresholds);
  const owed = state.status === 'active' ? owedSince(state) : null;
  // From the first point served without a record (`runHistory: "failures"`) the history has
  // gaps that are no misses: every run is shown, but gaps are judged only before it.
  const unrecorded = unrecordedWindow(state);
  const comparison =
    spec === null
      ? null
      : compareWithCadence({
          cadence: spec.cadence,
          runs,
          owedDueAt: owed,
          now,
          ...(unrecorded === null ? {} : { unrecorded }),
        });

  const upcoming =
    spec === null
      ? []
      : upcomingRuns(
          spec,
          state,
          now,
          context.settings.laneThresholds,
          options.upcoming ?? DEFAULT_UPCOMING,
        );
  return {
    id,
    name: typeof data.name === 'string' ? data.name : null,
    at: iso(now),
    enabled: data.enabled !== false,
    status: state.status,
    health: state.health,
    valid: validation.ok,
    problems: validation.ok ? [] : validation.problems,
    cadence:
      spec === null
        ? null
        : { description: describeCadence(spec.cadence), written: plain(data.cadence) },
    target: spec === null ? null : describeTarget(spec.target),
    runner: spec?.runner ?? 'request',
    inForce:
      rule === null
        ? null
        : {
            interval: rule.intervalMs === null ? null : formatDuration(rule.intervalMs),
            intervalMs: rule.intervalMs,
            rule: rule.rule,
            lane: rule.lane,
            laneSource: rule.laneSource,
          },
    planned: {
      lane: state.lane,
      nextDueAt: isoOrNull(state.nextDueAt),
      owedDueAt: isoOrNull(owed),
      lease:
        state.lease === null || state.lease.until <= now
          ? null
          : {
              id: state.lease.id,
              until: iso(state.lease.until),
              attempt: state.lease.attempt,
              dispatchedAt: iso(state.lease.dispatchedAt),
              startedAt: isoOrNull(state.lease.startedAt),
              running: state.lease.running,
              renewedAt: isoOrNull(state.lease.renewedAt ?? null),
            },
    },
    lastSuccessAt: isoOrNull(state.lastSuccessAt),
    lastDurationMs: state.lastDurationMs,
    lastError:
      state.lastError === null
        ? null
        : {
            code: state.lastError.code,
            message: state.lastError.message,
            at: iso(state.lastError.at),
          },
    consecutiveFailures: state.consecutiveFailures,
    runCount: state.runCount,
    unrecordedFrom: isoOrNull(unrecorded?.from ?? null),
    unrecordedUntil: isoOrNull(unrecorded?.until ?? null),
    pause: pauseView(state.pause),
    upcoming: upcoming.map(upcomingJson),
    runs: {
      limit: options.runs,
      shown: runs.length,
      covered: comparison?.covered ?? 0,
      offCadence: comparison?.offCadence ?? 0,
      missed: comparison?.missed ?? 0,
      gaps: comparison?.gaps ?? 0,
      timeline: (comparison?.entries ?? []).map(timelineJson),
    },
  };
}

/** A run record from Firestore; `null` for one without a due point (it never started). */
export function readRun(leaseId: string, data: Record<string, unknown>): RunRecord | null {
  const dueAt = millis(data.dueAt);
  if (dueAt === null) return null;
  const lastError = data.lastError as { code?: unknown; message?: unknown } | null | undefined;
  return {
    leaseId,
    dueAt,
    status: typeof data.status === 'string' ? data.status : 'unknown',
    attempt: typeof data.attempt === 'number' ? data.attempt : null,
    startedAt: millis(data.firstStartedAt),
    finishedAt: millis(data.finishedAt),
    durationMs: typeof data.durationMs === 'number' ? data.durationMs : null,
    lateMs: typeof data.lateMs === 'number' ? data.lateMs : null,
    runKind: typeof data.kind === 'string' ? data.kind : 'planned',
    error:
      typeof lastError === 'object' && lastError !== null
        ? `${typeof lastError.code === 'string' ? lastError.code : 'unexpected'}: ${typeof lastError.message === 'string' ? lastError.message : ''}`
        : null,
  };
}

function timelineJson(entry: TimelineEntry): TimelineJson {
  switch (entry.kind) {
    case 'run':
      return {
        kind: 'run',
        dueAt: iso(entry.dueAt),
        mark: entry.mark,
        leaseId: entry.run.leaseId,
        status: entry.run.status,
        attempt: entry.run.attempt,
        startedAt: isoOrNull(entry.run.startedAt),
        finishedAt: isoOrNull(entry.run.finishedAt),
        durationMs: entry.run.durationMs,
        lateMs: entry.run.lateMs,
        error: entry.run.error,
        runKind: entry.run.runKind ?? 'planned',
      };
    case 'gap':
      return {
        kind: 'gap',
        from: iso(entry.from),
        to: iso(entry.to),
        missed: entry.missed,
        exact: entry.exact,
      };
    case 'due':
      return { kind: 'due', dueAt: iso(entry.dueAt) };
  }
}

// ---------------------------------------------------------------------------------------------
// Text.

export function renderExplain(result: ExplainResult, now: number): string {
  const lease = result.planned.lease;
  const lastError = result.lastError;
  const header = renderFields([
    ['id', result.id],
    // The id stands in for a schedule without a name.
    ['name', result.name ?? result.id],
    [
      'status',
      `${result.status ?? 'unplanned'}${result.enabled ? '' : ' (disabled)'}, health ${result.health ?? NONE}`,
    ],
    ['cadence', result.cadence?.description ?? null],
    ['target', result.target],
    [
      'in force now',
      result.inForce === null
        ? null
        : result.inForce.interval === null
          ? 'nothing: the cadence has finished'
          : `every ${result.inForce.interval}${result.inForce.rule === null ? '' : ` (${result.inForce.rule})`}, lane ${result.inForce.lane} (${result.inForce.laneSource === 'schedule' ? 'set by the schedule' : 'follows the interval'})`,
    ],
    [
      'next due',
      result.planned.nextDueAt === null
        ? 'not planned'
        : `${formatTimeFrom(result.planned.nextDueAt, now)} in lane ${result.planned.lane ?? NONE}`,
    ],
    [
      'in flight',
      lease === null
        ? null
        : `${result.runner === 'job' ? 'long sync (job execution), ' : ''}lease ${lease.id} serving ${formatTime(result.planned.owedDueAt)}, attempt ${lease.attempt}, ${lease.startedAt === null ? 'dispatched, not started' : `started ${formatTimeFrom(lease.startedAt, now)}`}${lease.running && lease.renewedAt !== null ? `, last heartbeat ${formatTimeFrom(lease.renewedAt, now)}` : ''}, until ${formatTime(lease.until)}`,
    ],
    [
      'last success',
      result.lastSuccessAt === null ? 'never' : formatTimeFrom(result.lastSuccessAt, now),
    ],
    [
      'last error',
      lastError === null
        ? null
        : `${lastError.code}: ${lastError.message}, at ${formatTimeFrom(lastError.at, now)}${result.consecutiveFailures > 0 ? `; ${plural(result.consecutiveFailures, 'failure')} in a row` : ''}`,
    ],
    ['paused', result.pause === null ? null : describePause(result.pause, now)],
    ['completed runs', String(result.runCount)],
    [
      'run history',
      result.unrecordedFrom === null
        ? null
        : result.unrecordedUntil === null
          ? `first-attempt successes have no record from ${formatTime(result.unrecordedFrom)} (PACER_RUN_HISTORY=failures): gaps are judged only before it`
          : `first-attempt successes have no record from ${formatTime(result.unrecordedFrom)} to ${formatTime(result.unrecordedUntil)} (PACER_RUN_HISTORY=failures): gaps are judged only outside that`,
    ],
  ]);
  const sections = [header];
  if (result.valid) sections.push(renderUpcoming(result.upcoming, now));
  if (!result.valid) {
    sections.push(
      [
        'invalid; pacer does not plan it until it is fixed:',
        ...result.problems.map((p) => `  ${p}`),
      ].join('\n'),
    );
    return sections.join('\n\n');
  }
  const runs = result.runs;
  if (runs.shown === 0) {
    sections.push('no runs recorded yet');
    return sections.join('\n\n');
  }
  sections.push(
    [
      `last ${plural(runs.shown, 'run')} against the cadence, oldest first:`,
      renderTable(
        [
          {
            header: 'DUE',
            value: (e: TimelineJson) => formatTime(e.kind === 'gap' ? e.from : e.dueAt),
          },
          { header: 'MARK', value: (e) => markOf(e) },
          { header: 'RUN', value: (e) => (e.kind === 'run' ? e.status : NONE) },
          {
            header: 'ATTEMPT',
            value: (e) => (e.kind === 'run' && e.attempt !== null ? String(e.attempt) : NONE),
            align: 'right',
          },
          {
            header: 'LATE',
            value: (e) => (e.kind === 'run' ? formatSpan(e.lateMs) : NONE),
            align: 'right',
          },
          {
            header: 'DURATION',
            value: (e) => (e.kind === 'run' ? formatSpan(e.durationMs) : NONE),
            align: 'right',
          },
          { header: 'NOTE', value: (e) => noteOf(e), maxWidth: 80 },
        ],
        runs.timeline,
      ),
      `${plural(runs.covered, 'due point')} covered, ${plural(runs.gaps, 'gap')} (${runs.missed} missed)${runs.offCadence > 0 ? `, ${plural(runs.offCadence, 'run')} off the cadence` : ''}`,
    ].join('\n'),
  );
  return sections.join('\n\n');
}

function markOf(entry: TimelineJson): string {
  switch (entry.kind) {
    case 'run':
      return entry.mark === 'covered' ? 'covered' : 'off cadence';
    case 'gap':
      return 'MISSED';
    case 'due':
      return 'due';
  }
}

function noteOf(entry: TimelineJson): string {
  switch (entry.kind) {
    case 'run': {
      const why = entry.runKind === 'planned' ? '' : `${entry.runKind} run`;
      return [why, entry.error ?? ''].filter((part) => part !== '').join(': ');
    }
    case 'gap': {
      const count = `${entry.exact ? '' : 'at least '}${plural(entry.missed, 'due point')}`;
      return entry.missed === 1 ? `gap: ${count}` : `gap: ${count} through ${formatTime(entry.to)}`;
    }
    case 'due':
      return 'owed now, not served yet';
  }
}
