/**
 * Time as the functions use it, injected: the real one in production, a virtual one in the
 * simulator and the protocol checker. A process's clock only measures and waits — lease
 * decisions take the store's time (see functions/protocol/decisions.ts) — so a clock that runs
 * ahead or behind cannot break a lease.
 */
import { setTimeout as sleep } from 'node:timers/promises';

/** Stops a timer. */
export type Cancel = () => void;

export interface Clock {
  /** This process's time, ms since the epoch. */
  now(): number;
  /**
   * Milliseconds from an arbitrary origin that never step (the system clock may be set back or
   * forward; this is not): for how long something took, where a step would break a bound.
   */
  monotonic(): number;
  sleep(ms: number): Promise<void>;
  /** Calls `fn` once, `ms` from now. */
  after(ms: number, fn: () => void): Cancel;
  /** Calls `fn` every `ms`. */
  every(ms: number, fn: () => void): Cancel;
  /** A signal that aborts `ms` from now. */
  timeout(ms: number): AbortSignal;
}

export const systemClock: Clock = {
  now: Date.now,
  monotonic: () => performance.now(),
  sleep: (ms) => sleep(ms),
  after(ms, fn) {
    const timer = setTimeout(fn, ms);
    return () => {
      clearTimeout(timer);
    };
  },
  every(ms, fn) {
    const timer = setInterval(fn, ms);
    return () => {
      clearInterval(timer);
    };
  },
  timeout: (ms) => AbortSignal.timeout(ms),
};
