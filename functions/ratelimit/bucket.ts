/**
 * A provider's rate limit as token buckets: pure math, no clock (`now` is an argument), no I/O.
 * The planner (functions/planner/tick.ts), the simulator and the checker all call it.
 *
 * A key may limit calls per minute and per hour. Each limit is one bucket that holds at most
 * `burst` tokens and refills at `limit - burst` tokens per window, so a full bucket plus one
 * window's refill never exceed the limit: **in any window of that length (sliding, not only on
 * the clock's minute or hour), at most `limit` calls are dispatched.** A dispatch takes one token
 * from every bucket of its key. A key may also be blocked until a time (a target answered 429 or
 * 503 with `Retry-After`): it dispatches nothing before then.
 */

export const MINUTE_MS = 60_000;
export const HOUR_MS = 3_600_000;

/** One key's limits (`rateLimits` setting). `null`: that limit is not set. */
export interface KeyLimit {
  perMinute: number | null;
  perHour: number | null;
  /** Tokens a bucket holds: the most calls dispatched at once after a quiet spell. */
  burst: number;
  /** Most calls of the key in flight at once. */
  concurrency: number | null;
}

/** One key's buckets, as saved in `rateLimits/{key}`. Times in ms. */
export interface Bucket {
  /** Tokens in the per-minute bucket (fractional while refilling). */
  minute: number;
  /** Tokens in the per-hour bucket. */
  hour: number;
  /** When the tokens above were counted. */
  refilledAt: number;
  /** Nothing of the key is dispatched before this (a `Retry-After`); null: not blocked. */
  blockedUntil: number | null;
}

/** Tolerance for fractional tokens, so 0.9999999 refilled tokens count as one. */
const EPSILON = 1e-9;

/** A key not used before: full buckets, not blocked. */
export function fullBucket(limit: KeyLimit, now: number): Bucket {
  return { minute: limit.burst, hour: limit.burst, refilledAt: now, blockedUntil: null };
}

/** Tokens a bucket gains per ms: `limit - burst` per window. */
function ratePerMs(perWindow: number, burst: number, windowMs: number): number {
  return Math.max(0, perWindow - burst) / windowMs;
}

/** The buckets refilled up to `now` (never back in time; capped at `burst`). */
export function refill(bucket: Bucket, limit: KeyLimit, now: number): Bucket {
  const elapsed = Math.max(0, now - bucket.refilledAt);
  const grow = (tokens: number, perWindow: number | null, windowMs: number): number =>
    perWindow === null
      ? limit.burst
      : Math.min(limit.burst, tokens + elapsed * ratePerMs(perWindow, limit.burst, windowMs));
  return {
    minute: grow(Math.min(bucket.minute, limit.burst), limit.perMinute, MINUTE_MS),
    hour: grow(Math.min(bucket.hour, limit.burst), limit.perHour, HOUR_MS),
    refilledAt: Math.max(bucket.refilledAt, now),
    blockedUntil: bucket.blockedUntil,
  };
}

/** Whether the key is blocked at `now`. */
export function isBlocked(bucket: Bucket, now: number): boolean {
  return bucket.blockedUntil !== null && bucket.blockedUntil > now;
}

/**
 * How many calls the key may dispatch at `now` (its buckets refilled): whole tokens in its
 * emptiest bucket, none while blocked, `Infinity` when it limits no rate.
 */
export function available(bucket: Bucket, limit: KeyLimit, now: number): number {
  if (isBlocked(bucket, now)) return 0;
  if (limit.perMinute === null && limit.perHour === null) return Number.POSITIVE_INFINITY;
  const filled = refill(bucket, limit, now);
  const tokens = Math.min(
    limit.perMinute === null ? Number.POSITIVE_INFINITY : filled.minute,
    limit.perHour === null ? Number.POSITIVE_INFINITY : filled.hour,
  );
  return Math.max(0, Math.floor(tokens + EPSILON));
}

/** Takes `count` tokens at `now`; throws if the key cannot dispatch that many. */
export function take(bucket: Bucket, limit: KeyLimit, now: number, count: number): Bucket {
  if (count === 0) return refill(bucket, limit, now);
  const room = available(bucket, limit, now);
  if (count > room) {
    throw new RangeError(`cannot take ${count} tokens: ${room} available`);
  }
  const filled = refill(bucket, limit, now);
  return {
    ...filled,
    minute: limit.perMinute === null ? filled.minute : filled.minute - count,
    hour: limit.perHour === null ? filled.hour : filled.hour - count,
  };
}

/** Blocks the key until `until` (a later block wins; an earlier one changes nothing). */
export function blockUntil(bucket: Bucket, until: number): Bucket {
  const blockedUntil = bucket.blockedUntil === null ? until : Math.max(bucket.blockedUntil, until);
  return { ...bucket, blockedUntil };
}

/**
 * When the key may next dispatch one call: `now` if it may at once, else the end of its block
 * or the moment its emptiest bucket holds a whole token again.
 */
export function readyAt(bucket: Bucket, limit: KeyLimit, now: number): number {
  const from = Math.max(now, bucket.blockedUntil ?? now);
  const filled = refill(bucket, limit, from);
  const wait = (tokens: number, perWindow: number | null, windowMs: number): number => {
    if (perWindow === null || tokens + EPSILON >= 1) return 0;
    const rate = ratePerMs(perWindow, limit.burst, windowMs);
    return rate === 0 ? Number.POSITIVE_INFINITY : Math.ceil((1 - tokens) / rate);
  };
  return (
    from +
    Math.max(
      wait(filled.minute, limit.perMinute, MINUTE_MS),
      wait(filled.hour, limit.perHour, HOUR_MS),
    )
  );
}

/**
 * The most calls a key's limits allow in any window of `windowMs`: what the checker holds every
 * window of dispatches to. A bucket gives at most `burst` at once plus its refill over the
 * window; the tightest limit binds. `Infinity` when no rate is limited.
 */
export function allowedInWindow(limit: KeyLimit, windowMs: number): number {
  const bound = (perWindow: number | null, bucketMs: number): number =>
    perWindow === null
      ? Number.POSITIVE_INFINITY
      : Math.floor(limit.burst + ratePerMs(perWindow, limit.burst, bucketMs) * windowMs + EPSILON);
  return Math.min(bound(limit.perMinute, MINUTE_MS), bound(limit.perHour, HOUR_MS));
}
