/**
 * Holding a running attempt's lease: renew it every third of its length, and stop the call a
 * margin before the lease's confirmed end when renewals do not get through.
 *
 * The confirmed end is measured on this process's clock from the moment the last successful
 * renewal (or the start) was *sent*: the store set the lease's end from its own time when the
 * request arrived, which is later, so the local deadline always falls before the store's — by at
 * least the margin. A clock that runs ahead or behind does not matter; only durations are
 * measured here.
 */
import type { Clock, Cancel } from '../clock.js';
import { PacerError } from '../errors.js';

/** How long before its confirmed end a lease is given up: a sixth of it (10 s of 60 s). */
export function leaseMarginMs(leaseMs: number): number {
  return Math.floor(leaseMs / 6);
}

/** Renewals happen every third of the lease (at least every second). */
export function renewalPeriodMs(leaseMs: number): number {
  return Math.max(1_000, Math.floor(leaseMs / 3));
}

export interface LeaseHold {
  /** Aborted when the lease is lost, or about to lapse without a renewal. */
  signal: AbortSignal;
  /** Stops renewing and waits for a renewal in progress. */
  stop(): Promise<void>;
}

export interface HoldOptions {
  clock: Clock;
  leaseMs: number;
  /** This process's time when the request that confirmed the lease (the start) was sent. */
  confirmedFrom: number;
  /** One renewal; `lost` when the lease is no longer this attempt's. */
  renew: () => Promise<'renewed' | 'lost'>;
  /** A renewal that failed (the store did not answer): the next one tries again. */
  onRenewFailed: (error: unknown) => void;
}

/** Starts holding the lease. */
export function holdLease(options: HoldOptions): LeaseHold {
  const { clock, leaseMs } = options;
  const lost = new AbortController();
  const marginMs = leaseMarginMs(leaseMs);
  let stopped = false;
  let renewing: Promise<void> | null = null;
  let cancelDeadline: Cancel = () => undefined;

  const abort = (code: 'lease_lost', message: string) => {
    if (!lost.signal.aborted) lost.abort(new PacerError(code, message));
  };
  const armDeadline = (confirmedFrom: number) => {
    cancelDeadline();
    const wait = confirmedFrom + leaseMs - marginMs - clock.now();
    cancelDeadline = clock.after(Math.max(0, wait), () => {
      abort('lease_lost', 'the lease could not be renewed before it would lapse');
    });
  };
  armDeadline(options.confirmedFrom);

  const cancelRenewals = clock.every(renewalPeriodMs(leaseMs), () => {
    if (stopped || renewing !== null || lost.signal.aborted) return;
    const sentAt = clock.now();
    renewing = options
      .renew()
      .then(
        (outcome) => {
          if (stopped) return;
          if (outcome === 'lost') abort('lease_lost', 'the lease was taken while the sync ran');
          else armDeadline(sentAt);
        },
        (error: unknown) => {
          options.onRenewFailed(error);
        },
      )
      .finally(() => {
        renewing = null;
      });
  });

  return {
    signal: lost.signal,
    async stop() {
      stopped = true;
      cancelRenewals();
      cancelDeadline();
      await renewing;
    },
  };
}
