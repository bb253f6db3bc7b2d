/**
 * `pacer status`: is pacer keeping up? Per lane what is due now and in flight (live counts),
 * what the last sub-tick deferred and how late its oldest due schedule was, when the planner
 * last ran and how long its recent sub-ticks took, which schedules are failing or invalid, and
 * how many dead letters wait for an operator. With planner shards, each shard's planner lease
 * and recent sub-ticks too (./status-shards.ts).
 */
import {
  readRateLimitStatus,
  renderRateLimits,
  type RateLimitKeyStatus,
} from './rate-limit-status.js';
import type { Query } from '@google-cloud/firestore';
import type { SubTickSummary } from '../planner/tick.js';
import { LANES, type Lane } from '../schedule/lane.js';
import {
  failingQuery,
  longSyncsQuery,
  openDeadLettersQuery,
  pausedByFailuresQuery,
  ReadMeter,
  statusQuery,
} from '../store/queries.js';
import { readState } from '../store/state.js';
import { describePause, pauseView, type PauseView } from './pause-note.js';
import { errorMessage } from '../errors.js';
import { describeTopology } from '../topology.js';
import type { Backend, CliContext } from './context.js';
import {
  NONE,
  formatSpan,
  formatTime,
  formatTimeFrom,
  renderFields,
  renderTable,
} from './output.js';
import { describeAttempt, readTickJobState, tickJobName, type TickJobState } from './tick-job.js';
import {
  renderStatus as renderFleetStatus,
  statusCommand as fleetStatus,
  type TickJobShardState,
} from './tick-job-fleet.js';
import {
  acrossShards,
  lastTickOfShards,
  readShardStatuses,
  recentTicks,
  renderShardStatuses,
  type ShardStatus,
  type ShardTick,
} from './status-shards.js';

/** Sub-ticks `status` shows. */
export const RECENT_TICKS = 10;
/** Schedule ids `status` names per problem kind. */
export const EXAMPLE_IDS = 5;

export interface LaneStatus {
  lane: Lane;
  /** Live: schedules of the lane due now. */
  dueNow: number;
  /** Live: schedules of the lane holding a lease that has not lapsed. */
  inFlight: number;
  /** From the last sub-tick: due schedules it left for later (caps, budgets). */
  deferred: number | null;
  /** From the last sub-tick: how overdue its most overdue schedule was. */
  oldestLagMs: number | null;
}

/** One recent sub-tick, summed over the lanes. */
export type TickStatus = ShardTick;

/**
 * Cloud Scheduler's tick job as it is (exists, state, last attempt), read from Cloud Scheduler
 * itself, or why it was not read: the emulators have no Cloud Scheduler, the region is not
 * known, or reading it failed. Never inferred from the tick summaries.
 */
/**
 * With `PACER_SHARDS` > 1, `shards` holds every shard's job and each stale one (as
 * `pacer tick-job status` shows them); the rest is shard 0's.
 */
export type TickJobStatus =
  | { checked: false; reason: string }
  | ({ checked: true } & TickJobState & { shards?: TickJobShardState[] });

export interface StatusResult {
  project: string;
  backend: Backend['kind'];
  at: string;
  lanes: LaneStatus[];
  /** The newest sub-tick summary's time, or `null` if the planner has not run yet. */
  lastTickAt: string | null;
  recentTicks: TickStatus[];
  failing: { count: number; ids: string[] };
  invalid: { count: number; ids: string[] };
  /**
   * Paused schedules: how many, how many of them pacer paused after failures
   * (`pauseAfterFailures`), and the first few with who paused them, when and why.
   */
  paused: {
    count: number;
    byFailures: number;
    examples: { id: string; pause: PauseView | null }[];
  };
  deadLetters: { open: number };
  /** Long syncs (`runner: "job"`) an attempt runs now, under a lease that has not lapsed. */
  longSyncs: LongSyncStatus[];
  tickJob: TickJobStatus;
  /** Provider keys: budget, use and block (./rate-limit-status.ts). */
  rateLimits: RateLimitKeyStatus[];
  /**
   * With `PACER_SHARDS` > 1 only: each shard's planner lease and recent sub-ticks
   * (./status-shards.ts). Then `lanes` add up every shard's newest sub-tick (deferred summed,
   * the largest lag), `lastTickAt` is the newest of any shard, and `recentTicks` are shard 0's.
   */
  shards?: ShardStatus[];
}

export interface LongSyncStatus {
  id: string;
  leaseId: string;
  attempt: number;
  /** The due point it serves. */
  dueAt: string;
  startedAt: string | null;
  /** The last heartbeat: its execution's start or latest renewal. */
  renewedAt: string | null;
  until: string;
}

export async function readStatus(context: CliContext): Promise<StatusResult> {
  const { db, store } = context;
  const now = context.clock();
  const meter = new ReadMeter();
  const [
    due,
    inFlight,
    summaries,
    failing,
    invalid,
    openDeadLetters,
    longSyncs,
    tickJob,
    paused,
    rateLimits,
    shards,
  ] = await Promise.all([
    Promise.all(LANES.map((lane) => store.countDue(lane, now, meter))),
    Promise.all(LANES.map((lane) => store.countInFlight(lane, now, meter))),
    store.readRecentSummaries<SubTickSummary>(),
    countWithExamples(failingQuery(db)),
    countWithExamples(statusQuery(db, 'invalid')),
    count(openDeadLettersQuery(db)),
    readLongSyncs(db, now),
    readTickJob(context),
    readPaused(db),
    readRateLimitStatus(context),
    readShardStatuses(db, context.settings.shards, now),
  ]);
  const latest = summaries.at(-1);
  return {
    project: context.backend.projectId,
    backend: context.backend.kind,
    at: new Date(now).toISOString(),
    lanes: LANES.map((lane, index) => ({
      lane,
      dueNow: due[index] ?? 0,
      inFlight: inFlight[index] ?? 0,
      ...(shards === null
        ? {
            deferred: latest?.lanes[lane].deferred ?? null,
            oldestLagMs: latest?.lanes[lane].oldestLagMs ?? null,
          }
        : acrossShards(shards, lane)),
    })),
    lastTickAt: shards === null ? (latest?.at ?? null) : lastTickOfShards(shards),
    recentTicks: recentTicks(summaries, RECENT_TICKS),
    failing,
    invalid,
    paused,
    deadLetters: { open: openDeadLetters },
    longSyncs,
    tickJob,
    rateLimits,
    ...(shards === null ? {} : { shards }),
  };
}

/** The long syncs running now, oldest start first. */
async function readLongSyncs(db: CliContext['db'], now: number): Promise<LongSyncStatus[]> {
  const snapshot = await longSyncsQuery(db).get();
  return snapshot.docs
    .flatMap((doc) => {
      const lease = readState(doc.data()).lease;
      if (lease === null || !lease.running || lease.until <= now) return [];
      return [
        {
          id: doc.id,
          leaseId: lease.id,
          attempt: lease.attempt,
          dueAt: new Date(lease.dueAt).toISOString(),
          startedAt: lease.startedAt === null ? null : new Date(lease.startedAt).toISOString(),
          renewedAt: lease.renewedAt === undefined ? null : new Date(lease.renewedAt).toISOString(),
          until: new Date(lease.until).toISOString(),
        },
      ];
    })
    .sort((a, b) => (a.startedAt ?? '').localeCompare(b.startedAt ?? ''));
}

/** Paused schedules, with the notes of the first few. */
async function readPaused(db: CliContext['db']): Promise<StatusResult['paused']> {
  const query = statusQuery(db, 'paused');
  const [total, byFailures, examples] = await Promise.all([
    count(query),
    count(pausedByFailuresQuery(db)),
    query.limit(EXAMPLE_IDS).get(),
  ]);
  return {
    count: total,
    byFailures,
    examples: examples.docs.map((doc) => ({
      id: doc.id,
      pause: pauseView(readState(doc.data()).pause),
    })),
  };
}

/** The tick job, read from Cloud Scheduler when there is one to read. */
async function readTickJob(context: CliContext): Promise<TickJobStatus> {
  if (context.backend.kind === 'emulators' && context.backend.schedulerEndpoint === null) {
    return {
      checked: false,
      reason: 'the emulators have no Cloud Scheduler (the local stack calls the planner itself)',
    };
  }
  if (context.region === null) {
    return { checked: false, reason: 'no region: pass --region or set PACER_REGION' };
  }
  const name = tickJobName(
    context.backend.projectId,
    context.region,
    describeTopology(context.settings),
  );
  try {
    // With shards, every shard's job (one list of the region's jobs, as `tick-job status`): a
    // shard whose job is paused or missing does not tick, whatever shard 0's says.
    if (context.settings.shards > 1) return { checked: true, ...(await fleetStatus(context)) };
    return { checked: true, ...(await readTickJobState(context.scheduler(), name)) };
  } catch (error) {
    // The rest of `status` is still worth having; the reason says what went wrong.
    return { checked: false, reason: `could not read ${name}: ${errorMessage(error)}` };
  }
}

function renderTickJob(tickJob: TickJobStatus, now: number): string {
  if (!tickJob.checked) return `not checked: ${tickJob.reason}`;
  if (tickJob.shards !== undefined) return summarizeShardJobs(tickJob.shards);
  if (!tickJob.exists) return `missing: ${tickJob.job} does not exist`;
  return `${tickJob.state ?? 'unknown state'}, last attempt ${describeAttempt(tickJob, now)}`;
}

/**
 * One line for the jobs of every shard: how many are enabled, then each that is not (paused,
 * missing) or should not be there (stale); the table below has the details. Pure.
 */
export function summarizeShardJobs(shards: readonly TickJobShardState[]): string {
  const current = shards.filter((shard) => !shard.stale);
  const enabled = current.filter((shard) => shard.exists && shard.state === 'ENABLED').length;
  const problems = shards.flatMap((shard) => {
    if (shard.stale) return [`shard ${shard.shard} stale (${shard.state ?? 'unknown state'})`];
    if (!shard.exists) return [`shard ${shard.shard} MISSING`];
    if (shard.state !== 'ENABLED')
      return [`shard ${shard.shard} ${shard.state ?? 'unknown state'}`];
    return [];
  });
  const head = `${enabled} of ${current.length} shard jobs ENABLED`;
  return problems.length === 0 ? head : `${head}; ${problems.join(', ')}`;
}

async function count(query: Query): Promise<number> {
  const snapshot = await query.count().get();
  return snapshot.data().count;
}

async function countWithExamples(query: Query): Promise<{ count: number; ids: string[] }> {
  const [total, examples] = await Promise.all([
    count(query),
    query.select().limit(EXAMPLE_IDS).get(),
  ]);
  return { count: total, ids: examples.docs.map((doc) => doc.id) };
}

export function renderStatus(result: StatusResult, now: number): string {
  const lanes = renderTable(
    [
      { header: 'LANE', value: (lane: LaneStatus) => lane.lane },
      { header: 'DUE NOW', value: (lane) => String(lane.dueNow), align: 'right' },
      { header: 'IN FLIGHT', value: (lane) => String(lane.inFlight), align: 'right' },
      {
        header: 'DEFERRED',
        value: (lane) => (lane.deferred === null ? NONE : String(lane.deferred)),
        align: 'right',
      },
      { header: 'OLDEST LAG', value: (lane) => formatSpan(lane.oldestLagMs), align: 'right' },
    ],
    result.lanes,
  );
  const ticks =
    result.recentTicks.length === 0
      ? 'no tick summaries in pacer/stats: the planner has not run in this project'
      : renderTable(
          [
            { header: 'SUB-TICK AT', value: (tick: TickStatus) => formatTime(tick.at) },
            { header: '#', value: (tick) => String(tick.subTick), align: 'right' },
            { header: 'DURATION', value: (tick) => formatSpan(tick.durationMs), align: 'right' },
            { header: 'DUE', value: (tick) => String(tick.due), align: 'right' },
            { header: 'DISPATCHED', value: (tick) => String(tick.dispatched), align: 'right' },
            { header: 'DEFERRED', value: (tick) => String(tick.deferred), align: 'right' },
          ],
          result.recentTicks,
        );
  const examples = (group: { count: number; ids: string[] }) =>
    group.count === 0
      ? '0'
      : `${group.count} (${group.ids.join(', ')}${group.count > group.ids.length ? ', …' : ''})`;
  return [
    renderFields([
      [
        'project',
        `${result.project} (${result.backend === 'emulators' ? 'emulators' : 'Google Cloud'})`,
      ],
      ['last tick', result.lastTickAt === null ? 'never' : formatTimeFrom(result.lastTickAt, now)],
      ['tick job', renderTickJob(result.tickJob, now)],
    ]),
    ...(result.tickJob.checked && result.tickJob.shards !== undefined
      ? [renderFleetStatus(result.tickJob, now)]
      : []),
    result.shards === undefined
      ? `lanes (due now and in flight live; deferred and oldest lag from the last sub-tick):\n${lanes}`
      : `lanes (due now and in flight live; deferred and oldest lag from each shard's last sub-tick):\n${lanes}`,
    ...(result.shards === undefined
      ? [`recent sub-ticks, newest first:\n${ticks}`]
      : [
          renderShardStatuses(result.shards, now),
          `recent sub-ticks of shard 0 (pacer/stats), newest first:\n${ticks}`,
        ]),
    result.longSyncs.length === 0
      ? 'long syncs running: none'
      : `long syncs running (runner: job):\n${renderTable(
          [
            { header: 'SCHEDULE', value: (sync: LongSyncStatus) => sync.id },
            { header: 'ATTEMPT', value: (sync) => String(sync.attempt), align: 'right' },
            { header: 'STARTED', value: (sync) => formatTimeFrom(sync.startedAt, now) },
            {
              header: 'LAST HEARTBEAT',
              value: (sync) =>
                sync.renewedAt === null ? NONE : formatTimeFrom(sync.renewedAt, now),
            },
            { header: 'LEASE UNTIL', value: (sync) => formatTime(sync.until) },
          ],
          result.longSyncs,
        )}`,
    renderRateLimits(result.rateLimits, now),
    renderFields([
      ['failing schedules', examples(result.failing)],
      ['invalid schedules', examples(result.invalid)],
      [
        'paused schedules',
        result.paused.count === 0
          ? '0'
          : `${result.paused.count}${result.paused.byFailures > 0 ? ` (${result.paused.byFailures} by failures: pacer schedules resume ID)` : ''}`,
      ],
      ...result.paused.examples.map(
        ({ id, pause }) =>
          [`  ${id}`, pause === null ? 'paused (no note)' : describePause(pause, now)] as const,
      ),
      [
        'open dead letters',
        `${result.deadLetters.open}${result.deadLetters.open > 0 ? ` (pacer dead-letters list --open)` : ''}`,
      ],
    ]),
  ].join('\n\n');
}
