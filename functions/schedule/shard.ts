/**
 * Shards: `PACER_SHARDS` planners, each planning its own part of the schedules under its own
 * planner lease, so that N planners dispatch about N times as much as one (docs/performance.md,
 * "Scaling").
 *
 * A schedule's shard is derived from the spread hash (./spread.ts): `floor(phase × N)` of its
 * `rateLimitKey` when it names one, of its id otherwise. Keying on the provider key keeps every
 * schedule of a key in one shard, so a key's buckets are only ever spent by one planner under
 * its lease (functions/planner/rate-limits.ts keeps them in memory for a tick on that premise),
 * and a key's limits stay exact however many shards there are. Pacer writes it into the state
 * map (`state.shard`) whenever it reconciles or claims a schedule.
 *
 * Changing N loses nothing: planner K of N serves every stored shard value `s` with
 * `s mod N = K` (values up to {@link MAX_SHARDS}), so a schedule whose stored shard is from an
 * older N is still planned by exactly one planner until its next claim (or `pacer schedules
 * reconcile --all`) rewrites it for the new N. A schedule with no `state.shard` at all (never
 * written since shards existed) is only seen with N = 1, which filters nothing: run
 * `pacer schedules reconcile --all` once before raising N from 1.
 */
import type { Settings } from '../config.js';
import type { Subject } from '../protocol/decisions.js';
import type { Patch } from '../protocol/patch.js';
import { spreadPhase } from './spread.js';

/** The most shards: every stored value below it is served (`in` takes up to 30 values). */
export const MAX_SHARDS = 16;

/** Which part of the schedules a planner plans: shard `index` of `count`. */
export interface Shard {
  readonly index: number;
  readonly count: number;
}

/** One planner for everything: no filter, the planner lease `pacer/planner`. */
export const WHOLE: Shard = Object.freeze({ index: 0, count: 1 });

/** A schedule's shard among `count`: stable, uniform over ids (or keys), in [0, count). */
export function shardOf(
  id: string,
  rateLimitKey: string | null | undefined,
  count: number,
): number {
  if (count <= 1) return 0;
  const phase = spreadPhase(rateLimitKey ?? id);
  return Math.min(count - 1, Math.floor(phase * count));
}

/**
 * The stored `state.shard` values planner `shard` serves: every value below {@link MAX_SHARDS}
 * congruent to its index (values from an older, larger N included); `null` with one shard (no
 * filter at all: documents without the field are served too).
 */
export function servedShards(shard: Shard): number[] | null {
  if (shard.count <= 1) return null;
  const values: number[] = [];
  for (let value = shard.index; value < MAX_SHARDS; value += shard.count) values.push(value);
  return values;
}

/** Whether planner `shard` serves a document whose stored shard is `stored`. */
export function servesStored(shard: Shard, stored: number | null | undefined): boolean {
  const served = servedShards(shard);
  return served === null || (typeof stored === 'number' && served.includes(stored));
}

/**
 * Shard `shard`'s part of a budget of `total`: `floor(total / N)`, plus one for the first
 * `total mod N` shards, so the parts add up to `total` exactly.
 */
export function shareOf(total: number, shard: Shard): number {
  if (shard.count <= 1) return total;
  const base = Math.floor(total / shard.count);
  return base + (shard.index < total % shard.count ? 1 : 0);
}

/**
 * The settings one shard's planner plans with. The in-flight budgets (each lane's, the total
 * and the reserved slots) are capacity shared by every shard, so each shard gets its
 * {@link shareOf}: together they never exceed them, and no two planners race for the same
 * slot. The caps bound one planner's work per sub-tick, so each shard keeps them whole: that
 * is what lets N planners dispatch N times as much.
 */
export function shardSettings(settings: Settings, shard: Shard): Settings {
  if (shard.count <= 1) return settings;
  return {
    ...settings,
    inFlightBudget: {
      high: shareOf(settings.inFlightBudget.high, shard),
      medium: shareOf(settings.inFlightBudget.medium, shard),
      low: shareOf(settings.inFlightBudget.low, shard),
    },
    totalInFlightBudget:
      settings.totalInFlightBudget === null ? null : shareOf(settings.totalInFlightBudget, shard),
    reserved: {
      high: shareOf(settings.reserved.high, shard),
      medium: shareOf(settings.reserved.medium, shard),
      low: shareOf(settings.reserved.low, shard),
    },
  };
}

/** The planner lease of a shard: `pacer/planner` for one shard (as before), `pacer/planner-K`. */
export function plannerLeaseDoc(shard: Shard): string {
  return shard.count <= 1 ? 'pacer/planner' : `pacer/planner-${shard.index}`;
}

/** Where a shard's planner keeps its recent sub-tick summaries: `pacer/stats` for shard 0. */
export function statsDoc(shard: Shard): string {
  return shard.index === 0 ? 'pacer/stats' : `pacer/stats-${shard.index}`;
}

/**
 * Shard `index` of `count` as a planner invocation names it (`?shard=K`), checked: a clear
 * error for anything but a whole number below the shard count.
 */
export function parseShard(
  raw: unknown,
  count: number,
): { ok: true; shard: Shard } | { ok: false; message: string } {
  if (raw === undefined || raw === null || raw === '') {
    return count <= 1
      ? { ok: true, shard: WHOLE }
      : { ok: false, message: `shard: required with PACER_SHARDS=${count} (0 to ${count - 1})` };
  }
  const text = typeof raw === 'string' || typeof raw === 'number' ? String(raw).trim() : '';
  const index = Number(text);
  if (!/^\d+$/.test(text) || index >= count) {
    return {
      ok: false,
      message: `shard: expected a whole number from 0 to ${count - 1} (PACER_SHARDS=${count}), got ${JSON.stringify(raw)}`,
    };
  }
  return { ok: true, shard: { index, count } };
}

/**
 * `patch` with the schedule's shard among `count` added when its stored one differs (with one
 * shard, nothing is added: one planner filters nothing). Used by the reconciler and the claim,
 * so a schedule's stored shard follows its key and the current N from its next write on.
 */
export function withShard<T>(
  decision: { outcome: T; patch: Patch | null },
  subject: Subject | null,
  count: number,
): { outcome: T; patch: Patch | null } {
  if (subject === null || count <= 1) return decision;
  const key = subject.validation.ok ? (subject.validation.spec.rateLimitKey ?? null) : null;
  const shard = shardOf(subject.id, key, count);
  const written = decision.patch?.state.shard ?? subject.state.shard;
  if (written === shard) return decision;
  const patch: Patch = decision.patch ?? { state: {} };
  return { ...decision, patch: { ...patch, state: { ...patch.state, shard } } };
}
