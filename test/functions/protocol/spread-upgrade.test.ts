/**
 * Upgrading to spread points: a schedule planned on the exact grid by an older release is moved
 * onto its spread grid by the reconciler, without a lost or a doubled run.
 */
import { describe, expect, it } from 'vitest';
import { reconcile, type Subject } from '../../../functions/protocol/decisions.js';
import { applyPatch } from '../../../functions/protocol/patch.js';
import { EMPTY_STATE } from '../../../functions/protocol/state.js';
import { nextDueAt } from '../../../functions/schedule/cadence.js';
import { validateSchedule } from '../../../functions/schedule/spec.js';
import { spreadPhase } from '../../../functions/schedule/spread.js';
import { at, interval, THRESHOLDS } from './subjects.js';

const MINUTE = 60_000;
const EVERY = 15 * MINUTE;
const SERVED = at('2026-06-20T09:45:00Z'); // the last point served, on the exact grid
const OLD_NEXT = at('2026-06-20T10:00:00Z'); // where the older release planned the next one

/** A schedule reconciled by the older release: its hash is not this release's. */
function planned(id: string): Subject {
  const data = interval('15m', {}, { startAt: '2026-01-01T00:00:00Z' });
  const validation = validateSchedule(data, undefined, id);
  return {
    id,
    data,
    validation,
    state: {
      ...EMPTY_STATE,
      status: 'active',
      lane: 'low',
      health: 'ok',
      specHash: 'hash-of-the-older-release',
      dueAt: SERVED,
      nextDueAt: OLD_NEXT,
      runCount: 3,
    },
  };
}

const ids = ['feed-a', 'feed-b', 'feed-c', 'feed-d', 'feed-e', 'feed-f'];

describe('upgrading to spread points', () => {
  it.each(
    ids.flatMap(
      (id) =>
        [
          [id, 5],
          [id, 14],
        ] as const,
    ),
  )(
    '%s, reconciled %i minutes after its last run: the first spread point after it, owed at once if passed',
    (id, minutes) => {
      const now = SERVED + minutes * MINUTE;
      const before = planned(id);
      const decided = reconcile(before, now, THRESHOLDS);
      const offset = Math.floor(spreadPhase(id) * EVERY);
      const next = offset > 0 ? SERVED + offset : SERVED + EVERY;
      // Not the point already served (no doubled run), and no later than one interval after it
      // (no run lost): the first spread point after it.
      expect(next).toBeGreaterThan(SERVED);
      expect(next).toBeLessThanOrEqual(SERVED + EVERY);
      expect(decided.outcome).toMatchObject({ kind: 'scheduled', nextDueAt: next });
      const state = applyPatch(before.state, decided.patch);
      expect(state).toMatchObject({ status: 'active', dueAt: SERVED, nextDueAt: next });
      // Served then, it steps on its spread grid, one interval at a time.
      if (!before.validation.ok) throw new Error('invalid');
      expect(nextDueAt(before.validation.spec.cadence, next, next)).toBe(next + EVERY);
      // Reconciled again (its own write's trigger): nothing more to do.
      expect(reconcile({ ...before, state }, now, THRESHOLDS).outcome.kind).toBe('unchanged');
    },
  );
});
