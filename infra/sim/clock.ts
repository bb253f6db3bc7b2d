/**
 * The virtual clock: a queue of actions ordered by time. Running it jumps from one action to
 * the next, so a simulated day takes as long as its work, not as long as a day. Actions due at
 * the same moment run in the order they were scheduled, which keeps runs deterministic.
 *
 * pacer's own code is asynchronous: {@link VirtualClock.run} lets every promise an action set
 * off settle before the next action (Node runs all pending promise callbacks before an
 * immediate), so the real planner and worker run on virtual time exactly as they would on real
 * time, one step at a time, and the same seed gives the same history.
 */

import { itemAt } from './arrays.js';

interface Entry {
  at: number;
  seq: number;
  action: () => void;
  cancelled: boolean;
}

/** Lets every pending promise callback run (they all run before an immediate). */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export class VirtualClock {
  private heap: Entry[] = [];
  private seq = 0;
  private current: number;

  constructor(start: number) {
    this.current = start;
  }

  /** The current simulated time, ms since the epoch. */
  now(): number {
    return this.current;
  }

  /** Runs `action` at `at` (or now, if `at` has passed). Returns what cancels it. */
  at(at: number, action: () => void): () => void {
    const entry: Entry = {
      at: Math.max(at, this.current),
      seq: this.seq++,
      action,
      cancelled: false,
    };
    this.push(entry);
    return () => {
      entry.cancelled = true;
    };
  }

  /** Runs `action` `delay` ms from now. Returns what cancels it. */
  after(delay: number, action: () => void): () => void {
    return this.at(this.current + delay, action);
  }

  /** A promise resolved `delay` ms from now. */
  sleep(delay: number): Promise<void> {
    return new Promise((resolve) => {
      this.after(delay, resolve);
    });
  }

  /** When the next action is due, or `null` when none is left. */
  nextAt(): number | null {
    return this.heap[0]?.at ?? null;
  }

  /**
   * Runs every action due before `limit`, in time order, letting the promises each one sets off
   * settle before the next (`afterStep` is called then, e.g. to check invariants). The clock
   * stops at `limit`.
   */
  async run(limit: number, afterStep?: () => void): Promise<void> {
    await settle();
    for (let entry = this.take(limit); entry !== null; entry = this.take(limit)) {
      entry.action();
      await settle();
      afterStep?.();
    }
    this.current = Math.max(this.current, limit);
  }

  /** Runs every action due before `limit`, in time order; the clock stops at `limit`. */
  runUntil(limit: number): void {
    for (let entry = this.take(limit); entry !== null; entry = this.take(limit)) entry.action();
    this.current = Math.max(this.current, limit);
  }

  /** The next action due before `limit` (the clock moves to its time), or `null`. */
  private take(limit: number): Entry | null {
    for (;;) {
      const next = this.heap[0];
      if (next === undefined || next.at >= limit) return null;
      this.pop();
      if (next.cancelled) continue;
      this.current = next.at;
      return next;
    }
  }

  private push(entry: Entry): void {
    const heap = this.heap;
    heap.push(entry);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = itemAt(heap, parent);
      if (!before(entry, p)) break;
      heap[i] = p;
      i = parent;
    }
    heap[i] = entry;
  }

  private pop(): void {
    const heap = this.heap;
    const last = heap.pop();
    if (last === undefined || heap.length === 0) return;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const child =
        right < heap.length && before(itemAt(heap, right), itemAt(heap, left)) ? right : left;
      const c = itemAt(heap, child);
      if (!before(c, last)) break;
      heap[i] = c;
      i = child;
    }
    heap[i] = last;
  }
}

function before(a: Entry, b: Entry): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}
