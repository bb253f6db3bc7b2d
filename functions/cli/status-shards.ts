/**
 * `pacer status` with planner shards (`PACER_SHARDS` > 1, functions/schedule/shard.ts): each
 * shard's planner lease (`pacer/planner-K`) and recent sub-tick summaries (`pacer/stats`,
 * `pacer/stats-K`), labelled by shard. With one shard, `status` shows none of this: its output
 * stays as it was (shard 0's lease is `pacer/planner`, its summaries the ones it shows).
 */
import type { Firestore } from '@google-cloud/firestore';
import type { SubTickSummary } from '../planner/tick.js';
import { LANES, type Lane } from '../schedule/lane.js';
import { plannerLeaseDoc, statsDoc, type Shard } from '../schedule/shard.js';
import { FirestoreStore } from '../store/firestore.js';
import { millis } from '../store/state.js';
import { formatSpan, formatTime, formatTimeFrom, renderTable } from './output.js';

/** One shard's planner, as `status` shows it. */
export interface ShardStatus {
  shard: number;
  /** Its planner lease, `pacer/planner-K`, as stored (`held`: its `until` is after now). */
  plannerLease: {
    doc: string;
    held: boolean;
    holder: string | null;
    until: string | null;
  };
  /** Where its summaries are: `pacer/stats` for shard 0, `pacer/stats-K`. */
  statsDoc: string;
  /** Its newest sub-tick summary's time, `null` before its first tick. */
  lastTickAt: string | null;
  /** Per lane, from its newest sub-tick: what it deferred and how late its oldest due one was. */
  lanes: { lane: Lane; deferred: number | null; oldestLagMs: number | null }[];
  /** Its newest {@link RECENT} sub-ticks, newest first. */
  recentTicks: ShardTick[];
}

export interface ShardTick {
  at: string;
  subTick: number;
  durationMs: number;
  due: number;
  dispatched: number;
  deferred: number;
}

/** Sub-ticks shown per shard. */
const RECENT = 10;

/** Every shard's lease and recent summaries, shard 0 first; `null` with one shard. */
export async function readShardStatuses(
  db: Firestore,
  count: number,
  now: number,
): Promise<ShardStatus[] | null> {
  if (count <= 1) return null;
  const shards = Array.from({ length: count }, (_, index): Shard => ({ index, count }));
  return Promise.all(shards.map((shard) => readShardStatus(db, shard, now)));
}

async function readShardStatus(db: Firestore, shard: Shard, now: number): Promise<ShardStatus> {
  const leaseDoc = plannerLeaseDoc(shard);
  const [lease, summaries] = await Promise.all([
    db.doc(leaseDoc).get(),
    new FirestoreStore(db, undefined, shard).readRecentSummaries<SubTickSummary>(),
  ]);
  const holder = lease.get('holder') as unknown;
  const until = millis(lease.get('until'));
  return {
    shard: shard.index,
    plannerLease: {
      doc: leaseDoc,
      held: until !== null && until > now,
      holder: typeof holder === 'string' ? holder : null,
      until: until === null ? null : new Date(until).toISOString(),
    },
    statsDoc: statsDoc(shard),
    lastTickAt: summaries.at(-1)?.at ?? null,
    lanes: LANES.map((lane) => ({
      lane,
      deferred: summaries.at(-1)?.lanes[lane].deferred ?? null,
      oldestLagMs: summaries.at(-1)?.lanes[lane].oldestLagMs ?? null,
    })),
    recentTicks: recentTicks(summaries, RECENT),
  };
}

/** The newest `count` of `summaries`, newest first, each summed over the lanes. */
export function recentTicks(summaries: readonly SubTickSummary[], count: number): ShardTick[] {
  return summaries
    .slice(-count)
    .reverse()
    .map((summary) => ({
      at: summary.at,
      subTick: summary.subTick,
      durationMs: summary.durationMs,
      due: sumLanes(summary, 'due'),
      dispatched: sumLanes(summary, 'dispatched'),
      deferred: sumLanes(summary, 'deferred'),
    }));
}

function sumLanes(summary: SubTickSummary, field: 'due' | 'dispatched' | 'deferred'): number {
  return LANES.reduce((sum, lane) => sum + summary.lanes[lane][field], 0);
}

/**
 * One line per shard: its lease (held by whom until when, or free), its last sub-tick, and its
 * recent sub-ticks summed (how many, due, dispatched, deferred; the last one's duration).
 */
export function renderShardStatuses(shards: readonly ShardStatus[], now: number): string {
  const sum = (shard: ShardStatus, field: 'due' | 'dispatched' | 'deferred') =>
    String(shard.recentTicks.reduce((total, tick) => total + tick[field], 0));
  const table = renderTable(
    [
      { header: 'SHARD', value: (shard: ShardStatus) => String(shard.shard), align: 'right' },
      { header: 'PLANNER LEASE', value: (shard) => shard.plannerLease.doc },
      {
        header: 'HELD',
        value: (shard) =>
          shard.plannerLease.held
            ? `by ${shard.plannerLease.holder ?? 'unknown'} until ${formatTime(shard.plannerLease.until)}`
            : 'free',
      },
      {
        header: 'LAST TICK',
        value: (shard) =>
          shard.lastTickAt === null ? 'never' : formatTimeFrom(shard.lastTickAt, now),
      },
      {
        header: 'LAST DURATION',
        value: (shard) => formatSpan(shard.recentTicks[0]?.durationMs ?? null),
        align: 'right',
      },
      {
        header: 'SUB-TICKS',
        value: (shard) => String(shard.recentTicks.length),
        align: 'right',
      },
      { header: 'DUE', value: (shard) => sum(shard, 'due'), align: 'right' },
      { header: 'DISPATCHED', value: (shard) => sum(shard, 'dispatched'), align: 'right' },
      { header: 'DEFERRED', value: (shard) => sum(shard, 'deferred'), align: 'right' },
    ],
    shards,
  );
  return `planner shards (PACER_SHARDS=${shards.length}; each shard's lease, and its last ${RECENT} sub-ticks summed):\n${table}`;
}

/**
 * A lane's deferred count and oldest lag over every shard's newest sub-tick: the deferred
 * added up, the largest lag; `null` when no shard has a value (none has ticked).
 */
export function acrossShards(
  shards: readonly ShardStatus[],
  lane: Lane,
): { deferred: number | null; oldestLagMs: number | null } {
  const of = (field: 'deferred' | 'oldestLagMs') =>
    shards.flatMap((shard) => {
      const value = shard.lanes.find((entry) => entry.lane === lane)?.[field];
      return typeof value === 'number' ? [value] : [];
    });
  const deferred = of('deferred');
  const lags = of('oldestLagMs');
  return {
    deferred: deferred.length === 0 ? null : deferred.reduce((a, b) => a + b, 0),
    oldestLagMs: lags.length === 0 ? null : Math.max(...lags),
  };
}

/** The newest last tick of any shard, `null` when none has ticked. */
export function lastTickOfShards(shards: readonly ShardStatus[]): string | null {
  const times = shards.flatMap((shard) => (shard.lastTickAt === null ? [] : [shard.lastTickAt]));
  return times.length === 0
    ? null
    : times.reduce((a, b) => (Date.parse(b) > Date.parse(a) ? b : a));
}
