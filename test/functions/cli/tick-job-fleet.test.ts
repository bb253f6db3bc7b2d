import { describe, expect, it } from 'vitest';
import { tickJobEntries, tickJobShard } from '../../../functions/cli/tick-job-fleet.js';

const BASE = 'projects/p/locations/europe-west1/jobs/pacer-tick';

describe('which listed jobs are pacer tick jobs, and of which shard', () => {
  it.each([
    [BASE, 0],
    [`${BASE}-1`, 1],
    [`${BASE}-16`, 16],
    [`${BASE}-0`, null],
    [`${BASE}-01`, null],
    [`${BASE}-x`, null],
    [`${BASE}-2-old`, null],
    [`${BASE}x-2`, null],
    ['projects/p/locations/us-central1/jobs/pacer-tick-2', null],
  ])('%s → shard %s', (name, shard) => {
    expect(tickJobShard(name, BASE)).toBe(shard);
  });
});

describe('the tick jobs pause, resume and status act on', () => {
  it('every shard below the count, listed or not, then the stale ones listed, in shard order', () => {
    const listed = [`${BASE}-7`, `${BASE}-x`, BASE, `${BASE}-3`, `${BASE}-1`, `${BASE}-01`];
    expect(tickJobEntries(listed, BASE, 3)).toEqual([
      { job: BASE, shard: 0, stale: false },
      { job: `${BASE}-1`, shard: 1, stale: false },
      { job: `${BASE}-2`, shard: 2, stale: false },
      { job: `${BASE}-3`, shard: 3, stale: true },
      { job: `${BASE}-7`, shard: 7, stale: true },
    ]);
  });

  it('with one shard: shard 0, and every pacer-tick-K as stale', () => {
    expect(tickJobEntries([], BASE, 1)).toEqual([{ job: BASE, shard: 0, stale: false }]);
    expect(tickJobEntries([`${BASE}-2`], BASE, 1)).toEqual([
      { job: BASE, shard: 0, stale: false },
      { job: `${BASE}-2`, shard: 2, stale: true },
    ]);
  });
});
