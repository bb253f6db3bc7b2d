/**
 * The planner's side of provider rate limits: as each lane's due candidates are read, read their
 * keys (their block, their calls in flight) and admit only what their budgets allow; then
 * take the tokens of what the plan chose and save each key's buckets once, before any claim. The math is
 * pure (../ratelimit/gate.ts, ../ratelimit/bucket.ts); this file only reads and writes.
 *
 * The tokens live in memory for the whole tick ({@link RateLimitMemory}, one per tick): only the
 * planner takes tokens, under the planner lease, so the saved ones are read once per tick. Blocks
 * are written by workers at any time, so they are read every sub-tick.
 */
import type { PerLane, Settings } from '../config.js';
import type { Logger } from '../log.js';
import type { Bucket } from '../ratelimit/bucket.js';
import {
  admit,
  bucketOf,
  type Admission,
  type KeyBudget,
  type KeyedCandidate,
} from '../ratelimit/gate.js';
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

/**
 * The keys' budgets of one sub-tick, loaded as the lanes are read: each key's saved buckets and
 * block, and its calls in flight, read once, when a candidate of it is first in hand. The sub-tick
 * admits with them lane by lane (so a point its key holds takes no room from the lanes below it
 * when they are read), then once more over every candidate for the plan ({@link admitAll}).
 */
export class KeyBudgets {
  readonly budgets = new Map<string, KeyBudget>();
  /** Each candidate's key. */
  readonly keys = new Map<string, string | null>();

  constructor(
    private readonly store: RateLimitStore,
    private readonly settings: Settings,
    private readonly memory: RateLimitMemory,
    private readonly meter: ReadMeter,
  ) {}

  /** Notes the keys of `candidates` and loads, at `now`, the budgets of keys not loaded yet. */
  async load(
    candidates: PerLane<readonly Candidate[]>,
    read: ReadonlyMap<string, { schedule: StoredSchedule }>,
    now: number,
  ): Promise<void> {
    for (const lane of LANES) {
      for (const candidate of candidates[lane]) {
        if (this.keys.has(candidate.id)) continue;
        const found = read.get(candidate.id);
        this.keys.set(candidate.id, found === undefined ? null : keyOf(found.schedule));
      }
    }
    const named = [
      ...new Set(
        [...this.keys.values()].filter(
          (key): key is string => key !== null && !this.budgets.has(key),
        ),
      ),
    ];
    if (named.length === 0) return;
    const { store, settings, memory, meter } = this;
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
      // The saved tokens are the truth (taken in transactions); memory only fills in for a key
      // whose document could not be read back.
      const kept = saved.get(key)?.tokens ?? memory.get(key) ?? null;
      this.budgets.set(key, {
        limit,
        bucket: bucketOf(limit, kept, saved.get(key)?.blockedUntil ?? null, now),
        inFlight: inFlight[i] ?? 0,
      });
    });
  }

  /** The candidates their keys admit at `now` (keys loaded by {@link load}). Pure. */
  admit(candidates: PerLane<readonly Candidate[]>, now: number): Admission {
    const keyed = (lane: keyof PerLane<unknown>): KeyedCandidate[] =>
      candidates[lane].map((candidate) => ({
        ...candidate,
        key: this.keys.get(candidate.id) ?? null,
      }));
    return admit(
      { high: keyed('high'), medium: keyed('medium'), low: keyed('low') },
      this.budgets,
      now,
    );
  }

  /** Admits every candidate for the plan, at `now`, and logs what each key holds back. */
  admitAll(candidates: PerLane<readonly Candidate[]>, now: number, logger: Logger): Gated {
    const { budgets, keys } = this;
    if (budgets.size === 0) {
      return { candidates: perLaneCopy(candidates), budgets, keys, held: 0 };
    }
    const admission = this.admit(candidates, now);
    let held = 0;
    for (const [key, count] of admission.held) {
      held += count;
      const blockedUntil = budgets.get(key)?.bucket.blockedUntil ?? null;
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
}

function perLaneCopy(candidates: PerLane<readonly Candidate[]>): PerLane<Candidate[]> {
  return { high: [...candidates.high], medium: [...candidates.medium], low: [...candidates.low] };
}

/**
 * Takes the tokens of everything the plan chose, before it is claimed: one transaction per key
 * on `rateLimits/{key}` (its one write this sub-tick), so a planner that dies after its claims
 * leaves the next one nothing it spent, and a planner whose lease lapsed mid-sub-tick cannot
 * spend a token the next one spends too. A key that gives fewer tokens than planned (another
 * planner took them) dispatches only that many, in plan order; one whose transaction fails
 * dispatches none this sub-tick (fail closed). A claim that then fails keeps its token spent
 * (never over budget). Returns what may be claimed.
 */
export async function chargePlanned(
  store: RateLimitStore,
  memory: RateLimitMemory,
  gated: Gated,
  planned: readonly Candidate[],
  now: number,
  logger: Logger,
): Promise<Candidate[]> {
  const wanted = new Map<string, number>();
  for (const candidate of planned) {
    const key = gated.keys.get(candidate.id) ?? null;
    if (key !== null && gated.budgets.get(key)?.limit != null) {
      wanted.set(key, (wanted.get(key) ?? 0) + 1);
    }
  }
  const granted = new Map<string, number>();
  await Promise.all(
    [...wanted].map(async ([key, count]) => {
      const limit = gated.budgets.get(key)?.limit;
      if (limit == null) return;
      try {
        const { taken, bucket } = await store.takeTokens(key, limit, count, now);
        granted.set(key, taken);
        memory.set(key, {
          minute: bucket.minute,
          hour: bucket.hour,
          refilledAt: bucket.refilledAt,
        });
      } catch (error) {
        granted.set(key, 0);
        logger.error(
          { event: 'ratelimit.save_failed', key, err: error },
          `could not take the tokens of ${key}; its schedules wait for the next sub-tick: ${errorMessage(error)}`,
        );
      }
    }),
  );
  return planned.filter((candidate) => {
    const key = gated.keys.get(candidate.id) ?? null;
    const left = key === null ? undefined : granted.get(key);
    if (key === null || left === undefined) return true;
    if (left <= 0) return false;
    granted.set(key, left - 1);
    return true;
  });
}
