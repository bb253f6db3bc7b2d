/**
 * `pacer schedules reconcile`: schedules written straight to Firestore while the reconciler
 * function was not deployed (a bulk import) have no state document and are never planned until
 * reconciled. `--all` pages through every schedule and repairs them; after an upgrade, it moves
 * the state an older version kept in the operator's documents into pacer's own.
 */
import { describe, expect, it } from 'vitest';
import type { ReconcileAllResult, ReconcileOneResult } from '../../../functions/cli/schedules.js';
import { leaseData, SCHEDULES, timestamp } from '../../../functions/store/state.js';
import { shardOf } from '../../../functions/schedule/shard.js';
import { allStates, stateOf, writeReconciled } from '../../support/schedule-docs.js';
import { pacerJson, runPacer } from '../../support/cli.js';
import { useTestProject } from '../../support/emulators.js';
import { intervalSpec } from '../../support/fixtures.js';

const project = useTestProject('cli-reconcile');
const { env, firestore: db } = project;

describe('pacer schedules reconcile, against the emulators', () => {
  it('--all repairs every schedule written without state, page by page, and reports counts per outcome', async () => {
    const imported: Record<string, Record<string, unknown>> = {
      'bulk-1': intervalSpec('1m'),
      'bulk-2': intervalSpec('5m'),
      'bulk-3': intervalSpec('1h'),
      'bulk-4': intervalSpec('5 min'),
      'bulk-5': intervalSpec('15m', { enabled: false }),
    };
    const writer = db.bulkWriter();
    for (const [id, fields] of Object.entries(imported)) {
      void writer.set(db.collection(SCHEDULES).doc(id), fields);
    }
    await writer.close();

    const result = await pacerJson<ReconcileAllResult>(
      ['schedules', 'reconcile', '--all', '--page-size', '2'],
      env,
    );
    expect(result).toEqual({
      scanned: 5,
      outcomes: {
        scheduled: 3,
        unchanged: 0,
        in_flight: 0,
        paused: 1,
        finished: 0,
        invalid: 1,
        missing: 0,
      },
      invalid: [
        {
          id: 'bulk-4',
          problems: ['cadence.every: "5 min" is not a duration (use 90s, 5m, 4h, 1d)'],
        },
      ],
      failed: [],
    });
    const states = Object.fromEntries(await allStates(db));
    expect(states['bulk-1']).toMatchObject({ status: 'active', lane: 'high' });
    expect(states['bulk-2']).toMatchObject({ status: 'active', lane: 'medium' });
    expect(states['bulk-3']).toMatchObject({ status: 'active', lane: 'low' });
    expect(states['bulk-1']?.nextDueAt).not.toBeNull();
    expect(states['bulk-4']).toMatchObject({ status: 'invalid', nextDueAt: null });
    expect(states['bulk-5']).toMatchObject({ status: 'paused', nextDueAt: null });

    // Run again: everything is consistent, nothing is written, nothing is newly invalid.
    const again = await runPacer(['schedules', 'reconcile', '--all'], env);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/^scanned 5 schedules\n/);
    expect(again.stdout).toMatch(/^unchanged +5$/m);
    expect(again.stdout).not.toContain('bulk-4');
  });

  it('reconciles one schedule by id, and fails with exit 1 for one that does not exist', async () => {
    await db.collection(SCHEDULES).doc('single').set(intervalSpec('2m'));
    const result = await pacerJson<ReconcileOneResult>(['schedules', 'reconcile', 'single'], env);
    expect(result).toMatchObject({
      id: 'single',
      outcome: 'scheduled',
      schedule: { status: 'active', lane: 'medium' },
    });
    const missing = await runPacer(['schedules', 'reconcile', 'nobody'], env);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe('pacer: no schedule "nobody"\n');
  });

  it('--all after an upgrade moves the state out of the operator’s documents, and deletes orphans', async () => {
    const now = Date.now();
    // Written by a version that kept pacer's state in the operator's document: a lease in
    // flight, and counts that must carry over.
    await db
      .collection(SCHEDULES)
      .doc('upgraded')
      .set({
        ...intervalSpec('1h'),
        state: {
          status: 'active',
          lane: 'low',
          nextDueAt: timestamp(now + 5 * 60_000),
          dueAt: timestamp(now - 60_000),
          lease: leaseData({
            id: 'in-flight',
            kind: 'planned',
            until: now + 5 * 60_000,
            attempt: 2,
            dispatchedAt: now - 30_000,
            startedAt: now - 20_000,
            running: true,
            attemptId: 'a2',
            dueAt: now - 60_000,
            owedSince: now - 60_000,
          }),
          runCount: 9,
        },
      });
    // pacer's document of a schedule whose operator's document was deleted with no trigger.
    await writeReconciled(db, 'orphan', intervalSpec('1m'), {
      status: 'active',
      lane: 'high',
      nextDueAt: timestamp(now - 1_000),
    });
    await db.collection(SCHEDULES).doc('orphan').delete();
    expect(await stateOf(db, 'upgraded')).toBeNull();

    const result = await pacerJson<ReconcileAllResult>(['schedules', 'reconcile', '--all'], env);
    expect(result.failed).toEqual([]);
    expect(result.outcomes.missing).toBe(1);
    expect(result.outcomes.in_flight).toBe(1);
    const upgraded = await stateOf(db, 'upgraded');
    expect(upgraded).toMatchObject({ status: 'active', runCount: 9, nextDueAt: now + 5 * 60_000 });
    expect(upgraded?.lease).toMatchObject({ id: 'in-flight', attempt: 2, running: true });
    expect(await stateOf(db, 'orphan')).toBeNull();
  });

  it('--all with PACER_SHARDS=2 writes each schedule’s shard, so the sharded planners see it', async () => {
    const ids = ['shard-a', 'shard-b', 'shard-c', 'shard-d'];
    for (const id of ids) await db.collection(SCHEDULES).doc(id).set(intervalSpec('1m'));
    await pacerJson<ReconcileAllResult>(['schedules', 'reconcile', '--all'], {
      ...env,
      PACER_SHARDS: '2',
    });
    for (const id of ids) {
      const state = await stateOf(db, id);
      expect(state?.shard, id).toBe(shardOf(id, null, 2));
    }
  });
});
