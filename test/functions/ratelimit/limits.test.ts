import { describe, expect, it } from 'vitest';
import { applyOverrides, defaultSettings, loadSettings } from '../../../functions/config.js';
import {
  describeLimit,
  formatRateLimits,
  parseRateLimits,
} from '../../../functions/ratelimit/limits.js';
import { retryAfterUntil } from '../../../functions/ratelimit/retry-after.js';
import { validateSchedule } from '../../../functions/schedule/spec.js';

describe('parseRateLimits', () => {
  it.each([
    ['none', 'none', {}],
    [
      'one key, every field',
      'provider:perMinute=60,perHour=1000,burst=10,concurrency=5',
      { provider: { perMinute: 60, perHour: 1000, burst: 10, concurrency: 5 } },
    ],
    [
      'the burst defaults to a sixth of the smallest rate',
      'a:perHour=1000; b:perMinute=60',
      {
        a: { perMinute: null, perHour: 1000, burst: 166, concurrency: null },
        b: { perMinute: 60, perHour: null, burst: 10, concurrency: null },
      },
    ],
    [
      'concurrency alone',
      'slow-api:concurrency=3',
      { 'slow-api': { perMinute: null, perHour: null, burst: 1, concurrency: 3 } },
    ],
  ])('%s', (_name, raw, expected) => {
    expect(parseRateLimits(raw)).toEqual({ ok: true, limits: expected });
  });

  it.each([
    ['a bad key', 'Provider:perHour=10', '"Provider" is not a key'],
    ['a key twice', 'a:perHour=10;a:perHour=20', 'a: given twice'],
    ['an unknown field', 'a:perDay=10', 'a: "perDay=10" is not one of perMinute, perHour'],
    ['not a number', 'a:perHour=lots', 'a.perHour: "lots" is not a whole number'],
    ['zero', 'a:perHour=0', 'a.perHour: "0" is not a whole number from 1'],
    ['no limit at all', 'a:burst=3', 'a: sets none of perMinute, perHour, concurrency'],
    ['a burst as big as the rate', 'a:perMinute=60,burst=60', 'a.burst: 60 must be less than'],
    ['a rate of one (no room for a burst)', 'a:perMinute=1', 'a.burst: 1 must be less than'],
  ])('refuses %s', (_name, raw, problem) => {
    const parsed = parseRateLimits(raw);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.problems.join('\n')).toContain(problem);
  });

  it('formats what it parses', () => {
    const text = 'provider:perMinute=60,perHour=1000,burst=10;other:concurrency=2';
    const parsed = parseRateLimits(text);
    if (!parsed.ok) throw new Error(parsed.problems.join('; '));
    expect(formatRateLimits(parsed.limits)).toBe(text);
    expect(describeLimit(parsed.limits.provider!)).toBe('60/min, 1000/h, burst 10');
  });
});

describe('the rateLimits setting', () => {
  it('is read from PACER_RATE_LIMITS and fails at start with its name', () => {
    expect(loadSettings({ PACER_RATE_LIMITS: 'p:perHour=1000,burst=10' }).rateLimits).toEqual({
      p: { perMinute: null, perHour: 1000, burst: 10, concurrency: null },
    });
    expect(() => loadSettings({ PACER_RATE_LIMITS: 'p:perHour=ten' })).toThrow('PACER_RATE_LIMITS');
  });

  it('is live in pacer/config', () => {
    const applied = applyOverrides(defaultSettings(), { rateLimits: 'p:perMinute=60' });
    expect(applied.ok && applied.settings.rateLimits.p?.perMinute).toBe(60);
  });
});

describe('rateLimitKey on a schedule', () => {
  const schedule = (rateLimitKey: unknown) => ({
    name: 'feed',
    cadence: { kind: 'interval', every: '5m' },
    target: { type: 'handler', name: 'example.echo' },
    rateLimitKey,
  });

  it('is kept when it is a key', () => {
    const validation = validateSchedule(schedule('provider-a'));
    expect(validation.ok && validation.spec.rateLimitKey).toBe('provider-a');
  });

  it.each([['Provider'], [''], ['has space'], [42]])('refuses %j with its reason', (key) => {
    const validation = validateSchedule(schedule(key));
    expect(validation.ok).toBe(false);
    if (!validation.ok) expect(validation.problems.join('\n')).toMatch(/^rateLimitKey: /m);
  });
});

describe('retryAfterUntil', () => {
  const now = Date.UTC(2026, 5, 20, 6, 0, 0);
  it.each([
    ['seconds', '30', now + 30_000],
    ['zero seconds', '0', now],
    ['an HTTP date', 'Sat, 20 Jun 2026 06:01:00 GMT', now + 60_000],
    ['a date already past: now', 'Sat, 20 Jun 2026 05:00:00 GMT', now],
    ['capped at an hour', '86400', now + 3_600_000],
    ['absent', undefined, null],
    ['empty', ' ', null],
    ['not a delay or a date', '-5', null],
    ['a fraction', '1.5', null],
    ['garbage', 'soon', null],
  ])('%s', (_name, raw, expected) => {
    expect(retryAfterUntil(raw, now)).toBe(expected);
  });
});
