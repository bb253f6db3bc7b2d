import { describe, expect, it } from 'vitest';
import {
  blockUntil,
  fullBucket,
  take,
  type KeyLimit,
} from '../../../functions/ratelimit/bucket.js';
import {
  admit,
  charge,
  room,
  type KeyBudget,
  type KeyedCandidate,
} from '../../../functions/ratelimit/gate.js';

const T0 = Date.UTC(2026, 5, 20, 6, 0, 0);
const LIMIT: KeyLimit = { perMinute: 60, perHour: null, burst: 3, concurrency: null };
const candidate = (
  id: string,
  lane: KeyedCandidate['lane'],
  key: string | null,
  dueAt = T0,
): KeyedCandidate => ({ id, lane, key, dueAt });
const budget = (tokens: number, extra: Partial<KeyBudget> = {}): KeyBudget => ({
  limit: LIMIT,
  bucket: take(fullBucket(LIMIT, T0), LIMIT, T0, LIMIT.burst - tokens),
  inFlight: 0,
  ...extra,
});

describe('room', () => {
  it.each([
    ['its tokens', budget(2), 2],
    ['none while blocked', { ...budget(3), bucket: blockUntil(budget(3).bucket, T0 + 1) }, 0],
    [
      'concurrency left binds first',
      budget(3, { limit: { ...LIMIT, concurrency: 4 }, inFlight: 3 }),
      1,
    ],
    [
      'a key with no limits configured: unlimited',
      { limit: null, bucket: fullBucket(LIMIT, T0), inFlight: 9 },
      Number.POSITIVE_INFINITY,
    ],
  ])('%s', (_name, keyBudget, expected) => {
    expect(room(keyBudget, T0)).toBe(expected);
  });
});

describe('admit', () => {
  it('serves the high lane first, then the most overdue, each key within its room', () => {
    const admission = admit(
      {
        high: [candidate('h-late', 'high', 'p', T0), candidate('h-early', 'high', 'p', T0 - 5_000)],
        medium: [candidate('m1', 'medium', 'p', T0 - 60_000), candidate('m-free', 'medium', null)],
        low: [candidate('l1', 'low', 'q'), candidate('l2', 'low', 'q', T0 + 1)],
      },
      new Map([
        ['p', budget(3)],
        ['q', budget(1)],
      ]),
      T0,
    );
    expect(admission.candidates.high.map((c) => c.id)).toEqual(['h-early', 'h-late']);
    expect(admission.candidates.medium.map((c) => c.id)).toEqual(['m1', 'm-free']);
    expect(admission.candidates.low.map((c) => c.id)).toEqual(['l1']);
    expect(admission.held).toEqual(new Map([['q', 1]]));
  });

  it('holds everything of a blocked key, and nothing of another', () => {
    const blocked = { ...budget(3), bucket: blockUntil(budget(3).bucket, T0 + 30_000) };
    const admission = admit(
      { high: [candidate('a', 'high', 'p'), candidate('b', 'high', 'other')], medium: [], low: [] },
      new Map([['p', blocked]]),
      T0,
    );
    expect(admission.candidates.high.map((c) => c.id)).toEqual(['b']);
    expect(admission.held).toEqual(new Map([['p', 1]]));
  });
});

describe('charge', () => {
  it('takes one token per dispatch of each key, and refills the others', () => {
    const after = charge(
      new Map([
        ['p', budget(3)],
        ['q', budget(0)],
      ]),
      ['p', 'p', null],
      T0 + 1_000,
    );
    // 1 s at (60 - 3)/min refills 0.95 tokens, capped at the burst of 3
    expect(after.get('p')?.minute).toBeCloseTo(1, 6);
    expect(after.get('q')?.minute).toBeCloseTo(0.95, 6);
  });

  it('refuses to charge beyond a key’s tokens (a planner bug, never silent)', () => {
    expect(() => charge(new Map([['p', budget(1)]]), ['p', 'p'], T0)).toThrow('cannot take');
  });
});
