/**
 * Provider rate limits end to end on the emulators: the real planner (sub-ticks on an injected
 * clock, its buckets saved to `rateLimits/{key}` in Firestore), dispatches through the Pub/Sub
 * emulator, the real worker code called with each dispatched message, and a loopback target that
 * counts its calls on the planner's clock.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeadLetterPublisher } from '../../../functions/bus/dead-letter.js';
import type { Settings } from '../../../functions/config.js';
import type { RateLimitMemory } from '../../../functions/planner/rate-limits.js';
import { runSubTick, type SubTickSummary } from '../../../functions/planner/tick.js';
import { FirestoreRateLimits, RATE_LIMITS } from '../../../functions/ratelimit/store.js';
import { FirestoreStore } from '../../../functions/store/firestore.js';
import { millis, RUNS, SCHEDULES } from '../../../functions/store/state.js';
import { existingState } from '../../support/schedule-docs.js';
import { describeTopology } from '../../../functions/topology.js';
import { handleDelivery, type WorkerDeps } from '../../../functions/worker/deliver.js';
import { useProjects } from '../../support/emulators.js';
import { capturingLogger, FakeClock, intervalSpec, seedSchedules } from '../../support/fixtures.js';
import { testPlanner } from '../../support/planner.js';
import { laneTopicsWithCollector, type Received } from '../../support/pubsub.js';
import { TestTarget } from '../../support/target.js';

const newProject = useProjects();
const target = new TestTarget();
const MINUTE = 60_000;
const SUB_TICK = 10_000;

beforeAll(async () => {
  await target.start();
});
afterAll(async () => {
  await target.stop();
});

/** A planner and a worker on one project, both on `clock`; target calls timed on it too. */
async function rig(label: string, rateLimits: Settings['rateLimits']) {
  const project = newProject(label);
  // Due points are real time (Firestore decides at its own time); the clock paces the planner
  // and the buckets, and starts at real time.
  const clock = new FakeClock(Date.now());
  const { deps, settings, topics } = testPlanner(project, clock, {
    rateLimits,
    allowTargetNetworks: ['127.0.0.0/8'],
  });
  const rateStore = new FirestoreRateLimits(project.firestore);
  deps.rateLimits = rateStore;
  const collector = await laneTopicsWithCollector(project.pubsub, topics);
  const topology = describeTopology(settings);
  const { logger, lines } = capturingLogger('worker');
  const worker: WorkerDeps = {
    store: new FirestoreStore(project.firestore),
    deadLetters: new DeadLetterPublisher(project.pubsub, topology.deadLetter.topic, 10_000),
    settings,
    topology,
    logger,
    clock: clock.asClock(),
    newId: () => crypto.randomUUID(),
    syncer: { allowNetworks: ['127.0.0.0/8'], env: {} },
    jobs: { launch: () => Promise.reject(new Error('no long syncs here')) },
    rateLimits: rateStore,
  };
  let delivered = 0;
  /** Runs sub-tick `index` now, then delivers what it published to the worker code. */
  const subTick = async (index: number, memory: RateLimitMemory) => {
    const summary: SubTickSummary = await runSubTick(deps, settings, index, undefined, memory);
    const received = await collector.settle(delivered + summary.published, 20_000, 100);
    const fresh: Received[] = received.slice(delivered);
    delivered = received.length;
    const outcomes = await Promise.all(
      fresh.map(({ lane, message }, i) =>
        handleDelivery(worker, lane, {
          id: `m-${index}-${i}`,
          data: {
            message: {
              data: Buffer.from(JSON.stringify(message)).toString('base64'),
              messageId: `m-${index}-${i}`,
            },
          },
        }),
      ),
    );
    return { summary, fresh, outcomes };
  };
  return { project, clock, settings, subTick, collector, lines };
}

/** The most calls in any window of `windowMs` (sliding, start inclusive). */
function mostInAnyWindow(times: readonly number[], windowMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let most = 0;
  let first = 0;
  for (let last = 0; last < sorted.length; last++) {
    while (sorted[last]! - sorted[first]! >= windowMs) first++;
    most = Math.max(most, last - first + 1);
  }
  return most;
}

describe('a key at 60 calls per minute', () => {
  it('under a burst of 200 due schedules, never calls its provider more than 60 times in any minute, and serves them all', async () => {
    const { project, clock, subTick, collector } = await rig('burst', {
      provider: { perMinute: 60, perHour: null, burst: 10, concurrency: null },
    });
    const path = '/burst';
    const calledAt: number[] = [];
    target.on(path, () => ({
      onArrive: () => {
        calledAt.push(clock.now);
      },
    }));
    // Due by both clocks: the planner's queries and Firestore's decisions.
    const now = clock.now - 1_000;
    await seedSchedules(
      project.firestore,
      Array.from({ length: 200 }, (_, i) => ({
        id: `race-${String(i).padStart(3, '0')}`,
        spec: intervalSpec('1h', {
          // Seeded points off any spread grid: with spread, the next point could come within
          // minutes (the first gap after an off-grid point is shorter), and sync again here.
          cadence: { kind: 'interval', every: '1h', spread: false },
          lane: 'high',
          rateLimitKey: 'provider',
          target: { type: 'http', url: target.url(path) },
        }),
        lane: 'high' as const,
        nextDueAt: now - i,
      })),
    );

    // Six minutes of sub-ticks; a new tick (tokens read back from Firestore) every minute.
    let memory: RateLimitMemory = new Map();
    const perSubTick: number[] = [];
    for (let index = 0; index < 36; index++) {
      if (index % 6 === 0) memory = new Map();
      const { summary } = await subTick(index, memory);
      perSubTick.push(summary.published);
      clock.advance(SUB_TICK);
    }
    await collector.close();

    expect(mostInAnyWindow(calledAt, MINUTE)).toBeLessThanOrEqual(60);
    // Not stingy either: a full burst, then the refill of 50 a minute.
    expect(perSubTick[0]).toBe(10);
    expect(mostInAnyWindow(calledAt, MINUTE)).toBeGreaterThanOrEqual(50);
    expect(calledAt).toHaveLength(200);
    const saved = await project.firestore.collection(RATE_LIMITS).doc('provider').get();
    expect(saved.get('tokens.minute')).toBeTypeOf('number');
  }, 180_000);
});

describe('a target answering 429 with Retry-After: 30', () => {
  it('blocks its key for 30 s (nothing of the key dispatched before), and the attempt is not burned', async () => {
    const { project, clock, subTick, lines } = await rig('retry-after', {
      provider: { perMinute: 600, perHour: null, burst: 50, concurrency: null },
    });
    const limited = target.on('/limited', () => ({
      status: 429,
      headers: { 'retry-after': '30' },
    }));
    const other = target.on('/other-key');
    const sibling = target.on('/sibling');
    const spec = (url: string, key: string) =>
      intervalSpec('1h', { lane: 'high', rateLimitKey: key, target: { type: 'http', url } });
    const t0 = clock.now;
    await seedSchedules(project.firestore, [
      { id: 'refused', spec: spec(limited, 'provider'), lane: 'high', nextDueAt: t0 - 1_000 },
    ]);

    const first = await subTick(0, new Map());
    expect(first.fresh.map((r) => r.message.scheduleId)).toEqual(['refused']);
    expect(first.outcomes).toEqual(['rate_limited']);
    const block = await project.firestore.collection(RATE_LIMITS).doc('provider').get();
    expect(millis(block.get('blockedUntil'))).toBe(t0 + 30_000);
    expect(lines.some((line) => line.event === 'ratelimit.blocked')).toBe(true);

    // The refused schedule: held until the block ends, its attempt given back.
    const refused = await project.firestore.collection(SCHEDULES).doc('refused').get();
    const state = await existingState(project.firestore, 'refused');
    expect(state.lease).toMatchObject({ attempt: 0, running: false, until: t0 + 30_000 });
    expect(state.nextDueAt).toBe(t0 + 30_000);
    expect(state.consecutiveFailures).toBe(0);
    const runs = await refused.ref.collection(RUNS).get();
    expect(runs.docs.map((run) => run.get('status') as unknown)).toEqual(['rate_limited']);

    // Another schedule of the key, and one of another key, fall due during the block.
    await seedSchedules(project.firestore, [
      { id: 'sibling', spec: spec(sibling, 'provider'), lane: 'high', nextDueAt: t0 - 1_000 },
      { id: 'elsewhere', spec: spec(other, 'other'), lane: 'high', nextDueAt: t0 - 1_000 },
    ]);
    const dispatched: { id: string; at: number }[] = [];
    for (let index = 1; index <= 4; index++) {
      clock.advance(SUB_TICK);
      const { fresh, summary } = await subTick(index, new Map());
      for (const { message } of fresh) dispatched.push({ id: message.scheduleId, at: clock.now });
      if (clock.now < t0 + 30_000) expect(summary.rateLimited).toBe(1);
    }
    // Nothing of the key before the block's end; the other key at once.
    expect(dispatched.find((d) => d.id === 'elsewhere')?.at).toBe(t0 + SUB_TICK);
    expect(dispatched.find((d) => d.id === 'sibling')?.at).toBe(t0 + 30_000);
    expect(target.count('/limited')).toBe(1);
  }, 120_000);
});
