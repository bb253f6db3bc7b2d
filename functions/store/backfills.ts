/**
 * Where backfills keep their progress and read run history: `schedules/{id}/backfills/{id}` and
 * `schedules/{id}/runs`, in Firestore (`FirestoreBackfills`) and in memory (`MemoryBackfills`,
 * for the checker, over the memory store's run records).
 */
import type { DocumentData, Firestore } from '@google-cloud/firestore';
import type { BackfillRecord, BackfillStore } from '../operator/runs.js';
import { isLane } from '../schedule/lane.js';
import { runningBackfillsQuery, runsBetweenQuery } from './queries.js';
import { BACKFILLS, millis, RUNS, SCHEDULES, timestamp } from './state.js';

export { BACKFILLS };

export class FirestoreBackfills implements BackfillStore {
  constructor(private readonly db: Firestore) {}

  private schedule(scheduleId: string) {
    return this.db.collection(SCHEDULES).doc(scheduleId);
  }

  async readBackfill(scheduleId: string, backfillId: string): Promise<BackfillRecord | null> {
    const snapshot = await this.schedule(scheduleId).collection(BACKFILLS).doc(backfillId).get();
    return snapshot.exists ? readBackfill(backfillId, scheduleId, snapshot.data() ?? {}) : null;
  }

  async writeBackfill(record: BackfillRecord): Promise<void> {
    await this.schedule(record.scheduleId)
      .collection(BACKFILLS)
      .doc(record.id)
      .set(backfillData(record));
  }

  async cancelBackfills(scheduleId: string, at: number): Promise<string[]> {
    const running = await runningBackfillsQuery(this.db, scheduleId).get();
    await Promise.all(
      running.docs.map((doc) =>
        doc.ref.update({
          status: 'cancelled',
          cancelledAt: timestamp(at),
          updatedAt: timestamp(at),
        }),
      ),
    );
    return running.docs.map((doc) => doc.id);
  }

  async servedPoints(scheduleId: string, from: number, to: number): Promise<number[]> {
    const runs = await runsBetweenQuery(this.db, scheduleId, from, to).get();
    return runs.docs
      .filter((doc) => doc.get('status') === 'succeeded')
      .map((doc) => millis(doc.get('dueAt')))
      .filter((ms): ms is number => ms !== null);
  }

  async runStatus(scheduleId: string, leaseId: string): Promise<string | null> {
    const run = await this.schedule(scheduleId).collection(RUNS).doc(leaseId).get();
    const status: unknown = run.get('status');
    return typeof status === 'string' ? status : null;
  }
}

/** A backfill record as a Firestore document. */
export function backfillData(record: BackfillRecord): DocumentData {
  return {
    scheduleId: record.scheduleId,
    from: timestamp(record.from),
    to: timestamp(record.to),
    lane: record.lane,
    status: record.status,
    dispatched: record.dispatched.map((point) => ({
      dueAt: timestamp(point.dueAt),
      leaseId: point.leaseId,
      outcome: point.outcome,
    })),
    createdAt: timestamp(record.createdAt),
    updatedAt: timestamp(record.updatedAt),
  };
}

/** A backfill document read back; unreadable parts read as absent. */
export function readBackfill(
  id: string,
  scheduleId: string,
  document: DocumentData,
): BackfillRecord {
  const data = document as Record<string, unknown>;
  const list: unknown[] = Array.isArray(data.dispatched) ? (data.dispatched as unknown[]) : [];
  const dispatched: BackfillRecord['dispatched'] = [];
  for (const entry of list) {
    const point = entry as { dueAt?: unknown; leaseId?: unknown; outcome?: unknown };
    const dueAt = millis(point.dueAt);
    if (dueAt === null || typeof point.leaseId !== 'string') continue;
    const outcome =
      point.outcome === 'succeeded' || point.outcome === 'failed' ? point.outcome : 'queued';
    dispatched.push({ dueAt, leaseId: point.leaseId, outcome });
  }
  const status = data.status === 'done' || data.status === 'cancelled' ? data.status : 'running';
  return {
    id,
    scheduleId,
    from: millis(data.from) ?? 0,
    to: millis(data.to) ?? 0,
    lane: isLane(data.lane) ? data.lane : 'low',
    status,
    dispatched,
    createdAt: millis(data.createdAt) ?? 0,
    updatedAt: millis(data.updatedAt) ?? 0,
  };
}

/** Backfills in memory, over a memory store's run records (the checker's). */
export class MemoryBackfills implements BackfillStore {
  private readonly records = new Map<string, BackfillRecord>();

  constructor(private readonly runs: (scheduleId: string) => Record<string, unknown>[]) {}

  readBackfill(scheduleId: string, backfillId: string): Promise<BackfillRecord | null> {
    const record = this.records.get(`${scheduleId}/${backfillId}`);
    return Promise.resolve(record === undefined ? null : structuredClone(record));
  }

  writeBackfill(record: BackfillRecord): Promise<void> {
    this.records.set(`${record.scheduleId}/${record.id}`, structuredClone(record));
    return Promise.resolve();
  }

  cancelBackfills(scheduleId: string, at: number): Promise<string[]> {
    const ids: string[] = [];
    for (const record of this.records.values()) {
      if (record.scheduleId !== scheduleId || record.status !== 'running') continue;
      record.status = 'cancelled';
      record.updatedAt = at;
      ids.push(record.id);
    }
    return Promise.resolve(ids);
  }

  servedPoints(scheduleId: string, from: number, to: number): Promise<number[]> {
    return Promise.resolve(
      this.runs(scheduleId)
        .filter((run) => run.status === 'succeeded')
        .map((run) => run.dueAt)
        .filter(
          (dueAt): dueAt is number => typeof dueAt === 'number' && dueAt >= from && dueAt <= to,
        ),
    );
  }

  runStatus(scheduleId: string, leaseId: string): Promise<string | null> {
    const run = this.runs(scheduleId).find((record) => record.leaseId === leaseId);
    return Promise.resolve(typeof run?.status === 'string' ? run.status : null);
  }
}
