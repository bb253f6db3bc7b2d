import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { PerLane } from '../../../functions/config.js';
import {
  allocate,
  capsLeft,
  hasRoom,
  perLane,
  plan,
  roomFor,
  type Candidate,
  type PlanLimits,
} from '../../../functions/planner/plan.js';
import { LANES, type Lane } from '../../../functions/schedule/lane.js';

const lanes = (high: number, medium: number, low: number): PerLane<number> => ({
  high,
  medium,
  low,
});

/** The default limits: caps 50/20/10, roomy lane budgets, no total budget, reserves 1/1/1. */
const defaults: PlanLimits = {
  caps: lanes(50, 20, 10),
  inFlightBudget: lanes(1_000, 1_000, 1_000),
  totalInFlightBudget: null,
  reserved: lanes(1, 1, 1),
};

describe('hasRoom', () => {
  it.each<[string, PerLane<number>, Partial<PlanLimits>, boolean]>([
    ['nothing in flight', lanes(0, 0, 0), {}, true],
    ['every lane at its budget', lanes(2, 1, 1), { inFlightBudget: lanes(2, 1, 1) }, false],
    ['one lane below its budget', lanes(2, 1, 0), { inFlightBudget: lanes(2, 1, 1) }, true],
    ['the total budget reached', lanes(1, 0, 0), { totalInFlightBudget: 1 }, false],
    ['the total budget not reached', lanes(1, 0, 0), { totalInFlightBudget: 2 }, true],
    ['every cap at zero', lanes(0, 0, 0), { caps: lanes(0, 0, 0) }, false],
  ])('%s', (_what, inFlight, limits, expected) => {
    expect(hasRoom(inFlight, { ...defaults, ...limits })).toBe(expected);
  });
});

describe('capsLeft', () => {
  it.each<[string, PerLane<number>, PerLane<number>, PerLane<number>]>([
    ['nothing used', lanes(50, 20, 10), lanes(0, 0, 0), lanes(50, 20, 10)],
    ['each lane used some of its own', lanes(50, 20, 10), lanes(10, 5, 10), lanes(40, 15, 0)],
    // Medium took high's unused cap: high has none left to pass down again.
    ['a cap that flowed down and was used', lanes(1, 0, 0), lanes(0, 1, 0), lanes(0, 0, 0)],
    ['a cap that flowed two lanes down', lanes(2, 1, 0), lanes(0, 0, 3), lanes(0, 0, 0)],
    ['part of it: what is left flows down again', lanes(4, 1, 0), lanes(0, 3, 0), lanes(2, 0, 0)],
  ])('%s', (_what, caps, used, expected) => {
    expect(capsLeft(caps, used)).toEqual(expected);
  });
});

describe('roomFor', () => {
  it.each<[string, Lane, PerLane<number>, PerLane<number>, Partial<PlanLimits>, number]>([
    ['the high lane: its cap', 'high', lanes(0, 0, 0), lanes(0, 0, 0), {}, 50],
    [
      'nothing due above: every cap above flows down',
      'low',
      lanes(0, 0, 0),
      lanes(0, 0, 0),
      {},
      80,
    ],
    [
      'what is due above takes its share of the caps',
      'low',
      lanes(30, 40, 0),
      lanes(0, 0, 0),
      {},
      10,
    ],
    [
      'its own budget',
      'medium',
      lanes(0, 0, 0),
      lanes(0, 0, 0),
      { inFlightBudget: lanes(9, 3, 9) },
      3,
    ],
    [
      'the total room left by the lanes above',
      'low',
      lanes(2, 0, 0),
      lanes(4, 0, 1),
      { totalInFlightBudget: 8 },
      1,
    ],
    [
      'nothing when the total is full',
      'medium',
      lanes(0, 0, 0),
      lanes(4, 2, 1),
      { totalInFlightBudget: 7 },
      0,
    ],
  ])('%s', (_what, lane, dueAbove, inFlight, limits, expected) => {
    expect(roomFor(lane, dueAbove, inFlight, { ...defaults, ...limits })).toBe(expected);
  });

  it('bounds what any plan gives a lane, so reading that far reads every point it could take', () => {
    const count = fc.nat({ max: 40 });
    const perLaneOf = (arbitrary: fc.Arbitrary<number>) =>
      fc.record({ high: arbitrary, medium: arbitrary, low: arbitrary });
    fc.assert(
      fc.property(
        perLaneOf(count),
        perLaneOf(count),
        perLaneOf(count),
        perLaneOf(fc.nat({ max: 20 })),
        perLaneOf(fc.integer({ min: 1, max: 30 })),
        fc.option(fc.integer({ min: 1, max: 60 }), { nil: null }),
        perLaneOf(fc.nat({ max: 3 })),
        (dueNow, dueAhead, inFlight, caps, inFlightBudget, totalInFlightBudget, reserved) => {
          const limits: PlanLimits = { caps, inFlightBudget, totalInFlightBudget, reserved };
          const now = Date.UTC(2026, 5, 20, 8);
          const candidates = perLane((lane) => [
            ...Array.from({ length: dueNow[lane] }, (_, i) => ({
              id: `${lane}-due-${i}`,
              dueAt: now - 1_000 * (i + 1),
              lane,
            })),
            ...Array.from({ length: dueAhead[lane] }, (_, i) => ({
              id: `${lane}-ahead-${i}`,
              dueAt: now + 1_000 * (i + 1),
              lane,
            })),
          ]);
          const result = plan(
            {
              due: perLane((lane) => candidates[lane].length),
              candidates,
              inFlight,
              now,
            },
            limits,
          );
          for (const lane of LANES) {
            // What the lanes above have due now (the sub-tick knows it from their reads).
            const above = perLane((other) =>
              LANES.indexOf(other) < LANES.indexOf(lane) ? dueNow[other] : 0,
            );
            expect(result.lanes[lane].dispatched).toBeLessThanOrEqual(
              roomFor(lane, above, inFlight, limits),
            );
          }
        },
      ),
      { numRuns: 3_000 },
    );
  });
});

describe('allocate', () => {
  it.each<[string, PerLane<number>, PerLane<number>, Partial<PlanLimits>, PerLane<number>]>([
    ['caps are honoured', lanes(100, 100, 100), lanes(0, 0, 0), {}, lanes(50, 20, 10)],
    ['a lane without demand gets nothing', lanes(0, 3, 0), lanes(0, 0, 0), {}, lanes(0, 3, 0)],
    ['unused high cap flows to medium', lanes(5, 100, 100), lanes(0, 0, 0), {}, lanes(5, 65, 10)],
    ['unused cap keeps flowing down to low', lanes(5, 5, 100), lanes(0, 0, 0), {}, lanes(5, 5, 70)],
    [
      'no lane dispatches beyond its cap plus what flowed in',
      lanes(0, 0, 500),
      lanes(0, 0, 0),
      {},
      lanes(0, 0, 80),
    ],
    [
      'a lane never exceeds its in-flight budget; the cap it cannot use flows down',
      lanes(100, 100, 100),
      lanes(55, 0, 0),
      { inFlightBudget: lanes(60, 1_000, 1_000) },
      lanes(5, 65, 10),
    ],
    [
      'a full lane budget dispatches nothing in that lane',
      lanes(100, 100, 100),
      lanes(5, 40, 0),
      { inFlightBudget: lanes(1_000, 40, 1_000) },
      lanes(50, 0, 30),
    ],
    [
      'a total budget is filled high lane first, after each lane is given its reserve',
      lanes(100, 100, 100),
      lanes(0, 0, 0),
      { totalInFlightBudget: 20 },
      lanes(18, 1, 1),
    ],
    [
      'under a total budget the high lane takes what the lower lanes do not need',
      lanes(100, 0, 2),
      lanes(0, 0, 0),
      { totalInFlightBudget: 20 },
      lanes(19, 0, 1),
    ],
    [
      'a freed slot under a full total budget goes to a lane below its reserve, not to high',
      lanes(100, 5, 5),
      lanes(19, 0, 0),
      { totalInFlightBudget: 20 },
      lanes(0, 1, 0),
    ],
    [
      'the next freed slot goes to the next lane below its reserve',
      lanes(100, 5, 5),
      lanes(18, 1, 0),
      { totalInFlightBudget: 20 },
      lanes(0, 0, 1),
    ],
    [
      'once every lane has its reserve, freed slots go to the high lane again',
      lanes(100, 5, 5),
      lanes(17, 1, 1),
      { totalInFlightBudget: 20 },
      lanes(1, 0, 0),
    ],
    [
      'a full total budget dispatches nothing',
      lanes(100, 100, 100),
      lanes(18, 1, 1),
      { totalInFlightBudget: 20 },
      lanes(0, 0, 0),
    ],
    [
      'larger reserves hold more slots for the lower lanes',
      lanes(100, 100, 100),
      lanes(0, 0, 0),
      { totalInFlightBudget: 20, reserved: lanes(0, 4, 2) },
      lanes(14, 4, 2),
    ],
  ])('%s', (_name, demand, inFlight, limits, expected) => {
    expect(allocate(demand, inFlight, { ...defaults, ...limits })).toEqual(expected);
  });
});

describe('plan', () => {
  const at = (minute: number) => Date.UTC(2026, 5, 20, 8, minute);
  const candidate = (id: string, lane: Lane, dueMinute: number): Candidate => ({
    id,
    lane,
    dueAt: at(dueMinute),
  });

  it('dispatches the most overdue first within a lane, and the high lane first', () => {
    const result = plan(
      {
        due: lanes(3, 2, 0),
        candidates: {
          high: [
            candidate('h-late', 'high', 20),
            candidate('h-oldest', 'high', 5),
            candidate('h-mid', 'high', 10),
          ],
          medium: [candidate('m-b', 'medium', 1), candidate('m-a', 'medium', 1)],
          low: [],
        },
        inFlight: lanes(0, 0, 0),
        now: at(30),
      },
      { ...defaults, caps: lanes(2, 1, 1) },
    );
    expect(result.dispatch.map((c) => c.id)).toEqual(['h-oldest', 'h-mid', 'm-a']);
    expect(result.lanes.high).toEqual({
      due: 3,
      inFlight: 0,
      allowance: 2,
      dispatched: 2,
      deferred: 1,
      oldestLagMs: 25 * 60_000,
      waitingForRoom: false,
    });
    // high used its whole cap, so nothing flowed down to medium
    expect(result.lanes.medium).toMatchObject({
      dispatched: 1,
      deferred: 1,
      oldestLagMs: 29 * 60_000,
    });
    expect(result.lanes.low).toEqual({
      due: 0,
      inFlight: 0,
      allowance: 0,
      dispatched: 0,
      deferred: 0,
      oldestLagMs: null,
      waitingForRoom: false,
    });
  });

  it('gives points not yet due (dispatch ahead) only the room due points of every lane leave', () => {
    // Two slots in all: high has a point due in 5 s, medium one overdue. The overdue medium
    // point goes first; the high point to come takes the other slot.
    const now = at(30);
    const ahead = (id: string, lane: Lane, inMs: number): Candidate => ({
      id,
      lane,
      dueAt: now + inMs,
    });
    const limits = { ...defaults, totalInFlightBudget: 2, reserved: lanes(0, 0, 0) };
    const input = (high: Candidate[], medium: Candidate[]) => ({
      due: lanes(high.length, medium.length, 0),
      candidates: { high, medium, low: [] },
      inFlight: lanes(0, 0, 0),
      now,
    });
    const oneSlot = plan(
      input([ahead('h-soon', 'high', 5_000)], [candidate('m-late', 'medium', 20)]),
      {
        ...limits,
        totalInFlightBudget: 1,
      },
    );
    expect(oneSlot.dispatch.map((c) => c.id)).toEqual(['m-late']);
    const twoSlots = plan(
      input([ahead('h-soon', 'high', 5_000)], [candidate('m-late', 'medium', 20)]),
      limits,
    );
    expect(twoSlots.dispatch.map((c) => c.id)).toEqual(['h-soon', 'm-late']);
    // Within a lane: what is due before what is to come, however the candidates are ordered.
    const mixed = plan(
      input([ahead('h-soon', 'high', 1_000), candidate('h-due', 'high', 29)], []),
      { ...limits, totalInFlightBudget: 1 },
    );
    expect(mixed.dispatch.map((c) => c.id)).toEqual(['h-due']);
  });

  it.each<[string, number, number, Partial<PlanLimits>, boolean]>([
    ['room for all that is due', 3, 0, {}, false],
    ['the lane budget is full', 3, 2, { inFlightBudget: lanes(2, 1_000, 1_000) }, true],
    ['the total budget is full', 3, 2, { totalInFlightBudget: 2, reserved: lanes(0, 0, 0) }, true],
    ['held back by the cap only', 3, 0, { caps: lanes(2, 20, 10) }, false],
    ['nothing due', 0, 2, { inFlightBudget: lanes(2, 1_000, 1_000) }, false],
  ])(
    'says due points wait for in-flight room (a refill may take a freed slot): %s',
    (_name, due, inFlight, limits, waiting) => {
      const candidates = Array.from({ length: due }, (_, i) => candidate(`h${i}`, 'high', i));
      const result = plan(
        {
          due: lanes(due, 0, 0),
          candidates: { high: candidates, medium: [], low: [] },
          inFlight: lanes(inFlight, 0, 0),
          now: at(30),
        },
        { ...defaults, ...limits },
      );
      expect(result.lanes.high.waitingForRoom).toBe(waiting);
    },
  );

  it('counts everything due as deferred, not only the candidates that were read', () => {
    const result = plan(
      {
        due: lanes(0, 0, 10_000),
        candidates: { high: [], medium: [], low: [candidate('l1', 'low', 0)] },
        inFlight: lanes(0, 0, 0),
        now: at(1),
      },
      defaults,
    );
    expect(result.lanes.low).toMatchObject({ due: 10_000, dispatched: 1, deferred: 9_999 });
  });

  it('a flood of 10,000 overdue low-lane items never delays a due high-lane item', () => {
    const flood = Array.from({ length: 10_000 }, (_, i) =>
      candidate(`low-${i}`, 'low', -600 + (i % 60)),
    );
    const high = [candidate('race', 'high', 29)];
    for (const limits of [defaults, { ...defaults, totalInFlightBudget: 20 }]) {
      const result = plan(
        {
          due: lanes(1, 0, 10_000),
          candidates: { high, medium: [], low: flood },
          inFlight: lanes(0, 0, 0),
          now: at(30),
        },
        limits,
      );
      expect(result.dispatch[0]?.id).toBe('race');
      expect(result.lanes.high.dispatched).toBe(1);
      expect(result.lanes.low.dispatched).toBeLessThanOrEqual(
        limits.caps.low + limits.caps.medium + limits.caps.high - 1,
      );
    }
  });
});

describe('invariants over random inputs', () => {
  // A small deterministic PRNG (mulberry32), so a failure reproduces.
  function random(seed: number) {
    return () => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
    };
  }

  it('no allowance exceeds demand, a lane budget or the total budget; nothing is left idle without reason', () => {
    const next = random(42);
    const int = (max: number) => Math.floor(next() * (max + 1));
    for (let round = 0; round < 5_000; round++) {
      const limits: PlanLimits = {
        caps: lanes(int(60), int(30), int(15)),
        inFlightBudget: lanes(int(80), int(40), int(20)),
        totalInFlightBudget: next() < 0.5 ? null : 3 + int(60),
        reserved: lanes(int(1), int(2), int(2)),
      };
      const demand = lanes(int(100), int(100), int(100));
      const inFlight = lanes(int(40), int(20), int(10));
      const allowance = allocate(demand, inFlight, limits);

      let carried = 0;
      let total = 0;
      for (const lane of LANES) {
        const a = allowance[lane];
        expect(a).toBeGreaterThanOrEqual(0);
        expect(a).toBeLessThanOrEqual(demand[lane]);
        expect(a).toBeLessThanOrEqual(limits.caps[lane] + carried);
        if (a > 0) expect(inFlight[lane] + a).toBeLessThanOrEqual(limits.inFlightBudget[lane]);
        carried = limits.caps[lane] + carried - a;
        total += inFlight[lane] + a;
      }
      const totalBefore = inFlight.high + inFlight.medium + inFlight.low;
      if (limits.totalInFlightBudget !== null && total > totalBefore) {
        expect(total).toBeLessThanOrEqual(limits.totalInFlightBudget);
      }
      // Work conservation: the high lane is only held back by its demand, cap, budget or the
      // total budget (reserved slots of lower lanes included).
      const highRoom = Math.max(0, limits.inFlightBudget.high - inFlight.high);
      if (allowance.high < Math.min(demand.high, limits.caps.high, highRoom)) {
        expect(limits.totalInFlightBudget).not.toBeNull();
      }
    }
  });
});
