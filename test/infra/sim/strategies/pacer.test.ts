import { describe, expect, it } from 'vitest';
import { runPacer } from '../../../../infra/sim/strategies/pacer.js';
import type { SyncAttempt } from '../../../../infra/sim/record.js';
import { at, scenarioOf } from '../helpers.js';

const everyMinute = {
  id: 'minutely',
  name: 'm',
  cadence: { kind: 'interval', every: '1m', spread: false },
};

const successes = (attempts: readonly SyncAttempt[]) =>
  attempts.filter((attempt) => attempt.outcome === 'success');
const inHour = (attempts: readonly SyncAttempt[]) =>
  attempts.filter(
    (attempt) =>
      attempt.start >= at('2026-06-20T10:00:00Z') && attempt.start < at('2026-06-20T11:00:00Z'),
  );

describe('pacer in the simulator', () => {
  it('syncs a 1-minute schedule with ample capacity 60 times in an hour, each on its due point', async () => {
    const { scenario, schedules } = scenarioOf({ schedules: [everyMinute] });
    const run = await runPacer(scenario, schedules);
    const synced = inHour(successes(run.attempts));

    expect(synced).toHaveLength(60);
    // Due points a minute apart from the first, none skipped, none served twice.
    expect(synced.map((attempt) => attempt.dueAt - at('2026-06-20T10:00:00Z'))).toEqual(
      Array.from({ length: 60 }, (_, i) => i * 60_000),
    );
    // Ticks land on the minute (no jitter here), so each waits only for the planner's I/O.
    for (const attempt of synced) expect(attempt.start - attempt.dueAt).toBeLessThan(1_000);
    expect(run.planner?.ticks).toBe(60); // none after the window; syncs in flight may finish
  });

  it("retries a crashed worker's point once its lease lapses: served or coalesced, attempts counted on", async () => {
    const { scenario, schedules } = scenarioOf({
      schedules: [everyMinute],
      failures: { crash: 0.3 },
      seed: 3,
    });
    const run = await runPacer(scenario, schedules);
    const calls = [...run.attempts].sort((a, b) => a.start - b.start);
    const crashes = calls.filter((attempt) => attempt.outcome === 'crash');
    expect(crashes.length).toBeGreaterThan(5);
    for (const crash of crashes) {
      const next = calls.find((attempt) => attempt.start > crash.start);
      if (next === undefined) continue;
      // The next call serves the crashed point again, or a later one it is coalesced into, and
      // counts on from the crashed attempt (the lease's attempts carry over).
      expect(next.dueAt).toBeGreaterThanOrEqual(crash.dueAt);
      expect(next.attempt, `after the crash at ${new Date(crash.start).toISOString()}`).toBe(
        crash.attempt + 1,
      );
      // Never beside the crashed call: its lease is not taken over before it lapses.
      expect(next.start).toBeGreaterThanOrEqual(crash.end);
    }
    expect(run.deadLetters).toEqual([]);
  });

  it('dead-letters a dispatch after maxAttempts retryable failures, and the schedule goes on', async () => {
    const { scenario, schedules } = scenarioOf({
      schedules: [
        { id: 'hourly', name: 'h', cadence: { kind: 'interval', every: '1h', spread: false } },
      ],
      failures: { retryable: 1 },
      pacer: { tickJitter: '0s', storeLatency: '0ms', settings: { PACER_MAX_ATTEMPTS: '3' } },
      end: '2026-06-20T12:00:00Z',
    });
    const run = await runPacer(scenario, schedules);
    const first = run.attempts.filter((attempt) => attempt.dueAt === at('2026-06-20T10:00:00Z'));
    expect(first.map((attempt) => attempt.attempt)).toEqual([1, 2, 3]);
    // The low lane's backoff, 30 s then 60 s, and the push's delivery latency (50 ms).
    expect(first[1]!.start - first[0]!.end).toBe(30_050);
    expect(first[2]!.start - first[1]!.end).toBe(60_050);
    // (The point of 12:00, the run's end, is claimed ahead before the end and dead-lettered too.)
    expect(run.deadLetters?.map((letter) => [letter.reason, letter.dueAt])).toEqual([
      ['attempts', at('2026-06-20T10:00:00Z')],
      ['attempts', at('2026-06-20T11:00:00Z')],
      ['attempts', at('2026-06-20T12:00:00Z')],
    ]);
  });

  it('dead-letters a permanent failure at once; the next due point is served on time', async () => {
    const { scenario, schedules } = scenarioOf({
      schedules: [everyMinute],
      failures: { permanent: 1 },
    });
    const run = await runPacer(scenario, schedules);
    const hour = inHour(run.attempts);
    expect(hour).toHaveLength(60);
    expect(hour.every((attempt) => attempt.attempt === 1 && attempt.outcome === 'permanent')).toBe(
      true,
    );
    expect(
      run.deadLetters?.filter((letter) => letter.reason === 'permanent').length,
    ).toBeGreaterThanOrEqual(60);
  });

  it('never runs more syncs at once than the shared limit, and sends the high lane first', async () => {
    const { scenario, schedules } = scenarioOf({
      sharedLimit: 4,
      syncDuration: { distribution: 'fixed', value: '20s' },
      generate: [
        { id: 'fast', count: 6, cadence: { kind: 'interval', every: '1m', spread: false } },
        { id: 'slow', count: 40, cadence: { kind: 'interval', every: '1h', spread: false } },
      ],
    });
    const run = await runPacer(scenario, schedules);
    const edges = run.attempts
      .filter((attempt) => attempt.outcome !== 'rejected')
      .flatMap((attempt) => [
        [attempt.start, 1],
        [attempt.end, -1],
      ])
      .sort((a, b) => a[0]! - b[0]! || a[1]! - b[1]!);
    let running = 0;
    let most = 0;
    for (const [, change] of edges) {
      running += change!;
      most = Math.max(most, running);
    }
    expect(most).toBe(4);
    expect(run.attempts.filter((attempt) => attempt.outcome === 'rejected')).toEqual([]);
    expect(run.planner!.lanes.low.deferred).toBeGreaterThan(0);
  });

  it('does not plan during a planner outage and heals when the planner returns', async () => {
    const { scenario, schedules } = scenarioOf({
      schedules: [everyMinute],
      outages: [{ from: '2026-06-20T10:20:00Z', to: '2026-06-20T10:30:00Z' }],
    });
    const run = await runPacer(scenario, schedules);
    const synced = inHour(successes(run.attempts));
    const during = synced.filter(
      (attempt) =>
        attempt.start > at('2026-06-20T10:20:00Z') && attempt.start < at('2026-06-20T10:30:00Z'),
    );
    // (The point of 10:20 itself was claimed ahead, at 10:19:50, before the outage began.)
    expect(during).toEqual([]);
    // Missed points are coalesced into one run at the return, serving the latest (10:30), then
    // the cadence goes on: one run per minute, none back to back for the points missed.
    const after = synced.filter((attempt) => attempt.start >= at('2026-06-20T10:30:00Z'));
    expect(after[0]!.dueAt).toBe(at('2026-06-20T10:30:00Z'));
    expect(after[1]!.dueAt).toBe(at('2026-06-20T10:31:00Z'));
    expect(after).toHaveLength(30);
  });

  it("acks the redeliveries of a crashed worker's message, and never runs two calls at once", async () => {
    // A worker that keeps crashing in the low lane: Pub/Sub redelivers its message while its
    // lease still holds (acked as a duplicate: a live lease is never taken over) or after the
    // planner dispatched the schedule again under a new lease (acked as stale).
    const { scenario, schedules } = scenarioOf({
      schedules: [
        {
          id: 'hourly',
          name: 'h',
          cadence: { kind: 'interval', every: '1h', spread: false },
          maxRunSeconds: 60,
        },
      ],
      failures: { crash: 1 },
      pacer: {
        tickJitter: '0s',
        settings: { PACER_DISPATCH_GRACE_SECONDS: '10', PACER_MAX_ATTEMPTS: '10' },
      },
    });
    const run = await runPacer(scenario, schedules);
    expect(run.planner!.staleAcks + run.planner!.duplicateAcks).toBeGreaterThan(0);
    // Never two calls at once: the old message is acked, or its worker wins and the
    // planner's claim is refused by the changed document.
    const calls = [...run.attempts].sort((a, b) => a.start - b.start);
    for (let i = 1; i < calls.length; i++) {
      expect(calls[i]!.start).toBeGreaterThanOrEqual(calls[i - 1]!.end);
    }
  });
});
