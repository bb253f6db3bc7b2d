/**
 * Replaying a dead letter on the Firestore emulator, through the operator's command: the replay
 * serves the point that failed and hands the schedule back to its own cadence, and every lease
 * decision is taken at Firestore's time — an operator's clock that runs an hour ahead cannot
 * clear a live lease, one that runs an hour behind cannot make a replay lease that has already
 * lapsed (defect 6 of the protocol issue).
 */
import { describe, expect, it } from 'vitest';
import { closeContext, openContext } from '../../../functions/cli/context.js';
import { replay } from '../../../functions/cli/dead-letters.js';
import { OperationError } from '../../../functions/cli/errors.js';
import { defaultSettings } from '../../../functions/config.js';
import { perLane } from '../../../functions/planner/plan.js';
import { complete, start } from '../../../functions/protocol/decisions.js';
import { FirestoreStore } from '../../../functions/store/firestore.js';
import type { DeadLetterRecord } from '../../../functions/store/port.js';
import { DEAD_LETTERS, leaseData, SCHEDULES } from '../../../functions/store/state.js';
import { existingState, stateRef } from '../../support/schedule-docs.js';
import { describeTopology } from '../../../functions/topology.js';
import { useProjects } from '../../support/emulators.js';
import { intervalSpec, seedSchedules } from '../../support/fixtures.js';
import { laneTopicsWithCollector } from '../../support/pubsub.js';

const projects = useProjects();
const HOUR = 3_600_000;
const thresholds = defaultSettings().laneThresholds;

/**
 * An hourly schedule whose run two hours ago was dead-lettered; the last hour's ran since, so
 * it waits for its next point, half an hour from now.
 */
async function setUp(label: string, seeded: Record<string, unknown> = {}) {
  const project = projects(label);
  const now = Date.now();
  const topics = perLane((lane) => describeTopology(defaultSettings()).lanes[lane].topic);
  const collector = await laneTopicsWithCollector(project.pubsub, topics);
  await seedSchedules(project.firestore, [
    {
      id: 'hourly',
      spec: intervalSpec('1h'),
      lane: 'low',
      nextDueAt: now + HOUR / 2,
      state: { runCount: 4, lastLeaseId: 'last-hour', ...seeded },
    },
  ]);
  const letter: DeadLetterRecord = {
    reason: 'attempts_exhausted',
    scheduleId: 'hourly',
    leaseId: 'two-hours-ago',
    lane: 'low',
    dueAt: now - 2 * HOUR,
    attempts: 5,
    lastError: { code: 'target_unavailable', message: 'HTTP 503' },
    sourceSubscription: 'pacer-low-push',
    message: { data: '{}', attributes: {} },
    recordedAt: now - 2 * HOUR + 600_000,
  };
  const store = new FirestoreStore(project.firestore);
  await store.createDeadLetter('two-hours-ago', letter);
  /** The operator's CLI, with a clock `skewMs` off. */
  const cli = (skewMs: number) =>
    openContext({ project: project.projectId }, project.env, {
      clock: () => Date.now() + skewMs,
      out: { note: () => undefined },
    });
  const state = () => existingState(project.firestore, 'hourly');
  return { project, store, collector, cli, state, now, letter };
}

describe('replaying a dead letter', () => {
  it('serves the failed point, then hands the schedule back to its own next point', async () => {
    const { store, collector, cli, state, now, letter } = await setUp('replay-serves');
    const context = cli(0);
    try {
      const result = await replay(context, 'two-hours-ago');
      expect(result).toMatchObject({ kind: 'replayed', scheduleId: 'hourly', lane: 'low' });
      const [received] = await collector.settle(1);
      expect(received?.message).toMatchObject({
        scheduleId: 'hourly',
        leaseId: result.leaseId,
        dueAt: new Date(letter.dueAt ?? 0).toISOString(),
      });
      // A worker serves it (the decisions a worker takes, at Firestore's time).
      const started = await store.transact('hourly', (subject, storeNow) =>
        start(
          subject,
          {
            leaseId: result.leaseId,
            attemptId: 'a1',
            leaseMs: 60_000,
            maxAttempts: 5,
            expireAt: storeNow + HOUR,
            thresholds,
          },
          storeNow,
        ),
      );
      expect(started).toMatchObject({ kind: 'started', dueAt: letter.dueAt, leaseKind: 'replay' });
      const done = await store.transact('hourly', (subject, storeNow) =>
        complete(
          subject,
          { leaseId: result.leaseId, attemptId: 'a1', startedAt: storeNow, thresholds },
          storeNow,
        ),
      );
      expect(done).toEqual({ kind: 'completed', nextDueAt: now + HOUR / 2, status: 'active' });
      expect(await state()).toMatchObject({ nextDueAt: now + HOUR / 2, lease: null });
    } finally {
      await closeContext(context);
      await collector.close();
    }
  });

  it('from a clock an hour ahead, does not clear a live lease', async () => {
    const now = Date.now();
    const running = leaseData({
      id: 'running',
      kind: 'planned',
      until: now + 60_000,
      attempt: 1,
      dispatchedAt: now - 5_000,
      startedAt: now - 4_000,
      running: true,
      attemptId: 'a1',
      dueAt: now - 5_000,
      owedSince: now - 5_000,
    });
    const { cli, state } = await setUp('replay-ahead', { lease: running });
    const context = cli(HOUR);
    try {
      await expect(replay(context, 'two-hours-ago')).rejects.toThrow(OperationError);
      await expect(replay(context, 'two-hours-ago')).rejects.toThrow(/in flight/);
      expect((await state()).lease?.id).toBe('running');
    } finally {
      await closeContext(context);
    }
  });

  it('from a clock an hour behind, makes a replay lease that holds from Firestore’s now', async () => {
    const { project, cli, state } = await setUp('replay-behind');
    const context = cli(-HOUR);
    try {
      const result = await replay(context, 'two-hours-ago');
      const after = await state();
      const grace = defaultSettings().dispatchGraceSeconds * 1_000;
      expect(after.lease?.id).toBe(result.leaseId);
      // Held for the dispatch grace from now, not lapsed an hour ago.
      expect(after.lease?.until).toBeGreaterThan(Date.now() + grace - 10_000);
      const letter = await project.firestore.collection(DEAD_LETTERS).doc('two-hours-ago').get();
      expect(letter.get('replayLeaseId')).toBe(result.leaseId);
    } finally {
      await closeContext(context);
    }
  });

  it('of a paused schedule is refused and changes nothing', async () => {
    const { project, cli, state } = await setUp('replay-paused', {
      status: 'paused',
      nextDueAt: null,
    });
    await project.firestore.collection(SCHEDULES).doc('hourly').update({ enabled: false });
    // As reconciled: the spec copy in pacer's document says so too.
    await stateRef(project.firestore, 'hourly').update({ 'spec.enabled': false });
    const before = await state();
    const context = cli(0);
    try {
      await expect(replay(context, 'two-hours-ago')).rejects.toThrow(/is paused/);
      expect(await state()).toEqual(before);
    } finally {
      await closeContext(context);
    }
  });
});
