import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../../../infra/sim/clock.js';

describe('the virtual clock', () => {
  it('runs actions in time order, same-time actions in the order they were scheduled', () => {
    const clock = new VirtualClock(0);
    const seen: string[] = [];
    clock.at(30, () => seen.push(`c@${clock.now()}`));
    clock.at(10, () => seen.push(`a@${clock.now()}`));
    clock.at(10, () => {
      seen.push(`b@${clock.now()}`);
      clock.after(5, () => seen.push(`d@${clock.now()}`));
    });
    clock.runUntil(100);
    expect(seen).toEqual(['a@10', 'b@10', 'd@15', 'c@30']);
    expect(clock.now()).toBe(100);
  });

  it('stops before the limit and keeps later actions for the next run', () => {
    const clock = new VirtualClock(0);
    const seen: number[] = [];
    for (const time of [5, 50, 49, 51]) clock.at(time, () => seen.push(time));
    clock.runUntil(50);
    expect(seen).toEqual([5, 49]);
    clock.runUntil(60);
    expect(seen).toEqual([5, 49, 50, 51]);
  });

  it('never goes back in time: an action for the past runs now', () => {
    const clock = new VirtualClock(100);
    let ranAt = -1;
    clock.at(10, () => (ranAt = clock.now()));
    clock.runUntil(200);
    expect(ranAt).toBe(100);
  });

  it('keeps order over many actions', () => {
    const clock = new VirtualClock(0);
    const seen: number[] = [];
    const times = Array.from({ length: 1_000 }, (_, i) => (i * 7_919) % 1_000);
    for (const time of times) clock.at(time, () => seen.push(time));
    clock.runUntil(1_000);
    expect(seen).toEqual([...times].sort((a, b) => a - b));
  });
});
