/**
 * Only the medium and low lanes escalate: no decision leaves a schedule in the high lane with an
 * escalation point, so the planner finds every schedule to escalate with one query over the
 * medium and low lanes (functions/planner/tick.ts). A schedule's escalation point is always its stored lane's,
 * also when a claim moves it to another lane than the one it was stored in.
 */
import { describe, expect, it } from 'vitest';
import { escalate, reconcile } from '../../../functions/protocol/decisions.js';
import { claimOperatorRun } from '../../../functions/protocol/operator-runs.js';
import { ProtocolMonitor } from '../../../functions/protocol/invariants.js';
import { after, at, documentOf, subject, THRESHOLDS } from './subjects.js';

const NOW = at('2026-06-20T10:00:00Z');
const MINUTE = 60_000;
const GRACE = 120_000;
/** In its 1-minute (high) tier since 08:00. */
const race = documentOf({ kind: 'event', startsAt: '2026-06-20T10:30:00Z' });
/** Low until its 5-minute tier begins, 24 hours before the start. */
const nextWeek = documentOf({ kind: 'event', startsAt: '2026-06-27T08:30:00Z' });

/** Next week's race, waiting in the low lane with its escalation point (its 5-minute tier). */
const waitingLow = () =>
  subject(nextWeek, {
    status: 'active',
    lane: 'low',
    nextDueAt: NOW + 30 * MINUTE,
    dueAt: NOW - 30 * MINUTE,
    escalatesAt: at('2026-06-26T08:30:00Z'),
    lastLeaseId: 'P0',
    health: 'ok',
  });

describe('escalation points by lane', () => {
  it('an operator’s run dispatched in the high lane leaves no escalation point', () => {
    const waiting = waitingLow();
    const decided = claimOperatorRun(
      waiting,
      { kind: 'manual', leaseId: 'M1', graceMs: GRACE, thresholds: THRESHOLDS, lane: 'high' },
      NOW,
    );
    expect(decided.outcome).toMatchObject({ kind: 'claimed', lane: 'high' });
    expect(after(waiting, decided).state).toMatchObject({ lane: 'high', escalatesAt: null });
  });

  it('an operator’s run in the schedule’s own lane keeps that lane’s escalation point', () => {
    const waiting = waitingLow();
    const decided = claimOperatorRun(
      waiting,
      { kind: 'manual', leaseId: 'M1', graceMs: GRACE, thresholds: THRESHOLDS },
      NOW,
    );
    expect(after(waiting, decided).state).toMatchObject({
      lane: 'low',
      escalatesAt: at('2026-06-26T08:30:00Z'),
    });
  });

  it('reconciling and escalating into the high lane leave no escalation point', () => {
    const fresh = subject(race, { specHash: null });
    const reconciled = after(fresh, reconcile(fresh, NOW, THRESHOLDS));
    expect(reconciled.state).toMatchObject({ lane: 'high', escalatesAt: null });
    const waiting = subject(race, {
      status: 'active',
      lane: 'medium',
      nextDueAt: NOW - 5 * MINUTE,
      escalatesAt: at('2026-06-20T08:00:00Z'),
    });
    const escalated = after(waiting, escalate(waiting, NOW, THRESHOLDS));
    expect(escalated.state).toMatchObject({ lane: 'high', escalatesAt: null });
  });

  it('the protocol checker flags a schedule in the high lane with an escalation point', () => {
    const monitor = new ProtocolMonitor(3);
    const waiting = subject(race, { status: 'active', lane: 'high', nextDueAt: NOW }).state;
    expect(monitor.step(NOW, [{ id: 's', state: waiting }])).toEqual([]);
    const flagged = monitor.step(NOW, [{ id: 's', state: { ...waiting, escalatesAt: NOW } }]);
    expect(flagged.map((v) => v.invariant)).toEqual(['escalation']);
  });
});
