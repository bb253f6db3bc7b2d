import { describe, expect, it } from 'vitest';
import { summarizeShardJobs } from '../../../functions/cli/status.js';
import type { TickJobShardState } from '../../../functions/cli/tick-job-fleet.js';

const BASE = 'projects/p/locations/r/jobs/pacer-tick';

/** A shard's job as `tick-job status` reads it. */
function job(shard: number, state: string | null, options: { stale?: boolean } = {}) {
  const row: TickJobShardState = {
    job: shard === 0 ? BASE : `${BASE}-${shard}`,
    exists: state !== null,
    state,
    schedule: state === null ? null : '* * * * *',
    timeZone: null,
    uri: null,
    serviceAccountEmail: null,
    lastAttemptAt: null,
    lastAttemptStatus: null,
    nextRunAt: null,
    shard,
    stale: options.stale ?? false,
  };
  return row;
}

describe('summarizeShardJobs: the tick-job line of `pacer status` with shards', () => {
  it.each([
    ['every job enabled', [job(0, 'ENABLED'), job(1, 'ENABLED')], '2 of 2 shard jobs ENABLED'],
    [
      'one paused, one missing',
      [job(0, 'ENABLED'), job(1, 'PAUSED'), job(2, null)],
      '1 of 3 shard jobs ENABLED; shard 1 PAUSED, shard 2 MISSING',
    ],
    [
      'a stale job left from more shards',
      [job(0, 'ENABLED'), job(1, 'ENABLED'), job(3, 'ENABLED', { stale: true })],
      '2 of 2 shard jobs ENABLED; shard 3 stale (ENABLED)',
    ],
    [
      'shard 0 itself paused',
      [job(0, 'PAUSED'), job(1, 'ENABLED')],
      '1 of 2 shard jobs ENABLED; shard 0 PAUSED',
    ],
  ])('%s', (_, shards, line) => {
    expect(summarizeShardJobs(shards)).toBe(line);
  });
});
