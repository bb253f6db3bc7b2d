/**
 * `pacer status` against seeded data: live due and in-flight counts per lane, the planner's
 * recent sub-tick summaries, failing and invalid schedules, open dead letters.
 */
import { Timestamp } from '@google-cloud/firestore';
import { describe, expect, it } from 'vitest';
import type { StatusResult } from '../../../functions/cli/status.js';
import { perLane } from '../../../functions/planner/plan.js';
import type { SubTickSummary } from '../../../functions/planner/tick.js';
import { FirestoreStore } from '../../../functions/store/firestore.js';
import { leaseData, STATS_DOC } from '../../../functions/store/state.js';
import { pacerJson, runPacer } from '../../support/cli.js';
import { useTestProject } from '../../support/emulators.js';
import { intervalSpec, seedSchedules } from '../../support/fixtures.js';

const project = useTestProject('cli-status');
const { env, firestore: db } = project;
const MIN = 60_000;

function summary(at: number, subTick: number, durationMs: number): SubTickSummary {
  return {
    at: new Date(at).toISOString(),
    subTick,
    durationMs,
    documentsRead: 10,
    lanes: perLane((lane) => ({
      due: lane === 'high' ? 60 : 2,
      dispatched: lane === 'high' ? 50 : 2,
      deferred: lane === 'high' ? 10 : 0,
      inFlight: 0,
      oldestLagMs: lane === 'high' ? 4_000 : null,
    })),
    claimed: 52,
    conflicts: 0,
    published: 52,
    publishFailed: 0,
    claimFailed: 0,
    escalated: 0,
    released: 0,
    invalid: 0,
    paused: 0,
    errors: 0,
    skipped: 0,
  };
}

function deadLetter(id: string, recordedAt: number) {
  return new FirestoreStore(db).createDeadLetter(id, {
    reason: 'permanent_failure',
    scheduleId: 'failing-1',
    leaseId: id,
    lane: 'low',
    dueAt: recordedAt - MIN,
    attempts: 1,
    lastError: { code: 'target_rejected', message: 'HTTP 404' },
    sourceSubscription: null,
    message: { data: '{}', attributes: {} },
    recordedAt,
  });
}

describe('pacer status, against the emulators', () => {
  it('reports per lane due now, in flight, deferred and oldest lag, recent sub-ticks, failing schedules and open dead letters', async () => {
    const now = Date.now();
    await seedSchedules(db, [
      ...[1, 2, 3].map((i) => ({
        id: `due-high-${i}`,
        spec: intervalSpec('1m'),
        lane: 'high' as const,
        nextDueAt: now - i * 1_000,
      })),
      { id: 'due-low', spec: intervalSpec('1h'), lane: 'low', nextDueAt: now - MIN },
      { id: 'later-low', spec: intervalSpec('1h'), lane: 'low', nextDueAt: now + 30 * MIN },
      ...[1, 2].map((i) => ({
        id: `running-${i}`,
        // The second is a long sync, run by a job execution that renewed its lease 3 s ago.
        spec:
          i === 2
            ? intervalSpec('5m', { runner: 'job', maxRunSeconds: 3_600 })
            : intervalSpec('5m'),
        lane: 'medium' as const,
        nextDueAt: now + MIN,
        state: {
          lease: leaseData({
            id: `lease-${i}`,
            until: now + MIN,
            attempt: 1,
            running: true,
            attemptId: `attempt-${i}`,
            kind: 'planned',
            dueAt: now - 10_000,
            owedSince: now - 10_000,
            dispatchedAt: now - 5_000,
            startedAt: now - 4_000,
            renewedAt: now - 3_000,
          }),
        },
      })),
      // A long sync whose execution stopped renewing: its lease lapsed, it runs no more.
      {
        id: 'long-lapsed',
        spec: intervalSpec('1h', { runner: 'job', maxRunSeconds: 3_600 }),
        lane: 'low',
        // Due again at its lease's end, for the planner to claim.
        nextDueAt: now - MIN,
        state: {
          lease: leaseData({
            id: 'lease-lapsed',
            until: now - MIN,
            attempt: 1,
            running: true,
            attemptId: 'attempt-lapsed',
            kind: 'planned',
            dueAt: now - 10 * MIN,
            owedSince: now - 10 * MIN,
            dispatchedAt: now - 10 * MIN,
            startedAt: now - 9 * MIN,
            renewedAt: now - 2 * MIN,
          }),
        },
      },
      ...[1, 2].map((i) => ({
        id: `failing-${i}`,
        spec: intervalSpec('1h'),
        lane: 'low' as const,
        nextDueAt: now + 10 * MIN,
        state: { health: 'failing' },
      })),
      {
        id: 'broken',
        spec: intervalSpec('5 min'),
        lane: 'low',
        nextDueAt: null,
        state: { status: 'invalid', error: 'cadence.every: …' },
      },
    ]);
    // Twelve sub-ticks, oldest first, as the planner appends them.
    await db.doc(STATS_DOC).set({
      recent: Array.from({ length: 12 }, (_, i) =>
        summary(now - (12 - i) * 10_000, i % 5, 100 + i),
      ),
    });
    await deadLetter('open-1', now - 2 * MIN);
    await deadLetter('open-2', now - MIN);
    await deadLetter('replayed', now - 3 * MIN);
    await db
      .collection('deadLetters')
      .doc('replayed')
      .update({ replayedAt: new Date(now) });

    const status = await pacerJson<StatusResult>(['status'], env);
    expect(status.project).toBe(project.projectId);
    expect(status.backend).toBe('emulators');
    expect(status.lanes).toEqual([
      { lane: 'high', dueNow: 3, inFlight: 0, deferred: 10, oldestLagMs: 4_000 },
      { lane: 'medium', dueNow: 0, inFlight: 2, deferred: 0, oldestLagMs: null },
      { lane: 'low', dueNow: 2, inFlight: 0, deferred: 0, oldestLagMs: null },
    ]);
    expect(status.lastTickAt).toBe(new Date(now - 10_000).toISOString());
    // The newest ten, newest first.
    expect(status.recentTicks.map((tick) => tick.durationMs)).toEqual([
      111, 110, 109, 108, 107, 106, 105, 104, 103, 102,
    ]);
    expect(status.recentTicks[0]).toMatchObject({ due: 64, dispatched: 54, deferred: 10 });
    expect(status.failing).toEqual({ count: 2, ids: ['failing-1', 'failing-2'] });
    expect(status.invalid).toEqual({ count: 1, ids: ['broken'] });
    expect(status.deadLetters).toEqual({ open: 2 });
    // Only the long sync running under a live lease, with its last heartbeat.
    expect(status.longSyncs).toEqual([
      {
        id: 'running-2',
        leaseId: 'lease-2',
        attempt: 1,
        dueAt: new Date(now - 10_000).toISOString(),
        startedAt: new Date(now - 4_000).toISOString(),
        renewedAt: new Date(now - 3_000).toISOString(),
        until: new Date(now + MIN).toISOString(),
      },
    ]);
    // No Cloud Scheduler on the emulators (test/functions/cli/tick-job.int.test.ts reads one).
    expect(status.tickJob).toEqual({
      checked: false,
      reason: 'the emulators have no Cloud Scheduler (the local stack calls the planner itself)',
    });

    const text = await runPacer(['status'], env);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^high +3 +0 +10 +4\.0s$/m);
    expect(text.stdout).toMatch(/^medium +0 +2 +0 +-$/m);
    expect(text.stdout).toContain('failing schedules:  2 (failing-1, failing-2)');
    expect(text.stdout).toContain('open dead letters:  2 (pacer dead-letters list --open)');
    expect(text.stdout).toContain('tick job:   not checked');
    expect(text.stdout).toContain('long syncs running (runner: job):');
    expect(text.stdout).toMatch(
      /^running-2 +1 +\S+ \S+ \(\d+s ago\) +\S+ \S+ \(\d+s ago\) +\S+ \S+$/m,
    );
    expect(text.stdout).not.toMatch(/^long-lapsed /m);
    // One shard: nothing about shards, as before shards existed.
    expect(status.shards).toBeUndefined();
    expect(text.stdout).not.toContain('shard');
  });

  it('shows each shard’s planner lease and recent sub-ticks, labelled by shard, with PACER_SHARDS above 1', async () => {
    const now = Date.now();
    const withLag = (at: number, subTick: number, deferredHigh: number, lagHigh: number) => {
      const base = summary(at, subTick, 200 + subTick);
      return {
        ...base,
        lanes: {
          ...base.lanes,
          high: { ...base.lanes.high, deferred: deferredHigh, oldestLagMs: lagHigh },
        },
      };
    };
    // Shard 0 (pacer/stats, lease pacer/planner-0) planning now; shard 1 released its lease
    // after its last tick; shard 2 has never run.
    await db.doc(STATS_DOC).set({
      recent: [withLag(now - 30_000, 1, 1, 1_000), withLag(now - 20_000, 2, 3, 2_000)],
    });
    await db.doc('pacer/stats-1').set({
      recent: [1, 2, 3].map((i) => withLag(now - 60_000 + i * 10_000, i, 4, 7_000 + i)),
    });
    await db.doc('pacer/planner-0').set({
      leaseId: 'lease-p0',
      holder: 'planner-a/123',
      until: Timestamp.fromMillis(now + 40_000),
    });
    await db.doc('pacer/planner-1').set({
      leaseId: 'lease-p1',
      holder: 'planner-b/456',
      until: Timestamp.fromMillis(now - 5_000),
      releasedAt: Timestamp.fromMillis(now - 5_000),
    });
    const sharded = { ...env, PACER_SHARDS: '3' };

    const status = await pacerJson<StatusResult>(['status'], sharded);

    expect(status.shards).toEqual([
      {
        shard: 0,
        plannerLease: {
          doc: 'pacer/planner-0',
          held: true,
          holder: 'planner-a/123',
          until: new Date(now + 40_000).toISOString(),
        },
        statsDoc: 'pacer/stats',
        lastTickAt: new Date(now - 20_000).toISOString(),
        lanes: [
          { lane: 'high', deferred: 3, oldestLagMs: 2_000 },
          { lane: 'medium', deferred: 0, oldestLagMs: null },
          { lane: 'low', deferred: 0, oldestLagMs: null },
        ],
        recentTicks: [
          {
            at: new Date(now - 20_000).toISOString(),
            subTick: 2,
            durationMs: 202,
            due: 64,
            dispatched: 54,
            deferred: 3,
          },
          {
            at: new Date(now - 30_000).toISOString(),
            subTick: 1,
            durationMs: 201,
            due: 64,
            dispatched: 54,
            deferred: 1,
          },
        ],
      },
      expect.objectContaining({
        shard: 1,
        plannerLease: {
          doc: 'pacer/planner-1',
          held: false,
          holder: 'planner-b/456',
          until: new Date(now - 5_000).toISOString(),
        },
        statsDoc: 'pacer/stats-1',
        lastTickAt: new Date(now - 30_000).toISOString(),
      }),
      {
        shard: 2,
        plannerLease: { doc: 'pacer/planner-2', held: false, holder: null, until: null },
        statsDoc: 'pacer/stats-2',
        lastTickAt: null,
        lanes: [
          { lane: 'high', deferred: null, oldestLagMs: null },
          { lane: 'medium', deferred: null, oldestLagMs: null },
          { lane: 'low', deferred: null, oldestLagMs: null },
        ],
        recentTicks: [],
      },
    ]);
    expect(status.shards?.[1]?.recentTicks.map((tick) => tick.subTick)).toEqual([3, 2, 1]);
    // Every shard's newest sub-tick: deferred added up, the largest lag; the newest last tick.
    expect(status.lanes[0]).toMatchObject({ lane: 'high', deferred: 3 + 4, oldestLagMs: 7_003 });
    expect(status.lastTickAt).toBe(new Date(now - 20_000).toISOString());
    // Shard 0's, as with one shard.
    expect(status.recentTicks.map((tick) => tick.subTick)).toEqual([2, 1]);

    const text = await runPacer(['status'], sharded);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('planner shards (PACER_SHARDS=3;');
    expect(text.stdout).toMatch(
      /^ +0 +pacer\/planner-0 +by planner-a\/123 until \S+ \S+Z +\S+ \S+Z \(\d+s ago\) +202ms +2 +128 +108 +4$/m,
    );
    expect(text.stdout).toMatch(
      /^ +1 +pacer\/planner-1 +free +\S+ \S+Z \(\d+s ago\) +203ms +3 +192 +162 +12$/m,
    );
    expect(text.stdout).toMatch(/^ +2 +pacer\/planner-2 +free +never +- +0 +0 +0 +0$/m);
    expect(text.stdout).toContain('recent sub-ticks of shard 0 (pacer/stats), newest first:');
    expect(text.stdout).toMatch(/^high +\d+ +\d+ +7 +7\.0s$/m);
  });
});
