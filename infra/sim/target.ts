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
