/**
 * The planning decision: which due schedules one sub-tick dispatches. Pure: no clock (`now` is
 * an argument), no I/O. The tick, the simulator and the tests all call it.
 *
 * Rules, in the order they bind:
 * - lanes are served high → medium → low;
 * - a lane dispatches at most its cap per sub-tick; cap it leaves unused (no demand, or held
 *   back by a budget) flows down to the next lane;
 * - a lane never has more in flight than its own budget (its workers' capacity);
 * - with a total budget (a downstream provider's limit), all lanes together never exceed it;
 *   under it the high lane goes first, but each lane with demand keeps its reserved minimum of
 *   in-flight slots, so none is starved completely;
 * - within a lane, the most overdue first;
 * - points claimed ahead (due before the next sub-tick, not yet due) get only the room the due
 *   points of every lane leave: a lane's point to come never takes a slot from another lane's
 *   point already due.
 */
import type { PerLane } from '../config.js';
import { LANES, type Lane } from '../schedule/lane.js';

/** A schedule that is due: its id, the oldest due point it owes, and its lane. */
export interface Candidate {
  id: string;
  /** The oldest due point it owes: the queue order (most overdue first) and the lag. */
  dueAt: number;
  lane: Lane;
}

/** The limits the plan obeys (a subset of the settings). */
export interface PlanLimits {
  caps: PerLane<number>;
  inFlightBudget: PerLane<number>;
  totalInFlightBudget: number | null;
  reserved: PerLane<number>;
}

export interface LanePlan {
  /** Schedules due in the lane (all of them, not only the candidates read). */
  due: number;
  /** Schedules in flight in the lane before this sub-tick. */
  inFlight: number;
  /** How many the lane may dispatch this sub-tick. */
  allowance: number;
  dispatched: number;
  /** Due but not dispatched this sub-tick. */
  deferred: number;
  /** How late the most overdue due schedule is, or null when nothing is due. */
  oldestLagMs: number | null;
  /**
   * Points due (or due before the next sub-tick) were left waiting for in-flight room (the
   * lane's budget or the total), not for the lane's cap: a slot freed before the next sub-tick
   * could take one.
   */
  waitingForRoom: boolean;
}

export interface Plan {
  /** What to dispatch, high lane first, most overdue first within a lane. */
  dispatch: Candidate[];
  lanes: PerLane<LanePlan>;
}

export interface PlanInput {
  /** How many schedules are due per lane (a count, not a list). */
  due: PerLane<number>;
  /** Due schedules per lane, any order; the most overdue of them are dispatched. */
  candidates: PerLane<readonly Candidate[]>;
  inFlight: PerLane<number>;
  now: number;
}

/**
 * How many schedules each lane may dispatch this sub-tick, given its demand (what is due) and
 * what is already in flight.
 */
export function allocate(
  demand: PerLane<number>,
  inFlight: PerLane<number>,
  limits: PlanLimits,
): PerLane<number> {
  const laneRoom = perLane((lane) => Math.max(0, limits.inFlightBudget[lane] - inFlight[lane]));
  const totalInFlight = LANES.reduce((sum, lane) => sum + inFlight[lane], 0);
  let totalRoom =
    limits.totalInFlightBudget === null
      ? Number.POSITIVE_INFINITY
      : Math.max(0, limits.totalInFlightBudget - totalInFlight);

  // Reserved minimums first, in lane order: a lane with demand and fewer than its reserved
  // slots in flight is guaranteed the difference, as far as the total budget allows.
  const guaranteed = perLane(() => 0);
  for (const lane of LANES) {
    const shortOfReserve = Math.max(0, limits.reserved[lane] - inFlight[lane]);
    const wanted = Math.min(shortOfReserve, demand[lane], laneRoom[lane], limits.caps[lane]);
    guaranteed[lane] = Math.min(wanted, totalRoom);
    totalRoom -= guaranteed[lane];
  }

  // Then the rest, high lane first, with unused cap flowing down.
  const allowance = perLane(() => 0);
  let carried = 0;
  for (const lane of LANES) {
    const cap = limits.caps[lane] + carried;
    const extra = Math.max(
      0,
      Math.min(demand[lane], cap, laneRoom[lane], guaranteed[lane] + totalRoom) - guaranteed[lane],
    );
    allowance[lane] = guaranteed[lane] + extra;
    totalRoom -= extra;
    carried = Math.max(0, cap - allowance[lane]);
  }
  return allowance;
}

/**
 * The most `lane` could be given now, however much is due in it, when the lanes above it have
 * `dueAbove` points due now (their points to come wait for this lane's due points, and the
 * lanes below get only what is left). No plan gives the lane more, so a sub-tick reads that far
 * into its due points; counting fewer due above only raises it.
 */
export function roomFor(
  lane: Lane,
  dueAbove: PerLane<number>,
  inFlight: PerLane<number>,
  limits: PlanLimits,
): number {
  const index = LANES.indexOf(lane);
  const demand = perLane((other) => {
    const at = LANES.indexOf(other);
    if (at < index) return dueAbove[other];
    return at === index ? Number.POSITIVE_INFINITY : 0;
  });
  return allocate(demand, inFlight, limits)[lane];
}

/**
 * Whether any lane could be given a slot now, whatever is due: the budgets and caps alone. A
 * refill sub-tick that finds none reads nothing more.
 */
export function hasRoom(inFlight: PerLane<number>, limits: PlanLimits): boolean {
  const allowance = allocate(
    perLane(() => Number.POSITIVE_INFINITY),
    inFlight,
    limits,
  );
  return LANES.some((lane) => allowance[lane] > 0);
}

/** Chooses what one sub-tick dispatches. */
export function plan(input: PlanInput, limits: PlanLimits): Plan {
  const sorted = perLane((lane) =>
    [...input.candidates[lane]].sort((a, b) => a.dueAt - b.dueAt || a.id.localeCompare(b.id)),
  );
  const due = perLane((lane) => Math.max(input.due[lane], sorted[lane].length));
  const dueNow = perLane((lane) => sorted[lane].filter((c) => c.dueAt <= input.now).length);
  const first = allocate(dueNow, input.inFlight, limits);
  const second = allocate(
    perLane((lane) => sorted[lane].length - dueNow[lane]),
    perLane((lane) => input.inFlight[lane] + first[lane]),
    { ...limits, caps: capsLeft(limits.caps, first) },
  );
  const allowance = perLane((lane) => first[lane] + second[lane]);
  const totalBusy = LANES.reduce((sum, lane) => sum + input.inFlight[lane] + allowance[lane], 0);
  const totalFull = limits.totalInFlightBudget !== null && totalBusy >= limits.totalInFlightBudget;

  const dispatch: Candidate[] = [];
  const lanes = perLane((lane): LanePlan => {
    const chosen = sorted[lane].slice(0, allowance[lane]);
    dispatch.push(...chosen);
    const oldest = sorted[lane][0];
    return {
      due: due[lane],
      inFlight: input.inFlight[lane],
      allowance: allowance[lane],
      dispatched: chosen.length,
      deferred: due[lane] - chosen.length,
      oldestLagMs: oldest === undefined ? null : Math.max(0, input.now - oldest.dueAt),
      waitingForRoom:
        allowance[lane] < Math.min(due[lane], limits.caps[lane]) &&
        (totalFull || input.inFlight[lane] + allowance[lane] >= limits.inFlightBudget[lane]),
    };
  });
  return { dispatch, lanes };
}

/**
 * The caps a second allocation may still use after `used`. Caps flow down, so lanes up to any
 * lane may dispatch at most the caps up to it in all; what the first allocation used counts
 * against that, including a higher lane's cap that flowed down and was used below (taking
 * `cap - used` lane by lane would let it flow down a second time).
 */
export function capsLeft(caps: PerLane<number>, used: PerLane<number>): PerLane<number> {
  // For each lane: how much lanes up to it may still dispatch in all.
  let capsSoFar = 0;
  let usedSoFar = 0;
  const left = LANES.map((lane) => {
    capsSoFar += caps[lane];
    usedSoFar += used[lane];
    return Math.max(0, capsSoFar - usedSoFar);
  });
  // Allowances are never negative, so what lanes below may still take bounds the lanes above.
  for (let i = left.length - 2; i >= 0; i--) left[i] = Math.min(left[i] ?? 0, left[i + 1] ?? 0);
  return perLane((lane) => {
    const i = LANES.indexOf(lane);
    return (left[i] ?? 0) - (i === 0 ? 0 : (left[i - 1] ?? 0));
  });
}

/** Builds a per-lane record. */
export function perLane<T>(value: (lane: Lane) => T): PerLane<T> {
  return { high: value('high'), medium: value('medium'), low: value('low') };
}
