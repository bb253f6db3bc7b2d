/**
 * The simulated sync target: how long a call takes and how it ends, drawn from the scenario's
 * distributions. Every strategy calls the same target, each with its own random stream.
 */
import { logNormalParameters, standardNormal, uniform, type Rng } from './random.js';
import type { DurationDistribution, FailureRates } from './scenario.js';

/** How a call of the target goes, before anything limits its run time. */
export interface TargetCall {
  durationMs: number;
  /** `crash`: the worker running the call dies `durationMs` into it. */
  outcome: 'success' | 'retryable' | 'permanent' | 'crash';
}

/** Draws one sync duration in whole ms (at least 1). */
export function drawDuration(rng: Rng, distribution: DurationDistribution): number {
  let ms: number;
  switch (distribution.distribution) {
    case 'fixed':
      ms = distribution.valueMs;
      break;
    case 'uniform':
      ms = uniform(rng, distribution.minMs, distribution.maxMs);
      break;
    case 'log-normal': {
      const { mu, sigma } = logNormalParameters(distribution.medianMs, distribution.p99Ms);
      ms = Math.exp(mu + sigma * standardNormal(rng));
      break;
    }
  }
  return Math.max(1, Math.round(ms));
}

/** Draws one call: its duration, then its outcome; a crash happens part-way through. */
export function drawCall(
  rng: Rng,
  distribution: DurationDistribution,
  failures: FailureRates,
): TargetCall {
  const durationMs = drawDuration(rng, distribution);
  const roll = rng();
  if (roll < failures.permanent) return { durationMs, outcome: 'permanent' };
  if (roll < failures.permanent + failures.retryable) return { durationMs, outcome: 'retryable' };
  if (roll < failures.permanent + failures.retryable + failures.crash) {
    return { durationMs: Math.max(1, Math.round(durationMs * rng())), outcome: 'crash' };
  }
  return { durationMs, outcome: 'success' };
}

/** A provider's limit on calls (a scenario's `rateLimit`): per sliding minute and hour. */
export interface ProviderRateLimit {
  perMinute: number | null;
  perHour: number | null;
}

const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;

/**
 * The provider's side of a rate limit: it counts the calls it accepted in the last minute and
 * the last hour (sliding windows: a call at `t` counts until `t + window`) and refuses a call
 * that would go over, with 429 and `Retry-After` (whole seconds until a call leaves the window
 * that binds). Refused calls are not counted.
 */
export class ProviderLimiter {
  private readonly accepted: number[] = [];
  private head = 0;
  /** Calls refused so far. */
  refused = 0;

  constructor(readonly limit: ProviderRateLimit) {}

  /** Admits a call at `now`, or says how many seconds until one would be admitted. */
  admit(now: number): { ok: true } | { ok: false; retryAfterSeconds: number } {
    while (this.head < this.accepted.length && this.call(this.head) <= now - HOUR_MS) {
      this.head++;
    }
    if (this.head > 4_096) {
      this.accepted.splice(0, this.head);
      this.head = 0;
    }
    const waits: number[] = [];
    const inHour = this.accepted.length - this.head;
    if (this.limit.perHour !== null && inHour >= this.limit.perHour) {
      const leaving = this.call(this.accepted.length - this.limit.perHour);
      waits.push(leaving + HOUR_MS - now);
    }
    if (this.limit.perMinute !== null) {
      const first = this.firstAfter(now - MINUTE_MS);
      if (this.accepted.length - first >= this.limit.perMinute) {
        const leaving = this.call(this.accepted.length - this.limit.perMinute);
        waits.push(leaving + MINUTE_MS - now);
      }
    }
    if (waits.length > 0) {
      this.refused++;
      return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil(Math.max(...waits) / 1_000)) };
    }
    this.accepted.push(now);
    return { ok: true };
  }

  /** When the `index`-th accepted call was made (indexes come from the bounds above). */
  private call(index: number): number {
    const at = this.accepted[index];
    if (at === undefined) throw new RangeError(`no accepted call ${index}`);
    return at;
  }

  /** The index of the first accepted call after `time` (binary search). */
  private firstAfter(time: number): number {
    let low = this.head;
    let high = this.accepted.length;
    while (low < high) {
      const middle = (low + high) >> 1;
      if (this.call(middle) <= time) low = middle + 1;
      else high = middle;
    }
    return low;
  }
}
