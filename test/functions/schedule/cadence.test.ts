import { describe, expect, it } from 'vitest';
import { CronExpressionParser } from 'cron-parser';
import {
  catchUp,
  escalatesAt,
  finishesAt,
  firstDueAt,
  intervalAt,
  isFinished,
  laneAt,
  nextDueAt,
  owedDueAt,
} from '../../../functions/schedule/cadence.js';
import { duration as d } from '../../../functions/schedule/duration.js';
import type {
  CronCadence,
  EventCadence,
  IntervalCadence,
} from '../../../functions/schedule/spec.js';

const t = (iso: string) => Date.parse(iso);
/** The distances between consecutive times. */
const gaps = (times: number[]) => times.slice(1).map((time, i) => time - (times[i] ?? time));
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** A race at 08:30 on 20 June with the default tiers (4h → 1m, 24h → 5m, else 60m, after 1h). */
const race: EventCadence = {
  kind: 'event',
  startsAt: t('2026-06-20T08:30:00Z'),
  tiers: [
    { before: d('4h'), every: d('1m') },
    { before: d('24h'), every: d('5m') },
  ],
  otherwise: d('60m'),
  after: d('1h'),
};

const thresholds = { highMaxIntervalMs: d('1m'), mediumMaxIntervalMs: d('5m') };

describe('event cadence', () => {
  it('walked by next from a sync at 07:00 two days before: 240 five-minute, then 300 one-minute due times, then finished', () => {
    const dues: number[] = [];
    let served = t('2026-06-18T07:00:00Z');
    for (;;) {
      const next = nextDueAt(race, served, served);
      if (next === null) break;
      dues.push(next);
      served = next;
      expect(dues.length).toBeLessThan(1_000);
    }
    const within = (from: string, to: string) =>
      dues.filter((due) => due >= t(from) && due < t(to));

    // Hourly until the 24h boundary, which is landed on exactly.
    expect(within('2026-06-18T07:00:00Z', '2026-06-19T08:30:00Z').map(iso).slice(-2)).toEqual([
      '2026-06-19T07:00:00.000Z',
      '2026-06-19T08:00:00.000Z',
    ]);
    const fiveMinute = within('2026-06-19T08:30:00Z', '2026-06-20T04:30:00Z');
    const oneMinute = within('2026-06-20T04:30:00Z', '2026-06-20T09:30:00Z');
    expect(fiveMinute).toHaveLength(240);
    expect(oneMinute).toHaveLength(300);
    expect(iso(fiveMinute[0]!)).toBe('2026-06-19T08:30:00.000Z');
    expect(iso(oneMinute[0]!)).toBe('2026-06-20T04:30:00.000Z');
    expect(iso(dues.at(-1)!)).toBe('2026-06-20T09:29:00.000Z');
    expect(new Set(gaps(fiveMinute))).toEqual(new Set([d('5m')]));
    expect(new Set(gaps(oneMinute))).toEqual(new Set([d('1m')]));
    expect(isFinished(race, t('2026-06-20T09:30:00Z'))).toBe(true);
    expect(isFinished(race, t('2026-06-20T09:29:59Z'))).toBe(false);
  });

  it.each([
    ['the interval in force far out', '2026-06-10T00:00:00Z', d('60m')],
    ['exactly 24h before: the 5m tier has begun', '2026-06-19T08:30:00Z', d('5m')],
    ['just before the 24h boundary', '2026-06-19T08:29:59Z', d('60m')],
    ['exactly 4h before', '2026-06-20T04:30:00Z', d('1m')],
    ['during the race, the closest tier', '2026-06-20T09:00:00Z', d('1m')],
    ['once finished, none', '2026-06-20T09:30:00Z', null],
  ])('%s', (_name, at, expected) => {
    expect(intervalAt(race, t(at))).toBe(expected);
  });

  it.each([
    [
      'an hourly step that would jump the 24h boundary lands on it',
      '2026-06-19T07:45:00Z',
      '2026-06-19T08:30:00Z',
    ],
    [
      'a 5-minute step that would jump the 4h boundary lands on it',
      '2026-06-20T04:27:00Z',
      '2026-06-20T04:30:00Z',
    ],
    [
      'an hourly step that would jump both boundaries lands on the first',
      '2026-06-19T08:00:00Z',
      '2026-06-19T08:30:00Z',
    ],
    [
      'a step that ends exactly on the boundary stays there',
      '2026-06-20T04:25:00Z',
      '2026-06-20T04:30:00Z',
    ],
    ['the last step before the end finishes the schedule', '2026-06-20T09:29:00Z', null],
  ])('%s', (_name, served, expected) => {
    expect(iso(nextDueAt(race, t(served), t(served)))).toBe(
      expected === null ? null : new Date(expected).toISOString(),
    );
  });

  it('an event edited to start sooner is due at once, in its new tier', () => {
    // Synced hourly for a race next week; at 10:30 the race is moved to 11:00 today.
    const served = t('2026-06-13T10:00:00Z');
    const now = t('2026-06-13T10:30:00Z');
    const moved: EventCadence = { ...race, startsAt: t('2026-06-13T11:00:00Z') };
    const next = nextDueAt(moved, served, now)!;
    expect(next).toBeLessThanOrEqual(now);
    expect(laneAt(moved, undefined, next, thresholds)).toBe('high');
    // Under the old start it would have waited until 11:00 in the low lane.
    expect(iso(nextDueAt(race, served, now))).toBe('2026-06-13T11:00:00.000Z');
    expect(laneAt(race, undefined, t('2026-06-13T11:00:00Z'), thresholds)).toBe('low');
  });

  it('misses across a tier boundary coalesce into one run at the latest missed point', () => {
    // Served at 04:00 (5m tier); the next sync finishes at 04:42:30, 1m tier since 04:30.
    expect(iso(nextDueAt(race, t('2026-06-20T04:00:00Z'), t('2026-06-20T04:42:30Z')))).toBe(
      '2026-06-20T04:42:00.000Z',
    );
  });

  it('coalescing realigns on the boundary: the new tier counts from the boundary, not from the old grid', () => {
    // Served off-grid at 04:00:30; 5m steps run to 04:25:30, the 1m tier starts at 04:30:00.
    expect(iso(nextDueAt(race, t('2026-06-20T04:00:30Z'), t('2026-06-20T04:42:45Z')))).toBe(
      '2026-06-20T04:42:00.000Z',
    );
  });

  it('an outage that outlasts the event coalesces into one last run before the end', () => {
    expect(iso(nextDueAt(race, t('2026-06-20T09:00:00Z'), t('2026-06-20T10:00:00Z')))).toBe(
      '2026-06-20T09:29:00.000Z',
    );
    expect(nextDueAt(race, t('2026-06-20T09:29:00Z'), t('2026-06-20T10:00:00Z'))).toBeNull();
  });

  it('a long outage is crossed in a few steps, not one per missed point', () => {
    const far: EventCadence = { ...race, tiers: [{ before: d('30d'), every: d('10s') }] };
    const next = nextDueAt(far, race.startsAt - d('29d'), race.startsAt - d('1d') + 5_000);
    expect(iso(next)).toBe(iso(race.startsAt - d('1d')));
  });

  it('a new event is due at once, and never once finished', () => {
    expect(firstDueAt(race, t('2026-06-01T12:00:00Z'))).toBe(t('2026-06-01T12:00:00Z'));
    expect(firstDueAt(race, t('2026-06-20T09:30:00Z'))).toBeNull();
    expect(finishesAt(race)).toBe(t('2026-06-20T09:30:00Z'));
  });
});

describe('interval cadence', () => {
  const quarterHour: IntervalCadence = { kind: 'interval', every: d('15m') };

  it.each([
    ['a sync that finishes in time: the next grid point', '10:00:00', '10:00:20', '10:15:00'],
    ['misses coalesce into one run at the latest missed point', '10:00:00', '11:07:00', '11:00:00'],
    ['after that run, back on the grid', '11:00:00', '11:07:00', '11:15:00'],
    ['a sync finishing exactly on a grid point runs it', '10:00:00', '10:15:00', '10:15:00'],
  ])('%s', (_name, served, now, expected) => {
    const day = '2026-03-01T';
    expect(iso(nextDueAt(quarterHour, t(`${day}${served}Z`), t(`${day}${now}Z`)))).toBe(
      `${day}${expected}.000Z`,
    );
  });

  it('stops at endAt', () => {
    const bounded: IntervalCadence = { ...quarterHour, endAt: t('2026-03-01T10:30:00Z') };
    expect(iso(nextDueAt(bounded, t('2026-03-01T10:00:00Z'), t('2026-03-01T10:01:00Z')))).toBe(
      '2026-03-01T10:15:00.000Z',
    );
    expect(nextDueAt(bounded, t('2026-03-01T10:15:00Z'), t('2026-03-01T10:16:00Z'))).toBeNull();
    // Missed points before the end still coalesce into one last run.
    expect(iso(nextDueAt(bounded, t('2026-03-01T09:00:00Z'), t('2026-03-01T12:00:00Z')))).toBe(
      '2026-03-01T10:15:00.000Z',
    );
  });

  it.each([
    ['no startAt: due at once', undefined, '2026-03-01T10:07:00Z', '2026-03-01T10:07:00.000Z'],
    [
      'a future startAt: due then',
      '2026-03-02T00:00:00Z',
      '2026-03-01T10:07:00Z',
      '2026-03-02T00:00:00.000Z',
    ],
    [
      'a past startAt: due at once, on its grid',
      '2026-03-01T00:00:00Z',
      '2026-03-01T10:07:00Z',
      '2026-03-01T10:00:00.000Z',
    ],
  ])('first due, %s', (_name, startAt, now, expected) => {
    const cadence: IntervalCadence = {
      ...quarterHour,
      ...(startAt ? { startAt: t(startAt) } : {}),
    };
    expect(iso(firstDueAt(cadence, t(now)))).toBe(expected);
  });
});

describe('cron cadence', () => {
  const newYork: CronCadence = {
    kind: 'cron',
    expression: '30 2 * * *',
    timezone: 'America/New_York',
    catchUpWithin: d('1h'),
  };

  /** The due points a cron walk visits, one served after another. */
  function walk(cadence: CronCadence, from: string, count: number): string[] {
    const dues: string[] = [];
    let served = t(from);
    for (let i = 0; i < count; i++) {
      served = nextDueAt(cadence, served, served)!;
      dues.push(iso(served)!);
    }
    return dues;
  }

  it('runs once a day across the spring change (02:30 does not exist on 8 March)', () => {
    expect(walk(newYork, '2026-03-06T12:00:00Z', 4)).toEqual([
      '2026-03-07T07:30:00.000Z', // 02:30 EST
      '2026-03-08T07:30:00.000Z', // 03:30 EDT: the skipped 02:30 runs once, shifted by the gap
      '2026-03-09T06:30:00.000Z', // 02:30 EDT
      '2026-03-10T06:30:00.000Z',
    ]);
  });

  it('runs once a day across the autumn change (02:30 happens once on 1 November)', () => {
    expect(walk(newYork, '2026-10-30T12:00:00Z', 4)).toEqual([
      '2026-10-31T06:30:00.000Z', // 02:30 EDT
      '2026-11-01T07:30:00.000Z', // 02:30 EST
      '2026-11-02T07:30:00.000Z',
      '2026-11-03T07:30:00.000Z',
    ]);
  });

  it('a time inside the repeated hour runs once, not twice', () => {
    const early: CronCadence = { ...newYork, expression: '30 1 * * *' };
    expect(walk(early, '2026-10-31T12:00:00Z', 2)).toEqual([
      '2026-11-01T05:30:00.000Z', // the first 01:30 (EDT)
      '2026-11-02T06:30:00.000Z',
    ]);
  });

  const nightly: CronCadence = {
    kind: 'cron',
    expression: '0 2 * * *',
    timezone: 'UTC',
    catchUpWithin: d('2h'),
  };

  it('a run missed by 90 minutes (catch-up 2h) runs once', () => {
    const due = t('2026-03-01T02:00:00Z');
    const now = t('2026-03-01T03:30:00Z');
    expect(catchUp(nightly, due, now)).toEqual({ run: true });
    // Once served, the next run is tomorrow's: the miss is not run twice.
    expect(iso(nextDueAt(nightly, due, now))).toBe('2026-03-02T02:00:00.000Z');
  });

  it('a run missed by 3 hours (catch-up 2h) is skipped to the next occurrence', () => {
    expect(catchUp(nightly, t('2026-03-01T02:00:00Z'), t('2026-03-01T05:00:00Z'))).toEqual({
      run: false,
      missedByMs: d('3h'),
      nextDueAt: t('2026-03-02T02:00:00Z'),
    });
  });

  it('events and intervals always run when found late', () => {
    expect(catchUp(race, race.startsAt - d('2d'), race.startsAt)).toEqual({ run: true });
  });

  it('hourly runs missed during an outage coalesce into one, at the latest occurrence', () => {
    const hourly: CronCadence = { ...nightly, expression: '0 * * * *' };
    expect(iso(nextDueAt(hourly, t('2026-03-01T02:00:00Z'), t('2026-03-01T05:20:00Z')))).toBe(
      '2026-03-01T05:00:00.000Z',
    );
  });

  it('a new cron schedule waits for its next occurrence, and one exactly now is due now', () => {
    expect(iso(firstDueAt(nightly, t('2026-03-01T12:00:00Z')))).toBe('2026-03-02T02:00:00.000Z');
    expect(iso(firstDueAt(nightly, t('2026-03-01T02:00:00Z')))).toBe('2026-03-01T02:00:00.000Z');
    expect(finishesAt(nightly)).toBeNull();
  });

  it('its interval is the gap to the next occurrence', () => {
    expect(intervalAt({ ...nightly, expression: '*/5 * * * *' }, t('2026-03-01T10:00:00Z'))).toBe(
      d('5m'),
    );
    expect(intervalAt(nightly, t('2026-03-01T02:00:00Z'))).toBe(d('1d'));
  });
});

describe('lanes', () => {
  it.each([
    ['1m tier → high', '2026-06-20T05:00:00Z', undefined, thresholds, 'high'],
    ['5m tier → medium', '2026-06-19T12:00:00Z', undefined, thresholds, 'medium'],
    ['60m → low', '2026-06-01T00:00:00Z', undefined, thresholds, 'low'],
    ['an explicit lane wins', '2026-06-01T00:00:00Z', 'high' as const, thresholds, 'high'],
    [
      'thresholds are configurable: 5m counts as high',
      '2026-06-19T12:00:00Z',
      undefined,
      { highMaxIntervalMs: d('5m'), mediumMaxIntervalMs: d('1h') },
      'high',
    ],
    ['a finished event keeps its last lane', '2026-06-21T00:00:00Z', undefined, thresholds, 'high'],
  ])('%s', (_name, at, explicit, laneThresholds, expected) => {
    expect(laneAt(race, explicit, t(at), laneThresholds)).toBe(expected);
  });

  it('the lane stored with a due point is the lane in force at it, not before', () => {
    // Served at 04:25 in the medium lane; the next due point, 04:30, is in the high lane.
    const next = nextDueAt(race, t('2026-06-20T04:25:00Z'), t('2026-06-20T04:25:10Z'))!;
    expect(laneAt(race, undefined, t('2026-06-20T04:25:00Z'), thresholds)).toBe('medium');
    expect(laneAt(race, undefined, next, thresholds)).toBe('high');
  });
});

describe('escalation', () => {
  it.each([
    [
      'low until the 24h boundary makes it medium',
      '2026-06-18T07:00:00Z',
      'low',
      undefined,
      '2026-06-19T08:30:00Z',
    ],
    [
      'medium until the 4h boundary makes it high',
      '2026-06-19T09:00:00Z',
      'medium',
      undefined,
      '2026-06-20T04:30:00Z',
    ],
    [
      'low straight to high when both boundaries lie ahead',
      '2026-06-18T07:00:00Z',
      'medium',
      undefined,
      '2026-06-20T04:30:00Z',
    ],
    ['already high: never', '2026-06-20T05:00:00Z', 'high', undefined, null],
    ['an explicit lane never moves', '2026-06-18T07:00:00Z', 'low', 'low', null],
  ] as const)('%s', (_name, after, lane, explicit, expected) => {
    expect(iso(escalatesAt(race, explicit, t(after), lane, thresholds))).toBe(
      expected === null ? null : new Date(expected).toISOString(),
    );
  });

  it('intervals and crons keep their lane', () => {
    const interval: IntervalCadence = { kind: 'interval', every: d('15m') };
    expect(escalatesAt(interval, undefined, 0, 'low', thresholds)).toBeNull();
  });
});

describe('coalescing across daylight saving changes', () => {
  const cron = (expression: string, timezone: string): CronCadence => ({
    kind: 'cron',
    expression,
    timezone,
    catchUpWithin: d('1h'),
  });

  it.each([
    // 02:30 does not exist on these days; served the day before, found after the shifted run.
    ['Europe/Berlin', '2026-03-28T01:30:00Z', '2026-03-29T01:35:00Z', '2026-03-29T01:30:00Z'],
    ['America/New_York', '2026-03-07T07:30:00Z', '2026-03-08T08:00:00Z', '2026-03-08T07:30:00Z'],
    ['America/New_York', '2026-03-07T07:30:00Z', '2026-03-09T06:00:00Z', '2026-03-08T07:30:00Z'],
    // Across the autumn change: 02:30 happens once.
    ['Europe/Berlin', '2026-10-24T00:30:00Z', '2026-10-26T12:00:00Z', '2026-10-26T01:30:00Z'],
  ])('%s: served %s, found at %s → %s', (zone, served, now, expected) => {
    expect(iso(nextDueAt(cron('30 2 * * *', zone), t(served), t(now)))).toBe(
      new Date(expected).toISOString(),
    );
  });

  it('always ends on a point of the cron’s own next() chain: the latest missed one, or the first after now', () => {
    // A small deterministic PRNG, so a failure reproduces.
    let seed = 7;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
      return seed / 2_147_483_648;
    };
    const zones = ['Europe/Berlin', 'America/New_York', 'Australia/Sydney', 'Asia/Kolkata', 'UTC'];
    const expressions = ['30 2 * * *', '0 * * * *', '*/15 * * * *', '30 1 * * 0', '0 3 1 * *'];
    for (let round = 0; round < 400; round++) {
      const zone = zones[Math.floor(random() * zones.length)] ?? 'UTC';
      const expression = expressions[Math.floor(random() * expressions.length)] ?? '0 * * * *';
      const cadence = cron(expression, zone);
      const iterator = CronExpressionParser.parse(expression, {
        tz: zone,
        currentDate: new Date(Date.UTC(2026, 0, 1) + random() * 360 * 86_400_000),
      });
      const served = iterator.next().getTime();
      const now = served + Math.floor(random() * 3 * 86_400_000);

      const result = nextDueAt(cadence, served, now);
      // The chain of next() from `served` up to the first point after `now`.
      const chain: number[] = [];
      for (let at = served; chain.at(-1) === undefined || (chain.at(-1) ?? 0) <= now;) {
        iterator.reset(new Date(at));
        at = iterator.next().getTime();
        chain.push(at);
      }
      const missed = chain.filter((at) => at <= now);
      const expected = missed.at(-1) ?? chain.at(-1);
      expect(result, `${expression} ${zone} served ${iso(served)} now ${iso(now)}`).toBe(expected);
    }
  });
});

describe('the point a late dispatch serves', () => {
  it.each([
    [
      'an interval behind by five points: the latest of them',
      { kind: 'interval', every: d('15m') } as const,
      '10:00',
      '11:07',
      '11:00',
    ],
    [
      'an interval on time: its own point',
      { kind: 'interval', every: d('15m') } as const,
      '10:00',
      '10:00:05',
      '10:00',
    ],
    [
      'an hourly cron after an outage: the last occurrence, not the first missed',
      { kind: 'cron', expression: '0 * * * *', timezone: 'UTC', catchUpWithin: d('30m') } as const,
      '02:00',
      '03:10',
      '03:00',
    ],
    [
      'not yet due: the due point itself',
      { kind: 'interval', every: d('15m') } as const,
      '10:00',
      '09:59',
      '10:00',
    ],
  ])('%s', (_name, cadence, due, now, expected) => {
    const day = '2026-03-01T';
    expect(iso(owedDueAt(cadence, t(`${day}${due}Z`), t(`${day}${now}Z`)))).toBe(
      new Date(`${day}${expected}Z`).toISOString(),
    );
  });

  it('an event behind across a tier boundary: the latest point of the new tier', () => {
    expect(iso(owedDueAt(race, t('2026-06-20T04:00:00Z'), t('2026-06-20T04:42:30Z')))).toBe(
      '2026-06-20T04:42:00.000Z',
    );
  });
});
