/**
 * Runs an operator asks for, at the edges: `triggerRun` (run one sync now) and `runBackfill`
 * (serve a range's past cadence points, one at a time). Each claim is one decision
 * (../protocol/operator-runs.ts) in one store transaction at the store's time; the message then
 * goes to its lane's topic like any planned dispatch, and a worker runs it under the lease like
 * any other. If the message cannot be published, the claim is given back.
 *
 * A backfill keeps its progress in `schedules/{id}/backfills/{backfillId}` (the points it
 * dispatched, its status), reads the run history before every point, and stops at the next point
 * once cancelled. It dispatches the next point only when the previous one has ended and the
 * schedule owes nothing of its own: it never runs beside another attempt and never delays a
 * planned run.
 */
import type { DispatchBus } from '../bus/port.js';
import { unclaimReplay, type Subject } from '../protocol/decisions.js';
import { describeUnrecorded, overlapsUnrecorded, unrecordedWindow } from '../protocol/state.js';
import {
  cadencePointsBetween,
  claimOperatorRun,
  planBackfill,
  type OperatorRunKind,
  type OperatorRunOutcome,
} from '../protocol/operator-runs.js';
import type { Lane, LaneThresholds } from '../schedule/lane.js';
import { iso } from '../schedule/time.js';
import type { ScheduleStore } from '../store/port.js';
import { ReadMeter } from '../store/queries.js';
import { readyAt } from '../ratelimit/bucket.js';
import type { RateLimits } from '../ratelimit/limits.js';
import type { RateLimitStore } from '../ratelimit/store.js';

export interface OperatorRunDeps {
  store: ScheduleStore;
  /**
   * Provider rate limits: an operator's run of a schedule with a `rateLimitKey` spends a token
   * of its key like a planned dispatch, and waits out a block (none given: no budgets apply).
   */
  rateLimits?: { store: RateLimitStore; limits: RateLimits };
  bus: DispatchBus;
  newId: () => string;
  /** How long the message may wait for a worker (the dispatch grace). */
  dispatchGraceMs: number;
  thresholds: LaneThresholds;
  /** Waits (a timer; the simulator's clock in the checker). */
  sleep: (ms: number) => Promise<void>;
}

export type DispatchOutcome =
  | { kind: 'dispatched'; scheduleId: string; leaseId: string; lane: Lane; dueAt: number }
  | Exclude<OperatorRunOutcome, { kind: 'claimed' }>
  | { kind: 'publish_failed'; error: string }
  /** The schedule's provider key has no call to spare (or is blocked) until `until`. */
  | { kind: 'rate_limited'; key: string; until: number; reason: string };

/** What an operator asks to claim. */
interface ClaimRequest {
  kind: OperatorRunKind;
  dueAt?: number;
  lane?: Lane;
  expect?: { leaseId: string | null; lastLeaseId: string | null };
}

/**
 * Takes one token of the schedule's provider key for an operator's run, as the planner would
 * for a dispatch: `null` when the run may go (or the schedule names no key), else why not and
 * until when. The token is spent even if the claim then fails: a budget is never overrun.
 */
async function admitByKey(
  deps: OperatorRunDeps,
  scheduleId: string,
  request: ClaimRequest,
): Promise<Exclude<DispatchOutcome, { kind: 'dispatched' }> | null> {
  if (deps.rateLimits === undefined) return null;
  const read = await peek(deps.store, scheduleId);
  const key =
    read?.subject.validation.ok === true
      ? (read.subject.validation.spec.rateLimitKey ?? null)
      : null;
  if (read === null || key === null) return null;
  // The claim as it would be decided now: no token is spent on a run that would not be claimed
  // (a backfill waiting for its turn asks again every poll).
  const probe = claimOperatorRun(
    read.subject,
    { ...request, leaseId: 'probe', graceMs: deps.dispatchGraceMs, thresholds: deps.thresholds },
    read.now,
  ).outcome;
  if (probe.kind !== 'claimed') return probe;
  const { store, limits } = deps.rateLimits;
  const { now } = read;
  const saved = (await store.readKeys([key], new ReadMeter())).get(key);
  const blockedUntil = saved?.blockedUntil ?? null;
  if (blockedUntil !== null && blockedUntil > now) {
    const by = saved?.blockedBy;
    return {
      kind: 'rate_limited',
      key,
      until: blockedUntil,
      reason: `key ${key} is blocked until ${iso(blockedUntil)}${by ? ` (${by.scheduleId}'s target answered ${by.status})` : ''}`,
    };
  }
  const limit = limits[key];
  if (limit === undefined) return null;
  if (limit.concurrency !== null) {
    const inFlight = await store.countInFlight(key, now, new ReadMeter());
    if (inFlight >= limit.concurrency) {
      return {
        kind: 'rate_limited',
        key,
        until: now + 1_000,
        reason: `key ${key} has ${inFlight} calls in flight, its concurrency limit`,
      };
    }
  }
  const { taken, bucket } = await store.takeTokens(key, limit, 1, now);
  if (taken >= 1) return null;
  const until = readyAt(bucket, limit, now);
  return {
    kind: 'rate_limited',
    key,
    until,
    reason: `key ${key} has no call left in its budget until ${iso(until)}`,
  };
}

/** Claims and publishes one operator run; gives the claim back if publishing fails. */
export async function dispatchOperatorRun(
  deps: OperatorRunDeps,
  scheduleId: string,
  request: ClaimRequest,
): Promise<DispatchOutcome> {
  const limited = await admitByKey(deps, scheduleId, request);
  if (limited !== null) return limited;
  const leaseId = deps.newId();
  const claim = await deps.store.transact(scheduleId, (subject, now) =>
    claimOperatorRun(
      subject,
      { ...request, leaseId, graceMs: deps.dispatchGraceMs, thresholds: deps.thresholds },
      now,
    ),
  );
  if (claim.kind !== 'claimed') return claim;
  const [published] = await deps.bus.publish([
    { v: 1, scheduleId, leaseId, dueAt: iso(claim.lease.dueAt), lane: claim.lane },
  ]);
  const dispatched = {
    kind: 'dispatched' as const,
    scheduleId,
    leaseId,
    lane: claim.lane,
    dueAt: claim.lease.dueAt,
  };
  if (published?.ok) return dispatched;
  const reverted = await deps.store.transact(scheduleId, (subject) =>
    unclaimReplay(subject, { leaseId, previous: claim.previous }),
  );
  // The publish reported a failure, yet a worker has the message: it was sent.
  if (reverted === 'started') return dispatched;
  return {
    kind: 'publish_failed',
    error: String(published?.ok === false ? published.error : 'no outcome'),
  };
}

export interface TriggerOptions {
  lane?: Lane;
  /** How long to wait for a live lease to end before giving up (0: refuse at once). */
  waitMs: number;
  /** How often to look again while waiting. */
  pollMs: number;
  /** Told what the trigger waits for, once per lease (or key budget) it waits on. */
  onWait?: (
    wait:
      | Extract<OperatorRunOutcome, { kind: 'busy' }>
      | Extract<DispatchOutcome, { kind: 'rate_limited' }>,
  ) => void;
}

/**
 * Runs one sync of `scheduleId` now (a `manual` lease serving the store's now), without moving
 * its cadence. While a live lease holds the schedule it waits up to `waitMs` for that lease to
 * end, then answers `busy` with what held it.
 */
export async function triggerRun(
  deps: OperatorRunDeps,
  scheduleId: string,
  options: TriggerOptions,
): Promise<DispatchOutcome> {
  let waited = 0;
  let toldAbout: string | null = null;
  for (;;) {
    const outcome = await dispatchOperatorRun(deps, scheduleId, {
      kind: 'manual',
      ...(options.lane === undefined ? {} : { lane: options.lane }),
    });
    if ((outcome.kind !== 'busy' && outcome.kind !== 'rate_limited') || waited >= options.waitMs) {
      return outcome;
    }
    const about = outcome.kind === 'busy' ? outcome.leaseId : `${outcome.key}:${outcome.until}`;
    if (toldAbout !== about) {
      toldAbout = about;
      options.onWait?.(outcome);
    }
    const pause = Math.min(options.pollMs, options.waitMs - waited);
    await deps.sleep(pause);
    waited += pause;
  }
}

/** A backfill's progress, as kept in `schedules/{id}/backfills/{backfillId}`. Times in ms. */
export interface BackfillRecord {
  id: string;
  scheduleId: string;
  from: number;
  to: number;
  lane: Lane;
  status: 'running' | 'done' | 'cancelled';
  /** Every point this backfill dispatched, with its lease and what became of it. */
  dispatched: { dueAt: number; leaseId: string; outcome: BackfillPointOutcome }[];
  createdAt: number;
  updatedAt: number;
}

export type BackfillPointOutcome = 'queued' | 'succeeded' | 'failed';

/** What a backfill reads and keeps, besides the schedule itself. */
export interface BackfillStore {
  readBackfill(scheduleId: string, backfillId: string): Promise<BackfillRecord | null>;
  writeBackfill(record: BackfillRecord): Promise<void>;
  /** Marks the schedule's running backfills cancelled; answers their ids. */
  cancelBackfills(scheduleId: string, at: number): Promise<string[]>;
  /** The due points of the schedule's successful runs in `[from, to]`. */
  servedPoints(scheduleId: string, from: number, to: number): Promise<number[]>;
  /** A run record's status (`null`: none). */
  runStatus(scheduleId: string, leaseId: string): Promise<string | null>;
}

export interface BackfillOptions {
  from: number;
  to: number;
  lane: Lane;
  /** The most points dispatched by this invocation. */
  max: number;
  dryRun: boolean;
  /** How often to look whether the point dispatched has ended (and whether to go on). */
  pollMs: number;
  /** The least time between two dispatches: the backfill's rate bound. */
  spacingMs: number;
  /** The most points a range may hold (a guard against a typo'd range). */
  maxPoints: number;
  onProgress?: (progress: BackfillProgress) => void;
}

export interface BackfillProgress {
  step: 'dispatched' | 'ended' | 'waiting';
  dueAt: number;
  leaseId?: string;
  outcome?: BackfillPointOutcome;
  done: number;
  of: number;
  /** For `waiting`: what the backfill waits for. */
  reason?: string;
}

export type BackfillResult =
  | {
      kind: 'finished' | 'dry_run' | 'cancelled';
      backfillId: string;
      scheduleId: string;
      /** Points in the range. */
      points: number;
      /** Skipped: a successful run already. */
      served: number[];
      /** Skipped: dispatched by this backfill before (an earlier invocation). */
      alreadyDispatched: number[];
      /** Dispatched by this invocation (the plan, for a dry run), with their outcomes. */
      dispatched: { dueAt: number; leaseId: string | null; outcome: BackfillPointOutcome | null }[];
      /** Left for another invocation (beyond `max`). */
      remaining: number;
    }
  | { kind: 'refused'; reason: string };

/** A backfill's document id: the same range of the same schedule is the same backfill. */
export function backfillId(from: number, to: number): string {
  const compact = (ms: number) => iso(ms).replace(/[-:.]/g, '');
  return `${compact(from)}_${compact(to)}`;
}

/**
 * Serves each cadence point of `[from, to]` that has no successful run and that this backfill
 * has not dispatched before, oldest first, one at a time: a point is dispatched when the schedule
 * is idle (no live lease) and owes nothing of its own, and the next only once it has ended.
 * Stops when cancelled (the point in flight runs to its end).
 */
export async function runBackfill(
  deps: OperatorRunDeps & { backfills: BackfillStore },
  scheduleId: string,
  options: BackfillOptions,
): Promise<BackfillResult> {
  if (!(options.from <= options.to)) {
    return { kind: 'refused', reason: '--from must not be after --to' };
  }
  const read = await peek(deps.store, scheduleId);
  if (read === null) return { kind: 'refused', reason: 'there is no such schedule' };
  const { subject, now } = read;
  if (!subject.validation.ok) return { kind: 'refused', reason: 'it is invalid' };
  if (options.to > now) {
    return { kind: 'refused', reason: `--to (${iso(options.to)}) is in the future` };
  }
  const unrecorded = unrecordedWindow(subject.state);
  if (unrecorded !== null && overlapsUnrecorded(subject.state, options.from, options.to)) {
    return {
      kind: 'refused',
      reason: `runs ${describeUnrecorded(unrecorded)} may have no record (PACER_RUN_HISTORY=failures), so which points were served cannot be told; backfill only ${unrecorded.until === null ? 'before' : 'outside'} it`,
    };
  }
  const spec = subject.validation.spec;
  const anchor = subject.state.dueAt ?? subject.state.lease?.owedSince ?? subject.state.nextDueAt;
  const points = cadencePointsBetween(
    spec.cadence,
    anchor,
    options.from,
    options.to,
    options.maxPoints + 1,
  );
  if (points.length > options.maxPoints) {
    return {
      kind: 'refused',
      reason: `the range holds more than ${options.maxPoints} cadence points; backfill a shorter range`,
    };
  }
  const id = backfillId(options.from, options.to);
  const existing = await deps.backfills.readBackfill(scheduleId, id);
  const record: BackfillRecord = existing ?? {
    id,
    scheduleId,
    from: options.from,
    to: options.to,
    lane: options.lane,
    status: 'running',
    dispatched: [],
    createdAt: now,
    updatedAt: now,
  };
  const served = new Set(await deps.backfills.servedPoints(scheduleId, options.from, options.to));
  const plan = planBackfill(
    points,
    served,
    new Set(record.dispatched.map((point) => point.dueAt)),
    options.max,
  );
  const base = {
    backfillId: id,
    scheduleId,
    points: points.length,
    served: plan.served,
    alreadyDispatched: plan.dispatched,
  };
  const remainingAfter = (dispatchedCount: number) =>
    points.length - plan.served.length - plan.dispatched.length - dispatchedCount;
  if (options.dryRun) {
    return {
      kind: 'dry_run',
      ...base,
      dispatched: plan.pending.map((dueAt) => ({ dueAt, leaseId: null, outcome: null })),
      remaining: remainingAfter(plan.pending.length),
    };
  }
  if (plan.pending.length === 0 && existing?.status === 'done') {
    return { kind: 'finished', ...base, dispatched: [], remaining: remainingAfter(0) };
  }
  record.status = 'running';
  record.lane = options.lane;
  record.updatedAt = now;
  await deps.backfills.writeBackfill(record);

  const done: { dueAt: number; leaseId: string | null; outcome: BackfillPointOutcome | null }[] =
    [];
  const of = plan.pending.length;
  let cancelled = false;
  for (const dueAt of plan.pending) {
    const dispatched = await dispatchPoint(deps, scheduleId, id, dueAt, options, {
      done: done.length,
      of,
    });
    if (dispatched.kind === 'cancelled') {
      cancelled = true;
      break;
    }
    if (dispatched.kind === 'skipped') continue;
    if (dispatched.kind === 'refused') return { kind: 'refused', reason: dispatched.reason };
    record.dispatched.push({ dueAt, leaseId: dispatched.leaseId, outcome: 'queued' });
    await saveProgress(deps.backfills, record, scheduleId, id);
    options.onProgress?.({
      step: 'dispatched',
      dueAt,
      leaseId: dispatched.leaseId,
      done: done.length,
      of,
    });
    const outcome = await awaitEnd(deps, scheduleId, dispatched.leaseId, options.pollMs);
    const entry = record.dispatched.find((point) => point.leaseId === dispatched.leaseId);
    if (entry !== undefined) entry.outcome = outcome;
    done.push({ dueAt, leaseId: dispatched.leaseId, outcome });
    await saveProgress(deps.backfills, record, scheduleId, id);
    options.onProgress?.({
      step: 'ended',
      dueAt,
      leaseId: dispatched.leaseId,
      outcome,
      done: done.length,
      of,
    });
    if (options.spacingMs > 0) await deps.sleep(options.spacingMs);
  }
  const latest = await deps.backfills.readBackfill(scheduleId, id);
  cancelled ||= latest?.status === 'cancelled';
  if (!cancelled) {
    record.status = 'done';
    await saveProgress(deps.backfills, record, scheduleId, id);
  }
  return {
    kind: cancelled ? 'cancelled' : 'finished',
    ...base,
    dispatched: done,
    remaining: remainingAfter(done.length),
  };
}

/** Writes the record, keeping a cancellation written meanwhile. */
async function saveProgress(
  backfills: BackfillStore,
  record: BackfillRecord,
  scheduleId: string,
  id: string,
): Promise<void> {
  const latest = await backfills.readBackfill(scheduleId, id);
  if (latest?.status === 'cancelled') record.status = 'cancelled';
  await backfills.writeBackfill(record);
}

type PointDispatch =
  | { kind: 'dispatched'; leaseId: string }
  | { kind: 'skipped' }
  | { kind: 'cancelled' }
  | { kind: 'refused'; reason: string };

/**
 * Dispatches one point once the schedule is free for it; `skipped` when a run served it
 * meanwhile. Each try reads the schedule and then the run history, and claims only if no lease
 * began or ended in between.
 */
async function dispatchPoint(
  deps: OperatorRunDeps & { backfills: BackfillStore },
  scheduleId: string,
  id: string,
  dueAt: number,
  options: BackfillOptions,
  progress: { done: number; of: number },
): Promise<PointDispatch> {
  let lastReason: string | null = null;
  for (;;) {
    const latest = await deps.backfills.readBackfill(scheduleId, id);
    if (latest?.status === 'cancelled') return { kind: 'cancelled' };
    const read = await peek(deps.store, scheduleId);
    if (read === null) return { kind: 'refused', reason: 'the schedule was deleted' };
    const expect = {
      leaseId: read.subject.state.lease?.id ?? null,
      lastLeaseId: read.subject.state.lastLeaseId,
    };
    const served = await deps.backfills.servedPoints(scheduleId, dueAt, dueAt);
    if (served.includes(dueAt)) return { kind: 'skipped' };
    const outcome = await dispatchOperatorRun(deps, scheduleId, {
      kind: 'backfill',
      dueAt,
      lane: options.lane,
      expect,
    });
    switch (outcome.kind) {
      case 'dispatched':
        return { kind: 'dispatched', leaseId: outcome.leaseId };
      case 'missing':
        return { kind: 'refused', reason: 'the schedule was deleted' };
      case 'refused':
        return { kind: 'refused', reason: outcome.reason };
      case 'busy':
      case 'owed':
      case 'changed':
      case 'rate_limited':
      case 'publish_failed': {
        const reason = waitReason(outcome);
        if (reason !== lastReason) {
          lastReason = reason;
          options.onProgress?.({ step: 'waiting', dueAt, reason, ...progress });
        }
        await deps.sleep(options.pollMs);
      }
    }
  }
}

function waitReason(
  outcome: Extract<
    DispatchOutcome,
    { kind: 'busy' | 'owed' | 'changed' | 'rate_limited' | 'publish_failed' }
  >,
): string {
  switch (outcome.kind) {
    case 'rate_limited':
      return `${outcome.reason}; waiting`;
    case 'busy':
      return `${busyText(outcome)}; waiting until it ends`;
    case 'owed':
      return `the schedule's own point (due ${iso(outcome.since)}) goes first`;
    case 'changed':
      return 'a run began or ended meanwhile; looking again';
    case 'publish_failed':
      return `publishing failed (${outcome.error}); trying again`;
  }
}

/** What a live lease is doing, in words. */
export function busyText(busy: Extract<OperatorRunOutcome, { kind: 'busy' }>): string {
  const what = busy.running ? 'a sync is running' : 'a sync is dispatched';
  return `${what} (${busy.leaseKind} lease ${busy.leaseId}, held until ${iso(busy.until)})`;
}

/** Waits until lease `leaseId` no longer holds the schedule; its run's outcome. */
async function awaitEnd(
  deps: OperatorRunDeps & { backfills: BackfillStore },
  scheduleId: string,
  leaseId: string,
  pollMs: number,
): Promise<BackfillPointOutcome> {
  for (;;) {
    const read = await peek(deps.store, scheduleId);
    const lease = read?.subject.state.lease ?? null;
    const holds = lease?.id === leaseId && (lease.until > (read?.now ?? 0) || lease.running);
    if (!holds) {
      const status = await deps.backfills.runStatus(scheduleId, leaseId);
      return status === 'succeeded' ? 'succeeded' : 'failed';
    }
    await deps.sleep(pollMs);
  }
}

/** Reads a schedule (no write), with the store's time. */
async function peek(
  store: ScheduleStore,
  scheduleId: string,
): Promise<{ subject: Subject; now: number } | null> {
  return store.transact(scheduleId, (subject, now) => ({
    outcome: subject === null ? null : { subject, now },
    patch: null,
  }));
}
