import { describe, expect, it } from 'vitest';
import {
  allowedInWindow,
  available,
  blockUntil,
  fullBucket,
  HOUR_MS,
  MINUTE_MS,
  readyAt,
  refill,
  take,
  type Bucket,
  type KeyLimit,
} from '../../../functions/ratelimit/bucket.js';

const T0 = Date.UTC(2026, 5, 20, 6, 0, 0);
const PER_MINUTE_60: KeyLimit = { perMinute: 60, perHour: null, burst: 10, concurrency: null };
const PER_HOUR_1000: KeyLimit = { perMinute: null, perHour: 1_000, burst: 100, concurrency: null };
const BOTH: KeyLimit = { perMinute: 60, perHour: 1_000, burst: 10, concurrency: null };
const empty = (limit: KeyLimit): Bucket => take(fullBucket(limit, T0), limit, T0, limit.burst);

describe('refill', () => {
  it.each([
    // limit, bucket after, elapsed ms, expected minute tokens, expected hour tokens
    ['empty, 6 s at 50/min refill', PER_MINUTE_60, 6_000, 5, 10],
    ['empty, a whole minute: capped at the burst', PER_MINUTE_60, MINUTE_MS, 10, 10],
    ['empty hour bucket, 36 s at 900/h', PER_HOUR_1000, 36_000, 100, 9],
    ['both: the hour bucket lags behind a full minute bucket', BOTH, 36_000, 10, 9.9],
  ] as const)('%s', (_name, limit, elapsed, minute, hour) => {
    const filled = refill(empty(limit), limit, T0 + elapsed);
    expect(filled.minute).toBeCloseTo(minute, 6);
    expect(filled.hour).toBeCloseTo(hour, 6);
    expect(filled.refilledAt).toBe(T0 + elapsed);
  });

  it('never goes back in time', () => {
    const bucket = { ...empty(PER_MINUTE_60), refilledAt: T0 + 10_000 };
    expect(refill(bucket, PER_MINUTE_60, T0)).toEqual(bucket);
  });

  it('caps tokens saved under a larger burst at the new burst', () => {
    const bucket: Bucket = { minute: 40, hour: 40, refilledAt: T0, blockedUntil: null };
    expect(refill(bucket, PER_MINUTE_60, T0).minute).toBe(10);
  });
});

describe('available and take', () => {
  it.each([
    ['a fresh key: its burst', fullBucket(PER_MINUTE_60, T0), PER_MINUTE_60, T0, 10],
    ['an empty key: none', empty(PER_MINUTE_60), PER_MINUTE_60, T0, 0],
    ['the emptiest bucket binds', empty(BOTH), BOTH, T0 + 36_000, 9],
    [
      'blocked: none, whatever its tokens',
      blockUntil(fullBucket(PER_MINUTE_60, T0), T0 + 30_000),
      PER_MINUTE_60,
      T0 + 29_999,
      0,
    ],
    [
      'the block over: its tokens again',
      blockUntil(fullBucket(PER_MINUTE_60, T0), T0 + 30_000),
      PER_MINUTE_60,
      T0 + 30_000,
      10,
    ],
    [
      'no rate limited: unlimited',
      fullBucket({ ...PER_MINUTE_60, perMinute: null }, T0),
      { ...PER_MINUTE_60, perMinute: null },
      T0,
      Number.POSITIVE_INFINITY,
    ],
  ] as const)('%s', (_name, bucket, limit, now, expected) => {
    expect(available(bucket, limit, now)).toBe(expected);
  });

  it('takes from every bucket of the key', () => {
    const after = take(fullBucket(BOTH, T0), BOTH, T0, 4);
    expect([after.minute, after.hour]).toEqual([6, 6]);
  });

  it('refuses to take more than is available', () => {
    expect(() => take(fullBucket(PER_MINUTE_60, T0), PER_MINUTE_60, T0, 11)).toThrow(
      'cannot take 11 tokens: 10 available',
    );
  });
});

describe('blockUntil', () => {
  it.each([
    ['not blocked', null, T0 + 30_000, T0 + 30_000],
    ['a later block wins', T0 + 10_000, T0 + 30_000, T0 + 30_000],
    ['an earlier block changes nothing', T0 + 60_000, T0 + 30_000, T0 + 60_000],
  ] as const)('%s', (_name, before, until, expected) => {
    const bucket = { ...fullBucket(PER_MINUTE_60, T0), blockedUntil: before };
    expect(blockUntil(bucket, until).blockedUntil).toBe(expected);
  });
});

describe('readyAt', () => {
  it.each([
    ['tokens left: now', fullBucket(PER_MINUTE_60, T0), PER_MINUTE_60, T0],
    ['empty at 50/min: 1.2 s later', empty(PER_MINUTE_60), PER_MINUTE_60, T0 + 1_200],
    ['empty at 900/h: 4 s later', empty(PER_HOUR_1000), PER_HOUR_1000, T0 + 4_000],
    [
      'blocked: the block end',
      blockUntil(fullBucket(PER_MINUTE_60, T0), T0 + 30_000),
      PER_MINUTE_60,
      T0 + 30_000,
    ],
  ] as const)('%s', (_name, bucket, limit, expected) => {
    expect(readyAt(bucket, limit, T0)).toBe(expected);
  });
});

describe('the budget a bucket keeps', () => {
  it.each([
    ['a minute of 60/min', PER_MINUTE_60, MINUTE_MS, 60],
    ['an hour of 1000/h', PER_HOUR_1000, HOUR_MS, 1_000],
    ['a minute under both', BOTH, MINUTE_MS, 10 + Math.floor((990 * 60) / 3_600)],
    ['an hour under both', BOTH, HOUR_MS, 1_000],
  ] as const)('allowedInWindow: %s', (_name, limit, window, expected) => {
    expect(allowedInWindow(limit, window)).toBe(expected);
  });

  it.each([
    ['60/min', PER_MINUTE_60, MINUTE_MS],
    ['1000/h', PER_HOUR_1000, HOUR_MS],
    ['60/min and 1000/h, over an hour', BOTH, HOUR_MS],
  ] as const)(
    'a greedy caller taking every token each second never exceeds %s in any window',
    (_name, limit, window) => {
      let bucket = fullBucket(limit, T0);
      const taken: number[] = [];
      for (let now = T0; now < T0 + 3 * HOUR_MS; now += 1_000) {
        const count = available(bucket, limit, now);
        bucket = take(bucket, limit, now, count);
        for (let i = 0; i < count; i++) taken.push(now);
      }
      const cap = allowedInWindow(limit, window);
      let start = 0;
      let most = 0;
      for (let end = 0; end < taken.length; end++) {
        while (taken[end]! - taken[start]! >= window) start++;
        most = Math.max(most, end - start + 1);
      }
      expect(most).toBeLessThanOrEqual(cap);
      // and it is not needlessly stingy: the sustained rate reaches limit - burst per window
      expect(most).toBeGreaterThanOrEqual(cap - limit.burst);
    },
  );
});
