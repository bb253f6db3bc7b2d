/**
 * The planner's side of provider rate limits: before the plan, read the keys of the due
 * candidates (their block, their calls in flight) and admit only what their budgets allow; after
 * the dispatch, take the tokens of what went out and save each key's buckets once. The math is
 * pure (../ratelimit/gate.ts, ../ratelimit/bucket.ts); this file only reads and writes.
 *
 * The tokens live in memory for the whole tick ({@link RateLimitMemory}, one per tick): only the
 * planner takes tokens, under the planner lease, so the saved ones are read once per tick. Blocks
 * are written by workers at any time, so they are read every sub-tick.
 */
import type { PerLane, Settings } from '../config.js';
import type { Logger } from '../log.js';
import type { Bucket } from '../ratelimit/bucket.js';
import { admit, bucketOf, charge, type KeyBudget, type KeyedCandidate } from '../ratelimit/gate.js';
import type { RateLimitStore } from '../ratelimit/store.js';
import { errorMessage } from '../errors.js';
import { iso } from '../schedule/time.js';
import { LANES } from '../schedule/lane.js';
import type { ReadMeter } from '../store/queries.js';
import type { StoredSchedule } from '../store/port.js';
import type { Candidate } from './plan.js';

/** The tokens of each key as this tick has left them. */
export type RateLimitMemory = Map<string, Pick<Bucket, 'minute' | 'hour' | 'refilledAt'>>;

export interface Gated {
  candidates: PerLane<Candidate[]>;
  /** Each key's budget this sub-tick (only keys of candidates). */
  budgets: Map<string, KeyBudget>;
  /** Each candidate's key. */
  keys: Map<string, string | null>;
  /** Candidates held back by their key, in all. */
  held: number;
}

/** A schedule's provider key, if it names one. */
export function keyOf(schedule: StoredSchedule): string | null {
  return schedule.validation.ok ? (schedule.validation.spec.rateLimitKey ?? null) : null;
}

/** Admits the candidates their keys' budgets allow. */
export async function gateCandidates(
  store: RateLimitStore,
  settings: Settings,
  memory: RateLimitMemory,
  candidates: PerLane<Candidate[]>,
  read: ReadonlyMap<string, { schedule: StoredSchedule }>,
  now: number,
  meter: ReadMeter,
  logger: Logger,
): Promise<Gated> {
  const keys = new Map<string, string | null>();
  for (const lane of LANES) {
    for (const candidate of candidates[lane]) {
      const found = read.get(candidate.id);
      keys.set(candidate.id, found === undefined ? null : keyOf(found.schedule));
    }
  }
  const named = [...new Set([...keys.values()].filter((key): key is string => key !== null))];
  const budgets = new Map<string, KeyBudget>();
  if (named.length === 0) return { candidates, budgets, keys, held: 0 };

  const saved = await store.readKeys(named, meter);
  const inFlight = await Promise.all(
    named.map((key) =>
      settings.rateLimits[key]?.concurrency == null
        ? Promise.resolve(0)
        : store.countInFlight(key, now, meter),
    ),
  );
  named.forEach((key, i) => {
    const limit = settings.rateLimits[key] ?? null;
    const kept = memory.get(key) ?? saved.get(key)?.tokens ?? null;
    budgets.set(key, {
      limit,
      bucket: bucketOf(limit, kept, saved.get(key)?.blockedUntil ?? null, now),
      inFlight: inFlight[i] ?? 0,
    });
  });
  const keyed = (lane: keyof PerLane<unknown>): KeyedCandidate[] =>
    candidates[lane].map((candidate) => ({ ...candidate, key: keys.get(candidate.id) ?? null }));
  const admission = admit(
    { high: keyed('high'), medium: keyed('medium'), low: keyed('low') },
    budgets,
    now,
  );
  let held = 0;
  for (const [key, count] of admission.held) {
    held += count;
    const budget = budgets.get(key);
    const blockedUntil = budget?.bucket.blockedUntil ?? null;
    logger.debug(
      {
        event: 'ratelimit.held',
        key,
        held: count,
        blockedUntil: blockedUntil !== null && blockedUntil > now ? iso(blockedUntil) : null,
      },
      `${count} due schedules of ${key} held back by its rate limit`,
    );
  }
  return { candidates: admission.candidates, budgets, keys, held };
}

/**
 * Takes the tokens of what was dispatched and saves each key's buckets (one write per key). A
 * failed save is logged: the tick goes on with the tokens in memory.
 */
export async function chargeDispatched(
  store: RateLimitStore,
  memory: RateLimitMemory,
  gated: Gated,
  dispatchedIds: readonly string[],
  now: number,
  logger: Logger,
): Promise<void> {
  if (gated.budgets.size === 0) return;
  const after = charge(
    gated.budgets,
    dispatchedIds.map((id) => gated.keys.get(id) ?? null),
    now,
  );
  const tokens = new Map(
    [...after].map(([key, bucket]) => [
      key,
      { minute: bucket.minute, hour: bucket.hour, refilledAt: bucket.refilledAt },
    ]),
  );
  for (const [key, bucket] of tokens) memory.set(key, bucket);
  try {
    await store.saveTokens(tokens);
  } catch (error) {
    logger.error(
      { event: 'ratelimit.save_failed', keys: [...tokens.keys()], err: error },
      `could not save the rate limit buckets: ${errorMessage(error)}`,
    );
  }
}
