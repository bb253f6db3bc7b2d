import { describe, expect, it } from 'vitest';
import { measureRun, percentiles, yardstick } from '../../../infra/sim/measure.js';
import type { RunRecord, SyncAttempt } from '../../../infra/sim/record.js';
import { spreadPhase } from '../../../functions/schedule/spread.js';
import { at, scenarioOf } from './helpers.js';

const t = (clock: string) => at(`2026-06-20T${clock}Z`);

/** A 1-minute schedule from 10:00, measured over 10:00–10:10 with a 10 s sub-tick. */
function measured(attempts: Omit<SyncAttempt, 'scheduleId' | 'attempt'>[], extra = {}) {
  const { scenario, schedules } = scenarioOf({
    end: '2026-06-20T10:10:00Z',
    schedules: [{ id: 'm', name: 'm', cadence: { kind: 'interval', every: '1m', spread: false } }],
    ...extra,
  });
  const run: RunRecord = {
    strategy: 'flat',
    attempts: attempts.map((attempt) => ({ ...attempt, scheduleId: 'm', attempt: 1 })),
    deadLetters: null,
    planner: null,
    usage: null,
  };
  return measureRun(yardstick(scenario, schedules), run);
}

const success = (due: string, start: string, end: string) => ({
  dueAt: t(due),
  start: t(start),
  end: t(end),
  outcome: 'success' as const,
});

describe('measuring a run', () => {
  it('expects the due points whose coverage window ends in the window', () => {
    // 10:00 … 10:08: a point d is judged when d + 1 min + 10 s is at most 10:10.
    expect(measured([]).lanes.high.expected).toBe(9);
  });

  it('counts a point covered when a successful sync starts within its interval plus one sub-tick', () => {
    const result = measured([
      success('10:00:00', '10:00:05', '10:00:20'), // covers 10:00
      success('10:01:00', '10:02:09', '10:02:20'), // covers 10:01 (before 10:02:10) and 10:02
      success('10:03:00', '10:05:30', '10:05:50'), // too late for 10:03 and 10:04; covers 10:05
      { ...success('10:06:00', '10:06:01', '10:06:10'), outcome: 'retryable' }, // a failure covers nothing
    ]);
    expect(result.lanes.high.covered).toBe(4);
    expect(result.lanes.high.coverage).toBeCloseTo(4 / 9);
    expect(result.lanes.high.syncs).toBe(3);
    expect(result.lanes.high.attempts).toBe(4);
    expect(result.total.outcomes.retryable).toBe(1);
  });

  it('measures lateness from the due point each sync served', () => {
    const result = measured([
      success('10:00:00', '10:00:05', '10:00:20'),
      success('10:01:00', '10:01:05', '10:01:20'),
      success('10:02:00', '10:03:30', '10:03:40'),
    ]);
    expect(result.lanes.high.lateness).toEqual({
      p50: 5_000,
      p95: 90_000,
      p99: 90_000,
      max: 90_000,
    });
  });

  it('counts a call that starts while another call of the same schedule runs as a duplicate', () => {
    const result = measured([
      success('10:00:00', '10:00:05', '10:00:30'),
      success('10:00:00', '10:00:10', '10:00:20'),
      success('10:01:00', '10:01:00', '10:01:10'),
    ]);
    expect(result.duplicates).toBe(1);
  });

  it('after an outage, tells how soon the high lane was fully covered again', () => {
    const result = measured(
      [
        success('10:00:00', '10:00:01', '10:00:10'),
        success('10:01:00', '10:01:01', '10:01:10'),
        // The planner is back at 10:04; 10:04 and 10:05 are missed, then every point is covered.
        ...['10:06', '10:07', '10:08', '10:09'].map((clock) =>
          success(`${clock}:00`, `${clock}:20`, `${clock}:30`),
        ),
      ],
      { outages: [{ from: '2026-06-20T10:02:00Z', to: '2026-06-20T10:04:00Z' }] },
    );
    expect(result.outages).toEqual([
      {
        from: t('10:02:00'),
        to: t('10:04:00'),
        highRecoveryMs: 2 * 60_000,
        highCoverageFromTenMinutes: null,
      },
    ]);
  });
});

describe('percentiles', () => {
  it('are nearest-rank', () => {
    const values = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentiles(values)).toEqual({ p50: 50, p95: 95, p99: 99, max: 100 });
    expect(percentiles([7])).toEqual({ p50: 7, p95: 7, p99: 7, max: 7 });
    expect(percentiles([])).toBeNull();
  });
});

describe('the measuring stick of a spread schedule', () => {
  it("holds the schedule's spread points, not the exact grid: one a minute at its id's offset", () => {
    const { scenario, schedules } = scenarioOf({
      end: '2026-06-20T10:10:00Z',
      schedules: [{ id: 'spread-me', name: 's', cadence: { kind: 'interval', every: '1m' } }],
    });
    const points = yardstick(scenario, schedules).points.get('spread-me') ?? [];
    const offset = Math.floor(spreadPhase('spread-me') * 60_000);
    expect(offset).toBeGreaterThan(0);
    // Created at 10:00 (no warm-up): due at once, then on its spread grid.
    expect(points[0]!.at).toBe(t('10:00:00'));
    const rest = points.slice(1).map((point) => point.at);
    expect(rest.length).toBeGreaterThanOrEqual(8);
    expect(rest.every((point) => point % 60_000 === offset)).toBe(true);
    expect(rest.slice(1).map((point, i) => point - rest[i]!)).toEqual(
      new Array(rest.length - 1).fill(60_000),
    );
  });
});
