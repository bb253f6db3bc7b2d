/**
 * `pacer tick-job pause | resume | status` over every pacer tick job of the region, not only
 * those of the shards below the current `PACER_SHARDS`. The region's jobs are listed once; the
 * tick jobs are `pacer-tick` (shard 0) and those named exactly `pacer-tick-K` by the rule of
 * {@link isStaleShardJob} (./tick-job-shards.ts). A job of shard K ≥ N is *stale*: the planner
 * refuses its calls with a 400, and `tick-job ensure` (run by every deploy) deletes it.
 *
 * - `status` shows each job of shards 0 … N-1 (one missing says so) and each stale job.
 * - `pause` pauses the jobs of shards 0 … N-1 and every stale job (nothing ticks at all).
 * - `resume` resumes the jobs of shards 0 … N-1 and leaves stale jobs as they are (paused after
 *   a `pause`): resuming them would only get 400s until `ensure` deletes them.
 *
 * With one shard and no stale job the results are shard 0's alone, as before; otherwise shard
 * 0's with `shards`, one entry per job, shard order.
 */
import type { CloudSchedulerClient, protos } from '@google-cloud/scheduler';
import { describeTopology } from '../topology.js';
import type { CliContext } from './context.js';
import { NONE, formatTimeFrom, renderTable } from './output.js';
import {
  describeAttempt,
  renderPaused,
  renderTickJobState,
  requireRegion,
  setTickJobPaused,
  stateOf,
  tickJobName,
  type TickJobState,
} from './tick-job.js';
import { isStaleShardJob, shardJobName } from './tick-job-shards.js';

type Job = protos.google.cloud.scheduler.v1.IJob;

/**
 * The shard of the tick job `name`: 0 for `base` itself, K for `base-K` named as pacer names
 * it (see {@link isStaleShardJob}), `null` for any other job. Pure.
 */
export function tickJobShard(name: string, base: string): number | null {
  if (name === base) return 0;
  if (!isStaleShardJob(name, base, 1)) return null;
  return Number(name.slice(base.length + 1));
}

/** One pacer tick job: its shard and whether that shard is at or above the count. */
export interface TickJobEntry {
  job: string;
  shard: number;
  stale: boolean;
}

/**
 * The tick jobs to act on or show: every shard below `count` (listed or not), then every
 * listed job of a shard at or above it, in shard order. Pure.
 */
export function tickJobEntries(
  listed: readonly string[],
  base: string,
  count: number,
): TickJobEntry[] {
  const wanted = Math.max(1, count);
  const entries: TickJobEntry[] = Array.from({ length: wanted }, (_, shard) => ({
    job: shard === 0 ? base : `${base}-${shard}`,
    shard,
    stale: false,
  }));
  const stale = listed
    .map((job) => ({ job, shard: tickJobShard(job, base) }))
    .filter((entry): entry is { job: string; shard: number } => entry.shard !== null)
    .filter((entry) => entry.shard >= wanted)
    .sort((a, b) => a.shard - b.shard);
  return [...entries, ...stale.map((entry) => ({ ...entry, stale: true }))];
}

/** Every job in `projects/P/locations/R`, all pages. */
async function listJobs(
  client: CloudSchedulerClient,
  projectId: string,
  region: string,
): Promise<Job[]> {
  const [jobs] = await client.listJobs({ parent: `projects/${projectId}/locations/${region}` });
  return jobs;
}

interface Fleet {
  entries: TickJobEntry[];
  jobs: Map<string, Job>;
  count: number;
}

async function readFleet(context: CliContext): Promise<Fleet> {
  const region = requireRegion(context);
  const topology = describeTopology(context.settings);
  const projectId = context.backend.projectId;
  const base = tickJobName(projectId, region, topology);
  const jobs = new Map<string, Job>();
  for (const job of await listJobs(context.scheduler(), projectId, region)) {
    if (typeof job.name === 'string') jobs.set(job.name, job);
  }
  const count = context.settings.shards;
  const entries = tickJobEntries([...jobs.keys()], base, count);
  // Names as ./tick-job-shards.ts builds them, so the two can never disagree.
  for (const entry of entries) {
    if (!entry.stale) entry.job = shardJobName(projectId, region, topology, entry.shard);
  }
  return { entries, jobs, count };
}

/** Whether the result names its jobs one by one (`shards`) rather than shard 0's alone. */
function manyJobs(fleet: Fleet): boolean {
  return fleet.count > 1 || fleet.entries.some((entry) => entry.stale);
}

export type TickJobShardState = TickJobState & { shard: number; stale: boolean };
export type TickJobStatus = TickJobState & { shards?: TickJobShardState[] };

export async function statusCommand(context: CliContext): Promise<TickJobStatus> {
  const fleet = await readFleet(context);
  const [first, ...rest] = fleet.entries.map((entry) => ({
    entry,
    state: stateOf(entry.job, fleet.jobs.get(entry.job) ?? null),
  }));
  // There is always shard 0's entry (./tickJobEntries).
  if (first === undefined) throw new Error('no tick job entry for shard 0');
  if (!manyJobs(fleet)) return first.state;
  const shards = [first, ...rest].map(({ entry, state }) => ({
    ...state,
    shard: entry.shard,
    stale: entry.stale,
  }));
  return { ...first.state, shards };
}

export interface PausedJob {
  job: string;
  shard: number;
  stale: boolean;
  state: string | null;
  /** Whether this command paused or resumed it (a stale job is left as it is by `resume`). */
  changed: boolean;
}
export type PauseResult = { job: string; state: string | null } & { shards?: PausedJob[] };

export async function pauseCommand(context: CliContext, paused: boolean): Promise<PauseResult> {
  const fleet = await readFleet(context);
  const client = context.scheduler();
  const shards: PausedJob[] = [];
  for (const entry of fleet.entries) {
    if (entry.stale && !paused) {
      const job = fleet.jobs.get(entry.job) ?? null;
      shards.push({ ...entry, state: stateOf(entry.job, job).state, changed: false });
      continue;
    }
    // A shard below the count with no job fails here (exit 1), as it always has.
    const { state } = await setTickJobPaused(client, entry.job, paused);
    shards.push({ ...entry, state, changed: true });
  }
  const [first] = shards;
  if (first === undefined) throw new Error('no tick job entry for shard 0');
  const result = { job: first.job, state: first.state };
  return manyJobs(fleet) ? { ...result, shards } : result;
}

function staleNote(shard: number): string {
  return `stale: shard ${shard} is not below PACER_SHARDS; pacer tick-job ensure deletes it`;
}

export function renderPauseResult(result: PauseResult): string {
  if (result.shards === undefined) return renderPaused(result);
  return result.shards
    .map((shard) => {
      const line = renderPaused(shard);
      if (!shard.stale) return line;
      return `${line} (${shard.changed ? '' : 'left as it is, '}${staleNote(shard.shard)})`;
    })
    .join('\n');
}

export function renderStatus(result: TickJobStatus, now: number): string {
  if (result.shards === undefined) return renderTickJobState(result, now);
  const location = result.job.replace(/\/jobs\/[^/]+$/, '');
  const count = result.shards.filter((row) => !row.stale).length;
  const header = `tick jobs in ${location} (PACER_SHARDS=${count}):`;
  const table = renderTable<TickJobShardState>(
    [
      { header: 'shard', value: (row) => String(row.shard), align: 'right' },
      { header: 'job', value: (row) => row.job.replace(/^.*\/jobs\//, '') },
      { header: 'state', value: (row) => (row.exists ? (row.state ?? NONE) : 'MISSING') },
      {
        header: 'last attempt',
        value: (row) => (row.exists ? describeAttempt(row, now) : NONE),
      },
      {
        header: 'next run',
        value: (row) => (row.nextRunAt === null ? NONE : formatTimeFrom(row.nextRunAt, now)),
      },
      {
        header: 'note',
        value: (row) =>
          row.stale
            ? staleNote(row.shard)
            : row.exists
              ? ''
              : 'missing: pacer tick-job ensure creates it',
      },
    ],
    result.shards,
  );
  return `${header}\n${table}`;
}
