import { describe, expect, it } from 'vitest';
import { FIXED_CAPS, FLAT, runSequential } from '../../../../infra/sim/strategies/sequential.js';
import { at, scenarioOf } from '../helpers.js';

describe('the old loops', () => {
  it('flat: syncs every due schedule one after another, 1 s apart, 30 s between cycles', () => {
    const { scenario, schedules } = scenarioOf({
      generate: [{ id: 's', count: 3, cadence: { kind: 'interval', every: '1m' } }],
      syncDuration: { distribution: 'fixed', value: '20s' },
    });
    const run = runSequential(FLAT, scenario, schedules);
    const starts = run.attempts
      .slice(0, 6)
      .map((attempt) => (attempt.start - at('2026-06-20T10:00:00Z')) / 1_000);
    // Cycle 1: 0, 21, 42 (ends at 62); cycle 2 starts 30 s later, at 92.
    expect(starts).toEqual([0, 21, 42, 92, 113, 134]);
    expect(run.attempts.map((attempt) => attempt.scheduleId).slice(0, 3)).toEqual([
      's-1',
      's-2',
      's-3',
    ]);
    expect(run.deadLetters).toBeNull();
  });

  it('fixed-caps: at most 50/20/10 per cycle, high lane first, 0.5 s apart, 10 s between cycles', () => {
    const { scenario, schedules } = scenarioOf({
      generate: [
        { id: 'low', count: 15, cadence: { kind: 'interval', every: '1h' } },
        { id: 'high', count: 2, cadence: { kind: 'interval', every: '1m' } },
      ],
      syncDuration: { distribution: 'fixed', value: '1s' },
    });
    const run = runSequential(FIXED_CAPS, scenario, schedules);
    const firstCycle = run.attempts.slice(0, 12);
    expect(firstCycle.map((attempt) => attempt.scheduleId)).toEqual([
      'high-1',
      'high-2',
      ...Array.from({ length: 10 }, (_, i) => `low-${String(i + 1).padStart(2, '0')}`),
    ]);
    expect(firstCycle[1]!.start - firstCycle[0]!.end).toBe(500);
    // The second cycle, 27.5 s in: the high ones are not due again until 10:01; five low are left.
    const secondCycle = run.attempts.slice(12, 17);
    expect(secondCycle[0]!.start - firstCycle[11]!.end).toBe(10_000);
    expect(secondCycle.map((attempt) => attempt.scheduleId)).toEqual([
      'low-11',
      'low-12',
      'low-13',
      'low-14',
      'low-15',
    ]);
  });

  it('leaves a failed schedule due for the next cycle', () => {
    const { scenario, schedules } = scenarioOf({
      schedules: [{ id: 'only', name: 'o', cadence: { kind: 'interval', every: '1h' } }],
      failures: { retryable: 0.5 },
      seed: 2,
    });
    const run = runSequential(FLAT, scenario, schedules);
    const failed = run.attempts.findIndex((attempt) => attempt.outcome !== 'success');
    expect(failed).toBeGreaterThanOrEqual(0);
    const retry = run.attempts[failed + 1]!;
    expect(retry.dueAt).toBe(run.attempts[failed]!.dueAt);
    expect(retry.attempt).toBe(run.attempts[failed]!.attempt + 1);
  });

  it('starts nothing during a planner outage', () => {
    const { scenario, schedules } = scenarioOf({
      schedules: [{ id: 'm', name: 'm', cadence: { kind: 'interval', every: '1m' } }],
      outages: [{ from: '2026-06-20T10:10:00Z', to: '2026-06-20T10:40:00Z' }],
    });
    const run = runSequential(FLAT, scenario, schedules);
    const during = run.attempts.filter(
      (attempt) =>
        attempt.start >= at('2026-06-20T10:10:00Z') && attempt.start < at('2026-06-20T10:40:00Z'),
    );
    expect(during).toEqual([]);
    expect(run.attempts.some((attempt) => attempt.start === at('2026-06-20T10:40:00Z'))).toBe(true);
  });
});
