/**
 * Pausing with a note, pausing after failures (`pauseAfterFailures`) and resuming, as decisions:
 * the release that pauses, what keeps the schedule paused (no claim, no start, no reconcile that
 * plans it), and the resume that plans it again.
 */
import { describe, expect, it } from 'vitest';
import {
  complete,
  reconcile,
  release,
  screen,
  start,
  type Subject,
} from '../../../functions/protocol/decisions.js';
import { notePause, resumeSchedule } from '../../../functions/protocol/pause.js';
import { ProtocolMonitor } from '../../../functions/protocol/invariants.js';
import { THRESHOLDS, after, at, edited, interval, leaseOf, subject } from './subjects.js';

const NOW = at('2026-06-20T10:00:00Z');
const MINUTE = 60_000;

/** A schedule every minute whose lease L{n} runs attempt a1 for the point at NOW. */
function running(document: Record<string, unknown>, deadLetters = 0, n = 1): Subject {
  return subject(document, {
    status: 'active',
    lane: 'high',
    nextDueAt: NOW + 30_000,
    dueAt: NOW - MINUTE,
    consecutiveDeadLetters: deadLetters,
    lease: leaseOf({
      id: `L${n}`,
      until: NOW + 30_000,
      dueAt: NOW,
      running: true,
      attempt: 1,
      attemptId: 'a1',
      startedAt: NOW,
    }),
  });
}

const dead = (s: Subject, n = 1) =>
  release(
    s,
    {
      leaseId: `L${n}`,
      attemptId: 'a1',
      reason: 'attempts_exhausted',
      error: { code: 'target_unavailable', message: 'HTTP 503' },
      thresholds: THRESHOLDS,
    },
    NOW + 5_000,
  );

describe('pauseAfterFailures: the release of a dead letter', () => {
  it.each([
    // [pauseAfterFailures, dead letters in a row before, outcome, status, health]
    [undefined, 0, 'released', 'active', 'failing'],
    [undefined, 9, 'released', 'active', 'failing'],
    [2, 0, 'released', 'active', 'failing'],
    [2, 1, 'paused_by_failures', 'paused', 'paused_by_failures'],
    [1, 0, 'paused_by_failures', 'paused', 'paused_by_failures'],
    [3, 1, 'released', 'active', 'failing'],
    // Set after the failures began: the next dead letter pauses it.
    [2, 5, 'paused_by_failures', 'paused', 'paused_by_failures'],
  ] as const)(
    'pauseAfterFailures %s after %i dead letters in a row: %s',
    (limit, before, outcome, status, health) => {
      const document = interval('1m', limit === undefined ? {} : { pauseAfterFailures: limit });
      const decided = dead(running(document, before));
      expect(decided.outcome).toBe(outcome);
      const state = after(running(document, before), decided).state;
      expect(state).toMatchObject({
        status,
        health,
        consecutiveDeadLetters: before + 1,
        lease: null,
      });
      if (status === 'paused') {
        expect(state.nextDueAt).toBeNull();
        expect(state.pause).toEqual({
          cause: 'failures',
          by: 'pacer',
          at: NOW + 5_000,
          reason: `${before + 1} consecutive dead letters (pauseAfterFailures: ${limit})`,
        });
      } else {
        expect(state.nextDueAt).not.toBeNull();
        expect(state.pause).toBeNull();
      }
    },
  );

  it('a success starts the count again', () => {
    const document = interval('1m', { pauseAfterFailures: 2 });
    const s = running(document, 1);
    const done = after(
      s,
      complete(
        s,
        { leaseId: 'L1', attemptId: 'a1', startedAt: NOW, thresholds: THRESHOLDS },
        NOW + 1_000,
      ),
    );
    expect(done.state.consecutiveDeadLetters).toBe(0);
  });

  it('does not pause a schedule the operator paused or whose cadence is over', () => {
    const disabled = interval('1m', { pauseAfterFailures: 1, enabled: false });
    const decided = dead(running(disabled));
    expect(decided.outcome).toBe('released');
    expect(after(running(disabled), decided).state).toMatchObject({
      status: 'paused',
      pause: null,
    });
  });
});

describe('a schedule paused after failures', () => {
  const document = interval('1m', { pauseAfterFailures: 2 });
  const paused = after(running(document, 1), dead(running(document, 1)));

  it('is never planned again by a reconcile, even when edited or toggled by hand', () => {
    for (const s of [paused, edited(paused, interval('2m', { pauseAfterFailures: 2 }))]) {
      const decided = reconcile(s, NOW + 10 * MINUTE, THRESHOLDS, { force: true });
      expect(after(s, decided).state).toMatchObject({ status: 'paused', nextDueAt: null });
    }
  });

  it('is not screened as due, and an old lease of it cannot start an attempt', () => {
    expect(screen(paused, NOW + 10 * MINUTE, THRESHOLDS).outcome.kind).toBe('not_due');
    const withLease = {
      ...paused,
      state: {
        ...paused.state,
        nextDueAt: NOW,
        lease: leaseOf({ id: 'L9', until: NOW + 30_000, dueAt: NOW }),
      },
    };
    const started = start(
      withLease,
      {
        leaseId: 'L9',
        attemptId: 'a9',
        leaseMs: 30_000,
        maxAttempts: 5,
        expireAt: NOW + 86_400_000,
        thresholds: THRESHOLDS,
      },
      NOW + 1_000,
    );
    expect(started.outcome).toEqual({ kind: 'paused' });
  });

  it('is planned again by a resume, with the note and the count cleared', () => {
    const resumed = resumeSchedule(paused, NOW + 10 * MINUTE, THRESHOLDS);
    expect(resumed.outcome.kind).toBe('scheduled');
    expect(after(paused, resumed).state).toMatchObject({
      status: 'active',
      pause: null,
      consecutiveDeadLetters: 0,
      health: 'failing',
    });
    expect(after(paused, resumed).state.nextDueAt).not.toBeNull();
  });
});

describe("an operator's pause note", () => {
  it('records who, when and why, and goes when the schedule is enabled again', () => {
    const s = subject(interval('1m', { enabled: false }), { status: 'paused' });
    const noted = after(s, notePause(s, { by: 'alice', reason: 'provider maintenance' }, NOW));
    expect(noted.state.pause).toEqual({
      cause: 'operator',
      by: 'alice',
      at: NOW,
      reason: 'provider maintenance',
    });
    // Still disabled: the note stays.
    expect(reconcile(noted, NOW + MINUTE, THRESHOLDS).patch?.state.pause).toBeUndefined();
    // Enabled by hand in the document: planned, and the note goes.
    const enabled = edited(noted, interval('1m'));
    expect(after(enabled, reconcile(enabled, NOW + MINUTE, THRESHOLDS)).state).toMatchObject({
      status: 'active',
      pause: null,
    });
  });

  it('turns a pause after failures into the operator’s (kept by enabled: false)', () => {
    const document = interval('1m', { pauseAfterFailures: 1 });
    const paused = after(running(document), dead(running(document)));
    const noted = after(paused, notePause(paused, { by: 'bob', reason: null }, NOW + MINUTE));
    expect(noted.state).toMatchObject({
      health: 'failing',
      pause: { cause: 'operator', by: 'bob' },
    });
  });
});

describe('the paused invariant', () => {
  const document = interval('1m', { pauseAfterFailures: 2 });
  const write = (before: Subject, afterState: Subject['state'], status?: string) => ({
    id: 's',
    before: before.state,
    after: afterState,
    data: document,
    patch:
      status === undefined
        ? { state: {} }
        : { state: {}, run: { leaseId: 'L1', fields: { status: status as 'dead_lettered' } } },
    at: NOW,
    decidedAt: NOW,
  });

  it('holds for the real release, and catches a release that does not pause', () => {
    const before = running(document, 1);
    const monitor = new ProtocolMonitor(5);
    const real = after(before, dead(before)).state;
    expect(monitor.write(write(before, real, 'dead_lettered'))).toEqual([]);
    const notPaused = { ...real, status: 'active' as const, nextDueAt: NOW + MINUTE, pause: null };
    expect(monitor.write(write(before, notPaused, 'dead_lettered'))).toMatchObject([
      { invariant: 'paused' },
    ]);
  });

  it('catches a claim of a schedule paused after failures', () => {
    const paused = after(running(document, 1), dead(running(document, 1)));
    const claimed = {
      ...paused.state,
      status: 'active' as const,
      lease: leaseOf({ id: 'L2', until: NOW + 30_000, dueAt: NOW }),
    };
    expect(new ProtocolMonitor(5).write(write(paused, claimed))).toMatchObject([
      { invariant: 'paused' },
    ]);
  });
});
