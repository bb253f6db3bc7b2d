/**
 * Issue 16 item 6 on test/scenarios/race-day-rate-limited.json: the race day with a provider
 * that allows 1,000 calls an hour. pacer, with a matching budget for the provider's key, is
 * never refused, keeps the high lane's coverage, and the lower lanes absorb the deficit.
 */
import { describe, expect, it } from 'vitest';
import { run, strategy } from './shipped.js';

describe('race day with a provider that allows 1,000 calls an hour', async () => {
  const { report, runs, scenario } = await run('race-day-rate-limited.json', ['pacer']);
  const pacer = strategy(report.strategies, 'pacer');

  it('the scenario asks for more than the provider allows', () => {
    const perHour = report.load.total.meanPerMinute * 60;
    expect(scenario.rateLimit?.perHour).toBe(1_000);
    expect(perHour).toBeGreaterThan(1_000);
  });

  it('pacer is never refused, and never calls more than 1,000 times in any hour', () => {
    expect(pacer.total.outcomes.rejected).toBe(0);
    const starts = (runs[0]?.attempts ?? []).map((attempt) => attempt.start).sort((a, b) => a - b);
    let first = 0;
    let most = 0;
    for (let last = 0; last < starts.length; last++) {
      while ((starts[last] ?? 0) - (starts[first] ?? 0) >= 3_600_000) first++;
      most = Math.max(most, last - first + 1);
    }
    expect(most).toBeLessThanOrEqual(1_000);
    expect(most).toBeGreaterThan(950);
  });

  it('keeps the high lane covered while the lower lanes absorb the deficit', () => {
    expect(pacer.lanes.high.coverage).toBeGreaterThanOrEqual(0.98);
    expect(pacer.lanes.medium.coverage).toBeLessThan(pacer.lanes.high.coverage ?? 0);
    expect(pacer.lanes.low.coverage).toBeLessThan(pacer.lanes.medium.coverage ?? 0);
  });
});
