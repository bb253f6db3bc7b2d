/**
 * Two shards on the emulators: each planner invocation plans its own shard under its own lease
 * (`pacer/planner-0`, `pacer/planner-1`), both run at once, and every due schedule is dispatched
 * once, by the planner of its shard.
 */
import { describe, expect, it } from 'vitest';
import { runTick } from '../../../functions/planner/tick.js';
import { shardOf, type Shard } from '../../../functions/schedule/shard.js';
import { DEPLOYED } from '../../../functions/schedule/spec.js';
import { FirestoreStore } from '../../../functions/store/firestore.js';
import { useProjects } from '../../support/emulators.js';
import { FakeClock, intervalSpec, seedSchedules, type Seed } from '../../support/fixtures.js';
import { testPlanner } from '../../support/planner.js';
import { laneTopicsWithCollector } from '../../support/pubsub.js';

const newProject = useProjects();
const T0 = Date.now();

describe('two planner shards on the emulators', () => {
  it('dispatch every due schedule once, each by its own shard’s planner, at the same time', async () => {
    const project = newProject('shards');
    const clock = new FakeClock(T0);
    const planners = [0, 1].map((index) => {
      const shard: Shard = { index, count: 2 };
      const planner = testPlanner(project, clock, { shards: 2, tickBudgetSeconds: 10 });
      planner.deps.store = new FirestoreStore(project.firestore, DEPLOYED, shard);
      planner.deps.shard = shard;
      return { ...planner, shard };
    });
    const collector = await laneTopicsWithCollector(project.pubsub, planners[0]!.topics);

    const seeds: Seed[] = Array.from({ length: 40 }, (_, i) => {
      const id = `race-${String(i).padStart(2, '0')}`;
      return {
        id,
        spec: intervalSpec('1m'),
        lane: 'high',
        nextDueAt: T0 - 60_000 + i * 100,
        state: { shard: shardOf(id, null, 2) },
      };
    });
    await seedSchedules(project.firestore, seeds);
    const byShard = [0, 1].map((index) =>
      seeds.filter((seed) => seed.state?.shard === index).map((seed) => seed.id),
    );
    expect(byShard[0]!.length).toBeGreaterThan(0);
    expect(byShard[1]!.length).toBeGreaterThan(0);

    const results = await Promise.all(planners.map((planner) => runTick(planner.deps)));

    // Neither found the other's lease held: each shard has its own.
    expect(results.map((result) => result.outcome)).toEqual(['completed', 'completed']);
    const received = await collector.settle(seeds.length);
    const ids = received.map((r) => r.message.scheduleId);
    expect(ids.sort()).toEqual(seeds.map((seed) => seed.id).sort());
    // Each planner dispatched exactly its own shard's schedules.
    results.forEach((result, index) => {
      if (result.outcome !== 'completed') return;
      const dispatched = result.subTicks.reduce((sum, s) => sum + s.lanes.high.dispatched, 0);
      expect(dispatched, `shard ${index}`).toBe(byShard[index]!.length);
    });
    for (const index of [0, 1]) {
      const lease = await project.firestore.doc(`pacer/planner-${index}`).get();
      expect(lease.get('holder')).toBe(planners[index]!.deps.holder);
    }
    expect((await project.firestore.doc('pacer/planner').get()).exists).toBe(false);
    await collector.close();
  });
});
