/**
 * An in-memory stand-in for the `schedules` collection in Firestore, with the semantics pacer
 * relies on: every document has a version (Firestore's update time), a conditional write is
 * refused when the version it was read at is no longer current, a transaction reads and
 * writes one document atomically, and the planner's queries (`count()` of due and in-flight
 * schedules per lane, due schedules most overdue first) answer as the indexed queries do.
 * Reads and writes are counted the way Firestore bills them, for the cost model.
 */
import { escalatesAt, firstDueAt, laneAt } from '../../functions/schedule/cadence.js';
import { LANES, type Lane, type LaneThresholds } from '../../functions/schedule/lane.js';
import type { PerLane } from '../../functions/config.js';
import type { Lease } from '../../functions/store/state.js';
import { itemAt } from './arrays.js';
import type { SimSchedule } from './population.js';

/**
 * A dispatch's or a running worker's hold on a schedule: `state.lease` without what the
 * simulation does not model (attempt tokens, replays).
 */
export type SimLease = Pick<
  Lease,
  'id' | 'until' | 'attempt' | 'dispatchedAt' | 'startedAt' | 'running'
>;

/** The part of `state` the simulation needs. */
export interface SimState {
  status: 'active' | 'finished';
  /** The lane in force at `nextDueAt`: the lane the planner finds it in. */
  lane: Lane;
  nextDueAt: number | null;
  /** The due point the current (or last) lease serves. */
  dueAt: number | null;
  lease: SimLease | null;
  lastLeaseId: string | null;
  runCount: number;
  consecutiveFailures: number;
  /**
   * When a faster tier begins after `nextDueAt` and puts the schedule in a more urgent lane
   * than `lane`, or `null` (as `state.escalatesAt`; the planner's escalation step reads it).
   */
  escalatesAt: number | null;
}

/** A document as read: its version and a copy of its state. */
export interface Snapshot {
  id: string;
  schedule: SimSchedule;
  version: number;
  state: SimState;
}

export type WriteOutcome = 'written' | 'conflict' | 'missing';

interface StoredSchedule {
  schedule: SimSchedule;
  version: number;
  state: SimState;
  /** Position in the index arrays. */
  index: number;
}

const LANE_NUMBER: Record<Lane, number> = { high: 0, medium: 1, low: 2 };

/** What the planner's `count()` queries answer in one sub-tick. */
export interface DueCounts {
  due: PerLane<number>;
  inFlight: PerLane<number>;
}

/** The state of a schedule that has just been written: its first due point and lane. */
export function initialState(schedule: SimSchedule, thresholds: LaneThresholds): SimState {
  const { cadence, lane } = schedule.spec;
  const first = firstDueAt(cadence, schedule.createdAt);
  const firstLane = laneAt(cadence, lane, first ?? schedule.createdAt, thresholds);
  return {
    status: first === null ? 'finished' : 'active',
    lane: firstLane,
    nextDueAt: first,
    dueAt: null,
    lease: null,
    lastLeaseId: null,
    runCount: 0,
    consecutiveFailures: 0,
    escalatesAt: first === null ? null : escalatesAt(cadence, lane, first, firstLane, thresholds),
  };
}

export class ScheduleStore {
  /** Documents read, as Firestore bills them. */
  reads = 0;
  /** Writes that were applied. */
  writes = 0;
  private readonly documents = new Map<string, StoredSchedule>();
  /** Every document, in a fixed order, for the scans. */
  private readonly all: StoredSchedule[] = [];
  /** The due documents per lane found by the last scan, unordered. */
  private readonly lastDue: PerLane<StoredSchedule[]> = { high: [], medium: [], low: [] };
  /*
   * The index the planner's queries use, as flat arrays so that a scan of thousands of
   * documents every sub-tick stays cheap: when each document is due (+Infinity when it is not
   * active), when its lease lapses (-Infinity without one), and its lane.
   */
  private readonly dueAtIndex: Float64Array;
  private readonly leaseUntilIndex: Float64Array;
  private readonly laneIndex: Uint8Array;
  private readonly escalatesAtIndex: Float64Array;

  constructor(schedules: readonly SimSchedule[], thresholds: LaneThresholds) {
    this.dueAtIndex = new Float64Array(schedules.length);
    this.leaseUntilIndex = new Float64Array(schedules.length);
    this.laneIndex = new Uint8Array(schedules.length);
    this.escalatesAtIndex = new Float64Array(schedules.length);
    for (const schedule of schedules) {
      const stored = {
        schedule,
        version: 1,
        state: initialState(schedule, thresholds),
        index: this.all.length,
      };
      this.documents.set(schedule.id, stored);
      this.all.push(stored);
      this.reindex(stored);
    }
  }

  /** Reads one document (one read). */
  read(id: string): Snapshot | null {
    this.reads += 1;
    const stored = this.documents.get(id);
    return stored === undefined ? null : snapshot(stored);
  }

  /**
   * Writes `changes` if the document is still at `ifVersion` (a Firestore precondition on the
   * update time that was read); otherwise changes nothing and answers `conflict`.
   */
  write(id: string, ifVersion: number, changes: Partial<SimState>): WriteOutcome {
    const stored = this.documents.get(id);
    if (stored === undefined) return 'missing';
    if (stored.version !== ifVersion) return 'conflict';
    // In place, so every document keeps one shape (the scans stay fast); snapshots are copies.
    Object.assign(stored.state, changes);
    stored.version += 1;
    this.reindex(stored);
    this.writes += 1;
    return 'written';
  }

  /**
   * A transaction on one document: reads it, lets `decide` return the changes (or `null` for
   * none) and writes them atomically. Nothing else runs in between, as Firestore guarantees
   * by retrying a transaction that met a concurrent write.
   */
  transaction<T>(
    id: string,
    decide: (current: Snapshot | null) => { changes: Partial<SimState> | null; result: T },
  ): T {
    const current = this.read(id);
    const { changes, result } = decide(current);
    if (changes !== null && current !== null) this.write(id, current.version, changes);
    return result;
  }

  /**
   * The planner's six `count()` queries (due and in flight, per lane), answered together in
   * one pass over the collection. Billed as Firestore bills aggregations: one read per 1,000
   * index entries counted, at least one per query. The due documents are kept for
   * {@link ScheduleStore.readDue} until the next scan.
   */
  scanDue(now: number): DueCounts {
    const due = { high: 0, medium: 0, low: 0 };
    const inFlight = { high: 0, medium: 0, low: 0 };
    const found = this.lastDue;
    found.high.length = 0;
    found.medium.length = 0;
    found.low.length = 0;
    const counts = [0, 0, 0, 0, 0, 0]; // due high, medium, low; in flight high, medium, low
    const lists = [found.high, found.medium, found.low];
    const { dueAtIndex, leaseUntilIndex, laneIndex, all } = this;
    for (let i = 0; i < all.length; i++) {
      const lane = laneIndex[i] ?? 0;
      if ((leaseUntilIndex[i] ?? 0) > now) counts[3 + lane] = (counts[3 + lane] ?? 0) + 1;
      if ((dueAtIndex[i] ?? Number.POSITIVE_INFINITY) <= now) {
        counts[lane] = (counts[lane] ?? 0) + 1;
        itemAt(lists, lane).push(itemAt(all, i));
      }
    }
    for (const lane of LANES) {
      due[lane] = counts[LANE_NUMBER[lane]] ?? 0;
      inFlight[lane] = counts[3 + LANE_NUMBER[lane]] ?? 0;
      this.reads += Math.max(1, Math.ceil(due[lane] / 1_000));
      this.reads += Math.max(1, Math.ceil(inFlight[lane] / 1_000));
    }
    return { due, inFlight };
  }

  /**
   * The planner's escalation step (`escalateWaiting` in functions/planner/tick.ts): due
   * schedules whose faster tier has begun move to the lane in force now, each with a
   * conditional write. Billed as one indexed query per lane below high
   * (`state.escalatesAt <= now`) and one write per schedule moved.
   */
  escalateDue(now: number, thresholds: LaneThresholds): number {
    let moved = 0;
    for (let i = 0; i < this.all.length; i++) {
      if ((this.escalatesAtIndex[i] ?? 0) > now || (this.dueAtIndex[i] ?? 0) > now) {
        continue;
      }
      const stored = itemAt(this.all, i);
      const { cadence, lane } = stored.schedule.spec;
      const laneNow = laneAt(cadence, lane, now, thresholds);
      this.write(stored.schedule.id, stored.version, {
        lane: laneNow,
        escalatesAt: escalatesAt(cadence, lane, now, laneNow, thresholds),
      });
      this.reads += 1;
      moved += 1;
    }
    this.reads += LANES.length - 1;
    return moved;
  }

  private reindex(stored: StoredSchedule): void {
    const { state, index } = stored;
    this.dueAtIndex[index] =
      state.status === 'active' && state.nextDueAt !== null
        ? state.nextDueAt
        : Number.POSITIVE_INFINITY;
    this.leaseUntilIndex[index] =
      state.lease === null ? Number.NEGATIVE_INFINITY : state.lease.until;
    this.laneIndex[index] = LANE_NUMBER[state.lane];
    this.escalatesAtIndex[index] = state.escalatesAt ?? Number.POSITIVE_INFINITY;
  }

  /**
   * The due query of one lane at the last scan's time: up to `limit` due documents, most
   * overdue first (`nextDueAt`, then id, as Firestore orders). Billed one read per document
   * returned, at least one.
   */
  readDue(lane: Lane, limit: number): Snapshot[] {
    const chosen = smallest(this.lastDue[lane], limit, byDueThenId);
    this.reads += Math.max(1, chosen.length);
    return chosen.map(snapshot);
  }
}

function snapshot(stored: StoredSchedule): Snapshot {
  const { state } = stored;
  return {
    id: stored.schedule.id,
    schedule: stored.schedule,
    version: stored.version,
    state: { ...state, lease: state.lease === null ? null : { ...state.lease } },
  };
}

function byDueThenId(a: StoredSchedule, b: StoredSchedule): number {
  return (
    (a.state.nextDueAt ?? 0) - (b.state.nextDueAt ?? 0) ||
    (a.schedule.id < b.schedule.id ? -1 : a.schedule.id > b.schedule.id ? 1 : 0)
  );
}

/**
 * The `k` smallest items in order, in O(n log k): a sort of thousands of due documents every
 * sub-tick would dominate the run time of an overload day.
 */
export function smallest<T>(items: readonly T[], k: number, compare: (a: T, b: T) => number): T[] {
  if (k <= 0) return [];
  if (items.length <= k) return [...items].sort(compare);
  // A max-heap of the k smallest seen so far; its root is the largest of them.
  const heap: T[] = [];
  const siftUp = (index: number) => {
    let i = index;
    const item = heap[i] as T;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (compare(heap[parent] as T, item) >= 0) break;
      heap[i] = heap[parent] as T;
      i = parent;
    }
    heap[i] = item;
  };
  const siftDown = () => {
    let i = 0;
    const item = heap[0] as T;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const child =
        right < heap.length && compare(heap[right] as T, heap[left] as T) > 0 ? right : left;
      if (compare(heap[child] as T, item) <= 0) break;
      heap[i] = heap[child] as T;
      i = child;
    }
    heap[i] = item;
  };
  for (const item of items) {
    if (heap.length < k) {
      heap.push(item);
      siftUp(heap.length - 1);
    } else if (compare(item, heap[0] as T) < 0) {
      heap[0] = item;
      siftDown();
    }
  }
  return heap.sort(compare);
}
