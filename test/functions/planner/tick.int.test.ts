import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { defaultSettings } from '../../../functions/config.js';
import { perLane, plan, type Candidate } from '../../../functions/planner/plan.js';
import { runSubTick, runTick } from '../../../functions/planner/tick.js';
import { claim } from '../../../functions/protocol/decisions.js';
import { FirestoreStore } from '../../../functions/store/firestore.js';
import { ReadMeter } from '../../../functions/store/queries.js';
import { LANES, type Lane } from '../../../functions/schedule/lane.js';
import { closeProject, reconnect, useProjects } from '../../support/emulators.js';
import { FakeClock, intervalSpec, seedSchedules, type Seed } from '../../support/fixtures.js';
import { testPlanner } from '../../support/planner.js';
import { laneTopicsWithCollector } from '../../support/pubsub.js';

const newProject = useProjects();
// Due points around now: the planner queries with its own clock (a fake one here, for its
// pacing), and decides at Firestore's time, which is this machine's.
const T0 = Date.now();
const MINUTE = 60_000;

const planner = testPlanner;

/** `count` schedules of a lane due at `dueAt` (each a minute apart going back in time). */
function dueSeeds(prefix: string, lane: Lane, count: number, newest: number): Seed[] {
  return Array.from({ length: count }, (_, i) => ({
    id: `${prefix}-${String(i).padStart(5, '0')}`,
    spec: intervalSpec(lane === 'high' ? '1m' : lane === 'medium' ? '5m' : '1h'),
    lane,
    nextDueAt: newest - i * 1_000,
  }));
}

describe('one sub-tick on 1,000 and on 10,000 schedules', () => {
  const results: { size: number; documentsRead: number; dispatched: number }[] = [];

  it.each([1_000, 10_000])(
    'with %i schedules, dispatches exactly the plan, one message each on its lane topic, reading only what it dispatches',
    async (size) => {
      const project = newProject(`scale-${size}`);
      const clock = new FakeClock(T0);
      const { deps, topics } = planner(project, clock);
      const collector = await laneTopicsWithCollector(project.pubsub, topics);

      // The same due work at both sizes; the rest are due later (not due now).
      const due = [
        ...dueSeeds('high', 'high', 30, T0),
        ...dueSeeds('medium', 'medium', 40, T0),
        ...dueSeeds('low', 'low', 100, T0),
      ];
      const later = Array.from({ length: size - due.length }, (_, i): Seed => {
        const lane = LANES[i % 3] ?? 'low';
        return {
          id: `later-${i}`,
          spec: intervalSpec(),
          lane,
          nextDueAt: T0 + (1 + (i % 600)) * MINUTE,
        };
      });
      await seedSchedules(project.firestore, [...due, ...later]);

      const summary = await runSubTick(deps, defaultSettings(), 0);

      // What the pure plan says for the same input.
      const candidates = perLane((lane): Candidate[] =>
        due
          .filter((seed) => seed.lane === lane)
          .map((seed) => ({ id: seed.id, dueAt: seed.nextDueAt ?? 0, lane })),
      );
      const expected = plan(
        {
          due: perLane((lane) => candidates[lane].length),
          candidates,
          inFlight: perLane(() => 0),
          now: T0,
        },
        defaultSettings(),
      );
      expect(expected.dispatch).toHaveLength(80); // high 30, medium 20 + 20 flowed down, low 10

      const received = await collector.settle(expected.dispatch.length);
      expect(received.map((r) => r.message.scheduleId).sort()).toEqual(
        expected.dispatch.map((c) => c.id).sort(),
      );
      for (const { lane, message, attributes } of received) {
        expect(message.lane).toBe(lane);
        expect(attributes).toMatchObject({
          lane,
          scheduleId: message.scheduleId,
          leaseId: message.leaseId,
        });
      }
      expect(summary.lanes.high).toMatchObject({ due: 30, dispatched: 30, deferred: 0 });
      expect(summary.lanes.medium).toMatchObject({ due: 40, dispatched: 40, deferred: 0 });
      expect(summary.lanes.low).toMatchObject({ due: 100, dispatched: 10, deferred: 90 });

      // Reads: the documents dispatched, plus one per count() and per query.
      const dispatched = received.length;
      expect(summary.documentsRead).toBeLessThanOrEqual(dispatched + 10);
      results.push({ size, documentsRead: summary.documentsRead, dispatched });
      await collector.close();
    },
    180_000,
  );

  it('reads the same number of documents at both sizes', () => {
    expect(results).toHaveLength(2);
    expect(results[0]?.documentsRead).toBe(results[1]?.documentsRead);
  });
});

describe('exclusive planning', () => {
  it('two planners at the same moment: one plans, the other answers busy, every schedule goes out once', async () => {
    const project = newProject('two-planners');
    const clock = new FakeClock(T0);
    const settings = { subTickSeconds: 10, tickBudgetSeconds: 55 };
    const first = planner(project, clock, settings);
    // The second planner has its own clients, as another instance would.
    const otherInstance = reconnect(project);
    const second = planner(otherInstance, clock, settings);
    const collector = await laneTopicsWithCollector(project.pubsub, first.topics);
    await seedSchedules(project.firestore, dueSeeds('race', 'high', 40, T0));

    // The first planner is between sub-ticks (holding the planner lease) when the second starts.
    const gate: { open?: () => void } = {};
    const opened = new Promise<void>((resolve) => {
      gate.open = resolve;
    });
    first.deps.clock = {
      ...first.deps.clock,
      sleep: async (ms) => {
        clock.advance(ms);
        await opened;
      },
    };
    const running = runTick(first.deps);
    await expect
      .poll(async (): Promise<unknown> => {
        const lease = await project.firestore.doc('pacer/planner').get();
        return lease.get('holder') as unknown;
      })
      .toBe(first.deps.holder);
    const busy = await runTick(second.deps);
    gate.open?.();
    const completed = await running;

    expect(busy.outcome).toBe('busy');
    expect(completed.outcome).toBe('completed');
    const received = await collector.settle(40);
    const ids = received.map((r) => r.message.scheduleId);
    expect(new Set(ids).size).toBe(40);
    expect(ids).toHaveLength(40);
    expect(second.lines.filter((line) => line.event === 'tick.busy')).toHaveLength(1);
    await collector.close();
    await closeProject(otherInstance);
  });

  it('even without the planner lease, conditional claims let each schedule go out once', async () => {
    const project = newProject('claims-race');
    const clock = new FakeClock(T0);
    const a = planner(project, clock);
    const b = planner(project, clock);
    const collector = await laneTopicsWithCollector(project.pubsub, a.topics);
    await seedSchedules(project.firestore, dueSeeds('race', 'high', 40, T0));

    // Sub-ticks bypass the planner lease; however they interleave, nothing goes out twice.
    const [first, second] = await Promise.all([
      runSubTick(a.deps, a.settings, 0),
      runSubTick(b.deps, b.settings, 0),
    ]);

    const received = await collector.settle(40);
    expect(new Set(received.map((r) => r.message.scheduleId)).size).toBe(40);
    expect(received).toHaveLength(40);
    expect(first.claimed + second.claimed).toBe(40);
    await collector.close();
  });

  it('a claim made on a read that someone else has since claimed is refused', async () => {
    const project = newProject('stale-claim');
    const store = new FirestoreStore(project.firestore);
    await seedSchedules(project.firestore, dueSeeds('race', 'high', 10, T0));
    // Two planners read the same due schedules before either claims.
    const [readByA, readByB] = await Promise.all([
      store.readDue('high', T0, 50, new ReadMeter()),
      store.readDue('high', T0, 50, new ReadMeter()),
    ]);
    const claimAll = (read: typeof readByA) =>
      store.writeIfUnchanged(
        read.schedules.flatMap((schedule) => {
          const { patch } = claim(
            schedule,
            {
              leaseId: randomUUID(),
              graceMs: MINUTE,
              thresholds: defaultSettings().laneThresholds,
            },
            read.readTime,
          );
          return patch === null ? [] : [{ schedule, patch }];
        }),
      );
    const first = await claimAll(readByA);
    const second = await claimAll(readByB);
    expect(first.map((outcome) => outcome.kind)).toEqual(Array(10).fill('written'));
    expect(second.map((outcome) => outcome.kind)).toEqual(Array(10).fill('conflict'));
  });
});
