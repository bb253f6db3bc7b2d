/**
 * Replaying a dead letter at the store level, on the Firestore emulator: the replay serves the
 * point that failed, and the schedule's own cadence is where it was afterwards — not rewound to
 * the old point, not repeating the points served since — whether the replay completes or its
 * lease lapses undelivered. Only an active schedule is replayed.
 */
import { describe, expect, it } from 'vitest';
import { defaultSettings } from '../../../functions/config.js';
import { runSubTick } from '../../../functions/planner/tick.js';
import {
  claimForReplay,
  createDeadLetter,
  type DeadLetterRecord,
} from '../../../functions/store/dead-letters.js';
import { completeRun, startAttempt } from '../../../functions/store/runs.js';
import { readState, SCHEDULES, timestamp } from '../../../functions/store/state.js';
import { useTestProject } from '../../support/emulators.js';
import { FakeClock, intervalSpec, seedSchedules } from '../../support/fixtures.js';
import { testPlanner } from '../../support/planner.js';

const project = useTestProject('replay');
const db = project.firestore;
const thresholds = defaultSettings().laneThresholds;
const at = (time: string) => Date.parse(`2026-11-22T${time}:00Z`);

/**
 * An hourly schedule whose 02:00 run was dead-lettered; 03:00, 04:00 and 05:00 ran since, so it
 * waits for 06:00.
 */
async function superseded(id: string, extra: Record<string, unknown> = {}) {
  await seedSchedules(db, [
    {
      id,
      spec: intervalSpec('1h', extra),
      lane: 'low',
      nextDueAt: at('06:00'),
      state: { dueAt: timestamp(at('05:00')), runCount: 4, lastLeaseId: 'lease-0500' },
    },
  ]);
  const letter: DeadLetterRecord = {
    reason: 'attempts_exhausted',
    scheduleId: id,
    leaseId: `${id}-0200`,
    lane: 'low',
    dueAt: at('02:00'),
    attempts: 5,
    lastError: { code: 'target_unavailable', message: 'HTTP 503' },
    sourceSubscription: 'pacer-low-push',
    message: { data: '{}', attributes: {} },
    recordedAt: at('02:10'),
  };
  await createDeadLetter(db, letter.leaseId ?? id, letter);
  return letter.leaseId ?? id;
}

async function state(id: string) {
  return readState((await db.collection(SCHEDULES).doc(id).get()).data());
}

describe('replaying a dead letter', () => {
  it('serves the failed point; completing it leaves the schedule waiting for 06:00', async () => {
    const letterId = await superseded('completes');
    const now = at('05:30');
    const claim = await claimForReplay(db, {
      id: letterId,
      leaseId: 'replay-1',
      now,
      until: now + 120_000,
      thresholds,
    });
    expect(claim).toMatchObject({ kind: 'claimed', dueAt: at('02:00') });
    expect((await state('completes')).lease?.resumeAt).toBe(at('06:00'));

    const started = await startAttempt(db, {
      scheduleId: 'completes',
      leaseId: 'replay-1',
      attemptId: 'a1',
      now: now + 1_000,
      leaseMs: 60_000,
      maxAttempts: 5,
      expireAt: now + 86_400_000,
      thresholds,
    });
    expect(started).toMatchObject({ kind: 'started', dueAt: at('02:00') });
    const done = await completeRun(db, {
      scheduleId: 'completes',
      leaseId: 'replay-1',
      attemptId: 'a1',
      now: now + 5_000,
      dueAt: at('02:00'),
      startedAt: now + 1_000,
      attempt: 1,
      thresholds,
    });
    // From 02:00 alone the next point would be 05:00 again, already served.
    expect(done).toMatchObject({ kind: 'completed', nextDueAt: at('06:00') });
    expect(await state('completes')).toMatchObject({
      nextDueAt: at('06:00'),
      lease: null,
      runCount: 5,
    });
  });

  it('whose message is never delivered: the planner gives the schedule back to 06:00, sending nothing', async () => {
    const letterId = await superseded('lapses');
    const now = at('05:30');
    await claimForReplay(db, {
      id: letterId,
      leaseId: 'replay-2',
      now,
      until: now + 120_000,
      thresholds,
    });

    // The planner finds it due when the replay's lease lapses.
    const clock = new FakeClock(now + 121_000);
    const { deps, settings } = testPlanner(project, clock);
    const summary = await runSubTick(deps, settings, 0);

    expect(summary.claimed).toBe(0);
    expect(await state('lapses')).toMatchObject({ nextDueAt: at('06:00'), lease: null });
  });

  it('of a paused schedule is refused and changes nothing', async () => {
    const letterId = await superseded('paused', { enabled: false });
    await db.collection(SCHEDULES).doc('paused').update({ 'state.status': 'paused' });
    const before = (await db.collection(SCHEDULES).doc('paused').get()).data();

    const claim = await claimForReplay(db, {
      id: letterId,
      leaseId: 'replay-3',
      now: at('05:30'),
      until: at('05:32'),
      thresholds,
    });

    expect(claim).toEqual({ kind: 'not_replayable', reason: 'schedule paused is paused' });
    expect((await db.collection(SCHEDULES).doc('paused').get()).data()).toEqual(before);
  });
});
