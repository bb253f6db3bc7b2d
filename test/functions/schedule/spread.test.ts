/**
 * Spread due points (issue 15, item 1): an event's or interval's points at an offset derived
 * from the schedule's id, a cron's shifted by its `jitter`; tables for the shapes, fast-check
 * for the rules that must hold for any cadence and any phase.
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  catchUp,
  escalatesAt,
  firstDueAt,
  intervalAt,
  nextDueAt,
  owedDueAt,
} from '../../../functions/schedule/cadence.js';
import { duration as d } from '../../../functions/schedule/duration.js';
import type {
  Cadence,
  CronCadence,
  EventCadence,
  IntervalCadence,
} from '../../../functions/schedule/spec.js';
import { validateSchedule } from '../../../functions/schedule/spec.js';
import { spreadPhase } from '../../../functions/schedule/spread.js';

const t = (iso: string) => Date.parse(iso);
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
const thresholds = { highMaxIntervalMs: d('1m'), mediumMaxIntervalMs: d('5m') };

/** Every point from creation at `from`, each served on time. */
function walk(cadence: Cadence, from: number, limit = 5_000): number[] {
  const points: number[] = [];
  let at = firstDueAt(cadence, from);
  while (at !== null && points.length < limit) {
    points.push(at);
    at = nextDueAt(cadence, at, at);
  }
  return points;
}

/** The default race at 08:30 on 20 June, spread with `phase`. */
const race = (phase: number): EventCadence => ({
  kind: 'event',
  startsAt: t('2026-06-20T08:30:00Z'),
  tiers: [
    { before: d('4h'), every: d('1m') },
    { before: d('24h'), every: d('5m') },
  ],
  otherwise: d('60m'),
  after: d('1h'),
  phase,
});

describe('the phase of an id', () => {
  it('is the first 32 bits of the SHA-256 of the id over 2^32, as documented', () => {
    for (const id of ['race-042', 'entry-feed', 'é', '']) {
      const hex = createHash('sha256').update(id, 'utf8').digest('hex');
      expect(spreadPhase(id)).toBe(parseInt(hex.slice(0, 8), 16) / 2 ** 32);
    }
  });

  it('spreads 10,000 ids roughly uniformly: every tenth of the interval holds 8–12% of them', () => {
    const bins = new Array<number>(10).fill(0);
    for (let i = 0; i < 10_000; i += 1) {
      const phase = spreadPhase(`race-${String(i).padStart(5, '0')}`);
      expect(phase).toBeGreaterThanOrEqual(0);
      expect(phase).toBeLessThan(1);
      bins[Math.floor(phase * 10)]! += 1;
    }
    for (const count of bins) {
      expect(count).toBeGreaterThan(800);
      expect(count).toBeLessThan(1_200);
    }
  });

  it('follows the id, not the other fields: an edit keeps it; spread: false or no id drops it', () => {
    const target = { type: 'handler', name: 'example.echo' };
    const doc = { target, cadence: { kind: 'interval', every: '5m' } };
    const placed = (document: object, id?: string) => {
      const validation = validateSchedule(document, undefined, id);
      if (!validation.ok) throw new Error(validation.problems.join('\n'));
      return validation.spec.cadence.phase;
    };
    expect(placed(doc, 'feed-a')).toBe(spreadPhase('feed-a'));
    expect(
      placed({ ...doc, name: 'renamed', cadence: { kind: 'interval', every: '15m' } }, 'feed-a'),
    ).toBe(spreadPhase('feed-a'));
    expect(placed(doc, 'feed-b')).not.toBe(placed(doc, 'feed-a'));
    expect(
      placed({ ...doc, cadence: { kind: 'interval', every: '5m', spread: false } }, 'feed-a'),
    ).toBeUndefined();
    expect(placed(doc)).toBeUndefined();
  });
});

describe('a spread event', () => {
  it('walked from a creation two days before: hourly, 240 five-minute and 300 one-minute points, each at its offset', () => {
    // phase 0.25: 15 min into each hour, 75 s into each 5 minutes, 15 s into each minute.
    const points = walk(race(0.25), t('2026-06-18T07:00:00Z'));
    expect(iso(points[0]!)).toBe('2026-06-18T07:00:00.000Z'); // due at once when created
    expect(iso(points[1]!)).toBe('2026-06-18T07:45:00.000Z'); // then on its spread grid
    const within = (from: string, to: string) =>
      points.filter((point) => point >= t(from) && point < t(to));
    const hourly = within('2026-06-18T07:01:00Z', '2026-06-19T08:30:00Z');
    expect(hourly.every((point) => iso(point)!.slice(13) === ':45:00.000Z')).toBe(true);
    const fiveMinute = within('2026-06-19T08:30:00Z', '2026-06-20T04:30:00Z');
    expect(fiveMinute).toHaveLength(240);
    expect(iso(fiveMinute[0]!)).toBe('2026-06-19T08:31:15.000Z');
    expect(iso(fiveMinute.at(-1)!)).toBe('2026-06-20T04:26:15.000Z');
    const oneMinute = within('2026-06-20T04:30:00Z', '2026-06-20T09:30:00Z');
    expect(oneMinute).toHaveLength(300);
    expect(iso(oneMinute[0]!)).toBe('2026-06-20T04:30:15.000Z');
    expect(iso(oneMinute.at(-1)!)).toBe('2026-06-20T09:29:15.000Z');
    expect(nextDueAt(race(0.25), oneMinute.at(-1)!, oneMinute.at(-1)!)).toBeNull();
  });

  it('lands on the faster tier\u2019s first spread point, never later than the old step', () => {
    const cadence = race(0.9); // 54 s into each minute, 4m 30s into each 5 minutes
    // Last 5-minute point before the 1-minute tier (04:30): 04:29:30; one 5 min step would be 04:34:30.
    expect(iso(nextDueAt(cadence, t('2026-06-20T04:29:30Z'), t('2026-06-20T04:29:30Z')))).toBe(
      '2026-06-20T04:30:54.000Z',
    );
  });

  it('coalesces an outage onto the latest spread point missed, and owes that point', () => {
    const cadence = race(0.5); // 30 s into each minute
    const served = t('2026-06-20T07:00:30Z');
    const now = t('2026-06-20T07:10:05Z');
    expect(iso(nextDueAt(cadence, served, now))).toBe('2026-06-20T07:09:30.000Z');
    expect(iso(owedDueAt(cadence, served, now))).toBe('2026-06-20T07:09:30.000Z');
    expect(iso(nextDueAt(cadence, served, t('2026-06-20T07:09:29Z')))).toBe(
      '2026-06-20T07:08:30.000Z',
    );
  });

  it('escalates at the tier boundary, as an exact event does', () => {
    expect(
      iso(escalatesAt(race(0.5), undefined, t('2026-06-20T04:00:00Z'), 'medium', thresholds)),
    ).toBe('2026-06-20T04:30:00.000Z');
  });

  it('a tier shorter than the offset holds no point: the step goes on to the next tier', () => {
    const cadence: EventCadence = {
      kind: 'event',
      startsAt: t('2026-06-20T08:30:00Z'),
      tiers: [
        { before: d('1h'), every: d('1m') },
        { before: d('1h') + d('2m'), every: d('10m') },
      ],
      otherwise: d('60m'),
      after: d('0s'),
      phase: 0.5, // 5 min into the 10-minute tier, which lasts 2 min: none there
    };
    expect(iso(nextDueAt(cadence, t('2026-06-20T07:00:00Z'), t('2026-06-20T07:00:00Z')))).toBe(
      '2026-06-20T07:30:30.000Z',
    );
  });
});

describe('a spread interval', () => {
  const every15: IntervalCadence = { kind: 'interval', every: d('15m'), phase: 0.5 };

  it('without startAt: due at once when created, then on (epoch) + 7m30s + k × 15m', () => {
    const points = walk(every15, t('2026-06-20T10:03:00Z'), 4).map(iso);
    expect(points).toEqual([
      '2026-06-20T10:03:00.000Z',
      '2026-06-20T10:07:30.000Z',
      '2026-06-20T10:22:30.000Z',
      '2026-06-20T10:37:30.000Z',
    ]);
  });

  it('with startAt ahead: first due at its first spread point; one behind: at the latest one', () => {
    const cadence = { ...every15, startAt: t('2026-06-20T10:00:00Z') };
    expect(iso(firstDueAt(cadence, t('2026-06-20T09:00:00Z')))).toBe('2026-06-20T10:07:30.000Z');
    expect(iso(firstDueAt(cadence, t('2026-06-20T10:03:00Z')))).toBe('2026-06-20T10:07:30.000Z');
    expect(iso(firstDueAt(cadence, t('2026-06-20T10:40:00Z')))).toBe('2026-06-20T10:37:30.000Z');
  });

  it('stops at endAt, also when the first spread point is past it', () => {
    const ending = { ...every15, endAt: t('2026-06-20T10:30:00Z') };
    expect(nextDueAt(ending, t('2026-06-20T10:22:30Z'), t('2026-06-20T10:22:30Z'))).toBeNull();
    const short = {
      ...every15,
      startAt: t('2026-06-20T10:00:00Z'),
      endAt: t('2026-06-20T10:05:00Z'),
    };
    expect(firstDueAt(short, t('2026-06-20T09:00:00Z'))).toBeNull();
  });
});

describe('a cron with jitter', () => {
  const nightly: CronCadence = {
    kind: 'cron',
    expression: '0 2 * * *',
    timezone: 'UTC',
    catchUpWithin: d('1h'),
    jitter: d('10m'),
    phase: 0.5,
  };

  it('runs every occurrence shifted by floor(phase × jitter), the same each night', () => {
    expect(iso(firstDueAt(nightly, t('2026-06-20T02:03:00Z')))).toBe('2026-06-20T02:05:00.000Z');
    expect(iso(nextDueAt(nightly, t('2026-06-20T02:05:00Z'), t('2026-06-20T02:05:00Z')))).toBe(
      '2026-06-21T02:05:00.000Z',
    );
    expect(intervalAt(nightly, t('2026-06-20T12:00:00Z'))).toBe(d('24h'));
  });

  it('judges catch-up against the shifted time', () => {
    expect(catchUp(nightly, t('2026-06-20T02:05:00Z'), t('2026-06-20T03:05:00Z'))).toEqual({
      run: true,
    });
    expect(catchUp(nightly, t('2026-06-20T02:05:00Z'), t('2026-06-20T03:06:00Z'))).toEqual({
      run: false,
      missedByMs: d('61m'),
      nextDueAt: t('2026-06-21T02:05:00Z'),
    });
  });

  it('keeps its exact times without jitter, whatever its phase', () => {
    const exact: CronCadence = { ...nightly, jitter: undefined };
    expect(iso(firstDueAt(exact, t('2026-06-20T02:03:00Z')))).toBe('2026-06-21T02:00:00.000Z');
  });
});

describe('the spread and jitter fields', () => {
  const target = { type: 'handler', name: 'example.echo' };
  const problems = (cadence: object) => {
    const validation = validateSchedule({ target, cadence }, undefined, 'x');
    return validation.ok ? [] : validation.problems;
  };

  it.each([
    [
      'jitter on an event',
      { kind: 'event', startsAt: '2026-06-20T08:30:00Z', jitter: '30s' },
      'cadence.jitter: only a cron cadence takes jitter; an event or interval is spread by default (see spread)',
    ],
    [
      'jitter on an interval',
      { kind: 'interval', every: '5m', jitter: '30s' },
      'cadence.jitter: only a cron cadence takes jitter; an event or interval is spread by default (see spread)',
    ],
    [
      'spread on a cron',
      { kind: 'cron', expression: '0 2 * * *', spread: true },
      'cadence.spread: a cron schedule keeps its exact times and is not spread; ask for jitter (e.g. "30s") to move them',
    ],
    [
      'a jitter as long as the cron\u2019s shortest gap',
      { kind: 'cron', expression: '*/5 * * * *', jitter: '5m' },
      'cadence.jitter: "5m" is not shorter than the shortest gap between the expression\'s runs (5m)',
    ],
    [
      'a negative jitter',
      { kind: 'cron', expression: '0 2 * * *', jitter: '-5m' },
      'cadence.jitter: "-5m" is negative; durations are positive (use 90s, 5m, 4h, 1d)',
    ],
    [
      'a zero jitter',
      { kind: 'cron', expression: '0 2 * * *', jitter: '0s' },
      'cadence.jitter: "0s" is too short (at least 1s)',
    ],
    [
      'spread that is not true or false',
      { kind: 'interval', every: '5m', spread: 'no' },
      'cadence.spread: expected true or false, got "no"',
    ],
  ])('refuses %s, saying so', (_, cadence, problem) => {
    expect(problems(cadence)).toEqual([problem]);
  });

  it('accepts a jitter shorter than the shortest gap, and places the cron by its id', () => {
    const validation = validateSchedule(
      { target, cadence: { kind: 'cron', expression: '*/5 * * * *', jitter: '4m' } },
      undefined,
      'x',
    );
    expect(validation.ok && validation.spec.cadence).toMatchObject({
      jitter: d('4m'),
      phase: spreadPhase('x'),
    });
  });
});

// ---------------------------------------------------------------------------------------------
// Properties.

const phases = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });
const minutes = (from: number, to: number) =>
  fc.integer({ min: from, max: to }).map((m) => m * 60_000);
const events = fc
  .record({
    startsAt: fc
      .integer({ min: 0, max: 7 * 24 * 60 })
      .map((m) => t('2026-06-20T00:00:00Z') + m * 60_000),
    tiers: fc.uniqueArray(fc.record({ before: minutes(1, 48 * 60), every: minutes(1, 90) }), {
      maxLength: 4,
      selector: (tier) => tier.before,
    }),
    otherwise: minutes(1, 180),
    after: minutes(0, 180),
    phase: phases,
  })
  .map((event): EventCadence => ({
    kind: 'event',
    ...event,
    tiers: [...event.tiers].sort((a, b) => a.before - b.before),
  }));
const created = fc.integer({ min: -3 * 24 * 60, max: 0 }).map((m) => m * 60_000);

describe('spread points, for any event and phase', () => {
  it('stay in order, before the end, and never further apart than the interval in force', () => {
    fc.assert(
      fc.property(events, created, (cadence, back) => {
        const from = cadence.startsAt + back;
        const points = walk(cadence, from);
        const end = cadence.startsAt + cadence.after;
        for (const [i, point] of points.entries()) {
          expect(point).toBeLessThan(end);
          if (i === 0) continue;
          const previous = points[i - 1]!;
          expect(point).toBeGreaterThan(previous);
          expect(point - previous).toBeLessThanOrEqual(intervalAt(cadence, previous)!);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('land within one new interval of a faster tier\u2019s boundary', () => {
    fc.assert(
      fc.property(events, created, (cadence, back) => {
        const points = walk(cadence, cadence.startsAt + back);
        for (let i = 1; i < points.length; i += 1) {
          const [previous, point] = [points[i - 1]!, points[i]!];
          const [was, now] = [intervalAt(cadence, previous)!, intervalAt(cadence, point)!];
          if (now >= was) continue;
          // The boundary crossed: the latest tier start in (previous, point].
          const boundary = Math.max(
            ...cadence.tiers
              .map((tier) => cadence.startsAt - tier.before)
              .filter((start) => start > previous && start <= point),
          );
          expect(point - boundary).toBeLessThan(now);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('coalesce the same whichever way: nextDueAt over a gap is the walk\u2019s latest point by then', () => {
    fc.assert(
      fc.property(
        events,
        created,
        fc.double({ min: 0, max: 1, noNaN: true }),
        (cadence, back, where) => {
          const points = walk(cadence, cadence.startsAt + back);
          if (points.length < 2) return;
          const served = points[0]!;
          const now = Math.floor(served + where * (points.at(-1)! - served));
          const missed = points.filter((point) => point > served && point <= now);
          const expected = missed.at(-1) ?? points.find((point) => point > now) ?? null;
          expect(nextDueAt(cadence, served, now)).toBe(expected);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('spread points, for any interval and phase', () => {
  const intervals = fc.record({
    every: fc.integer({ min: 10, max: 24 * 3600 }).map((s) => s * 1_000),
    startAt: fc.option(
      fc.integer({ min: 0, max: 1e9 }).map((ms) => t('2026-06-20T00:00:00Z') + ms),
      {
        nil: undefined,
      },
    ),
    phase: phases,
  });

  it('sit at the id\u2019s offset on the grid from startAt (or the epoch), one interval apart', () => {
    fc.assert(
      fc.property(intervals, fc.integer({ min: 0, max: 2e9 }), (fields, later) => {
        const cadence: IntervalCadence = {
          kind: 'interval',
          every: fields.every,
          phase: fields.phase,
          ...(fields.startAt === undefined ? {} : { startAt: fields.startAt }),
        };
        const from = t('2026-06-19T00:00:00Z') + later;
        const points = walk(cadence, from, 20);
        const origin = (fields.startAt ?? 0) + Math.floor(fields.phase * fields.every);
        const onGrid = (point: number) =>
          (((point - origin) % fields.every) + fields.every) % fields.every === 0;
        const rest = fields.startAt === undefined ? points.slice(1) : points;
        expect(rest.every(onGrid)).toBe(true);
        if (fields.startAt !== undefined) expect(points[0]!).toBeGreaterThanOrEqual(fields.startAt);
        for (let i = 1; i < points.length; i += 1) {
          expect(points[i]! - points[i - 1]!).toBeLessThanOrEqual(fields.every);
          if (i > 1) expect(points[i]! - points[i - 1]!).toBe(fields.every);
        }
      }),
      { numRuns: 500 },
    );
  });
});
