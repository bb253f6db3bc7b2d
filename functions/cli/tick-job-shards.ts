/**
 * One Cloud Scheduler job per planner shard (`PACER_SHARDS`, functions/schedule/shard.ts):
 * `pacer-tick` calls the planner for shard 0, `pacer-tick-K` for shard K, each with `?shard=K`
 * in its URL (the OIDC audience stays the planner's URL). With one shard the job is exactly the
 * single tick job of ./tick-job.ts. `ensure` with N shards also deletes the jobs of shards N and
 * above left by a larger N; going back to one shard leaves them to delete by hand (`gcloud
 * scheduler jobs delete pacer-tick-K`): until then their calls are refused with a 400 naming
 * the shard.
 */
import type { CloudSchedulerClient, protos } from '@google-cloud/scheduler';
import { MAX_SHARDS } from '../schedule/shard.js';
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

/**
 * Ensures every shard's job, then (with more than one shard) deletes the jobs of shards from
 * `count` up to {@link MAX_SHARDS} that exist.
 */
export async function ensureShardJobs(
  client: CloudSchedulerClient,
  desired: readonly Job[],
  stale: readonly string[],
): Promise<ShardJobResult[]> {
  const results: ShardJobResult[] = [];
  for (const job of desired) results.push(await ensureTickJob(client, job));
  for (const name of stale) {
    try {
      await client.deleteJob({ name });
      results.push({ job: name, action: 'deleted', changed: [], state: null });
    } catch (error) {
      // A job that is not there is what we want.
      if (!isNotFound(error)) throw error;
    }
  }
  return results;
}

/** The job names of shards `count` and above (none with one shard: see the file comment). */
export function staleShardJobs(
  projectId: string,
  region: string,
  topology: Topology,
  count: number,
): string[] {
  if (count <= 1) return [];
  const names: string[] = [];
  for (let index = count; index < MAX_SHARDS; index++) {
    names.push(shardJobName(projectId, region, topology, index));
  }
  return names;
}

function isNotFound(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return code === 5 || code === 404;
}
