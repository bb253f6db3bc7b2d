/**
 * `pacer schedules trigger|backfill|backfill-cancel`: runs an operator asks for. Both go through
 * functions/operator/runs.ts: a claim of the schedule under a lease of its own kind (`manual`,
 * `backfill`), published to its lane's topic like any planned dispatch, run by a worker like any
 * other, and never beside another attempt of the schedule.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { PubSubBus } from '../bus/publisher.js';
import {
  busyText,
  runBackfill,
  triggerRun,
  type BackfillProgress,
  type BackfillResult,
  type DispatchOutcome,
  type OperatorRunDeps,
} from '../operator/runs.js';
import { perLane } from '../planner/plan.js';
import type { Lane } from '../schedule/lane.js';
import { iso } from '../schedule/time.js';
import { FirestoreBackfills } from '../store/backfills.js';
import { describeTopology } from '../topology.js';
import type { CliContext } from './context.js';
import { OperationError } from './errors.js';
import { FirestoreRateLimits } from '../ratelimit/store.js';
import { LiveConfig } from '../store/live-config.js';

/** How often a waiting trigger or a backfill looks at the schedule again. */
const POLL_MS = 1_000;
/** The most cadence points one backfill may cover. */
export const BACKFILL_MAX_POINTS = 10_000;

async function withDeps<T>(
  context: CliContext,
  use: (deps: OperatorRunDeps) => Promise<T>,
): Promise<T> {
  const topology = describeTopology(context.settings);
  const bus = new PubSubBus(context.pubsub, {
    topics: perLane((lane) => topology.lanes[lane].topic),
    timeoutMs: context.settings.publishTimeoutSeconds * 1_000,
  });
  try {
    return await use({
      store: context.store,
      bus,
      newId: randomUUID,
      dispatchGraceMs: context.settings.dispatchGraceSeconds * 1_000,
      thresholds: context.settings.laneThresholds,
      sleep: (ms) => sleep(ms),
      rateLimits: {
        store: new FirestoreRateLimits(context.db),
        limits: (await new LiveConfig(context.settings).refresh(context.store)).settings.rateLimits,
      },
    });
  } finally {
    await bus.close();
  }
}

export interface TriggerResult {
  scheduleId: string;
  kind: 'manual';
  leaseId: string;
  lane: Lane;
  dueAt: string;
}

/**
 * Runs one sync of schedule `id` now. While a sync of it is dispatched or running, waits up to
 * `waitSeconds` for that to end (saying what it waits for), then refuses with the reason.
 */
export async function trigger(
  context: CliContext,
  id: string,
  options: { lane?: Lane; waitSeconds: number; pollMs?: number },
): Promise<TriggerResult> {
  const waitMs = options.waitSeconds * 1_000;
  const outcome = await withDeps(context, (deps) =>
    triggerRun(deps, id, {
      ...(options.lane === undefined ? {} : { lane: options.lane }),
      waitMs,
      pollMs: options.pollMs ?? POLL_MS,
      onWait: (wait) => {
        context.out.note(
          wait.kind === 'busy'
            ? `waiting: ${busyText(wait)}; up to ${options.waitSeconds} s for it to end`
            : `waiting: ${wait.reason}; up to ${options.waitSeconds} s`,
        );
      },
    }),
  );
  if (outcome.kind === 'dispatched') {
    return {
      scheduleId: id,
      kind: 'manual',
      leaseId: outcome.leaseId,
      lane: outcome.lane,
      dueAt: iso(outcome.dueAt),
    };
  }
  throw new OperationError(`cannot trigger "${id}": ${whyNot(outcome, waitMs)}`);
}

function whyNot(outcome: Exclude<DispatchOutcome, { kind: 'dispatched' }>, waitMs: number): string {
  switch (outcome.kind) {
    case 'missing':
      return 'there is no such schedule';
    case 'refused':
      return outcome.reason;
    case 'busy':
      return waitMs > 0
        ? `${busyText(outcome)} and did not end within ${waitMs / 1_000} s`
        : `${busyText(outcome)}; pass --wait SECONDS to wait for it to end, or try again later`;
    case 'owed':
      return `its own point due ${iso(outcome.since)} goes first`;
    case 'changed':
      return 'a run began or ended meanwhile; try again';
    case 'publish_failed':
      return `publishing failed (${outcome.error}); the schedule is as it was`;
    case 'rate_limited':
      return waitMs > 0
        ? `${outcome.reason}, beyond the ${waitMs / 1_000} s it waited`
        : `${outcome.reason}; pass --wait SECONDS to wait for it`;
  }
}

export function renderTriggered(result: TriggerResult): string {
  return `triggered ${result.scheduleId}: a manual run dispatched to the ${result.lane} lane (lease ${result.leaseId}, serving ${result.dueAt}); its cadence is unchanged`;
}

export interface BackfillCliOptions {
  from: number;
  to: number;
  lane: Lane;
  max: number;
  dryRun: boolean;
  spacingSeconds: number;
  pollMs?: number;
}

export type BackfillCliResult = Exclude<BackfillResult, { kind: 'refused' }>;

/** Serves the range's unserved cadence points of schedule `id`, one at a time, with progress. */
export async function backfill(
  context: CliContext,
  id: string,
  options: BackfillCliOptions,
): Promise<BackfillCliResult> {
  const result = await withDeps(context, (deps) =>
    runBackfill({ ...deps, backfills: new FirestoreBackfills(context.db) }, id, {
      from: options.from,
      to: options.to,
      lane: options.lane,
      max: options.max,
      dryRun: options.dryRun,
      pollMs: options.pollMs ?? POLL_MS,
      spacingMs: options.spacingSeconds * 1_000,
      maxPoints: BACKFILL_MAX_POINTS,
      onProgress: (progress) => {
        context.out.note(progressLine(progress));
      },
    }),
  );
  if (result.kind === 'refused') {
    throw new OperationError(`cannot backfill "${id}": ${result.reason}`);
  }
  return result;
}

function progressLine(progress: BackfillProgress): string {
  const at = `[${progress.done}/${progress.of}] ${iso(progress.dueAt)}`;
  switch (progress.step) {
    case 'dispatched':
      return `${at} dispatched (lease ${progress.leaseId ?? ''})`;
    case 'ended':
      return `${at} ${progress.outcome ?? 'ended'}`;
    case 'waiting':
      return `${at} waiting: ${progress.reason ?? ''}`;
  }
}

export function renderBackfill(result: BackfillCliResult): string {
  const head =
    result.kind === 'dry_run'
      ? `dry run: would dispatch ${result.dispatched.length} of ${result.points} points of ${result.scheduleId}`
      : `backfill ${result.backfillId} of ${result.scheduleId} ${result.kind}: ${result.dispatched.length} dispatched of ${result.points} points`;
  const lines = [
    head,
    `skipped: ${result.served.length} already served, ${result.alreadyDispatched.length} dispatched before by this backfill`,
    ...(result.remaining > 0 ? [`left for a later run (--max): ${result.remaining}`] : []),
    ...result.dispatched.map(
      (point) =>
        `  ${iso(point.dueAt)}${point.outcome === null ? '' : `  ${point.outcome}`}${point.leaseId === null ? '' : `  lease ${point.leaseId}`}`,
    ),
  ];
  return lines.join('\n');
}

export interface BackfillCancelResult {
  scheduleId: string;
  cancelled: string[];
}

/** Cancels the schedule's running backfills: each stops before its next point. */
export async function cancelBackfill(
  context: CliContext,
  id: string,
): Promise<BackfillCancelResult> {
  const cancelled = await new FirestoreBackfills(context.db).cancelBackfills(id, context.clock());
  return { scheduleId: id, cancelled };
}

export function renderBackfillCancelled(result: BackfillCancelResult): string {
  return result.cancelled.length === 0
    ? `no running backfill of ${result.scheduleId}`
    : `cancelled ${result.cancelled.join(', ')} of ${result.scheduleId}: no further point is dispatched (one in flight runs to its end)`;
}
