import { describe, expect, it } from 'vitest';
import { describeCadence, describeTarget, ruleInForce } from '../../../functions/cli/describe.js';
import { defaultSettings } from '../../../functions/config.js';
import { duration } from '../../../functions/schedule/duration.js';
import { validateSchedule, type ScheduleSpec } from '../../../functions/schedule/spec.js';

function spec(fields: Record<string, unknown>): ScheduleSpec {
  const validation = validateSchedule({
    name: 'x',
    target: { type: 'http', url: 'https://t.example.com/sync' },
    ...fields,
  });
  if (!validation.ok) throw new Error(validation.problems.join('\n'));
  return validation.spec;
}

const startsAt = '2026-06-20T08:30:00Z';
const race = spec({ cadence: { kind: 'event', startsAt } });
const thresholds = defaultSettings().laneThresholds;

describe('cadences in words', () => {
  it('reads an event in time order, farthest tier first', () => {
    expect(describeCadence(race.cadence)).toBe(
      'event at 2026-06-20 08:30:00Z: every 1h; every 5m from 1d before; every 1m from 4h before; ends 1h after (2026-06-20 09:30:00Z)',
    );
  });

  it('reads an interval with its window, and a cron with its zone and catch-up', () => {
    expect(
      describeCadence(
        spec({ cadence: { kind: 'interval', every: '15m', endAt: '2026-07-01T00:00:00Z' } })
          .cadence,
      ),
    ).toBe('every 15m until 2026-07-01 00:00:00Z');
    expect(
      describeCadence(
        spec({ cadence: { kind: 'cron', expression: '0 2 * * *', timezone: 'Europe/Berlin' } })
          .cadence,
      ),
    ).toBe(
      'cron "0 2 * * *" in Europe/Berlin; a run missed by at most 1h still runs once, an older one is skipped',
    );
  });

  it('says where a target points', () => {
    expect(describeTarget(race.target)).toBe('POST https://t.example.com/sync');
    expect(describeTarget({ type: 'handler', name: 'example.echo' })).toBe('handler example.echo');
  });
});

describe('the rule in force', () => {
  const start = Date.parse(startsAt);

  it.each([
    [duration('2d'), '1h', 'otherwise (more than 1d before the start)', 'low'],
    [duration('5h'), '5m', 'tier: from 1d before the start', 'medium'],
    [duration('1h'), '1m', 'tier: from 4h before the start', 'high'],
    [-duration('30m'), '1m', 'after the start (the closest tier)', 'high'],
  ])('%d ms before the start: every %s (%s), lane %s', (before, every, rule, lane) => {
    const inForce = ruleInForce(race, start - before, thresholds);
    expect(inForce).toEqual({
      intervalMs: duration(every),
      rule,
      lane,
      laneSource: 'interval',
    });
  });

  it('has nothing in force once the event has ended', () => {
    expect(ruleInForce(race, start + duration('2h'), thresholds)).toMatchObject({
      intervalMs: null,
      rule: null,
    });
  });

  it('keeps the lane a schedule names, whatever the interval', () => {
    const pinned = spec({ cadence: { kind: 'interval', every: '1d' }, lane: 'high' });
    expect(ruleInForce(pinned, start, thresholds)).toEqual({
      intervalMs: duration('1d'),
      rule: null,
      lane: 'high',
      laneSource: 'schedule',
    });
  });
});

describe('a spread cadence in words', () => {
  it.each([
    [{ kind: 'interval', every: '15m' }, /^every 15m; spread \d+\.\d% into each interval$/],
    [
      { kind: 'event', startsAt: '2026-06-20T08:30:00Z' },
      /; ends 1h after \(.*\); spread \d+\.\d% into each interval$/,
    ],
    [{ kind: 'interval', every: '15m', spread: false }, /^every 15m$/],
    [
      { kind: 'cron', expression: '0 2 * * *', jitter: '10m' },
      /an older one is skipped; each run shifted by \d+(\.\d)?s \(jitter 10m\)$/,
    ],
  ])('%j reads %s', (cadence, words) => {
    const validation = validateSchedule(
      { target: { type: 'handler', name: 'example.echo' }, cadence },
      undefined,
      'race-007',
    );
    if (!validation.ok) throw new Error(validation.problems.join('\n'));
    expect(describeCadence(validation.spec.cadence)).toMatch(words);
  });
});
