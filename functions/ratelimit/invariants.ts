/**
 * What provider rate limits promise, as code, for the protocol checker (infra/check): fed every
 * dispatch the planner makes of a keyed schedule (its claim, at the store's time) and every
 * block a worker records, it answers with violations:
 *
 * - `rate` — never more dispatches of a key in any window of a minute or an hour than its
 *   budget allows ({@link allowedInWindow}, widened by `slackMs`: the planner takes tokens at its
 *   own clock before it claims, so its claims may spread a little around the moment it counted);
 * - `blocked` — nothing of a blocked key is dispatched after the block was recorded and before
 *   it ends (less the same slack: the planner judges the block by its own clock).
 *
 * Pure: it keeps what it has seen; it never reads a clock.
 */
import { iso } from '../schedule/time.js';
import { allowedInWindow, HOUR_MS, MINUTE_MS } from './bucket.js';
import type { RateLimits } from './limits.js';

export interface RateViolation {
  invariant: 'rate' | 'blocked';
  scheduleId: string;
  at: number;
  message: string;
}

export class RateLimitMonitor {
  private readonly dispatches = new Map<string, number[]>();
  private readonly blocks = new Map<string, { from: number; until: number }[]>();

  /**
   * @param slackMs how far the planner's clock and its claims may stray from the store's time:
   *   windows are judged `slackMs` wider, and a block's last `slackMs` are not judged
   */
  constructor(
    private readonly limits: RateLimits,
    private readonly slackMs: number,
  ) {}

  /** A worker blocked `key` from `at` until `until`. */
  blocked(key: string, until: number, at: number): void {
    this.blocks.set(key, [...(this.blocks.get(key) ?? []), { from: at, until }]);
  }

  /** The planner dispatched `scheduleId` of `key` at `at` (its claim's decision time). */
  dispatched(key: string, scheduleId: string, at: number): RateViolation[] {
    const violations: RateViolation[] = [];
    for (const block of this.blocks.get(key) ?? []) {
      if (at >= block.from && at < block.until - this.slackMs) {
        violations.push({
          invariant: 'blocked',
          scheduleId,
          at,
          message: `dispatched while key ${key} was blocked (from ${iso(block.from)} until ${iso(block.until)})`,
        });
      }
    }
    const times = [...(this.dispatches.get(key) ?? []), at];
    // Kept for two hours around the newest: enough for every window a late observation opens.
    const newest = Math.max(...times);
    this.dispatches.set(
      key,
      times.filter((time) => time > newest - 2 * HOUR_MS),
    );
    const limit = this.limits[key];
    if (limit === undefined) return violations;
    for (const [name, windowMs] of [
      ['minute', MINUTE_MS],
      ['hour', HOUR_MS],
    ] as const) {
      const allowed = allowedInWindow(limit, windowMs + this.slackMs);
      // Every window holding this dispatch (claims may be observed out of order): those ending
      // at it or at any later dispatch within the window's length.
      for (const end of times.filter((time) => time >= at && time < at + windowMs)) {
        const inWindow = times.filter((time) => time > end - windowMs && time <= end).length;
        if (inWindow > allowed) {
          violations.push({
            invariant: 'rate',
            scheduleId,
            at,
            message: `${inWindow} dispatches of key ${key} in the ${name} to ${iso(end)}; its budget allows ${allowed}`,
          });
          break;
        }
      }
    }
    return violations;
  }
}
