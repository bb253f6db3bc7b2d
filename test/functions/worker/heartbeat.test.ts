/**
 * Holding a running attempt's lease: renewals every third of the lease, one at a time, and the
 * call stopped a sixth of the lease before its confirmed end when renewals do not get through —
 * never after the lease could have lapsed (defect 5 of the protocol issue: it used to stop
 * 15–240 ms after the lease's end). On a virtual clock, so times are exact.
 */
import { describe, expect, it } from 'vitest';
import type { Clock } from '../../../functions/clock.js';
import { holdLease, leaseMarginMs, renewalPeriodMs } from '../../../functions/worker/heartbeat.js';
import { VirtualClock } from '../../../infra/sim/clock.js';

const LEASE = 60_000;

function clockOn(virtual: VirtualClock): Clock {
  return {
    now: () => virtual.now(),
    monotonic: () => virtual.now(),
    sleep: (ms) => virtual.sleep(ms),
    after: (ms, fn) => virtual.after(ms, fn),
    every: (ms, fn) => {
      let cancel = virtual.after(ms, function beat() {
        cancel = virtual.after(ms, beat);
        fn();
      });
      return () => {
        cancel();
      };
    },
    timeout: () => new AbortController().signal,
  };
}

/** Holds a lease from t = 0 with `renew` answering each renewal; runs until `until`. */
async function hold(
  renew: (n: number, virtual: VirtualClock) => Promise<'renewed' | 'lost'>,
  until: number,
) {
  const virtual = new VirtualClock(0);
  const renewals: number[] = [];
  const failures: number[] = [];
  let n = 0;
  const held = holdLease({
    clock: clockOn(virtual),
    leaseMs: LEASE,
    confirmedFrom: 0,
    renew: () => {
      renewals.push(virtual.now());
      return renew(n++, virtual);
    },
    onRenewFailed: () => failures.push(virtual.now()),
  });
  let abortedAt: number | null = null;
  held.signal.addEventListener('abort', () => {
    abortedAt = virtual.now();
  });
  await virtual.run(until);
  await held.stop();
  return {
    renewals,
    failures,
    abortedAt: abortedAt as number | null,
    reason: held.signal.reason as unknown,
  };
}

describe('holding a lease', () => {
  it('renews every third of the lease and never stops a call whose renewals get through', async () => {
    const { renewals, abortedAt } = await hold(() => Promise.resolve('renewed'), 5 * LEASE);
    expect(renewals.slice(0, 3)).toEqual([20_000, 40_000, 60_000]);
    expect(abortedAt).toBeNull();
  });

  it('stops the call a sixth of the lease before its confirmed end when no renewal gets through', async () => {
    const { abortedAt, failures, reason } = await hold(
      () => Promise.reject(new Error('Firestore is unreachable')),
      2 * LEASE,
    );
    expect(failures).toEqual([20_000, 40_000]);
    expect(abortedAt).toBe(LEASE - leaseMarginMs(LEASE));
    expect(abortedAt).toBeLessThan(LEASE);
    expect(reason).toMatchObject({ code: 'lease_lost' });
  });

  it('measures the confirmed end from when the last good renewal was sent, not answered', async () => {
    // The first renewal (sent at 20 s) is answered 15 s late; the rest never get through.
    const { abortedAt } = await hold(
      (n, virtual) =>
        n === 0
          ? virtual.sleep(15_000).then(() => 'renewed' as const)
          : Promise.reject(new Error('unreachable')),
      3 * LEASE,
    );
    expect(abortedAt).toBe(20_000 + LEASE - leaseMarginMs(LEASE));
  });

  it('stops at once when a renewal finds the lease taken, and sends one renewal at a time', async () => {
    let inFlight = 0;
    let most = 0;
    const { abortedAt, renewals } = await hold(async (n, virtual) => {
      inFlight++;
      most = Math.max(most, inFlight);
      await virtual.sleep(n === 0 ? 25_000 : 1_000); // the first hangs past a period
      inFlight--;
      return n === 0 ? 'renewed' : 'lost';
    }, 3 * LEASE);
    expect(most).toBe(1);
    expect(renewals).toEqual([20_000, 60_000]); // the beat at 40 s found one still out
    expect(abortedAt).toBe(61_000);
  });

  it('renews at least every second, however short the lease', () => {
    expect(renewalPeriodMs(3_000)).toBe(1_000);
    expect(renewalPeriodMs(60_000)).toBe(20_000);
    expect(leaseMarginMs(60_000)).toBe(10_000);
  });
});
