/**
 * One Cloud Scheduler job per planner shard (`PACER_SHARDS`, functions/schedule/shard.ts):
 * `pacer-tick` calls the planner for shard 0, `pacer-tick-K` for shard K, each with `?shard=K`
 * in its URL (the OIDC audience stays the planner's URL). With one shard the job is exactly the
 * single tick job of ./tick-job.ts. `ensure` with N shards (one included) also deletes the jobs
 * of shards N and above that a larger N left: it lists the region's jobs once and deletes those
 * named exactly `pacer-tick-K`, K a whole number (no sign, no leading zero) of at least N
 * ({@link isStaleShardJob}). Nothing else is touched: `pacer-tick-x`, `pacer-tick-01` or another
 * prefix's jobs stay. A stale job left running would have its calls refused with a 400 naming
 * the shard.
 */
import type { CloudSchedulerClient, protos } from '@google-cloud/scheduler';
import type { Topology } from '../topology.js';
import {
  desiredTickJob,
  ensureTickJob,
  tickJobName,
  type EnsureResult,
  type TickJobTarget,
} from './tick-job.js';

type Job = protos.google.cloud.scheduler.v1.IJob;

/** The job of shard `index` of `count`: `projects/P/locations/R/jobs/pacer-tick[-K]`. */
export function shardJobName(
  projectId: string,
  region: string,
  topology: Topology,
  index: number,
): string {
  const base = tickJobName(projectId, region, topology);
  return index === 0 ? base : `${base}-${index}`;
}

/** The jobs pacer wants for `count` shards, shard 0 first. Pure. */
export function desiredShardJobs(topology: Topology, target: TickJobTarget, count: number): Job[] {
  const single = desiredTickJob(topology, target);
  if (count <= 1) return [single];
  return Array.from({ length: count }, (_, index) => ({
    ...single,
    name: shardJobName(target.projectId, target.region, topology, index),
    description: `${single.description ?? ''} (shard ${index} of ${count})`,
    httpTarget: {
      ...single.httpTarget,
      uri: withShard(target.plannerUrl, index),
    },
  }));
}

function withShard(url: string, index: number): string {
  const parsed = new URL(url);
  parsed.searchParams.set('shard', String(index));
  return parsed.toString();
}

/** What `ensure` did with one shard's job; `deleted`: a job of a shard above the count. */
export type ShardJobResult =
  EnsureResult | { job: string; action: 'deleted'; changed: []; state: null };

/** Ensures every shard's job, shard 0's first. */
export async function ensureShardJobs(
  client: CloudSchedulerClient,
  desired: readonly Job[],
): Promise<ShardJobResult[]> {
  const results: ShardJobResult[] = [];
  for (const job of desired) results.push(await ensureTickJob(client, job));
  return results;
}

/** Deletes the `stale` jobs (see {@link staleShardJobs}); one already gone is what we want. */
export async function deleteShardJobs(
  client: CloudSchedulerClient,
  stale: readonly string[],
): Promise<ShardJobResult[]> {
  const results: ShardJobResult[] = [];
  for (const name of stale) {
    try {
      await client.deleteJob({ name });
      results.push({ job: name, action: 'deleted', changed: [], state: null });
    } catch (error) {
      // Deleted meanwhile (by hand, or by another ensure): what we want.
      if (!isNotFound(error)) throw error;
    }
  }
  return results;
}

/**
 * Whether the job `name` (full: `projects/P/locations/R/jobs/J`) is the job of a shard `count`
 * or above: exactly shard 0's name (`base`), `-`, and a whole number K ≥ `count` written as
 * pacer writes it (digits, no leading zero, K ≥ 1). Pure.
 */
export function isStaleShardJob(name: string, base: string, count: number): boolean {
  if (!name.startsWith(`${base}-`)) return false;
  const suffix = name.slice(base.length + 1);
  if (!/^[1-9]\d*$/.test(suffix)) return false;
  return Number(suffix) >= count;
}

/**
 * Of the job names listed in the tick job's region, those of shards `count` and above (with
 * one shard: every `pacer-tick-K`), in the order listed. Pure.
 */
export function staleShardJobs(
  listed: readonly string[],
  projectId: string,
  region: string,
  topology: Topology,
  count: number,
): string[] {
  const base = tickJobName(projectId, region, topology);
  return listed.filter((name) => isStaleShardJob(name, base, count));
}

/** The names of every job in `projects/P/locations/R`, all pages, with one list call each. */
export async function listJobNames(
  client: CloudSchedulerClient,
  projectId: string,
  region: string,
): Promise<string[]> {
  const [jobs] = await client.listJobs({ parent: `projects/${projectId}/locations/${region}` });
  return jobs.flatMap((job) => (typeof job.name === 'string' ? [job.name] : []));
}

function isNotFound(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return code === 5 || code === 404;
}
