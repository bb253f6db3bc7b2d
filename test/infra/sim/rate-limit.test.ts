/**
 * The simulator's provider rate limit: the provider refuses calls over its limit with 429 and
 * `Retry-After`; pacer with a matching budget is never refused, and pacer with a budget too big
 * for the provider is refused, blocks the key and retries without a dead letter.
 */
import { describe, expect, it } from 'vitest';
import { ProviderLimiter } from '../../../infra/sim/target.js';
import { matchingBudget, parseScenario } from '../../../infra/sim/scenario.js';
import { simulate } from '../../../infra/sim/simulate.js';
import { at, scenarioOf } from './helpers.js';

const T0 = at('2026-06-20T10:00:00Z');

describe('the provider', () => {
  it('refuses the call over its minute, with the seconds until the oldest leaves the window', () => {
    const provider = new ProviderLimiter({ perMinute: 3, perHour: null });
    expect([0, 1_000, 2_000].map((t) => provider.admit(T0 + t).ok)).toEqual([true, true, true]);
    expect(provider.admit(T0 + 10_500)).toEqual({ ok: false, retryAfterSeconds: 50 });
    expect(provider.admit(T0 + 60_000).ok).toBe(true);
    expect(provider.refused).toBe(1);
  });

  it('refuses over its hour, refused calls not counted', () => {
    const provider = new ProviderLimiter({ perMinute: null, perHour: 2 });
    expect(provider.admit(T0).ok).toBe(true);
    expect(provider.admit(T0 + 60_000).ok).toBe(true);
    expect(provider.admit(T0 + 120_000)).toEqual({ ok: false, retryAfterSeconds: 3_480 });
    expect(provider.admit(T0 + 3_600_000).ok).toBe(true);
    expect(provider.admit(T0 + 3_600_001).ok).toBe(false);
  });
});

describe('a scenario rateLimit', () => {
  it('names the provider key on every schedule and gives pacer a matching budget', () => {
    const { scenario, schedules } = scenarioOf({
      rateLimit: { perHour: 1_000 },
      generate: [{ id: 'feed', count: 3, cadence: { kind: 'interval', every: '5m' } }],
    });
    expect(scenario.rateLimit).toEqual({ perMinute: null, perHour: 1_000 });
    expect(schedules.every((schedule) => schedule.spec.rateLimitKey === 'provider')).toBe(true);
    expect(scenario.pacer.settings.rateLimits).toEqual({
      provider: { perMinute: null, perHour: 1_000, burst: 4, concurrency: null },
    });
  });

  it.each([
    [{}, 'rateLimit: needs perMinute, perHour or both'],
    [{ perHour: 1 }, 'rateLimit.perHour: 1 is too small (at least 2)'],
  ])('refuses %j', (rateLimit, problem) => {
    const parsed = parseScenario({
      name: 'x',
      start: '2026-06-20T10:00:00Z',
      end: '2026-06-20T11:00:00Z',
      workers: { high: 1, medium: 1, low: 1 },
      syncDuration: { distribution: 'fixed', value: '5s' },
      rateLimit,
    });
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.problems).toContain(problem);
  });

  it('a matching budget leaves a sub-tick room for its refill', () => {
    expect(matchingBudget({ perMinute: 60, perHour: null }, 10)).toMatchObject({ burst: 11 });
    expect(matchingBudget({ perMinute: 60, perHour: 1_000 }, 10)).toMatchObject({ burst: 11 });
  });
});

describe('pacer against a rate-limited provider', () => {
  const busy = {
    rateLimit: { perMinute: 30 },
    generate: [{ id: 'feed', count: 60, cadence: { kind: 'interval', every: '1m' } }],
    syncDuration: { distribution: 'fixed', value: '1s' },
  };

  it('with a matching budget, is never refused and stays within the limit', async () => {
    const { scenario, schedules } = scenarioOf(busy);
    const { report, runs } = await simulate(scenario, schedules, ['pacer']);
    const pacer = report.strategies[0];
    expect(pacer?.total.outcomes.rejected).toBe(0);
    const starts = (runs[0]?.attempts ?? []).map((attempt) => attempt.start).sort((a, b) => a - b);
    let first = 0;
    for (let last = 0; last < starts.length; last++) {
      while ((starts[last] ?? 0) - (starts[first] ?? 0) >= 60_000) first++;
      expect(last - first + 1).toBeLessThanOrEqual(30);
    }
    // A bucket sustains its limit less its burst (30 - 6 a minute), after one full burst.
    expect(pacer?.total.syncs).toBeGreaterThanOrEqual(24 * 60);
  });

  it('with a budget too big, is refused, holds the key and retries without dead letters', async () => {
    const { scenario, schedules } = scenarioOf({
      ...busy,
      pacer: {
        tickJitter: '0s',
        storeLatency: '0ms',
        settings: { PACER_RATE_LIMITS: 'provider:perMinute=120,burst=20' },
      },
    });
    const { report } = await simulate(scenario, schedules, ['pacer']);
    const pacer = report.strategies[0];
    expect(pacer?.total.outcomes.rejected).toBeGreaterThan(0);
    expect(pacer?.deadLetters).toBe(0);
    // Each refusal blocks the key until the provider's window has room again: the syncs go on.
    expect(pacer?.total.syncs).toBeGreaterThanOrEqual(24 * 60);
  });
});
