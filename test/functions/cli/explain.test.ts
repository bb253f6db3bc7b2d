import { describe, expect, it } from 'vitest';
import { compareWithCadence, type RunRecord } from '../../../functions/cli/explain.js';
import { duration } from '../../../functions/schedule/duration.js';
import { validateSchedule, type Cadence } from '../../../functions/schedule/spec.js';

const T0 = Date.parse('2026-06-20T08:00:00Z');
const MIN = 60_000;

function cadence(written: Record<string, unknown>): Cadence {
  const validation = validateSchedule({
    name: 'x',
    cadence: written,
    target: { type: 'handler', name: 'example.echo' },
  });
  if (!validation.ok) throw new Error(validation.problems.join('\n'));
  return validation.spec.cadence;
}

function run(dueAt: number, extra: Partial<RunRecord> = {}): RunRecord {
  return {
    leaseId: `lease-${dueAt}`,
    dueAt,
    status: 'succeeded',
    attempt: 1,
    startedAt: dueAt + 1_000,
    finishedAt: dueAt + 2_000,
    durationMs: 1_000,
    lateMs: 1_000,
    error: null,
    ...extra,
  };
}

/** The timeline as short strings: `run 08:03 covered`, `gap 08:03–08:05 ×3`, `due 08:07`. */
function timeline(comparison: ReturnType<typeof compareWithCadence>): string[] {
  const hhmm = (ms: number) => new Date(ms).toISOString().slice(11, 16);
  return comparison.entries.map((entry) => {
    switch (entry.kind) {
      case 'run':
        return `run ${hhmm(entry.dueAt)} ${entry.mark}`;
      case 'gap':
        return `gap ${hhmm(entry.from)}–${hhmm(entry.to)} ×${entry.missed}${entry.exact ? '' : '+'}`;
      case 'due':
        return `due ${hhmm(entry.dueAt)}`;
    }
  });
}

const everyMinute = cadence({ kind: 'interval', every: '1m' });

describe('comparing runs with the cadence', () => {
  it('marks each due point a run served as covered and the ones between as one gap', () => {
    const comparison = compareWithCadence({
      cadence: everyMinute,
      runs: [run(T0 + 6 * MIN), run(T0), run(T0 + MIN), run(T0 + 2 * MIN)],
      owedDueAt: T0 + 7 * MIN,
      now: T0 + 6.5 * MIN,
    });
    expect(timeline(comparison)).toEqual([
      'run 08:00 covered',
      'run 08:01 covered',
      'run 08:02 covered',
      'gap 08:03–08:05 ×3',
      'run 08:06 covered',
    ]);
    expect(comparison).toMatchObject({ covered: 4, missed: 3, gaps: 1, offCadence: 0 });
  });

  it('judges no gap from the first point served without a record, but shows every run', () => {
    const comparison = compareWithCadence({
      cadence: everyMinute,
      // 08:00 and 08:01 recorded; 08:02 on served without records, then 08:06 failed (recorded).
      runs: [run(T0), run(T0 + MIN), run(T0 + 6 * MIN)],
      owedDueAt: T0 + 7 * MIN,
      now: T0 + 6.5 * MIN,
      unrecorded: { from: T0 + 2 * MIN, until: null },
    });
    expect(timeline(comparison)).toEqual([
      'run 08:00 covered',
      'run 08:01 covered',
      'run 08:06 covered',
    ]);
    expect(comparison).toMatchObject({ covered: 3, missed: 0, gaps: 0 });
  });

  it('judges gaps again after the last point served without a record', () => {
    const comparison = compareWithCadence({
      cadence: everyMinute,
      // 08:02 and 08:03 served without records; then every run recorded again, and 08:05–08:07
      // missed.
      runs: [run(T0), run(T0 + MIN), run(T0 + 4 * MIN), run(T0 + 8 * MIN)],
      owedDueAt: T0 + 9 * MIN,
      now: T0 + 8.5 * MIN,
      unrecorded: { from: T0 + 2 * MIN, until: T0 + 3 * MIN },
    });
    expect(timeline(comparison)).toEqual([
      'run 08:00 covered',
      'run 08:01 covered',
      'run 08:04 covered',
      'gap 08:05–08:07 ×3',
      'run 08:08 covered',
    ]);
    expect(comparison).toMatchObject({ covered: 4, missed: 3, gaps: 1 });
  });

  it('shows a run that served coalesced points after an outage, with the points it skipped as a gap', () => {
    const comparison = compareWithCadence({
      cadence: everyMinute,
      runs: [run(T0), run(T0 + 10 * MIN)],
      owedDueAt: T0 + 11 * MIN,
      now: T0 + 10.5 * MIN,
    });
    expect(timeline(comparison)).toEqual([
      'run 08:00 covered',
      'gap 08:01–08:09 ×9',
      'run 08:10 covered',
    ]);
  });

  it('does not count the point owed now as missed: an overdue schedule shows it as due', () => {
    const comparison = compareWithCadence({
      cadence: everyMinute,
      runs: [run(T0), run(T0 + MIN)],
      owedDueAt: T0 + 2 * MIN,
      now: T0 + 5 * MIN,
    });
    expect(timeline(comparison)).toEqual(['run 08:00 covered', 'run 08:01 covered', 'due 08:02']);
    expect(comparison.missed).toBe(0);
  });

  it('counts points skipped since the last run when the schedule owes a later point (a cron run skipped beyond its catch-up window)', () => {
    const hourly = cadence({ kind: 'cron', expression: '0 * * * *', catchUpWithin: '10m' });
    const comparison = compareWithCadence({
      cadence: hourly,
      runs: [run(T0), run(T0 + 60 * MIN)],
      owedDueAt: T0 + 5 * 60 * MIN,
      now: T0 + 4.5 * 60 * MIN,
    });
    expect(timeline(comparison)).toEqual([
      'run 08:00 covered',
      'run 09:00 covered',
      'gap 10:00–12:00 ×3',
    ]);
  });

  it('counts no gap after the last run of a schedule that owes nothing (paused)', () => {
    const comparison = compareWithCadence({
      cadence: everyMinute,
      runs: [run(T0), run(T0 + MIN)],
      owedDueAt: null,
      now: T0 + 60 * MIN,
    });
    expect(timeline(comparison)).toEqual(['run 08:00 covered', 'run 08:01 covered']);
  });

  it('marks a run off the cadence when the cadence changed, and walks on from it', () => {
    const comparison = compareWithCadence({
      cadence: cadence({ kind: 'interval', every: '5m' }),
      runs: [run(T0), run(T0 + MIN), run(T0 + 6 * MIN), run(T0 + 16 * MIN)],
      owedDueAt: T0 + 21 * MIN,
      now: T0 + 17 * MIN,
    });
    expect(timeline(comparison)).toEqual([
      'run 08:00 covered',
      'run 08:01 off_cadence',
      'run 08:06 covered',
      'gap 08:11–08:11 ×1',
      'run 08:16 covered',
    ]);
    expect(comparison).toMatchObject({ covered: 3, offCadence: 1, missed: 1 });
  });

  it('expects a due point at an event tier boundary (a schedule never sleeps through one)', () => {
    const startsAt = T0 + duration('1d');
    const race = cadence({ kind: 'event', startsAt: new Date(startsAt).toISOString() });
    // 60m apart until 24h before the start, then every 5m from the boundary itself.
    const beforeBoundary = startsAt - duration('24h') - 30 * MIN;
    const comparison = compareWithCadence({
      cadence: race,
      runs: [run(beforeBoundary), run(startsAt - duration('24h') + 5 * MIN)],
      owedDueAt: startsAt - duration('24h') + 10 * MIN,
      now: startsAt - duration('24h') + 6 * MIN,
    });
    expect(timeline(comparison)).toEqual([
      'run 07:30 covered',
      'gap 08:00–08:00 ×1',
      'run 08:05 covered',
    ]);
  });

  it('keeps the runs of one due point together (a retry under a new lease) and counts the point once', () => {
    const comparison = compareWithCadence({
      cadence: everyMinute,
      runs: [
        run(T0, { leaseId: 'second', startedAt: T0 + 90_000 }),
        run(T0, { leaseId: 'first', status: 'dead_lettered', startedAt: T0 + 1_000 }),
        run(T0 + MIN),
      ],
      owedDueAt: T0 + 2 * MIN,
      now: T0 + 1.5 * MIN,
    });
    expect(
      comparison.entries.map((entry) => (entry.kind === 'run' ? entry.run.leaseId : entry.kind)),
    ).toEqual(['first', 'second', `lease-${T0 + MIN}`]);
    expect(comparison.covered).toBe(2);
  });

  it('walks a long gap up to its limit, then jumps to its end and says the count is a lower bound', () => {
    const comparison = compareWithCadence({
      cadence: cadence({ kind: 'interval', every: '10s' }),
      runs: [run(T0), run(T0 + 60 * MIN)],
      owedDueAt: T0 + 60 * MIN + 10_000,
      now: T0 + 60 * MIN + 5_000,
      gapWalkLimit: 100,
    });
    expect(timeline(comparison)).toEqual([
      'run 08:00 covered',
      'gap 08:00–08:59 ×100+',
      'run 09:00 covered',
    ]);
    const gap = comparison.entries[1];
    expect(gap?.kind === 'gap' && gap.to).toBe(T0 + 60 * MIN - 10_000);
  });

  it('with no runs, shows only the point owed now', () => {
    expect(
      timeline(
        compareWithCadence({ cadence: everyMinute, runs: [], owedDueAt: T0, now: T0 + 1_000 }),
      ),
    ).toEqual(['due 08:00']);
  });
});
