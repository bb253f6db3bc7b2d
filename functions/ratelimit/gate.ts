/**
 * The rate-limit gate of one sub-tick: which due candidates the plan may consider, given each
 * provider key's buckets, block and calls in flight; then the buckets after what was dispatched.
 * Pure, like the plan (../planner/plan.ts): the tick reads and saves the buckets around it.
 *
 * Candidates are admitted high lane first and, within a lane, most overdue first, each key up
 * to its room (whole tokens in its emptiest bucket, and concurrency left); the rest are held.
 * Tokens are taken only for what the plan chose, so a candidate the plan's caps leave behind
 * costs nothing.
 */
import type { PerLane } from '../config.js';
import { LANES } from '../schedule/lane.js';
import type { Candidate } from '../planner/plan.js';
import { available, fullBucket, refill, take, type Bucket, type KeyLimit } from './bucket.js';

/** A candidate with its schedule's provider key (`null`: none, never held by a key). */
export interface KeyedCandidate extends Candidate {
  key: string | null;
}

/** What the gate knows of a key at the sub-tick. */
export interface KeyBudget {
  /** Its limits (`null`: none configured; only a block holds it). */
  limit: KeyLimit | null;
  bucket: Bucket;
  /** Its schedules in flight (counted only when it limits concurrency). */
  inFlight: number;
}

/** No rate and no concurrency limited: a key only a block can hold. */
export const UNLIMITED: KeyLimit = { perMinute: null, perHour: null, burst: 1, concurrency: null };

export interface Admission {
  candidates: PerLane<KeyedCandidate[]>;
  /** Candidates held back, per key. */
  held: Map<string, number>;
}

/** How many more of `key` may go now. */
export function room(budget: KeyBudget, now: number): number {
  const limit = budget.limit ?? UNLIMITED;
  const tokens = available(budget.bucket, limit, now);
  const slots =
    limit.concurrency === null ? Number.POSITIVE_INFINITY : limit.concurrency - budget.inFlight;
  return Math.max(0, Math.min(tokens, slots));
}

/** The candidates the plan may dispatch, each key within its room. */
export function admit(
  candidates: PerLane<readonly KeyedCandidate[]>,
  budgets: ReadonlyMap<string, KeyBudget>,
  now: number,
): Admission {
  const left = new Map([...budgets].map(([key, budget]) => [key, room(budget, now)]));
  const held = new Map<string, number>();
  const admitted = { high: [], medium: [], low: [] } as PerLane<KeyedCandidate[]>;
  for (const lane of LANES) {
    const ordered = [...candidates[lane]].sort(
      (a, b) => a.dueAt - b.dueAt || a.id.localeCompare(b.id),
    );
    for (const candidate of ordered) {
      const key = candidate.key;
      const remaining = key === null ? undefined : left.get(key);
      if (key === null || remaining === undefined) {
        admitted[lane].push(candidate);
      } else if (remaining > 0) {
        left.set(key, remaining - 1);
        admitted[lane].push(candidate);
      } else {
        held.set(key, (held.get(key) ?? 0) + 1);
      }
    }
  }
  return { candidates: admitted, held };
}

/** The buckets after `dispatched` (keys of what went out) at `now`: every budget's, refilled. */
export function charge(
  budgets: ReadonlyMap<string, KeyBudget>,
  dispatched: readonly (string | null)[],
  now: number,
): Map<string, Bucket> {
  const counts = new Map<string, number>();
  for (const key of dispatched) if (key !== null) counts.set(key, (counts.get(key) ?? 0) + 1);
  const after = new Map<string, Bucket>();
  for (const [key, budget] of budgets) {
    const limit = budget.limit ?? UNLIMITED;
    after.set(key, take(budget.bucket, limit, now, counts.get(key) ?? 0));
  }
  return after;
}

/**
 * A key's bucket at the start of a sub-tick: the tokens the planner kept in memory (or saved),
 * the block the store holds now; a key never seen starts full.
 */
export function bucketOf(
  limit: KeyLimit | null,
  kept: Pick<Bucket, 'minute' | 'hour' | 'refilledAt'> | null,
  blockedUntil: number | null,
  now: number,
): Bucket {
  const base =
    kept === null ? fullBucket(limit ?? UNLIMITED, now) : { ...kept, blockedUntil: null };
  return refill({ ...base, blockedUntil }, limit ?? UNLIMITED, now);
}
