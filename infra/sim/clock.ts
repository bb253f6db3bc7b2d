/**
 * The virtual clock: a queue of actions ordered by time. Running it jumps from one action to
 * the next, so a simulated day takes as long as its work, not as long as a day. Actions due at
 * the same moment run in the order they were scheduled, which keeps runs deterministic.
 */

import { itemAt } from './arrays.js';

interface Entry {
  at: number;
  seq: number;
  action: () => void;
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

  /** Runs `action` at `at` (or now, if `at` has passed). */
  at(at: number, action: () => void): void {
    this.push({ at: Math.max(at, this.current), seq: this.seq++, action });
  }

  /** Runs `action` `delay` ms from now. */
  after(delay: number, action: () => void): void {
    this.at(this.current + delay, action);
  }

  /** Runs every action due before `limit`, in time order; the clock stops at `limit`. */
  runUntil(limit: number): void {
    for (;;) {
      const next = this.heap[0];
      if (next === undefined || next.at >= limit) break;
      this.pop();
      this.current = next.at;
      next.action();
    }
    this.current = Math.max(this.current, limit);
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
