/**
 * A target's rate-limit refusal (429 or 503 with `Retry-After`): `holdForRateLimit` gives the
 * attempt back and holds the schedule until the block ends; nothing of the refused message
 * starts before then, and after it the planner claims again with the attempts carried over.
 */
import { describe, expect, it } from 'vitest';
import { claim, holdForRateLimit, screen, start } from '../../../functions/protocol/decisions.js';
import { owedSince } from '../../../functions/protocol/state.js';
import { after, at, interval, subject, THRESHOLDS } from './subjects.js';

const NOW = at('2026-06-20T10:00:00Z');
const BLOCK = 30_000;
const startRequest = (attemptId: string, leaseId = 'L1') => ({
  leaseId,
  attemptId,
  leaseMs: 60_000,
  maxAttempts: 3,
  expireAt: NOW + 86_400_000,
  thresholds: THRESHOLDS,
});
const holdRequest = (attemptId = 'a1') => ({
  leaseId: 'L1',
  attemptId,
  holdLeaseId: 'H1',
  until: NOW + BLOCK,
  error: { code: 'target_rate_limited', message: 'answered 429 (Retry-After: 30)' },
  thresholds: THRESHOLDS,
});

function running() {
  const due = subject(interval('1m'), { status: 'active', lane: 'high', nextDueAt: NOW - 5_000 });
  const claimed = after(
    due,
    claim(due, { leaseId: 'L1', graceMs: 120_000, thresholds: THRESHOLDS }, NOW),
  );
  return after(claimed, start(claimed, startRequest('a1'), NOW));
}

describe('a rate-limit refusal', () => {
  it('gives the attempt back and holds the schedule until the block ends, the point kept', () => {
    const before = running();
    const decided = holdForRateLimit(before, holdRequest(), NOW);
    expect(decided.outcome).toBe('held');
    const held = after(before, decided);
    expect(held.state.lease).toMatchObject({
      id: 'H1',
      attempt: 0,
      running: false,
      attemptId: null,
      until: NOW + BLOCK,
    });
    expect(held.state.nextDueAt).toBe(NOW + BLOCK);
    expect(owedSince(held.state)).toBe(owedSince(before.state));
    expect(held.state.consecutiveFailures).toBe(before.state.consecutiveFailures);
    expect(decided.patch?.run).toMatchObject({ leaseId: 'L1', fields: { status: 'rate_limited' } });
  });

  it('lets nothing of the refused message start before the block ends', () => {
    const held = after(running(), holdForRateLimit(running(), holdRequest(), NOW));
    expect(start(held, startRequest('a2'), NOW + 1_000).outcome).toMatchObject({ kind: 'stale' });
    expect(screen(held, NOW + BLOCK - 1, THRESHOLDS).outcome.kind).toBe('held');
  });

  it('is claimed again after the block, the attempts carried over (none burned)', () => {
    const held = after(running(), holdForRateLimit(running(), holdRequest(), NOW));
    const decided = claim(
      held,
      { leaseId: 'L2', graceMs: 120_000, thresholds: THRESHOLDS },
      NOW + BLOCK,
    );
    expect(decided.outcome).toMatchObject({ kind: 'claimed', lease: { id: 'L2', attempt: 0 } });
  });

  it('is lost when the attempt no longer holds the lease', () => {
    expect(holdForRateLimit(running(), holdRequest('other'), NOW).outcome).toBe('lost');
    expect(holdForRateLimit(null, holdRequest(), NOW).outcome).toBe('lost');
  });
});
