import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from '../../../functions/schedule/duration.js';

describe('durations', () => {
  it.each([
    ['90s', 90_000],
    ['5m', 300_000],
    ['4h', 14_400_000],
    ['1d', 86_400_000],
    ['0s', 0],
  ])('%s is %d ms', (text, ms) => {
    expect(parseDuration(text)).toEqual({ ok: true, ms });
  });

  it.each([
    ['5 min', 'not_a_duration'],
    ['1.5h', 'not_a_duration'],
    ['5', 'not_a_duration'],
    ['m', 'not_a_duration'],
    ['5M', 'not_a_duration'],
    ['1h30m', 'not_a_duration'],
    ['-5m', 'negative'],
    ['- 5m', 'negative'],
  ])('%s is refused (%s)', (text, reason) => {
    expect(parseDuration(text)).toEqual({ ok: false, reason });
  });

  it.each([
    [90_000, '90s'],
    [5_400_000, '90m'],
    [86_400_000, '1d'],
    [1_500, '1500ms'],
    [0, '0s'],
  ])('%d ms prints as %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});
