import { describe, expect, it } from 'vitest';
import { defaultSettings } from '../../../functions/config.js';
import { isStaleShardJob, staleShardJobs } from '../../../functions/cli/tick-job-shards.js';
import { describeTopology } from '../../../functions/topology.js';

const BASE = 'projects/p/locations/europe-west1/jobs/pacer-tick';

describe('which listed jobs are tick jobs of shards gone', () => {
  it.each([
    // [job name, shard count, stale]
    [`${BASE}-1`, 1, true],
    [`${BASE}-15`, 1, true],
    [`${BASE}-16`, 4, true],
    [`${BASE}-123`, 4, true],
    [`${BASE}-4`, 4, true],
    [`${BASE}-3`, 4, false],
    [`${BASE}-1`, 2, false],
    [BASE, 1, false],
    [`${BASE}-0`, 1, false],
    [`${BASE}-01`, 1, false],
    [`${BASE}-x`, 1, false],
    [`${BASE}-`, 1, false],
    [`${BASE}-+2`, 1, false],
    [`${BASE}-2.0`, 1, false],
    [`${BASE}-2 `, 1, false],
    [`${BASE}-2-old`, 1, false],
    [`${BASE}x-2`, 1, false],
    ['projects/p/locations/europe-west1/jobs/other-tick-2', 1, false],
    ['projects/p/locations/us-central1/jobs/pacer-tick-2', 1, false],
    ['projects/q/locations/europe-west1/jobs/pacer-tick-2', 1, false],
  ] as const)('%s with %i shard(s): %s', (name, count, stale) => {
    expect(isStaleShardJob(name, BASE, count)).toBe(stale);
  });

  it('keeps the listed order and names them after the topology’s tick job', () => {
    const topology = describeTopology(defaultSettings());
    const listed = [`${BASE}-3`, `${BASE}-x`, BASE, `${BASE}-1`, `${BASE}-2`];
    expect(staleShardJobs(listed, 'p', 'europe-west1', topology, 2)).toEqual([
      `${BASE}-3`,
      `${BASE}-2`,
    ]);
    expect(staleShardJobs(listed, 'p', 'europe-west1', topology, 1)).toEqual([
      `${BASE}-3`,
      `${BASE}-1`,
      `${BASE}-2`,
    ]);
  });
});
