/**
 * What provider rate limits promise, as code, for the protocol checker (infra/check): fed every
 * dispatch the planner makes of a keyed schedule and every block a worker records, it answers
 * with violations. The planner counts a dispatch's token at some moment between its due query's
 * read (`readAt`, the claim's decision time) and its claim landing (`landedAt`), by its own
 * clock; so a dispatch is judged only where that whole span says so, and windows are widened by
 * `slackMs` (the skew between two processes' clocks):
 *
 * - `rate` — never more dispatches of a key in any window of a minute or an hour than its budget
 *   allows ({@link allowedInWindow}): counted are the dispatches whose whole span lies in the
 *   window;
 * - `blocked` — nothing of a blocked key is dispatched by a planner that read after the block
 *   was recorded and claimed before it ended (less the slack).
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

interface Dispatch {
  readAt: number;
  landedAt: number;
}

export class RateLimitMonitor {
  private readonly dispatches = new Map<string, Dispatch[]>();
  private readonly blocks = new Map<string, { from: number; until: number }[]>();

  /** @param slackMs how far two processes' clocks may differ */
  constructor(
    private readonly limits: RateLimits,
    private readonly slackMs: number,
  ) {}

  /** A worker blocked `key` from `at` until `until`. */
  blocked(key: string, until: number, at: number): void {
    this.blocks.set(key, [...(this.blocks.get(key) ?? []), { from: at, until }]);
  }

  /** The planner dispatched `scheduleId` of `key`: read at `readAt`, claimed at `landedAt`. */
  dispatched(key: string, scheduleId: string, readAt: number, landedAt: number): RateViolation[] {
    const violations: RateViolation[] = [];
    for (const block of this.blocks.get(key) ?? []) {
      if (readAt >= block.from && landedAt < block.until - this.slackMs) {
        violations.push({
          invariant: 'blocked',
          scheduleId,
          at: landedAt,
          message: `dispatched (read ${iso(readAt)}, claimed ${iso(landedAt)}) while key ${key} was blocked (from ${iso(block.from)} until ${iso(block.until)})`,
        });
      }
    }
    const all = [...(this.dispatches.get(key) ?? []), { readAt, landedAt }];
    const newest = Math.max(...all.map((dispatch) => dispatch.landedAt));
    this.dispatches.set(
      key,
      all.filter((dispatch) => dispatch.landedAt > newest - 3 * HOUR_MS),
    );
    const limit = this.limits[key];
    if (limit === undefined) return violations;
    for (const [name, windowMs] of [
      ['minute', MINUTE_MS],
      ['hour', HOUR_MS],
    ] as const) {
      const allowed = allowedInWindow(limit, windowMs + this.slackMs);
      // Windows ending where a dispatch landed, near this one (observations come out of order).
      for (const end of all
        .map((dispatch) => dispatch.landedAt)
        .filter((time) => time >= readAt && time < landedAt + windowMs)) {
        const inside = all.filter(
          (dispatch) => dispatch.readAt >= end - windowMs && dispatch.landedAt <= end,
        ).length;
        if (inside > allowed) {
          violations.push({
            invariant: 'rate',
            scheduleId,
            at: landedAt,
            message: `${inside} dispatches of key ${key} in the ${name} to ${iso(end)}; its budget allows ${allowed}`,
          });
          break;
        }
      }
    }
    return violations;
  }
}
