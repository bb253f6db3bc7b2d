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
  revertReplay,
  type DeadLetterRecord,
} from '../../../functions/store/dead-letters.js';
import { completeRun, startAttempt } from '../../../functions/store/runs.js';
import {
  DEAD_LETTERS,
  leaseData,
  readState,
  SCHEDULES,
  timestamp,
} from '../../../functions/store/state.js';
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
async function superseded(
  id: string,
  extra: Record<string, unknown> = {},
  letterDueAt = at('02:00'),
  seed = true,
) {
  if (seed) await seedOwn(id, extra);
  const leaseId = `${id}-${new Date(letterDueAt).toISOString().slice(11, 16)}`;
  const letter: DeadLetterRecord = {
    reason: 'attempts_exhausted',
    scheduleId: id,
    leaseId,
    lane: 'low',
    dueAt: letterDueAt,
    attempts: 5,
    lastError: { code: 'target_unavailable', message: 'HTTP 503' },
    sourceSubscription: 'pacer-low-push',
    message: { data: '{}', attributes: {} },
    recordedAt: letterDueAt + 10 * 60_000,
  };
  await createDeadLetter(db, leaseId, letter);
  return leaseId;
}

async function seedOwn(id: string, extra: Record<string, unknown>) {
  await seedSchedules(db, [
    {
      id,
      spec: intervalSpec('1h', extra),
      lane: 'low',
      nextDueAt: at('06:00'),
      state: { dueAt: timestamp(at('05:00')), runCount: 4, lastLeaseId: 'lease-0500' },
    },
  ]);
}

function complete(id: string, leaseId: string, now: number, dueAt: number) {
  return startAttempt(db, {
    scheduleId: id,
    leaseId,
    attemptId: 'a1',
    now,
    leaseMs: 60_000,
    maxAttempts: 5,
    expireAt: now + 86_400_000,
    thresholds,
  }).then(() =>
    completeRun(db, {
      scheduleId: id,
      leaseId,
      attemptId: 'a1',
      now: now + 4_000,
      dueAt,
      startedAt: now,
      attempt: 1,
      thresholds,
    }),
  );
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
      dueAt: at('05:00'), // the schedule's own last point, for a later re-plan to anchor on
      lease: null,
      runCount: 5,
    });
  });

  it('twice, the first replay lapsed: the second still resumes at 06:00', async () => {
    const first = await superseded('twice', {}, at('02:00'));
    const second = await superseded('twice', {}, at('03:00'), false);
    await claimForReplay(db, {
      id: first,
      leaseId: 'replay-a',
      now: at('05:20'),
      until: at('05:22'),
      thresholds,
    });
    // The first replay's message never reached a worker; the second replay takes the schedule.
    const claim = await claimForReplay(db, {
      id: second,
      leaseId: 'replay-b',
      now: at('05:31'),
      until: at('05:33'),
      thresholds,
    });
    expect(claim).toMatchObject({ kind: 'claimed', dueAt: at('03:00') });
    expect((await state('twice')).lease).toMatchObject({
      resumeAt: at('06:00'),
      resumeDueAt: at('05:00'),
    });

    expect(await complete('twice', 'replay-b', at('05:32'), at('03:00'))).toMatchObject({
      kind: 'completed',
      nextDueAt: at('06:00'),
    });
    expect((await state('twice')).dueAt).toBe(at('05:00'));
  });

  it('whose publish failed is undone: the schedule owes what it owed, on its grid; the letter is open', async () => {
    await seedSchedules(db, [
      {
        id: 'reverted',
        spec: intervalSpec('1h'),
        lane: 'low',
        // The 05:00 dispatch lapsed at 05:02 without a worker: it still owes 05:00.
        nextDueAt: at('05:02'),
        state: {
          dueAt: timestamp(at('05:00')),
          runCount: 4,
          lease: leaseData({
            id: 'lapsed',
            until: at('05:02'),
            attempt: 0,
            dispatchedAt: at('05:00'),
            startedAt: null,
            running: false,
            attemptId: null,
            resumeAt: null,
            resumeDueAt: null,
          }),
        },
      },
    ]);
    const letterId = await superseded('reverted', {}, at('02:00'), false);
    const claim = await claimForReplay(db, {
      id: letterId,
      leaseId: 'replay-r',
      now: at('05:30'),
      until: at('05:32'),
      thresholds,
    });
    if (claim.kind !== 'claimed') throw new Error(`not claimed: ${claim.kind}`);

    const reverted = await revertReplay(db, {
      id: letterId,
      scheduleId: 'reverted',
      leaseId: 'replay-r',
      now: at('05:30'),
      previous: claim.previous,
    });

    expect(reverted).toBe('reverted');
    expect(await state('reverted')).toMatchObject({
      lease: null,
      nextDueAt: at('05:00'), // not 05:02, the lapsed lease's end: that would shift the grid
      dueAt: at('05:00'),
    });
    const letter = (await db.collection(DEAD_LETTERS).doc(letterId).get()).data();
    expect(letter).toMatchObject({ replayedAt: null, replayLeaseId: null, replayCount: 0 });
  });

  it('is not undone once a worker has started under it', async () => {
    const letterId = await superseded('started');
    const claim = await claimForReplay(db, {
      id: letterId,
      leaseId: 'replay-s',
      now: at('05:30'),
      until: at('05:32'),
      thresholds,
    });
    if (claim.kind !== 'claimed') throw new Error(`not claimed: ${claim.kind}`);
    await startAttempt(db, {
      scheduleId: 'started',
      leaseId: 'replay-s',
      attemptId: 'a1',
      now: at('05:30'),
      leaseMs: 60_000,
      maxAttempts: 5,
      expireAt: at('05:30') + 86_400_000,
      thresholds,
    });

    const reverted = await revertReplay(db, {
      id: letterId,
      scheduleId: 'started',
      leaseId: 'replay-s',
      now: at('05:30'),
      previous: claim.previous,
    });

    expect(reverted).toBe('started');
    expect((await state('started')).lease).toMatchObject({ id: 'replay-s', running: true });
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
    await runSubTick(deps, settings, 0);

    // Not claimed (a claim would hold a lease), and waiting for its own next point again.
    expect(await state('lapses')).toMatchObject({
      nextDueAt: at('06:00'),
      dueAt: at('05:00'),
      lease: null,
    });
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
