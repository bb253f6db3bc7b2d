/**
 * The race day with trouble: a planner outage in race morning, and failing syncs
 * (test/scenarios/race-day-outage.json, race-day-failures.json).
 */
import { describe, expect, it } from 'vitest';
import { run, strategy } from './shipped.js';

describe('race day with a 2-hour planner outage in race morning', async () => {
  const { report } = await run('race-day-outage.json', ['pacer', 'flat']);
  const pacer = strategy(report.strategies, 'pacer');

  it("pacer is back to full high-lane coverage within 10 minutes of the planner's return", () => {
    expect(pacer.outages).toHaveLength(1);
    const [outage] = pacer.outages;
    expect(outage!.highRecoveryMs).not.toBeNull();
    expect(outage!.highRecoveryMs!).toBeLessThanOrEqual(10 * 60_000);
    expect(outage!.highCoverageFromTenMinutes).toBe(1);
  });

  it('the outage costs pacer the points due while it lasted, and not the rest of the day', () => {
    expect(pacer.lanes.high.coverage).toBeLessThan(0.9);
    expect(pacer.lanes.low.coverage).toBeGreaterThan(0.9);
  });
});

describe('race day with 5% retryable failures and worker crashes', async () => {
  const { report, runs } = await run('race-day-failures.json', ['pacer']);
  const pacer = strategy(report.strategies, 'pacer');
  const record = runs[0]!;

  it('pacer retries through the failures and dead-letters only what failed for good', () => {
    expect(pacer.total.outcomes.retryable).toBeGreaterThan(0);
    expect(pacer.total.outcomes.crash).toBeGreaterThan(0);
    // Spread points wait for the next sub-tick (half of one on average, where round points fell
    // on one), which a retry after a failure feels: 98.9% (seeds 1-4: 98.9-99.2%).
    expect(pacer.lanes.high.coverage).toBeGreaterThanOrEqual(0.985);
    expect(pacer.deadLetters).toBeGreaterThan(0);
    // Over the whole run, warm-up included: the report counts a failure by when its attempt
    // started and a dead letter by when it was written, so one that straddles the window's
    // start (seed 1: an attempt at 05:59:51, dead-lettered at 06:00:09) is counted on one side only.
    const letters = record.deadLetters ?? [];
    expect(letters.every((letter) => letter.reason === 'permanent')).toBe(true);
    expect(letters.length).toBe(
      record.attempts.filter((attempt) => attempt.outcome === 'permanent').length,
    );
    expect(pacer.duplicates).toBe(0);
  });
});
