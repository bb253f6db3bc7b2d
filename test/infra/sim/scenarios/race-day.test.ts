/**
 * Issue 8 acceptance on test/scenarios/race-day.json: pacer against the designs it replaces.
 */
import { describe, expect, it } from 'vitest';
import { formatReport } from '../../../../infra/sim/report.js';
import { simulate } from '../../../../infra/sim/simulate.js';
import { load, run, strategy } from './shipped.js';

describe('race day (644 races, 20 concurrent syncs of 15–20 s)', async () => {
  const { report, scenario } = await run('race-day.json');
  const pacer = strategy(report.strategies, 'pacer');
  const flat = strategy(report.strategies, 'flat');

  it('has the races the issue describes', () => {
    const { groups } = report.scenario;
    expect(
      (groups['race-soon'] ?? 0) + (groups['race-tomorrow'] ?? 0) + (groups['race-next-week'] ?? 0),
    ).toBe(644);
    expect(groups['race-soon']).toBe(12);
    expect(groups['race-tomorrow']).toBe(50);
    expect(scenario.sharedLimit).toBe(20);
  });

  it('flat reproduces the old failure: high-lane coverage far below 50%', () => {
    expect(flat.lanes.high.coverage).toBeLessThan(0.05);
  });

  it('pacer covers at least 99.9% of the high lane, p99 lateness within a sub-tick plus a sync', () => {
    expect(pacer.lanes.high.coverage).toBeGreaterThanOrEqual(0.999);
    const subTickMs = scenario.pacer.settings.subTickSeconds * 1_000;
    const longestSyncMs = 20_000;
    expect(pacer.lanes.high.lateness!.p99).toBeLessThanOrEqual(subTickMs + longestSyncMs);
    expect(pacer.duplicates).toBe(0);
  });

  it('shows the three strategies side by side', () => {
    const text = formatReport(report);
    for (const lane of ['high', 'medium', 'low']) {
      for (const name of ['pacer', 'flat', 'fixed-caps']) {
        expect(text).toMatch(new RegExp(`^\\| ${lane} +\\| ${name} +\\|`, 'm'));
      }
    }
  });

  it('gives the same report for the same seed, and another for another seed', async () => {
    // The first three hours of the day (the whole day takes seconds per run).
    const excerpt = async (seed: number) => {
      const loaded = await load('race-day.json', { seed });
      const scenario = { ...loaded.scenario, end: loaded.scenario.start + 3 * 3_600_000 };
      return JSON.stringify((await simulate(scenario, loaded.schedules, ['pacer'])).report);
    };
    const [first, again, other] = await Promise.all([excerpt(1), excerpt(1), excerpt(2)]);
    expect(again).toBe(first);
    expect(other).not.toBe(first);
  }, 120_000);
});
