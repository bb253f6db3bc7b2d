/**
 * The store port's contract, run against every adapter: Firestore on the emulator
 * (firestore.int.test.ts) and memory (memory.test.ts). What the protocol relies on — a
 * transaction's decision sees the document and the store's time and its patch lands whole; a
 * conditional write refuses a changed document; the queries answer as the indexed ones do — is
 * stated once, here.
 */
import { describe, expect, it } from 'vitest';
import { specHash, type Subject } from '../../../functions/protocol/decisions.js';
import type { Patch } from '../../../functions/protocol/patch.js';
import {
  acquirePlanner,
  releasePlanner,
  renewPlanner,
  type PlannerLeaseState,
} from '../../../functions/protocol/planner-lease.js';
import { EMPTY_STATE, type Lease, type ScheduleState } from '../../../functions/protocol/state.js';
import type {
  DeadLetterStore,
  PlannerStore,
  ScheduleStore,
} from '../../../functions/store/port.js';
import { decideOptimistically } from '../../../functions/store/optimistic.js';
import { ReadMeter } from '../../../functions/store/queries.js';
import type { Shard } from '../../../functions/schedule/shard.js';

export interface StoreHarness {
  store: ScheduleStore & DeadLetterStore & PlannerStore;
  /**
   * Writes a schedule as if reconciled: the operator's document (`data`) and pacer's (`data` as
   * its spec copy, and a state).
   */
  seed(id: string, data: Record<string, unknown>, state?: Partial<ScheduleState>): Promise<void>;
  /** The operator writes (creates or replaces) `schedules/{id}` and nothing else. */
  operatorWrite(id: string, data: Record<string, unknown>): Promise<void>;
  /** The operator's document as a version before pacer's own document wrote it: fields and state. */
  seedOldState(
    id: string,
    data: Record<string, unknown>,
    state: Partial<ScheduleState>,
  ): Promise<void>;
  /** The operator's document: its fields and when it was last written; `null` when none. */
  operatorDocument(id: string): Promise<{ data: Record<string, unknown>; version: unknown } | null>;
  /** The schedule's state as stored, `null` when it does not exist. */
  state(id: string): Promise<ScheduleState | null>;
  /** Its run records, times in ms, each with its lease id. */
  runs(id: string): Promise<Record<string, unknown>[]>;
  letter(id: string): Promise<{ replayCount: number; replayLeaseId: string | null } | null>;
  setLiveConfig(fields: Record<string, unknown>): Promise<void>;
  /** The operator deletes `schedules/{id}` (pacer's document stays until reconciled). */
  deleteSchedule(id: string): Promise<void>;
  /** The store's time now, as well as a test can tell. */
  now(): number;
  /** The same store as planner `shard` sees it (functions/schedule/shard.ts). */
  inShard(shard: Shard): ScheduleStore & PlannerStore;
  /** Documents read so far, as Firestore bills them, where the adapter counts them (memory). */
  billedReads?(): number;
}

const DOCUMENT = {
  name: 'conformance',
  cadence: { kind: 'interval', every: '1m' },
  target: { type: 'http', url: 'https://target.example.com/sync' },
};
const MINUTE = 60_000;

function lease(now: number, fields: Partial<Lease> = {}): Lease {
  return {
    id: 'L1',
    kind: 'planned',
    until: now + MINUTE,
    attempt: 1,
    dispatchedAt: now - 1_000,
    startedAt: now - 500,
    running: true,
    attemptId: 'a1',
    dueAt: now - 2_000,
    owedSince: now - 3_000,
    ...fields,
  };
}

/** Registers the contract's tests for one adapter; `open` gives a fresh store per test. */
export function describeStoreConformance(adapter: string, open: () => StoreHarness): void {
  describe(`the ${adapter} store`, () => {
    it('hands a transaction the document, its state, its validation and the store’s time', async () => {
      const h = open();
      const now = h.now();
      await h.seed('s', DOCUMENT, { status: 'active', lane: 'high', nextDueAt: now - MINUTE });
      let seen: { subject: Subject | null; now: number } | undefined;
      const outcome = await h.store.transact('s', (subject, storeNow) => {
        seen = { subject, now: storeNow };
        return { outcome: 'read', patch: null };
      });
      expect(outcome).toBe('read');
      expect(seen?.subject?.id).toBe('s');
      expect(seen?.subject?.data.name).toBe('conformance');
      expect(seen?.subject?.validation.ok).toBe(true);
      expect(seen?.subject?.state).toMatchObject({
        status: 'active',
        lane: 'high',
        nextDueAt: now - MINUTE,
      });
      expect(Math.abs((seen?.now ?? 0) - h.now())).toBeLessThan(5_000);
    });

    it('hands a transaction null for a document that does not exist, and writes nothing', async () => {
      const h = open();
      const outcome = await h.store.transact('nobody', (subject) => ({
        outcome: subject,
        patch: { state: { status: 'active' } },
      }));
      expect(outcome).toBeNull();
      expect(await h.state('nobody')).toBeNull();
    });

    it('writes a patch whole: every state field as given, read back exactly, and its run record', async () => {
      const h = open();
      const now = h.now();
      await h.seed('s', DOCUMENT, { status: 'active', lane: 'high', nextDueAt: now });
      const state: ScheduleState = {
        ...EMPTY_STATE,
        status: 'active',
        lane: 'medium',
        nextDueAt: now + MINUTE,
        dueAt: now - MINUTE,
        escalatesAt: now + 10 * MINUTE,
        lease: lease(now),
        lastRunAt: now - 2 * MINUTE,
        lastSuccessAt: now - 2 * MINUTE + 900,
        lastDurationMs: 900,
        lastError: { code: 'target_unavailable', message: '503', at: now - 5_000 },
        consecutiveFailures: 2,
        runCount: 7,
        lastLeaseId: 'L0',
        lastSkippedDueAt: now - 3 * MINUTE,
        skippedCount: 1,
        specHash: specHash(DOCUMENT),
        error: null,
        health: 'failing',
      };
      const patch: Patch = {
        state,
        run: {
          leaseId: 'L1',
          fields: {
            scheduleId: 's',
            status: 'running',
            attempt: 1,
            dueAt: now - 2_000,
            expireAt: now + 86_400_000,
          },
          appendError: { attempt: 1, code: 'x', message: 'first', at: now },
        },
      };
      await h.store.transact('s', () => ({ outcome: null, patch }));
      expect(await h.state('s')).toEqual(state);
      await h.store.transact('s', () => ({
        outcome: null,
        patch: {
          state: {
            lease: {
              ...lease(now),
              kind: 'replay',
              running: false,
              attemptId: null,
              startedAt: null,
            },
          },
          run: {
            leaseId: 'L1',
            fields: { status: 'retrying', attempt: 2 },
            appendError: { attempt: 2, code: 'y', message: 'second', at: now + 1 },
          },
        },
      }));
      expect((await h.state('s'))?.lease).toMatchObject({
        kind: 'replay',
        running: false,
        startedAt: null,
      });
      const [run] = await h.runs('s');
      expect(run).toMatchObject({
        leaseId: 'L1',
        scheduleId: 's',
        status: 'retrying',
        attempt: 2,
        dueAt: now - 2_000,
      });
      expect((run?.errors as { message: string }[]).map((e) => e.message)).toEqual([
        'first',
        'second',
      ]);
    });

    it('serializes transactions on one schedule: concurrent increments all land', async () => {
      const h = open();
      await h.seed('s', DOCUMENT, { status: 'active', runCount: 0 });
      await Promise.all(
        Array.from({ length: 8 }, () =>
          h.store.transact('s', (subject) => ({
            outcome: null,
            patch: { state: { runCount: (subject?.state.runCount ?? 0) + 1 } },
          })),
        ),
      );
      expect((await h.state('s'))?.runCount).toBe(8);
    });

    it('writes conditionally: at the version read, never over a change or a deletion', async () => {
      const h = open();
      const now = h.now();
      await h.seed('a', DOCUMENT, { status: 'active', lane: 'high', nextDueAt: now - 1 });
      await h.seed('b', DOCUMENT, { status: 'active', lane: 'high', nextDueAt: now - 2 });
      const { schedules } = await h.store.readDue('high', now, 10, new ReadMeter());
      const read = new Map(schedules.map((s) => [s.id, s]));
      const a = read.get('a');
      const b = read.get('b');
      if (a === undefined || b === undefined) throw new Error('not read');
      await h.store.transact('a', () => ({ outcome: null, patch: { state: { runCount: 5 } } }));
      await h.deleteSchedule('b');
      await h.store.transactReconcile('b', () => ({ outcome: null, patch: null }));
      const [changed, deleted] = await h.store.writeIfUnchanged([
        { schedule: a, patch: { state: { nextDueAt: now + MINUTE } } },
        { schedule: b, patch: { state: { nextDueAt: now + MINUTE } } },
      ]);
      expect(changed).toEqual({ kind: 'conflict' });
      expect(deleted).toEqual({ kind: 'conflict' });
      expect((await h.state('a'))?.nextDueAt).toBe(now - 1);

      const again = (await h.store.readDue('high', now, 10, new ReadMeter())).schedules[0];
      if (again === undefined) throw new Error('not read again');
      const [first] = await h.store.writeIfUnchanged([
        { schedule: again, patch: { state: { lane: 'low' } } },
      ]);
      expect(first?.kind).toBe('written');
      if (first?.kind !== 'written') return;
      // The version a write returns is the one the next conditional write is based on.
      const [second] = await h.store.writeIfUnchanged([
        { schedule: { id: 'a', version: first.version }, patch: { state: { lane: 'medium' } } },
      ]);
      expect(second?.kind).toBe('written');
      expect((await h.state('a'))?.lane).toBe('medium');
    });

    it('reads a schedule with the store’s time, and commits a patch with its run record only at the version read', async () => {
      const h = open();
      await h.seed('s', DOCUMENT, { status: 'active', runCount: 1 });
      const before = h.now();
      const { schedule, now } = await h.store.read('s');
      expect(schedule?.state.runCount).toBe(1);
      expect(now).toBeGreaterThanOrEqual(before - 1_000);
      if (schedule === null) throw new Error('not read');
      expect((await h.store.read('missing')).schedule).toBeNull();

      const patch: Patch = {
        state: { runCount: 2 },
        run: { leaseId: 'L9', fields: { scheduleId: 's', status: 'running', attempt: 1 } },
      };
      const written = await h.store.commitIfUnchanged('s', schedule.version, patch, now);
      expect(written.kind).toBe('written');
      expect((await h.state('s'))?.runCount).toBe(2);
      expect(await h.runs('s')).toEqual([
        expect.objectContaining({ leaseId: 'L9', status: 'running' }),
      ]);
      // The same version again: someone (this very commit) wrote since; nothing lands, no record.
      const stale = await h.store.commitIfUnchanged(
        's',
        schedule.version,
        { state: { runCount: 7 }, run: { leaseId: 'L10', fields: { status: 'running' } } },
        now,
      );
      expect(stale).toEqual({ kind: 'conflict' });
      expect((await h.state('s'))?.runCount).toBe(2);
      expect((await h.runs('s')).map((run) => run.leaseId)).toEqual(['L9']);
      // The version a commit returns is what the next one is based on.
      if (written.kind !== 'written') return;
      const next = await h.store.commitIfUnchanged(
        's',
        written.version,
        { state: { runCount: 3 } },
        now,
      );
      expect(next.kind).toBe('written');
    });

    it('decides optimistically: a write in between makes it read and decide again', async () => {
      const h = open();
      await h.seed('s', DOCUMENT, { status: 'active', runCount: 0 });
      let reads = 0;
      // Another writer lands between the first read and its write.
      const interfered: ScheduleStore = Object.create(h.store, {
        read: {
          value: async (id: string) => {
            const read = await h.store.read(id);
            if (++reads === 1) {
              await h.store.transact(id, () => ({
                outcome: null,
                patch: { state: { runCount: 10 } },
              }));
            }
            return read;
          },
        },
      }) as ScheduleStore;
      const decided = await decideOptimistically(interfered, 's', (subject) => ({
        outcome: subject?.state.runCount,
        patch: { state: { runCount: (subject?.state.runCount ?? 0) + 1 } },
      }));
      expect(reads).toBe(2);
      expect(decided.outcome).toBe(10);
      expect((await h.state('s'))?.runCount).toBe(11);
      expect(decided.written?.subject.state.runCount).toBe(11);
      // What it wrote is the version to write on next, without a read.
      const version = decided.written?.version;
      if (version === undefined) throw new Error('nothing written');
      const next = await h.store.commitIfUnchanged(
        's',
        version,
        { state: { runCount: 12 } },
        h.now(),
      );
      expect(next.kind).toBe('written');
    });

    it('answers the planner’s queries: due by lane, most overdue first; in flight; escalations', async () => {
      const h = open();
      const now = h.now();
      await h.seed('late', DOCUMENT, {
        status: 'active',
        lane: 'high',
        nextDueAt: now - 3 * MINUTE,
      });
      await h.seed('later-b', DOCUMENT, {
        status: 'active',
        lane: 'high',
        nextDueAt: now - MINUTE,
      });
      await h.seed('later-a', DOCUMENT, {
        status: 'active',
        lane: 'high',
        nextDueAt: now - MINUTE,
      });
      await h.seed('future', DOCUMENT, { status: 'active', lane: 'high', nextDueAt: now + MINUTE });
      await h.seed('medium', DOCUMENT, {
        status: 'active',
        lane: 'medium',
        nextDueAt: now - MINUTE,
        escalatesAt: now - 1,
      });
      await h.seed('held', DOCUMENT, {
        status: 'active',
        lane: 'high',
        nextDueAt: now + MINUTE,
        lease: lease(now),
      });
      await h.seed('lapsed', DOCUMENT, {
        status: 'active',
        lane: 'high',
        nextDueAt: now - 2 * MINUTE,
        lease: lease(now, { id: 'L9', until: now - 2 * MINUTE }),
      });
      const meter = new ReadMeter();
      const due = await h.store.readDue('high', now, 3, meter);
      expect(due.schedules.map((s) => s.id)).toEqual(['late', 'lapsed', 'later-a']);
      expect(Math.abs(due.readTime - h.now())).toBeLessThan(5_000);
      expect(await h.store.countDue('high', now, meter)).toBe(4);
      expect(await h.store.countDue('medium', now, meter)).toBe(1);
      expect(await h.store.countInFlight('high', now, meter)).toBe(1);
      const escalations = await h.store.readEscalations(now, 10, meter);
      expect(escalations.schedules.map((s) => s.id)).toEqual(['medium']);
      expect(meter.documents).toBeGreaterThan(0);
      // Every lane in one query: what the lanes' reads return together, most overdue first.
      const byLane = [
        ...(await h.store.readDue('high', now, 10, meter)).schedules,
        ...(await h.store.readDue('medium', now, 10, meter)).schedules,
        ...(await h.store.readDue('low', now, 10, meter)).schedules,
      ]
        .sort(
          (a, b) => (a.state.nextDueAt ?? 0) - (b.state.nextDueAt ?? 0) || (a.id < b.id ? -1 : 1),
        )
        .map((s) => s.id);
      expect(byLane).toHaveLength(5);
      const all = await h.store.readDueAllLanes(now, 10, meter);
      expect(all.schedules.map((s) => s.id)).toEqual(byLane);
      expect(Math.abs(all.readTime - h.now())).toBeLessThan(5_000);
      expect((await h.store.readDueAllLanes(now, 2, meter)).schedules.map((s) => s.id)).toEqual(
        byLane.slice(0, 2),
      );
    });

    it('reads the escalations of the medium and low lanes in one query, most overdue first', async () => {
      const h = open();
      const now = h.now();
      const waiting = (lane: 'high' | 'medium' | 'low', escalatesAt: number) =>
        ({ status: 'active', lane, nextDueAt: now - MINUTE, escalatesAt }) as const;
      await h.seed('medium-late', DOCUMENT, waiting('medium', now - 3 * MINUTE));
      await h.seed('low-later', DOCUMENT, waiting('low', now - 2 * MINUTE));
      await h.seed('low-latest', DOCUMENT, waiting('low', now - MINUTE));
      await h.seed('medium-ahead', DOCUMENT, waiting('medium', now + MINUTE));
      // The high lane has nothing to escalate to: never read, whatever it holds.
      await h.seed('high', DOCUMENT, waiting('high', now - 4 * MINUTE));
      const meter = new ReadMeter();
      const all = await h.store.readEscalations(now, 10, meter);
      expect(all.schedules.map((s) => s.id)).toEqual(['medium-late', 'low-later', 'low-latest']);
      expect(meter.documents).toBe(3);
      const first = await h.store.readEscalations(now, 2, meter);
      expect(first.schedules.map((s) => s.id)).toEqual(['medium-late', 'low-later']);
      const none = new ReadMeter();
      expect((await h.store.readEscalations(now - 5 * MINUTE, 10, none)).schedules).toEqual([]);
      expect(none.documents).toBe(1);
    });

    it('records a dead letter once, replays it with its schedule in one transaction, and reverts', async () => {
      const h = open();
      const now = h.now();
      await h.seed('s', DOCUMENT, { status: 'active', lane: 'high', nextDueAt: now + MINUTE });
      const record = {
        reason: 'permanent_failure',
        scheduleId: 's',
        leaseId: 'L1',
        lane: 'high' as const,
        dueAt: now - MINUTE,
        attempts: 1,
        lastError: { code: 'target_rejected', message: '400' },
        sourceSubscription: 'pacer-high-push',
        message: { data: '{}', attributes: {} },
        recordedAt: now,
      };
      expect(await h.store.createDeadLetter('L1', record)).toBe('created');
      expect(await h.store.createDeadLetter('L1', record)).toBe('exists');
      const seen = await h.store.transactReplay('L1', (letter, subject, storeNow) => ({
        outcome: { letter, id: subject?.id, close: Math.abs(storeNow - h.now()) < 5_000 },
        schedule: {
          state: {
            lease: lease(storeNow, {
              id: 'R1',
              kind: 'replay',
              attempt: 0,
              running: false,
              attemptId: null,
              startedAt: null,
            }),
          },
        },
        letter: { kind: 'replayed', leaseId: 'R1', at: storeNow },
      }));
      expect(seen).toEqual({
        letter: { scheduleId: 's', dueAt: now - MINUTE, lane: 'high' },
        id: 's',
        close: true,
      });
      expect((await h.state('s'))?.lease?.id).toBe('R1');
      expect(await h.letter('L1')).toEqual({ replayCount: 1, replayLeaseId: 'R1' });
      const reverted = await h.store.revertReplay({
        letterId: 'L1',
        scheduleId: 's',
        leaseId: 'R1',
        previous: { lease: null, nextDueAt: now + MINUTE, escalatesAt: null, lane: 'high' },
      });
      expect(reverted).toBe('reverted');
      expect((await h.state('s'))?.lease).toBeNull();
      expect(await h.letter('L1')).toEqual({ replayCount: 0, replayLeaseId: null });
      expect(
        await h.store.transactReplay('nothing', (letter) => ({
          outcome: letter,
          schedule: null,
          letter: null,
        })),
      ).toBeNull();
    });

    it('holds the planner lease for one holder at a time, at the store’s time', async () => {
      const h = open();
      const take = (leaseId: string) =>
        h.store.transactPlannerLease((state, now) =>
          acquirePlanner(state, { leaseId, holder: leaseId, forMs: MINUTE }, now),
        );
      expect(await take('p1')).toMatchObject({ kind: 'acquired' });
      expect(await take('p2')).toMatchObject({ kind: 'busy', holder: 'p1' });
      expect(
        await h.store.transactPlannerLease((state, now) =>
          renewPlanner(state, { leaseId: 'p1', forMs: MINUTE }, now),
        ),
      ).toBe('renewed');
      expect(
        await h.store.transactPlannerLease((state, now) =>
          renewPlanner(state, { leaseId: 'p2', forMs: MINUTE }, now),
        ),
      ).toBe('lost');
      expect(
        await h.store.transactPlannerLease((state, now) =>
          releasePlanner(state, { leaseId: 'p1' }, now),
        ),
      ).toBe('released');
      expect(await take('p2')).toMatchObject({ kind: 'acquired' });
    });

    it('renews and releases the planner lease on the version it wrote, reading nothing', async () => {
      const h = open();
      const taken = await h.store.decidePlannerLease((state, now) =>
        acquirePlanner(state, { leaseId: 'p1', holder: 'host-1', forMs: MINUTE }, now),
      );
      expect(taken.outcome).toMatchObject({ kind: 'acquired' });
      const first = taken.written;
      if (first === null) throw new Error('the take wrote nothing');
      expect(first.state).toMatchObject({ leaseId: 'p1', holder: 'host-1' });
      expect(Math.abs(first.at - h.now())).toBeLessThan(5_000);
      const renewal = renewPlanner(first.state, { leaseId: 'p1', forMs: 2 * MINUTE }, first.at);
      if (renewal.write === null) throw new Error('the renewal decided to write nothing');
      const readsBefore = h.billedReads?.();
      const renewed = await h.store.writePlannerLeaseIfUnchanged(first.version, renewal.write);
      expect(h.billedReads?.()).toBe(readsBefore);
      if (renewed.kind !== 'written') throw new Error(`renewal: ${renewed.kind}`);
      expect(renewed.written.state).toEqual({
        leaseId: 'p1',
        holder: 'host-1',
        until: first.at + 2 * MINUTE,
      });
      // The lease as the store now has it is the renewal's…
      let stored: unknown;
      await h.store.transactPlannerLease((state) => {
        stored = state;
        return { outcome: null, write: null };
      });
      expect(stored).toEqual({ leaseId: 'p1', holder: 'host-1', until: first.at + 2 * MINUTE });
      // …and the take's version is spent: only the renewal's is current.
      expect((await h.store.writePlannerLeaseIfUnchanged(first.version, renewal.write)).kind).toBe(
        'conflict',
      );
      const release = releasePlanner(renewed.written.state, { leaseId: 'p1' }, renewed.written.at);
      if (release.write === null) throw new Error('the release decided to write nothing');
      const readsBeforeRelease = h.billedReads?.();
      expect(
        (await h.store.writePlannerLeaseIfUnchanged(renewed.written.version, release.write)).kind,
      ).toBe('written');
      expect(h.billedReads?.()).toBe(readsBeforeRelease);
      // A decision that writes nothing answers no version to write on.
      const busy = await h.store.decidePlannerLease((state, now) =>
        renewPlanner(state, { leaseId: 'p2', forMs: MINUTE }, now),
      );
      expect(busy).toEqual({ outcome: 'lost', written: null });
    });

    it('refuses a planner lease write on a version someone wrote over, and writes nothing', async () => {
      const h = open();
      // p1's lease lapses at once; p2 takes it.
      const taken = await h.store.decidePlannerLease((state, now) =>
        acquirePlanner(state, { leaseId: 'p1', holder: 'p1', forMs: -1 }, now),
      );
      const mine = taken.written;
      if (mine === null) throw new Error('the take wrote nothing');
      expect(
        await h.store.transactPlannerLease((state, now) =>
          acquirePlanner(state, { leaseId: 'p2', holder: 'p2', forMs: MINUTE }, now),
        ),
      ).toMatchObject({ kind: 'acquired' });
      let theirs: PlannerLeaseState | undefined;
      await h.store.transactPlannerLease((state) => {
        theirs = state;
        return { outcome: null, write: null };
      });
      // p1 renews on what it last wrote, as if the lease still held.
      const renewal = renewPlanner(
        { ...mine.state, until: mine.at + MINUTE },
        {
          leaseId: 'p1',
          forMs: MINUTE,
        },
        mine.at,
      );
      if (renewal.write === null) throw new Error('the renewal decided to write nothing');
      expect(await h.store.writePlannerLeaseIfUnchanged(mine.version, renewal.write)).toEqual({
        kind: 'conflict',
      });
      let after: PlannerLeaseState | undefined;
      await h.store.transactPlannerLease((state) => {
        after = state;
        return { outcome: null, write: null };
      });
      expect(after).toEqual(theirs);
      expect(after).toMatchObject({ leaseId: 'p2', holder: 'p2' });
    });

    it('never writes the operator’s document: pacer’s writes go to its own', async () => {
      const h = open();
      const now = h.now();
      await h.seed('s', DOCUMENT, { status: 'active', lane: 'high', nextDueAt: now - 1 });
      const before = await h.operatorDocument('s');
      await h.store.transact('s', () => ({
        outcome: null,
        patch: { state: { runCount: 2 }, run: { leaseId: 'L1', fields: { status: 'running' } } },
      }));
      const read = (await h.store.readDue('high', now, 10, new ReadMeter())).schedules[0];
      if (read === undefined) throw new Error('not read');
      const [written] = await h.store.writeIfUnchanged([
        { schedule: read, patch: { state: { nextDueAt: now + MINUTE } } },
      ]);
      expect(written?.kind).toBe('written');
      await h.store.transactReconcile('s', () => ({
        outcome: null,
        patch: { state: { lane: 'low' } },
      }));
      expect(await h.state('s')).toMatchObject({
        runCount: 2,
        nextDueAt: now + MINUTE,
        lane: 'low',
      });
      expect(await h.runs('s')).toMatchObject([{ leaseId: 'L1', status: 'running' }]);
      expect(await h.operatorDocument('s')).toEqual(before);
    });

    it('lets the protocol see an operator’s edit only once it is reconciled', async () => {
      const h = open();
      const now = h.now();
      await h.seed('s', DOCUMENT, { status: 'active', lane: 'high', nextDueAt: now, runCount: 3 });
      await h.operatorWrite('s', { ...DOCUMENT, name: 'edited' });
      const name = (subject: Subject | null) => subject?.data.name;
      expect(
        await h.store.transact('s', (subject) => ({ outcome: name(subject), patch: null })),
      ).toBe('conformance');
      const due = (await h.store.readDue('high', now, 10, new ReadMeter())).schedules;
      expect(due.map((schedule) => schedule.data.name)).toEqual(['conformance']);
      const reconciled = await h.store.transactReconcile('s', (subject) => ({
        outcome: { name: name(subject), runCount: subject?.state.runCount },
        patch: { state: { specHash: subject === null ? null : specHash(subject.data) } },
      }));
      expect(reconciled).toEqual({ name: 'edited', runCount: 3 });
      const after = await h.store.transact('s', (subject) => ({
        outcome: {
          name: name(subject),
          hash: subject?.state.specHash,
          runCount: subject?.state.runCount,
        },
        patch: null,
      }));
      expect(after).toEqual({
        name: 'edited',
        hash: specHash({ ...DOCUMENT, name: 'edited' }),
        runCount: 3,
      });
    });

    it('deletes pacer’s document when reconciling finds the operator’s gone; plans neither', async () => {
      const h = open();
      const now = h.now();
      await h.seed('gone', DOCUMENT, { status: 'active', lane: 'high', nextDueAt: now - 1 });
      await h.operatorWrite('new', DOCUMENT);
      // A schedule not yet reconciled is nothing to the protocol.
      expect(
        await h.store.transact('new', (subject) => ({ outcome: subject, patch: null })),
      ).toBeNull();
      await h.deleteSchedule('gone');
      const seen = await h.store.transactReconcile('gone', (subject) => ({
        outcome: subject,
        patch: { state: { status: 'active' } },
      }));
      expect(seen).toBeNull();
      expect(await h.state('gone')).toBeNull();
      expect((await h.store.readDue('high', now, 10, new ReadMeter())).schedules).toEqual([]);
      // Reconciling a schedule that exists nowhere writes nothing.
      await h.store.transactReconcile('nobody', () => ({ outcome: null, patch: null }));
      expect(await h.state('nobody')).toBeNull();
      expect(await h.operatorDocument('nobody')).toBeNull();
    });

    it('seeds pacer’s document from the state an older version kept in the operator’s (upgrade)', async () => {
      const h = open();
      const now = h.now();
      const held = lease(now);
      await h.seedOldState('old', DOCUMENT, {
        status: 'active',
        lane: 'high',
        nextDueAt: held.until,
        lease: held,
        runCount: 41,
      });
      expect(await h.state('old')).toBeNull();
      const seen = await h.store.transactReconcile('old', (subject) => ({
        outcome: subject?.state,
        patch: null,
      }));
      expect(seen).toMatchObject({ status: 'active', lease: held, runCount: 41 });
      expect(await h.state('old')).toMatchObject({
        status: 'active',
        lane: 'high',
        nextDueAt: held.until,
        lease: held,
        runCount: 41,
      });
      const copy = await h.store.transact('old', (subject) => ({
        outcome: subject?.data.name,
        patch: null,
      }));
      expect(copy).toBe('conformance');
      // Once pacer has its own document, the old map is never read again.
      await h.store.transactReconcile('old', () => ({
        outcome: null,
        patch: { state: { runCount: 42 } },
      }));
      expect((await h.state('old'))?.runCount).toBe(42);
    });

    it('scopes the planner’s queries, its lease and its summaries to a shard', async () => {
      const h = open();
      const now = h.now();
      const due = { status: 'active' as const, lane: 'high' as const, nextDueAt: now - MINUTE };
      await h.seed('s0', DOCUMENT, { ...due, shard: 0 });
      await h.seed('s1', DOCUMENT, { ...due, shard: 1 });
      // Stored under 4 shards: planner 1 of 2 serves it (3 mod 2).
      await h.seed('s3', DOCUMENT, {
        ...due,
        shard: 3,
        lease: lease(now),
        nextDueAt: now + MINUTE,
      });
      await h.seed('none', DOCUMENT, { ...due, escalatesAt: now - 1 });
      const waiting = { status: 'active' as const, nextDueAt: now - MINUTE, escalatesAt: now - 1 };
      await h.seed('e0', DOCUMENT, { ...waiting, lane: 'medium', shard: 0 });
      await h.seed('e1', DOCUMENT, { ...waiting, lane: 'medium', shard: 1 });
      await h.seed('e3', DOCUMENT, { ...waiting, lane: 'low', shard: 3 });
      const one = h.inShard({ index: 1, count: 2 });
      const meter = new ReadMeter();
      expect((await one.readDue('high', now, 10, meter)).schedules.map((s) => s.id)).toEqual([
        's1',
      ]);
      expect(await one.countDue('high', now, meter)).toBe(1);
      expect(await one.countInFlight('high', now, meter)).toBe(1);
      expect((await one.readEscalations(now, 10, meter)).schedules.map((s) => s.id).sort()).toEqual(
        ['e1', 'e3'],
      );
      // Every lane of the shard, most overdue first (the same due point: by id).
      expect((await one.readDueAllLanes(now, 10, meter)).schedules.map((s) => s.id)).toEqual([
        'e1',
        'e3',
        's1',
      ]);
      // One shard filters nothing: the document without a stored shard too.
      expect(await h.store.countDue('high', now, meter)).toBe(3);
      // Its own lease: taking it leaves the other shard's (and the unsharded one) free.
      const take = (store: PlannerStore, leaseId: string) =>
        store.transactPlannerLease((state, at) =>
          acquirePlanner(state, { leaseId, holder: leaseId, forMs: MINUTE }, at),
        );
      expect(await take(one, 'p1')).toMatchObject({ kind: 'acquired' });
      expect(await take(h.inShard({ index: 0, count: 2 }), 'p0')).toMatchObject({
        kind: 'acquired',
      });
      expect(await take(h.store, 'p')).toMatchObject({ kind: 'acquired' });
      expect(await take(h.inShard({ index: 1, count: 2 }), 'other')).toMatchObject({
        kind: 'busy',
        holder: 'p1',
      });
      await one.writeRecentSummaries([{ subTick: 1 }]);
      expect(await one.readRecentSummaries()).toEqual([{ subTick: 1 }]);
      expect(await h.store.readRecentSummaries()).toEqual([]);
    });

    it('keeps the sub-tick summaries and reads the live config', async () => {
      const h = open();
      expect(await h.store.readRecentSummaries()).toEqual([]);
      await h.store.writeRecentSummaries([{ subTick: 0 }, { subTick: 1 }]);
      expect(await h.store.readRecentSummaries()).toEqual([{ subTick: 0 }, { subTick: 1 }]);
      expect(await h.store.readLiveConfig()).toEqual({});
      await h.setLiveConfig({ caps: { high: 7 } });
      expect(await h.store.readLiveConfig()).toEqual({ caps: { high: 7 } });
    });
  });
}
