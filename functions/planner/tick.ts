/**
 * One planner invocation: take the planner lease, then run sub-ticks until the tick's budget
 * is spent. Each sub-tick moves waiting schedules that became more urgent into their lane,
 * counts what is due and in flight per lane, reads exactly the schedules the plan can dispatch
 * (most overdue first), screens them, plans, claims each with a conditional write, publishes the
 * claims to their lane topics and gives back the claims whose publish failed. Work per sub-tick
 * is bounded by the caps; nothing here waits for a sync.
 *
 * Every change of a schedule is a protocol decision (functions/protocol/decisions.ts) at the
 * store's time, applied through the store port; clock, ids, store and bus are injected: the HTTP
 * entry point passes the real ones, the tests and the simulator their own.
 */
import type { DispatchMessage } from '../bus/message.js';
import type { DispatchBus, PublishOutcome } from '../bus/port.js';
import type { Clock } from '../clock.js';
import type { PerLane, Settings } from '../config.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import {
  claim,
  escalate,
  screen,
  unclaim,
  type ClaimUndo,
  type Screening,
} from '../protocol/decisions.js';
import type { Patch } from '../protocol/patch.js';
import type { Lease } from '../protocol/state.js';
import { LANES, type Lane } from '../schedule/lane.js';
import { shardSettings, WHOLE, withShard, type Shard } from '../schedule/shard.js';
import { iso } from '../schedule/time.js';
import type { LiveConfig } from '../store/live-config.js';
import type {
  ConditionalOutcome,
  PlannerStore,
  ScheduleStore,
  StoredSchedule,
} from '../store/port.js';
import { ReadMeter } from '../store/queries.js';
import { hasRoom, perLane, plan, roomFor, type Candidate } from './plan.js';
import { releasePlannerLease, renewPlannerLease, takePlannerLease } from './lease.js';
import type { RateLimitStore } from '../ratelimit/store.js';
import { chargePlanned, KeyBudgets, type RateLimitMemory } from './rate-limits.js';

export interface TickDeps {
  store: ScheduleStore & PlannerStore;
  bus: DispatchBus;
  config: LiveConfig;
  logger: Logger;
  clock: Clock;
  newId: () => string;
  /** Who is planning, for the planner lease (instance and process). */
  holder: string;
  /** Provider keys' buckets and blocks (`rateLimits/{key}`); without it, no key is limited. */
  rateLimits?: RateLimitStore;
  /**
   * The shard this invocation plans (its store is scoped to it): its share of the in-flight
   * budgets; by default the whole (one planner).
   */
  shard?: Shard;
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
  /** Claims the store did not accept (not conflicts): they wait for a later sub-tick. */
  claimFailed: number;
  published: number;
  publishFailed: number;
  released: number;
  invalid: number;
  paused: number;
  skipped: number;
  /** Schedules moved to a more urgent lane because they waited past a tier boundary. */
  escalated: number;
  /** Schedules whose step failed on their own (logged as `schedule.error`); the rest went on. */
  errors: number;
  /** Due schedules held back by their provider key's rate limit or block. */
  rateLimited?: number;
  /** A refill sub-tick (between sub-ticks, while due points waited for room): no alerts. */
  refill?: true;
  /** Points due by the next sub-tick waited for in-flight room: refill sub-ticks follow. */
  waitingForRoom?: boolean;
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
  const { clock, store } = deps;
  const started = clock.now();
  const settings = shardSettings(await liveSettings(deps), deps.shard ?? WHOLE);
  const leaseId = deps.newId();
  const budgetMs = settings.tickBudgetSeconds * 1_000;
  const { outcome: lease, held } = await takePlannerLease(store, clock, {
    leaseId,
    holder: deps.holder,
    // Long enough for the whole tick; a crashed planner's lease lapses before the next minute.
    forMs: budgetMs + 30_000,
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
  // The provider keys' tokens, kept for the whole tick (see ./rate-limits.ts).
  const rateMemory: RateLimitMemory = new Map();
  // How much the last full sub-tick found due (see DueMemory): at first, the last one kept in
  // `pacer/stats` (read anyway), so a busy minute does not begin with one query read in vain.
  const dueMemory: DueMemory = { lastDue: null };
  try {
    let recent = await store.readRecentSummaries<SubTickSummary>();
    dueMemory.lastDue = dueInAll(recent.at(-1));
    for (let index = 0; ; index++) {
      if (index > 0) {
        const wait = started + index * periodMs - clock.now();
        if (wait > 0) await clock.sleep(wait);
        // Hold the planner lease through this sub-tick; if it lapsed, another planner may
        // plan now, and this one stops.
        // (A write conditional on this planner's last one: no read, see ./lease.ts.)
        const renewed = await renewPlannerLease(store, clock, held, periodMs + 30_000);
        if (renewed === 'lost') {
          deps.logger.warn(
            { event: 'tick.busy', lost: true },
            'the planner lease was lost mid-tick; another planner plans now',
          );
          break;
        }
      }
      try {
        // Publishing ends with the sub-tick (or the publish timeout, if longer: a cold
        // publisher needs a moment), and never past the tick's budget: a hanging Pub/Sub costs
        // the claims of this sub-tick (given back, due again), never the next minute's tick
        // (which would find the planner lease held and answer `busy`).
        const publishBy = Math.min(
          clock.now() + Math.max(periodMs, settings.publishTimeoutSeconds * 1_000),
          started + budgetMs,
        );
        const summary = await runSubTick(
          deps,
          settings,
          index,
          options.traceparent,
          rateMemory,
          publishBy,
          'full',
          dueMemory,
        );
        subTicks.push(summary);
        recent = [...recent, summary].slice(-RECENT_SUMMARIES);
        await store.writeRecentSummaries(recent);
        if (summary.waitingForRoom === true) {
          const until = Math.min(started + (index + 1) * periodMs, started + budgetMs);
          subTicks.push(...(await refill(deps, settings, index, until, rateMemory, options)));
        }
      } catch (error) {
        // One sub-tick's failure (the store unavailable, say) must not cost the rest of the
        // minute: what it claimed and did not publish is due again after the dispatch grace.
        failedSubTicks++;
        deps.logger.error(
          { event: 'tick.subtick_failed', subTick: index, err: error },
          `sub-tick ${index} failed: ${errorMessage(error)}`,
        );
      }
      const nextStart = (index + 1) * periodMs;
      if (nextStart >= budgetMs || clock.now() - started >= budgetMs) break;
    }
  } finally {
    await releasePlannerLease(store, clock, held);
  }
  const durationMs = clock.now() - started;
  if (durationMs > budgetMs + periodMs) {
    deps.logger.warn(
      { event: 'alert.tick_slow', scope: 'tick', durationMs, budgetMs },
      `tick took ${durationMs} ms, over its budget of ${budgetMs} ms`,
    );
  }
  return { outcome: 'completed', durationMs, subTicks, failedSubTicks };
}

/**
 * Refill sub-ticks: while points due by the next sub-tick wait for in-flight room, one every
 * `refillSeconds` until `until` (the next sub-tick), so a slot a finished sync frees is taken
 * within about that long, not at the next sub-tick. Each is a whole sub-tick — the same plan,
 * budgets and conditional claims, under the same planner lease: one dispatcher decides every
 * slot. It stops as soon as nothing waits for room. Logged as `tick.summary` with `refill:
 * true`, raising no alerts, and not kept in `pacer/stats`.
 */
async function refill(
  deps: TickDeps,
  settings: Settings,
  index: number,
  until: number,
  rateMemory: RateLimitMemory,
  options: { traceparent?: string },
): Promise<SubTickSummary[]> {
  const everyMs = settings.refillSeconds * 1_000;
  const summaries: SubTickSummary[] = [];
  if (everyMs === 0) return summaries;
  for (let at = deps.clock.now() + everyMs; at + everyMs / 2 < until; at += everyMs) {
    const wait = at - deps.clock.now();
    if (wait > 0) await deps.clock.sleep(wait);
    if (deps.clock.now() + everyMs / 2 >= until) break;
    const publishBy = Math.min(
      deps.clock.now() + Math.max(everyMs, settings.publishTimeoutSeconds * 1_000),
      until + settings.publishTimeoutSeconds * 1_000,
    );
    const summary = await runSubTick(
      deps,
      settings,
      index,
      options.traceparent,
      rateMemory,
      publishBy,
      'refill',
    );
    // No room in flight yet: nothing was read past the in-flight counts; try again later.
    if (summary === null) continue;
    summaries.push(summary);
    if (summary.waitingForRoom !== true) break;
  }
  return summaries;
}

/** How many sub-tick summaries `pacer/stats` keeps (about ten minutes at the defaults). */
export const RECENT_SUMMARIES = 60;

/** Most schedules one sub-tick moves to a more urgent lane (the rest follow next sub-tick). */
const ESCALATIONS_PER_SUB_TICK = 200;

/**
 * What a sub-tick does besides planning: `full` first moves the schedules that waited past a
 * tier boundary to the lane in force (escalations); `refill` skips that (it only fills freed
 * slots), and counts what is in flight first: when no lane has room it stops there and answers
 * `null`, having read only the in-flight counts.
 */
export type SubTickKind = 'full' | 'refill';

/**
 * What a tick's full sub-ticks remember of the last one: how many points it found due in all
 * lanes (`null` before the first). While that was fewer than a sub-tick could read, the next
 * reads every lane's due points with one query ({@link readAndScreen}); a sub-tick given none
 * (a refill, a sub-tick run alone) reads lane by lane.
 */
export interface DueMemory {
  lastDue: number | null;
}

/**
 * What a kept summary (`pacer/stats`, written by this or an older version) found due in all
 * lanes; `null` for none, or for one whose due numbers are not there.
 */
export function dueInAll(summary: unknown): number | null {
  if (typeof summary !== 'object' || summary === null) return null;
  const lanes: unknown = (summary as { lanes?: unknown }).lanes;
  if (typeof lanes !== 'object' || lanes === null) return null;
  let due = 0;
  for (const lane of LANES) {
    const found: unknown = (lanes as Record<string, { due?: unknown } | undefined>)[lane]?.due;
    if (typeof found !== 'number' || !Number.isFinite(found) || found < 0) return null;
    due += found;
  }
  return due;
}

/** One sub-tick at the clock's current time. */
export async function runSubTick(
  deps: TickDeps,
  settings: Settings,
  index: number,
  traceparent?: string,
  rateMemory?: RateLimitMemory,
  publishBy?: number,
  kind?: 'full',
  dueMemory?: DueMemory,
): Promise<SubTickSummary>;
export async function runSubTick(
  deps: TickDeps,
  settings: Settings,
  index: number,
  traceparent: string | undefined,
  rateMemory: RateLimitMemory,
  publishBy: number | undefined,
  kind: SubTickKind,
  dueMemory?: DueMemory,
): Promise<SubTickSummary | null>;
export async function runSubTick(
  deps: TickDeps,
  settings: Settings,
  index: number,
  traceparent?: string,
  rateMemory: RateLimitMemory = new Map(),
  publishBy?: number,
  kind: SubTickKind = 'full',
  dueMemory?: DueMemory,
): Promise<SubTickSummary | null> {
  const refilling = kind === 'refill';
  const now = deps.clock.now();
  const meter = new ReadMeter();
  const tally = new Tally();

  // Schedules that became more urgent while they waited move to the lane in force first, so
  // they are counted and planned there in this very sub-tick (a refill leaves that to the next
  // sub-tick: it only fills freed slots).
  if (kind === 'full') await escalateWaiting(deps, settings, now, meter, tally);
  // Points due before the next sub-tick are claimed now and published with their point; the
  // worker starts each at its point. What is already due sorts first (most overdue first).
  const inFlight = await perLaneAsync((lane) => deps.store.countInFlight(lane, now, meter));
  if (refilling && !hasRoom(inFlight, settings)) return null;
  // Provider keys are read as their candidates come in, lane by lane: a point its key holds
  // takes no room from the lanes read after it.
  const keyBudgets =
    deps.rateLimits === undefined
      ? null
      : new KeyBudgets(deps.rateLimits, settings, rateMemory, meter);
  const screened = await readAndScreen(
    deps,
    settings,
    now,
    inFlight,
    meter,
    tally,
    keyBudgets,
    dueMemory,
  );
  const due = screened.due;
  if (dueMemory !== undefined) dueMemory.lastDue = LANES.reduce((sum, lane) => sum + due[lane], 0);
  // The buckets are counted when the candidates are in hand, not when the sub-tick began: a slow
  // read must not let a stale moment's tokens pay for claims made much later.
  const gateNow = deps.clock.now();
  const gated =
    keyBudgets === null ? null : keyBudgets.admitAll(screened.candidates, gateNow, deps.logger);
  const decided = plan(
    { due, candidates: perLane((lane) => (gated ?? screened).candidates[lane]), inFlight, now },
    settings,
  );
  const dispatch =
    deps.rateLimits === undefined || gated === null
      ? decided.dispatch
      : await chargePlanned(
          deps.rateLimits,
          rateMemory,
          gated,
          decided.dispatch,
          gateNow,
          deps.logger,
        );
  const claims = await claimPlanned(deps, settings, dispatch, screened.read, tally);
  const published = await publishClaims(
    deps,
    claims,
    traceparent,
    publishBy ?? now + settings.subTickSeconds * 1_000,
  );
  const released = await unclaimUnpublished(deps, claims, published);

  const summary: SubTickSummary = {
    at: iso(now),
    subTick: index,
    durationMs: deps.clock.now() - now,
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
    claimed: claims.length,
    conflicts: tally.conflicts,
    claimFailed: tally.claimFailed,
    published: published.filter((result) => result.ok).length,
    publishFailed: published.filter((result) => !result.ok).length,
    released,
    invalid: tally.invalid,
    paused: tally.paused,
    skipped: tally.skipped,
    escalated: tally.escalated,
    errors: tally.errors,
    ...(gated === null ? {} : { rateLimited: gated.held }),
    ...(refilling ? { refill: true as const } : {}),
    waitingForRoom: LANES.some((lane) => decided.lanes[lane].waitingForRoom),
  };
  if (refilling) logRefill(deps.logger, summary);
  else report(deps.logger, settings, summary);
  return summary;
}

/** Counts of what happened to schedules in one sub-tick. */
class Tally {
  conflicts = 0;
  claimFailed = 0;
  invalid = 0;
  paused = 0;
  skipped = 0;
  escalated = 0;
  errors = 0;
}

/**
 * Moves schedules waiting in the medium and low lanes past the moment they became more urgent
 * (an event entering a faster tier while a backlog held it) into the lane in force now: both
 * lanes in one query, most overdue first.
 */
async function escalateWaiting(
  deps: TickDeps,
  settings: Settings,
  now: number,
  meter: ReadMeter,
  tally: Tally,
): Promise<void> {
  const read = await deps.store.readEscalations(now, ESCALATIONS_PER_SUB_TICK, meter);
  const writes = decideEach(deps, read.schedules, tally, (schedule) => {
    const decided = escalate(schedule, read.readTime, settings.laneThresholds);
    const outcome = decided.outcome;
    if (outcome.kind === 'invalid') logInvalid(deps.logger, schedule.id, outcome.problems);
    return {
      decided,
      counts: outcome.kind === 'escalated' && outcome.to !== schedule.state.lane,
    };
  });
  const results = await deps.store.writeIfUnchanged(writes.map((w) => w.write));
  results.forEach((result, i) => {
    if (result.kind === 'written' && writes[i]?.counts === true) tally.escalated++;
  });
}

/**
 * Every lane's due points in one query, when the last full sub-tick found fewer due than this
 * one could read (so one query, billed one read when empty, does the work of three): up to the
 * most the lanes could take together, each as if nothing were due above it. A read that comes
 * back short has found every due point of every lane: each lane takes what its own read would
 * have found (its first points, up to its limit), and its due number exactly. One that comes back
 * full answers `null` and the lanes are read one by one, as they are with more due. One shard
 * only: with shards, the lane and shard filters would both be disjunctions.
 */
async function readLanesTogether(
  deps: TickDeps,
  settings: Settings,
  dueBy: number,
  inFlight: PerLane<number>,
  meter: ReadMeter,
  dueMemory: DueMemory | undefined,
): Promise<{ byLane: PerLane<StoredSchedule[]>; readTime: number } | null> {
  if (dueMemory === undefined || settings.shards > 1) return null;
  const nothingAbove = perLane(() => 0);
  const limit = LANES.reduce(
    (sum, lane) => sum + Math.max(1, roomFor(lane, nothingAbove, inFlight, settings)),
    0,
  );
  if (dueMemory.lastDue !== null && dueMemory.lastDue >= limit) return null;
  const { schedules, readTime } = await deps.store.readDueAllLanes(dueBy, limit, meter);
  if (schedules.length >= limit) return null;
  const byLane = perLane((): StoredSchedule[] => []);
  for (const schedule of schedules) {
    const lane = schedule.state.lane;
    if (lane !== null) byLane[lane].push(schedule);
  }
  return { byLane, readTime };
}

interface Screened {
  /** How many points each lane has due by the next sub-tick (exact: counted when not all read). */
  due: PerLane<number>;
  candidates: PerLane<Candidate[]>;
  /** What was read, by id, for the claims. */
  read: Map<string, { schedule: StoredSchedule; readTime: number }>;
}

/**
 * Reads each lane's due points, most overdue first, lane after lane, up to the most the lane
 * could take given what the lanes above have due now ({@link roomFor}; one at least, for its
 * lag), and screens them: candidates for the plan; the rest (invalid, paused, skipped, settled)
 * written in one go, each conditional on the version read. With provider keys, each lane's
 * candidates are admitted by their keys before the next lane's limit is set (`keyBudgets`, which
 * the plan's admission then uses). A lane whose read came back short
 * has exactly that many due, so it is counted only when its read came back full: where little
 * is due, the points read are the whole cost.
 */
async function readAndScreen(
  deps: TickDeps,
  settings: Settings,
  now: number,
  inFlight: PerLane<number>,
  meter: ReadMeter,
  tally: Tally,
  keyBudgets: KeyBudgets | null,
  dueMemory?: DueMemory,
): Promise<Screened> {
  const aheadMs = settings.dispatchAheadSeconds * 1_000;
  const due = perLane(() => 0);
  const candidates = perLane((): Candidate[] => []);
  const read = new Map<string, { schedule: StoredSchedule; readTime: number }>();
  const screenings = new Map<string, Screening>();
  const writes: ReturnType<typeof decideEach> = [];
  // What the lanes above have due now, as far as their reads show and their keys admit: never
  // more than the plan will see, so a lane's limit is never below what the plan could give it.
  const dueNowAbove = perLane(() => 0);
  const counting: Promise<number>[] = [];
  const together = await readLanesTogether(
    deps,
    settings,
    now + aheadMs,
    inFlight,
    meter,
    dueMemory,
  );
  for (const lane of LANES) {
    const limit = Math.max(1, roomFor(lane, dueNowAbove, inFlight, settings));
    // From a read of every lane, what this lane's own read would have returned: its first
    // `limit` points. More would be candidates the plan cannot take, which a provider key would
    // still admit first, holding the lanes below (found in review).
    const { schedules, readTime } =
      together === null
        ? await deps.store.readDue(lane, now + aheadMs, limit, meter)
        : { schedules: together.byLane[lane].slice(0, limit), readTime: together.readTime };
    // A count does not hold up the next lane's read: only a lane's limit depends on the lanes
    // above, and only on what they read. (Awaited below; should a later read fail first, the
    // count's own failure must not go unhandled.)
    const counted =
      together !== null
        ? Promise.resolve(together.byLane[lane].length)
        : schedules.length < limit
          ? Promise.resolve(schedules.length)
          : deps.store.countDue(lane, now + aheadMs, meter);
    const tracked = counted.then((count) => (due[lane] = count));
    tracked.catch(() => undefined);
    counting.push(tracked);
    writes.push(
      ...decideEach(deps, schedules, tally, (schedule) => {
        const decided = screen(schedule, readTime, settings.laneThresholds, aheadMs);
        const outcome = decided.outcome;
        screenings.set(schedule.id, outcome);
        if (outcome.kind === 'candidate') {
          candidates[outcome.lane].push({
            id: schedule.id,
            dueAt: outcome.waitingSince,
            lane: outcome.lane,
          });
          read.set(schedule.id, { schedule, readTime });
        }
        return { decided, counts: true };
      }),
    );
    // What this lane has due now, as the plan will see it: without the points their provider
    // keys hold, which take no room.
    let admitted: PerLane<readonly Candidate[]> = candidates;
    if (keyBudgets !== null) {
      await keyBudgets.load(candidates, read, deps.clock.now());
      admitted = keyBudgets.admit(candidates, deps.clock.now()).candidates;
    }
    dueNowAbove[lane] = admitted[lane].filter((candidate) => candidate.dueAt <= now).length;
  }
  await Promise.all(counting);
  const results = await deps.store.writeIfUnchanged(writes.map((w) => w.write));
  results.forEach((result, i) => {
    const id = writes[i]?.write.schedule.id;
    const outcome = id === undefined ? undefined : screenings.get(id);
    if (result.kind !== 'written' || id === undefined || outcome === undefined) return;
    logScreening(deps.logger, id, outcome, tally);
  });
  return { due, candidates, read };
}

interface Claimed {
  schedule: StoredSchedule;
  lease: Lease;
  lane: Lane;
  previous: ClaimUndo;
  result: ConditionalOutcome;
}

/** Claims each planned schedule with a conditional write on the version the due query read. */
async function claimPlanned(
  deps: TickDeps,
  settings: Settings,
  dispatch: readonly Candidate[],
  read: Screened['read'],
  tally: Tally,
): Promise<Claimed[]> {
  const requests = dispatch.flatMap((candidate) => {
    const found = read.get(candidate.id);
    if (found === undefined) throw new Error(`planned ${candidate.id}, which was not read`);
    // Outside the per-document guard: ids failing is the process's fault, not the document's.
    const leaseId = deps.newId();
    let decided: ReturnType<typeof claim>;
    try {
      decided = claim(
        found.schedule,
        {
          leaseId,
          // Long enough for a worker to pick the message up; the worker then holds the lease by
          // renewing it for as long as the sync runs.
          graceMs: settings.dispatchGraceSeconds * 1_000,
          thresholds: settings.laneThresholds,
          aheadMs: settings.dispatchAheadSeconds * 1_000,
          history: settings.runHistory,
        },
        found.readTime,
      );
    } catch (error) {
      scheduleError(deps.logger, tally, found.schedule.id, error);
      return [];
    }
    const outcome = decided.outcome;
    if (outcome.kind !== 'claimed' || decided.patch === null) return [];
    // A claim also moves the schedule to its shard under the current N (a no-op with one).
    const patch = withShard(decided, found.schedule, settings.shards).patch ?? decided.patch;
    return [{ schedule: found.schedule, outcome, patch }];
  });
  const results = await deps.store.writeIfUnchanged(
    requests.map(({ schedule, patch }) => ({ schedule, patch })),
  );
  const claimed: Claimed[] = [];
  const failures: unknown[] = [];
  results.forEach((result, i) => {
    const request = requests[i];
    if (request === undefined) return;
    if (result.kind === 'conflict') tally.conflicts++;
    if (result.kind === 'failed') failures.push(result.error);
    if (result.kind !== 'written') return;
    const { lease, lane, previous } = request.outcome;
    claimed.push({ schedule: request.schedule, lease, lane, previous, result });
    lapsedLongSync(deps.logger, request.schedule, previous.lease, lease);
  });
  tally.claimFailed = failures.length;
  if (failures.length > 0) {
    deps.logger.error(
      { event: 'tick.claim_failed', failed: failures.length, err: failures[0] },
      `${failures.length} claims could not be written; those schedules wait for the next sub-tick`,
    );
  }
  return claimed;
}

/**
 * A long sync (`runner: "job"`) whose running attempt stopped renewing: its job execution died
 * or lost Firestore, and the lease lapsed. Claimed again now; said at WARNING for the alert on
 * a long sync's late heartbeat (infra/monitoring).
 */
function lapsedLongSync(
  logger: Logger,
  schedule: Claimed['schedule'],
  before: ClaimUndo['lease'],
  lease: Claimed['lease'],
): void {
  const validation = schedule.validation;
  if (!validation.ok || validation.spec.runner !== 'job' || before?.running !== true) return;
  logger.warn(
    {
      event: 'alert.long_sync_lapsed',
      scheduleId: schedule.id,
      lapsedLeaseId: before.id,
      leaseId: lease.id,
      attempt: before.attempt,
      startedAt: before.startedAt === null ? null : iso(before.startedAt),
      until: iso(before.until),
    },
    `the long sync of ${schedule.id} stopped renewing its lease (attempt ${before.attempt}, lapsed ${iso(before.until)}); dispatched again`,
  );
}

/** Why a dispatch message counts as not published: its sub-tick's deadline passed first. */
export class PublishDeadlineError extends Error {
  constructor(readonly deadline: number) {
    super(`not published by ${iso(deadline)}, the end of its sub-tick`);
    this.name = 'PublishDeadlineError';
  }
}

/**
 * Publishes one dispatch message per claim to its lane's topic, each by `deadline` at the
 * latest. A message still unconfirmed then counts as failed and its claim is given back; should
 * Pub/Sub take it after all, the worker finds the lease gone and drops it (stale), so the
 * schedule is never synced twice for it.
 */
async function publishClaims(
  deps: TickDeps,
  claims: readonly Claimed[],
  traceparent: string | undefined,
  deadline: number,
): Promise<PublishOutcome[]> {
  const messages = claims.map(({ schedule, lease, lane }): DispatchMessage => ({
    v: 1,
    scheduleId: schedule.id,
    leaseId: lease.id,
    dueAt: iso(lease.dueAt),
    lane,
  }));
  if (messages.length === 0) return [];
  let cancel: (() => void) | undefined;
  const expired = new Promise<'expired'>((resolve) => {
    cancel = deps.clock.after(Math.max(0, deadline - deps.clock.now()), () => {
      resolve('expired');
    });
  });
  try {
    // One call per message (Pub/Sub's publisher batches them all the same), so the messages
    // confirmed before the deadline keep their claims.
    return await Promise.all(
      messages.map(async (message): Promise<PublishOutcome> => {
        const outcome = await Promise.race([
          deps.bus.publish([message], traceparent).then(([result]) => result),
          expired,
        ]);
        if (outcome === 'expired') {
          return { ok: false, message, error: new PublishDeadlineError(deadline) };
        }
        return outcome ?? { ok: false, message, error: new Error('the bus gave no outcome') };
      }),
    );
  } finally {
    cancel?.();
  }
}

/**
 * Gives back each claim whose message could not be published: the schedule as it was before
 * (due again at once, its place in the queue kept), conditional on the claim being the last
 * write, so a worker that did receive the message is never undone.
 */
async function unclaimUnpublished(
  deps: TickDeps,
  claims: readonly Claimed[],
  published: readonly PublishOutcome[],
): Promise<number> {
  const failed = claims.filter((_claim, i) => published[i]?.ok !== true);
  if (failed.length === 0) return 0;
  const results = await deps.store.writeIfUnchanged(
    failed.flatMap(({ schedule, previous, result }) =>
      result.kind === 'written'
        ? [{ schedule: { id: schedule.id, version: result.version }, patch: unclaim(previous) }]
        : [],
    ),
  );
  const released = results.filter((result) => result.kind === 'written').length;
  const first = published.find((result) => !result.ok);
  deps.logger.error(
    {
      event: 'tick.publish_failed',
      failed: failed.length,
      released,
      err: first?.ok === false ? first.error : undefined,
    },
    `${failed.length} dispatch messages could not be published; ${released} claims given back`,
  );
  return released;
}

/**
 * Runs a decision for each schedule, on its own: a decision that throws (a document no
 * decision expected) is logged as `schedule.error` with its id and skipped, and the others go on.
 */
function decideEach(
  deps: TickDeps,
  schedules: readonly StoredSchedule[],
  tally: Tally,
  decide: (schedule: StoredSchedule) => {
    decided: { patch: Patch | null };
    counts: boolean;
  },
): { write: { schedule: StoredSchedule; patch: Patch }; counts: boolean }[] {
  return schedules.flatMap((schedule) => {
    try {
      const { decided, counts } = decide(schedule);
      return decided.patch === null ? [] : [{ write: { schedule, patch: decided.patch }, counts }];
    } catch (error) {
      scheduleError(deps.logger, tally, schedule.id, error);
      return [];
    }
  });
}

/** Logs (and counts) a schedule whose own step failed; the sub-tick goes on without it. */
function scheduleError(logger: Logger, tally: Tally, id: string, error: unknown): void {
  tally.errors++;
  logger.error(
    { event: 'schedule.error', scheduleId: id, err: error },
    `schedule ${id} could not be planned: ${errorMessage(error)}`,
  );
}

function logInvalid(logger: Logger, id: string, problems: readonly string[]): void {
  logger
    .child({ scheduleId: id })
    .warn(
      { event: 'schedule.invalid', problems },
      `schedule ${id} is invalid: ${problems.join('; ')}`,
    );
}

/** Logs (and counts) what screening wrote for a schedule. */
function logScreening(logger: Logger, id: string, outcome: Screening, tally: Tally): void {
  switch (outcome.kind) {
    case 'invalid':
      tally.invalid++;
      logInvalid(logger, id, outcome.problems);
      return;
    case 'paused':
      tally.paused++;
      return;
    case 'skipped':
      tally.skipped++;
      logger.child({ scheduleId: id }).warn(
        {
          event: 'schedule.skipped',
          dueAt: iso(outcome.dueAt),
          missedByMs: outcome.missedByMs,
          nextDueAt: iso(outcome.nextDueAt),
        },
        `skipped the run due ${iso(outcome.dueAt)}: missed by more than its catch-up window`,
      );
      return;
    default:
      return;
  }
}

/** A refill sub-tick's summary: logged only when it did something, and never an alert. */
function logRefill(logger: Logger, summary: SubTickSummary): void {
  if (summary.claimed === 0 && summary.errors === 0) return;
  logger.info(
    { event: 'tick.summary', ...summary },
    `refill after sub-tick ${summary.subTick}: dispatched ${LANES.map((lane) => `${lane} ${summary.lanes[lane].dispatched}`).join(', ')}`,
  );
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
  const live = await deps.config.refresh(deps.store);
  if (live.kind === 'invalid') {
    deps.logger.error(
      { event: 'config.invalid', problems: live.problems },
      `pacer/config is invalid, keeping the last good settings: ${live.problems.join('; ')}`,
    );
  }
  return live.settings;
}

async function perLaneAsync<T>(value: (lane: Lane) => Promise<T>): Promise<PerLane<T>> {
  const [high, medium, low] = await Promise.all(LANES.map(value));
  return { high: high as T, medium: medium as T, low: low as T };
}
