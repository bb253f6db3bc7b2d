/**
 * The invariants as code: each one, given a history that breaks it, says so — and the same
 * history without the break passes. (The checker runs them over random histories; this shows
 * that they can fail.)
 */
import { describe, expect, it } from 'vitest';
import { claim, complete, reconcile, start } from '../../../functions/protocol/decisions.js';
import { ProtocolMonitor, type ObservedWrite } from '../../../functions/protocol/invariants.js';
import type { ScheduleState } from '../../../functions/protocol/state.js';
import { after, at, edited, interval, subject, THRESHOLDS } from './subjects.js';

const NOW = at('2026-06-20T10:00:00Z');
const grid = interval('1m');

function write(
  before: ScheduleState | null,
  state: ScheduleState | null,
  fields: Partial<ObservedWrite> = {},
): ObservedWrite {
  return {
    id: 's',
    before,
    after: state,
    data: grid,
    patch: null,
    at: NOW,
    decidedAt: NOW,
    ...fields,
  };
}

const call = (
  leaseId: string,
  attempt: number,
  start: number,
  end: number | null,
  outcome: string | null = null,
) => ({
  scheduleId: 's',
  leaseId,
  attempt,
  start,
  end,
  outcome,
});

/** A 1-minute schedule due now, claimed as L1 and started by a1. */
function started() {
  const due = subject(grid, { status: 'active', lane: 'high', nextDueAt: NOW });
  const claimed = after(
    due,
    claim(due, { leaseId: 'L1', graceMs: 60_000, thresholds: THRESHOLDS }, NOW),
  );
  const decided = start(
    claimed,
    {
      leaseId: 'L1',
      attemptId: 'a1',
      leaseMs: 30_000,
      maxAttempts: 3,
      expireAt: NOW,
      thresholds: THRESHOLDS,
    },
    NOW,
  );
  return { claimed, running: after(claimed, decided), patch: decided.patch };
}

describe('the protocol invariants', () => {
  it('overlap: a call that starts while another of the schedule is in flight', () => {
    const monitor = new ProtocolMonitor(3);
    const { claimed, running, patch } = started();
    expect(monitor.write(write(claimed.state, running.state, { patch }))).toEqual([]);
    expect(monitor.callStarted(call('L1', 1, NOW, null))).toEqual([]);
    const second = monitor.callStarted(call('L1', 1, NOW + 1, null));
    expect(second.map((v) => v.invariant)).toContain('overlap');
  });

  it('inactive: an attempt started on a paused schedule, and a call with no attempt started', () => {
    const monitor = new ProtocolMonitor(3);
    const { claimed, running, patch } = started();
    const paused = monitor.write(
      write(claimed.state, running.state, { patch, data: interval('1m', { enabled: false }) }),
    );
    expect(paused.map((v) => v.invariant)).toEqual(['inactive']);
    expect(monitor.callStarted(call('L9', 1, NOW, null)).map((v) => v.invariant)).toEqual([
      'inactive',
    ]);
  });

  it('owed: a write that drops an owed point with no run, dead letter or skip for it', () => {
    const monitor = new ProtocolMonitor(3);
    const due = subject(grid, { status: 'active', lane: 'high', nextDueAt: NOW - 60_000 });
    const dropped = { ...due.state, nextDueAt: NOW + 60_000 };
    expect(monitor.write(write(due.state, dropped)).map((v) => v.invariant)).toEqual(['owed']);
    // The same move, by a completion that served the point, is fine.
    const { running } = started();
    const done = complete(
      running,
      { leaseId: 'L1', attemptId: 'a1', startedAt: NOW, thresholds: THRESHOLDS },
      NOW + 5_000,
    );
    expect(
      monitor.write(
        write(running.state, after(running, done).state, {
          patch: done.patch,
          at: NOW + 5_000,
          decidedAt: NOW + 5_000,
        }),
      ),
    ).toEqual([]);
    // An edit that keeps the owed point is fine; pausing ends what it owed.
    const edit = edited(due, interval('2m'));
    const reconciled = reconcile(edit, NOW, THRESHOLDS);
    expect(monitor.write(write(due.state, after(edit, reconciled).state))).toEqual([]);
    expect(
      monitor.write(write(due.state, { ...due.state, status: 'paused', nextDueAt: null })),
    ).toEqual([]);
  });

  it('stuck and lease: active with no due time; a live lease ending after nextDueAt', () => {
    const monitor = new ProtocolMonitor(3);
    const stuck = subject(grid, { status: 'active', nextDueAt: null }).state;
    expect(monitor.step(NOW, [{ id: 's', state: stuck }]).map((v) => v.invariant)).toEqual([
      'stuck',
    ]);
    const { running } = started();
    const early = { ...running.state, nextDueAt: NOW };
    expect(monitor.step(NOW + 1, [{ id: 's', state: early }]).map((v) => v.invariant)).toEqual([
      'lease',
    ]);
    expect(monitor.step(NOW + 1, [{ id: 's', state: running.state }])).toEqual([]);
  });

  it('attempts: more failed calls in a row than the limit, within one series of leases', () => {
    const monitor = new ProtocolMonitor(2);
    expect(monitor.callEnded(call('L1', 1, NOW, NOW + 1, 'retryable'))).toEqual([]);
    expect(monitor.callEnded(call('L1', 2, NOW + 2, NOW + 3, 'crash'))).toEqual([]);
    const third = monitor.callEnded(call('L2', 3, NOW + 4, NOW + 5, 'aborted'));
    expect(third.map((v) => v.invariant)).toEqual(['attempts']);
    // A success starts the count again.
    const fresh = new ProtocolMonitor(2);
    fresh.callEnded(call('L1', 1, NOW, NOW + 1, 'retryable'));
    fresh.callEnded(call('L1', 2, NOW + 2, NOW + 3, 'success'));
    fresh.callEnded(call('L2', 1, NOW + 4, NOW + 5, 'retryable'));
    expect(fresh.callEnded(call('L2', 2, NOW + 6, NOW + 7, 'retryable'))).toEqual([]);
  });
});
