import { describe, expect, it } from 'vitest';
import { defaultSettings, loadSettings } from '../../../functions/config.js';
import {
  MAX_SHARDS,
  parseShard,
  plannerLeaseDoc,
  servedShards,
  servesStored,
  shardOf,
  shardSettings,
  shareOf,
  statsDoc,
  WHOLE,
  withShard,
} from '../../../functions/schedule/shard.js';
import type { Subject } from '../../../functions/protocol/decisions.js';
import { EMPTY_STATE } from '../../../functions/protocol/state.js';

describe('a schedule’s shard', () => {
  it.each([
    ['race-1', 1, 0],
    // Phases from SHA-256 by hand: race-1 0.405, race-2 0.892, entry-feed 0.045.
    ['race-1', 2, 0],
    ['race-1', 4, 1],
    ['race-2', 4, 3],
    ['entry-feed', 3, 0],
  ])('%s among %i is %i, from the spread hash of its id', (id, count, expected) => {
    expect(shardOf(id, null, count)).toBe(expected);
  });

  it('is the same for every call and in range for every count', () => {
    for (let count = 1; count <= MAX_SHARDS; count++) {
      for (let i = 0; i < 200; i++) {
        const shard = shardOf(`schedule-${i}`, null, count);
        expect(shard).toBe(shardOf(`schedule-${i}`, null, count));
        expect(Number.isInteger(shard) && shard >= 0 && shard < count).toBe(true);
      }
    }
  });

  it('spreads 10,000 ids evenly: each of 8 shards within 10% of its fair share', () => {
    const counts = new Array<number>(8).fill(0);
    for (let i = 0; i < 10_000; i++) counts[shardOf(`race-${i}`, null, 8)]! += 1;
    for (const count of counts) expect(Math.abs(count - 1_250)).toBeLessThan(125);
  });

  it('follows the provider key when there is one: every schedule of a key in one shard', () => {
    const shards = new Set(
      Array.from({ length: 50 }, (_, i) => shardOf(`race-${i}`, 'provider-a', 4)),
    );
    expect(shards.size).toBe(1);
    expect([...shards][0]).toBe(shardOf('provider-a', null, 4));
  });
});

describe('what a planner serves', () => {
  it('with one shard, everything (no filter at all)', () => {
    expect(servedShards(WHOLE)).toBeNull();
    expect(servesStored(WHOLE, undefined)).toBe(true);
  });

  it('planner K of N serves every stored value congruent to K, older Ns’ included', () => {
    expect(servedShards({ index: 1, count: 4 })).toEqual([1, 5, 9, 13]);
    expect(servedShards({ index: 0, count: 16 })).toEqual([0]);
    expect(servedShards({ index: 2, count: 3 })).toEqual([2, 5, 8, 11, 14]);
  });

  it('every stored value from any N is served by exactly one planner of any other N', () => {
    for (let before = 1; before <= MAX_SHARDS; before++) {
      for (let stored = 0; stored < before; stored++) {
        for (let count = 2; count <= MAX_SHARDS; count++) {
          const serving = Array.from({ length: count }, (_, index) => index).filter((index) =>
            servesStored({ index, count }, stored),
          );
          expect(serving).toHaveLength(1);
        }
      }
    }
  });

  it('a document with no stored shard is seen only with one shard', () => {
    expect(servesStored({ index: 0, count: 2 }, undefined)).toBe(false);
  });
});

describe('budgets across shards', () => {
  it.each([
    [10, 3, [4, 3, 3]],
    [2, 4, [1, 1, 0, 0]],
    [100, 1, [100]],
  ])('a budget of %i split %i ways is %j, adding up to it', (total, count, parts) => {
    const split = Array.from({ length: count }, (_, index) => shareOf(total, { index, count }));
    expect(split).toEqual(parts);
    expect(split.reduce((a, b) => a + b, 0)).toBe(total);
  });

  it('shares the in-flight budgets and keeps the caps whole per planner', () => {
    const settings = { ...defaultSettings(), totalInFlightBudget: 21 };
    const shard = shardSettings(settings, { index: 2, count: 4 });
    expect(shard.inFlightBudget).toEqual({ high: 25, medium: 12, low: 5 });
    expect(shard.totalInFlightBudget).toBe(5);
    expect(shard.reserved).toEqual({ high: 0, medium: 0, low: 0 });
    expect(shard.caps).toEqual(settings.caps);
    expect(shardSettings(settings, WHOLE)).toBe(settings);
  });
});

describe('PACER_SHARDS', () => {
  it('defaults to 1 and takes 1 to 16', () => {
    expect(loadSettings({}).shards).toBe(1);
    expect(loadSettings({ PACER_SHARDS: '4' }).shards).toBe(4);
  });

  it.each(['0', '17', 'two', '1.5'])('refuses %s, naming the variable', (raw) => {
    expect(() => loadSettings({ PACER_SHARDS: raw })).toThrow(
      `PACER_SHARDS: expected a whole number from 1 to 16, got "${raw}"`,
    );
  });

  it('refuses more shards than a lane has in-flight slots', () => {
    expect(() => loadSettings({ PACER_SHARDS: '8', PACER_INFLIGHT_LOW: '4' })).toThrow(
      'PACER_SHARDS: must not exceed PACER_INFLIGHT_LOW (4)',
    );
  });
});

describe('a planner invocation’s shard', () => {
  it.each([
    [undefined, 1, { ok: true, shard: WHOLE }],
    ['1', 2, { ok: true, shard: { index: 1, count: 2 } }],
    [0, 3, { ok: true, shard: { index: 0, count: 3 } }],
  ])('%j with %i shards', (raw, count, expected) => {
    expect(parseShard(raw, count)).toEqual(expected);
  });

  it.each([
    [undefined, 2, 'shard: required with PACER_SHARDS=2 (0 to 1)'],
    ['2', 2, 'shard: expected a whole number from 0 to 1 (PACER_SHARDS=2), got "2"'],
    ['-1', 4, 'shard: expected a whole number from 0 to 3 (PACER_SHARDS=4), got "-1"'],
    [['1'], 4, 'shard: expected a whole number from 0 to 3 (PACER_SHARDS=4), got ["1"]'],
  ])('refuses %j with %i shards', (raw, count, message) => {
    expect(parseShard(raw, count)).toEqual({ ok: false, message });
  });

  it('names each shard’s lease and stats, shard 0 of 1 as before', () => {
    expect(plannerLeaseDoc(WHOLE)).toBe('pacer/planner');
    expect(plannerLeaseDoc({ index: 0, count: 2 })).toBe('pacer/planner-0');
    expect(plannerLeaseDoc({ index: 3, count: 4 })).toBe('pacer/planner-3');
    expect(statsDoc({ index: 0, count: 2 })).toBe('pacer/stats');
    expect(statsDoc({ index: 1, count: 2 })).toBe('pacer/stats-1');
  });
});

describe('writing the shard', () => {
  const subject = (shard?: number): Subject => ({
    id: 'race-1',
    data: {},
    state: shard === undefined ? EMPTY_STATE : { ...EMPTY_STATE, shard },
    validation: { ok: false, problems: ['(test)'] },
  });
  const none = { outcome: 'unchanged', patch: null };

  it('adds the shard when the stored one differs (or is missing)', () => {
    expect(withShard(none, subject(), 4).patch).toEqual({ state: { shard: 1 } });
    expect(withShard(none, subject(0), 4).patch).toEqual({ state: { shard: 1 } });
    const claim = { outcome: 'claimed', patch: { state: { runCount: 2 } } };
    expect(withShard(claim, subject(1), 2).patch).toEqual({ state: { runCount: 2, shard: 0 } });
  });

  it('writes nothing when it is right, with one shard, or without a schedule', () => {
    expect(withShard(none, subject(1), 4)).toBe(none);
    expect(withShard(none, subject(), 1)).toBe(none);
    expect(withShard(none, null, 4)).toBe(none);
  });
});
