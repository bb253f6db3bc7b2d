/**
 * `pacer dead-letters list|replay` against the emulators: listing newest first, only the open
 * ones, and a replay that really dispatches the schedule to its lane's topic.
 */
import { describe, expect, it } from 'vitest';
import type { DeadLetterList, ReplayResult } from '../../../functions/cli/dead-letters.js';
import { defaultSettings } from '../../../functions/config.js';
import { perLane } from '../../../functions/planner/plan.js';
import { FirestoreStore } from '../../../functions/store/firestore.js';
import type { DeadLetterRecord } from '../../../functions/store/port.js';
import { DEAD_LETTERS, millis } from '../../../functions/store/state.js';
import { existingState } from '../../support/schedule-docs.js';
import { describeTopology } from '../../../functions/topology.js';
import { pacerJson, runPacer } from '../../support/cli.js';
import { useTestProject } from '../../support/emulators.js';
import { intervalSpec, seedSchedules } from '../../support/fixtures.js';
import { laneTopicsWithCollector } from '../../support/pubsub.js';

const project = useTestProject('cli-deadletters');
const { env, firestore: db } = project;
const MIN = 60_000;

function record(fields: Partial<DeadLetterRecord> & { recordedAt: number }): DeadLetterRecord {
  return {
    reason: 'attempts_exhausted',
    scheduleId: 'replayable',
    leaseId: null,
    lane: 'medium',
    dueAt: fields.recordedAt - 5 * MIN,
    attempts: 5,
    lastError: { code: 'target_unavailable', message: 'HTTP 503' },
    sourceSubscription: 'pacer-medium-push',
    message: { data: '{}', attributes: {} },
    ...fields,
  };
}

describe('pacer dead-letters, against the emulators', () => {
  it('lists dead letters newest first, only the open ones with --open, and replays one to its lane', async () => {
    const now = Date.now();
    const topics = perLane((lane) => describeTopology(defaultSettings()).lanes[lane].topic);
    const collector = await laneTopicsWithCollector(project.pubsub, topics);
    await seedSchedules(db, [
      { id: 'replayable', spec: intervalSpec('5m'), lane: 'medium', nextDueAt: now + 2 * MIN },
    ]);
    await new FirestoreStore(db).createDeadLetter(
      'lease-old',
      record({ leaseId: 'lease-old', recordedAt: now - 2 * 3_600_000 }),
    );
    await db
      .collection(DEAD_LETTERS)
      .doc('lease-old')
      .update({ replayedAt: new Date(now - 3_600_000) });
    await new FirestoreStore(db).createDeadLetter(
      'lease-a',
      record({ leaseId: 'lease-a', recordedAt: now - 3_600_000 }),
    );
    await new FirestoreStore(db).createDeadLetter(
      'message-x',
      record({
        reason: 'malformed',
        scheduleId: null,
        lane: null,
        dueAt: null,
        attempts: null,
        lastError: null,
        recordedAt: now - 30 * MIN,
      }),
    );

    const all = await pacerJson<DeadLetterList>(['dead-letters', 'list'], env);
    expect(all.deadLetters.map((row) => row.id)).toEqual(['message-x', 'lease-a', 'lease-old']);
    expect(all.deadLetters[1]).toEqual({
      id: 'lease-a',
      recordedAt: new Date(now - 3_600_000).toISOString(),
      reason: 'attempts_exhausted',
      scheduleId: 'replayable',
      lane: 'medium',
      dueAt: new Date(now - 3_600_000 - 5 * MIN).toISOString(),
      attempts: 5,
      lastError: 'target_unavailable: HTTP 503',
      replayedAt: null,
      replayCount: 0,
    });
    const open = await pacerJson<DeadLetterList>(['dead-letters', 'list', '--open'], env);
    expect(open.deadLetters.map((row) => row.id)).toEqual(['message-x', 'lease-a']);
    const table = await runPacer(['dead-letters', 'list'], env);
    expect(table.stdout.split('\n')[0]).toMatch(
      /^ID +RECORDED +REASON +SCHEDULE +ATTEMPTS +LAST ERROR +REPLAYED$/,
    );

    const replayed = await pacerJson<ReplayResult>(['dead-letters', 'replay', 'lease-a'], env);
    expect(replayed).toMatchObject({
      id: 'lease-a',
      kind: 'replayed',
      scheduleId: 'replayable',
      lane: 'medium',
    });
    const [message] = await collector.settle(1);
    expect(message?.lane).toBe('medium');
    expect(message?.message).toMatchObject({
      scheduleId: 'replayable',
      leaseId: replayed.leaseId,
      dueAt: new Date(now - 3_600_000 - 5 * MIN).toISOString(),
    });
    const letter = await db.collection(DEAD_LETTERS).doc('lease-a').get();
    expect(millis(letter.get('replayedAt'))).not.toBeNull();
    expect((await existingState(db, 'replayable')).lease?.id).toBe(replayed.leaseId);
    await collector.close();

    // Replaying again finds the schedule in flight under the replay's lease.
    const refusals: [id: string, why: string][] = [
      ['lease-a', `its schedule is in flight (lease ${replayed.leaseId})`],
      ['message-x', 'it names no schedule (the message was malformed)'],
      ['no-such-letter', 'there is no such dead letter'],
    ];
    for (const [id, message] of refusals) {
      const run = await runPacer(['dead-letters', 'replay', id], env);
      expect(run.code, id).toBe(1);
      expect(run.stderr).toContain(`pacer: cannot replay dead letter "${id}": ${message}`);
    }
  });
});
