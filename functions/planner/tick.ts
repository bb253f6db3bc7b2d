/**
 * One planner invocation: take the planner lease, then run sub-ticks until the tick's budget
 * is spent. Each sub-tick counts what is due and in flight per lane, reads exactly the
 * schedules the plan can dispatch (most overdue first), screens them (invalid, paused, cron
 * runs too old to catch up), plans, claims each with a conditional write, publishes the claims
 * to their lane topics and releases the claims whose publish failed. Work per sub-tick is
 * bounded by the caps; nothing here waits for a sync.
 *
 * Clock, sleep and ids are injected: the HTTP entry point passes the real ones, the tests a
 * clock they move.
 */
import type { Firestore } from '@google-cloud/firestore';
import type { Bus } from '../bus/publisher.js';
import type { PerLane, Settings } from '../config.js';
import type { Logger } from '../log.js';
import { catchUp, escalatesAt, laneAt, owedDueAt } from '../schedule/cadence.js';
import { iso } from '../schedule/time.js';
import { LANES } from '../schedule/lane.js';
import { validateSchedule, type ScheduleSpec } from '../schedule/spec.js';
import {
  claimSchedules,
  countDue,
  countInFlight,
  escalate,
  markInvalid,
  markPaused,
  readDue,
  readEscalations,
  releaseClaim,
  resumeAfterReplay,
  skipMissedRun,
  type ClaimRequest,
  type DueSchedule,
} from '../store/claims.js';
import type { LiveConfig } from '../store/live-config.js';
import {
  acquirePlannerLease,
  releasePlannerLease,
  renewPlannerLease,
} from '../store/planner-lease.js';
import { ReadMeter } from '../store/queries.js';
import { servedDueAt } from '../store/state.js';
import { escalationWhileHeld } from '../store/transitions.js';
import { appendSummary, readRecentSummaries } from '../store/stats.js';
import { allocate, perLane, plan, type Candidate } from './plan.js';

export interface TickDeps {
  db: Firestore;
  bus: Bus;
  config: LiveConfig;
  logger: Logger;
  clock: () => number;
  sleep: (ms: number) => Promise<void>;
  newId: () => string;
  /** Who is planning, for the planner lease (instance and process). */
  holder: string;
}

export interface LaneSummary {
  due: number;
  dispatched: number;
  deferred: number;
  inFlight: number;
  oldestLagMs: number | null;
}

/** What one sub-tick did; logged as `tick.summary` and kept in `pacer/stats`. */
export interface SubTickSummary {
  at: string;
  subTick: number;
  durationMs: number;
  documentsRead: number;
  lanes: PerLane<LaneSummary>;
  claimed: number;
  conflicts: number;
  /** Claims Firestore did not accept (not conflicts): they wait for a later sub-tick. */
  claimFailed: number;
  published: number;
  publishFailed: number;
  released: number;
  invalid: number;
  paused: number;
  skipped: number;
  /** Schedules moved to a more urgent lane because they waited past a tier boundary. */
  escalated: number;
}

export type TickResult =
  | { outcome: 'busy'; holder: string; until: string }
  | {
      outcome: 'completed';
      durationMs: number;
      subTicks: SubTickSummary[];
      /** Sub-ticks that failed (logged as `tick.subtick_failed`); the others still ran. */
      failedSubTicks: number;
    };

/** Runs one planner invocation. */
export async function runTick(
  deps: TickDeps,
  options: { traceparent?: string } = {},
): Promise<TickResult> {
  const started = deps.clock();
  const settings = await liveSettings(deps);
  const leaseId = deps.newId();
  const budgetMs = settings.tickBudgetSeconds * 1_000;
  const lease = await acquirePlannerLease(deps.db, {
    leaseId,
    holder: deps.holder,
    now: started,
    // Long enough for the whole tick; a crashed planner's lease lapses before the next minute.
    until: started + budgetMs + 30_000,
  });
  if (lease.kind === 'busy') {
    deps.logger.info(
      { event: 'tick.busy', holder: lease.holder, until: iso(lease.until) },
      `another planner (${lease.holder}) holds the planner lease until ${iso(lease.until)}`,
    );
    return { outcome: 'busy', holder: lease.holder, until: iso(lease.until) };
  }

  const periodMs = settings.subTickSeconds * 1_000;
  const subTicks: SubTickSummary[] = [];
  let failedSubTicks = 0;
  try {
    let recent = await readRecentSummaries<SubTickSummary>(deps.db);
    for (let index = 0; ; index++) {
      if (index > 0) {
        const wait = started + index * periodMs - deps.clock();
        if (wait > 0) await deps.sleep(wait);
        // Hold the planner lease through this sub-tick; if it lapsed and another planner took
        // it, that planner plans now.
        const renewed = await renewPlannerLease(deps.db, {
          leaseId,
          until: deps.clock() + periodMs + 30_000,
        });
        if (renewed === 'lost') {
          deps.logger.warn(
            { event: 'tick.busy', lost: true },
            'the planner lease was lost mid-tick; another planner plans now',
          );
          break;
        }
      }
      try {
        const summary = await runSubTick(deps, settings, index, options.traceparent);
        subTicks.push(summary);
        recent = await appendSummary(deps.db, recent, summary);
      } catch (error) {
        // One sub-tick's failure (Firestore unavailable, say) must not cost the rest of the
        // minute: what it claimed and did not publish is due again after the dispatch grace.
        failedSubTicks++;
        deps.logger.error(
          { event: 'tick.subtick_failed', subTick: index, err: error },
          `sub-tick ${index} failed: ${(error as Error).message}`,
        );
      }
      const nextStart = (index + 1) * periodMs;
      if (nextStart >= budgetMs || deps.clock() - started >= budgetMs) break;
    }
  } finally {
    await releasePlannerLease(deps.db, { leaseId, now: deps.clock() });
  }
  const durationMs = deps.clock() - started;
  if (durationMs > budgetMs + periodMs) {
    deps.logger.warn(
      { event: 'alert.tick_slow', scope: 'tick', durationMs, budgetMs },
      `tick took ${durationMs} ms, over its budget of ${budgetMs} ms`,
    );
  }
  return { outcome: 'completed', durationMs, subTicks, failedSubTicks };
}

/** One sub-tick at the clock's current time. */
export async function runSubTick(
  deps: TickDeps,
  settings: Settings,
  index: number,
  traceparent?: string,
): Promise<SubTickSummary> {
  const now = deps.clock();
  const meter = new ReadMeter();
  const { db, logger } = deps;

  // Schedules that became more urgent while they waited move to the lane in force first, so
  // they are counted and planned there in this very sub-tick.
  const escalated = await escalateWaiting(deps, settings, now, meter);

  const [inFlight, due] = await Promise.all([
    perLaneAsync((lane) => countInFlight(db, lane, now, meter)),
    perLaneAsync((lane) => countDue(db, lane, now, meter)),
  ]);
  // Read only what can be dispatched (and one schedule of a lane that gets nothing, for its lag).
  const allowance = allocate(due, inFlight, settings);
  const read = await perLaneAsync((lane) =>
    due[lane] > 0
      ? readDue(db, lane, now, Math.max(1, allowance[lane]), meter)
      : Promise.resolve([]),
  );

  const screened = await screen(
    deps,
    settings,
    LANES.flatMap((lane) => read[lane]),
    now,
  );
  const candidates = perLane((lane) => screened.candidates.filter((c) => c.lane === lane));
  const decided = plan({ due, candidates, inFlight, now }, settings);

  const requests = decided.dispatch.map((candidate): ClaimRequest => {
    const screenedSchedule = screened.byId.get(candidate.id);
    if (screenedSchedule === undefined) {
      throw new Error(`planned ${candidate.id}, which was not screened`);
    }
    // Long enough for a worker to pick the message up; the worker then holds the lease by
    // heartbeat for as long as the sync runs.
    const until = now + settings.dispatchGraceSeconds * 1_000;
    const { spec } = screenedSchedule;
    return {
      schedule: screenedSchedule.schedule,
      leaseId: deps.newId(),
      dueAt: screenedSchedule.serves,
      until,
      escalatesAt: escalationWhileHeld(spec, candidate.lane, until, now, settings.laneThresholds),
      now,
    };
  });
  const outcomes = await claimSchedules(db, requests);
  const claimed = outcomes.flatMap((outcome) => (outcome.kind === 'claimed' ? [outcome] : []));
  const claimFailures = outcomes.flatMap((outcome) => (outcome.kind === 'failed' ? [outcome] : []));
  if (claimFailures.length > 0) {
    logger.error(
      { event: 'tick.claim_failed', failed: claimFailures.length, err: claimFailures[0]?.error },
      `${claimFailures.length} claims could not be written; those schedules wait for the next sub-tick`,
    );
  }

  const published = await deps.bus.publish(
    claimed.map(({ request }) => ({
      v: 1 as const,
      scheduleId: request.schedule.id,
      leaseId: request.leaseId,
      dueAt: iso(request.dueAt),
      lane: request.schedule.state.lane ?? 'low',
    })),
    traceparent,
  );
  let released = 0;
  const failed = published.flatMap((result, i) =>
    result.ok ? [] : [{ result, claim: claimed[i] }],
  );
  for (const { claim } of failed) {
    if (claim === undefined) continue;
    const outcome = await releaseClaim({
      ref: claim.request.schedule.ref,
      // Due again from the point it has waited since, so it keeps its place in the queue.
      dueAt: screened.byId.get(claim.request.schedule.id)?.waitingSince ?? claim.request.dueAt,
      escalatesAt: claim.request.schedule.state.escalatesAt,
      writeTime: claim.writeTime,
    });
    if (outcome === 'released') released++;
  }
  if (failed.length > 0) {
    const first = failed[0]?.result;
    logger.error(
      {
        event: 'tick.publish_failed',
        failed: failed.length,
        released,
        err: first?.ok === false ? first.error : undefined,
      },
      `${failed.length} dispatch messages could not be published; ${released} claims released`,
    );
  }

  const summary: SubTickSummary = {
    at: iso(now),
    subTick: index,
    durationMs: deps.clock() - now,
    documentsRead: meter.documents,
    lanes: perLane((lane) => {
      const dispatched = published.filter(
        (result) => result.ok && result.message.lane === lane,
      ).length;
      return {
        due: decided.lanes[lane].due,
        dispatched,
        deferred: decided.lanes[lane].due - dispatched,
        inFlight: decided.lanes[lane].inFlight,
        oldestLagMs: decided.lanes[lane].oldestLagMs,
      };
    }),
    claimed: claimed.length,
    conflicts: outcomes.filter((outcome) => outcome.kind === 'conflict').length,
    claimFailed: claimFailures.length,
    published: published.length - failed.length,
    publishFailed: failed.length,
    released,
    invalid: screened.invalid,
    paused: screened.paused,
    skipped: screened.skipped,
    escalated,
  };
  report(logger, settings, summary);
  return summary;
}

/** Most schedules one sub-tick moves to a more urgent lane (the rest follow next sub-tick). */
const ESCALATIONS_PER_SUB_TICK = 200;

/**
 * Moves schedules waiting in the medium and low lanes past the moment they became more urgent
 * (an event entering a faster tier while a backlog held it) into the lane in force now.
 */
async function escalateWaiting(
  deps: TickDeps,
  settings: Settings,
  now: number,
  meter: ReadMeter,
): Promise<number> {
  let moved = 0;
  for (const lane of ['medium', 'low'] as const) {
    for (const schedule of await readEscalations(
      deps.db,
      lane,
      now,
      ESCALATIONS_PER_SUB_TICK,
      meter,
    )) {
      const validation = validateSchedule(schedule.data);
      if (!validation.ok) {
        // Out of the escalation query too, or it would come back every sub-tick.
        await markInvalid(schedule, validation.problems);
        continue;
      }
      const { cadence, lane: explicit } = validation.spec;
      const laneNow = laneAt(cadence, explicit, now, settings.laneThresholds);
      const outcome = await escalate(schedule, {
        lane: laneNow,
        escalatesAt: escalatesAt(cadence, explicit, now, laneNow, settings.laneThresholds),
      });
      if (outcome === 'marked' && laneNow !== lane) moved++;
    }
  }
  return moved;
}

interface Screened {
  schedule: DueSchedule;
  spec: ScheduleSpec;
  /** The oldest due point it still owes: how long it has waited (the plan orders by it). */
  waitingSince: number;
  /** The due point a dispatch now serves: the latest one owed, the missed ones coalesced. */
  serves: number;
}

/**
 * Turns due documents into candidates. A document that fails validation is marked invalid
 * and logged once (it leaves the due index); a disabled one is paused; a cron run missed by
 * more than its catch-up window is skipped to its next occurrence. None of them stops the tick.
 */
async function screen(
  deps: TickDeps,
  settings: Settings,
  schedules: readonly DueSchedule[],
  now: number,
) {
  const candidates: Candidate[] = [];
  const byId = new Map<string, Screened>();
  let invalid = 0;
  let paused = 0;
  let skipped = 0;
  for (const schedule of schedules) {
    const log = deps.logger.child({ scheduleId: schedule.id });
    const validation = validateSchedule(schedule.data);
    if (!validation.ok) {
      if ((await markInvalid(schedule, validation.problems)) === 'marked') {
        invalid++;
        log.warn(
          { event: 'schedule.invalid', problems: validation.problems },
          `schedule ${schedule.id} is invalid: ${validation.problems.join('; ')}`,
        );
      }
      continue;
    }
    const spec = validation.spec;
    if (!spec.enabled) {
      if ((await markPaused(schedule)) === 'marked') paused++;
      continue;
    }
    // The point this dispatch serves: the latest one owed by now (missed ones coalesce into
    // it), and the one a cron's catch-up window is judged against. The queue order stays by
    // the oldest point owed, so a schedule that has waited longest still goes first.
    const waitingSince = servedDueAt(schedule.state) ?? now;
    if (waitingSince > now) {
      // A replay whose lease lapsed with the schedule's own next point still ahead: not due.
      const lane = laneAt(spec.cadence, spec.lane, waitingSince, settings.laneThresholds);
      await resumeAfterReplay(schedule, {
        nextDueAt: waitingSince,
        dueAt: schedule.state.lease?.resumeDueAt ?? null,
        lane,
        escalatesAt: escalatesAt(
          spec.cadence,
          spec.lane,
          waitingSince,
          lane,
          settings.laneThresholds,
        ),
      });
      continue;
    }
    const dueAt = owedDueAt(spec.cadence, waitingSince, now);
    const decision = catchUp(spec.cadence, dueAt, now);
    if (!decision.run) {
      const lane = laneAt(spec.cadence, spec.lane, decision.nextDueAt, settings.laneThresholds);
      const outcome = await skipMissedRun(schedule, {
        nextDueAt: decision.nextDueAt,
        lane,
        escalatesAt: escalatesAt(
          spec.cadence,
          spec.lane,
          decision.nextDueAt,
          lane,
          settings.laneThresholds,
        ),
        skippedDueAt: dueAt,
      });
      if (outcome === 'marked') {
        skipped++;
        log.warn(
          {
            event: 'schedule.skipped',
            dueAt: iso(dueAt),
            missedByMs: decision.missedByMs,
            nextDueAt: iso(decision.nextDueAt),
          },
          `skipped the run due ${iso(dueAt)}: missed by more than its catch-up window`,
        );
      }
      continue;
    }
    const lane = schedule.state.lane ?? 'low';
    candidates.push({ id: schedule.id, dueAt: waitingSince, lane });
    byId.set(schedule.id, { schedule, spec, waitingSince, serves: dueAt });
  }
  return { candidates, byId, invalid, paused, skipped };
}

/** Logs the summary and raises the alert events operators and metrics key on. */
function report(logger: Logger, settings: Settings, summary: SubTickSummary): void {
  logger.info(
    { event: 'tick.summary', ...summary },
    `sub-tick ${summary.subTick}: dispatched ${LANES.map((lane) => `${lane} ${summary.lanes[lane].dispatched}/${summary.lanes[lane].due}`).join(', ')}`,
  );
  const high = summary.lanes.high;
  if (high.deferred > settings.alerts.highDeferred) {
    logger.error(
      {
        event: 'alert.high_deferred',
        deferred: high.deferred,
        threshold: settings.alerts.highDeferred,
        oldestLagMs: high.oldestLagMs,
      },
      `${high.deferred} high-lane schedules deferred (threshold ${settings.alerts.highDeferred})`,
    );
  }
  const backlog = LANES.reduce((sum, lane) => sum + summary.lanes[lane].due, 0);
  if (backlog > settings.alerts.backlog) {
    logger.warn(
      { event: 'alert.backlog', due: backlog, threshold: settings.alerts.backlog },
      `${backlog} schedules due across lanes (threshold ${settings.alerts.backlog})`,
    );
  }
  const periodMs = settings.subTickSeconds * 1_000;
  if (summary.durationMs > periodMs) {
    logger.warn(
      {
        event: 'alert.tick_slow',
        scope: 'sub-tick',
        durationMs: summary.durationMs,
        budgetMs: periodMs,
      },
      `sub-tick took ${summary.durationMs} ms, longer than its ${periodMs} ms period`,
    );
  }
}

async function liveSettings(deps: TickDeps): Promise<Settings> {
  const live = await deps.config.refresh(deps.db);
  if (live.kind === 'invalid') {
    deps.logger.error(
      { event: 'config.invalid', problems: live.problems },
      `pacer/config is invalid, keeping the last good settings: ${live.problems.join('; ')}`,
    );
  }
  return live.settings;
}

async function perLaneAsync<T>(
  value: (lane: (typeof LANES)[number]) => Promise<T>,
): Promise<PerLane<T>> {
  const [high, medium, low] = await Promise.all(LANES.map(value));
  return { high: high as T, medium: medium as T, low: low as T };
}
