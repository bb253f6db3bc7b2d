import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { defaultSettings } from '../../../functions/config.js';
import { runSubTick, runTick } from '../../../functions/planner/tick.js';
import type { Lane } from '../../../functions/schedule/lane.js';
import { CONFIG_DOC, leaseData, STATS_DOC } from '../../../functions/store/state.js';
import { startEmulators, type RunningEmulators } from '../../../infra/local/emulators.js';
import {
  closeProject,
  openProject,
  useProjects,
  type TestProject,
} from '../../support/emulators.js';
import {
  events,
  FakeClock,
  intervalSpec,
  seedSchedules,
  type Seed,
} from '../../support/fixtures.js';
import { testPlanner } from '../../support/planner.js';
import { allStates, existingState } from '../../support/schedule-docs.js';
import { laneTopicsWithCollector } from '../../support/pubsub.js';

const newProject = useProjects();
// The planner's clock is a fake one (for its pacing) that starts at this machine's time: its
// decisions take Firestore's time, so what a test seeds is the state of the schedules now.
const T0 = Date.now();
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

const planner = testPlanner;

function seeds(prefix: string, lane: Lane, count: number, dueAt: number, every = '1m'): Seed[] {
  return Array.from({ length: count }, (_, i) => ({
    id: `${prefix}-${String(i).padStart(4, '0')}`,
    spec: intervalSpec(every),
    lane,
    nextDueAt: dueAt - i * 1_000,
  }));
}

async function states(project: TestProject) {
  const states = await allStates(project.firestore);
  return [...states].map(([id, state]) => ({ id, state }));
}

describe('when Pub/Sub stops answering', () => {
  let pubsub: RunningEmulators;
  let project: TestProject;

  beforeAll(async () => {
    // A Pub/Sub emulator of this test's own, so that it can be frozen.
    pubsub = await startEmulators({ kinds: ['pubsub'], env: { PATH: process.env.PATH } });
    project = openProject('publish-fails', { ...inject('emulatorEnv'), ...pubsub.env });
  });
  afterAll(async () => {
    await closeProject(project);
    await pubsub.stop();
  });

  it('releases every claim it made, and the next tick after Pub/Sub is back dispatches them all', async () => {
    const clock = new FakeClock(T0);
    const { deps, lines, topics } = planner(project, clock, { publishTimeoutSeconds: 2 });
    const collector = await laneTopicsWithCollector(project.pubsub, topics);
    await seedSchedules(project.firestore, [
      ...seeds('high', 'high', 5, T0),
      ...seeds('low', 'low', 3, T0, '1h'),
    ]);

    const pgid = pubsub.emulators[0]?.pgid;
    if (pgid === undefined) throw new Error('the test emulator has no process group');
    process.kill(-pgid, 'SIGSTOP');
    let failed;
    try {
      failed = await runSubTick(deps, { ...defaultSettings(), publishTimeoutSeconds: 2 }, 0);
    } finally {
      process.kill(-pgid, 'SIGCONT');
    }

    expect(failed).toMatchObject({ claimed: 8, published: 0, publishFailed: 8, released: 8 });
    expect(failed.lanes.high).toMatchObject({ due: 5, dispatched: 0, deferred: 5 });
    expect(events(lines, 'tick.publish_failed')).toHaveLength(1);
    expect(events(lines, 'tick.publish_failed')[0]?.severity).toBe('ERROR');
    // Nothing is left leased; everything is due again at the due point it was claimed for.
    for (const { id, state } of await states(project)) {
      expect(state.lease, id).toBeNull();
      expect(state.nextDueAt, id).toBeLessThanOrEqual(T0);
    }

    clock.advance(10_000);
    const recovered = await runSubTick(deps, defaultSettings(), 1);
    expect(recovered).toMatchObject({ claimed: 8, published: 8, publishFailed: 0 });
    const received = await collector.settle(8);
    expect(new Set(received.map((r) => r.message.scheduleId)).size).toBe(8);
    // Each schedule is leased by exactly the message that went out for it.
    const leases = new Map(received.map((r) => [r.message.scheduleId, r.message.leaseId]));
    for (const { id, state } of await states(project)) expect(state.lease?.id).toBe(leases.get(id));
    await collector.close();
  });
});

describe('leases', () => {
  it('a lease that lapsed without completion is dispatched again under a new lease, its attempts carried', async () => {
    const project = newProject('lease-lapse');
    const clock = new FakeClock(T0);
    const { deps, topics, settings } = planner(project, clock);
    const collector = await laneTopicsWithCollector(project.pubsub, topics);
    // Its worker died a minute ago, one attempt in; the lease lapsed a second ago.
    const owed = T0 - 70_000;
    await seedSchedules(project.firestore, [
      {
        id: 'race',
        spec: { ...intervalSpec('1m'), cadence: { kind: 'interval', every: '1m', spread: false } },
        lane: 'high',
        nextDueAt: T0 - 1_000,
        state: {
          lease: leaseData({
            id: 'lapsed',
            kind: 'planned',
            until: T0 - 1_000,
            attempt: 1,
            dispatchedAt: owed,
            startedAt: owed + 100,
            running: true,
            attemptId: 'dead-worker',
            dueAt: owed,
            owedSince: owed,
          }),
        },
      },
    ]);

    const summary = await runSubTick(deps, settings, 0);
    expect(summary.claimed).toBe(1);
    const [received] = await collector.settle(1);
    expect(received?.message.leaseId).not.toBe('lapsed');
    // It serves the latest point owed by now (every minute): the lapsed one coalesces into it.
    expect(Date.parse(received?.message.dueAt ?? '')).toBe(owed + MINUTE);
    const [after] = await states(project);
    expect(after?.state.lease).toMatchObject({ attempt: 1, owedSince: owed, running: false });
    await collector.close();
  });

  it('a live lease is not claimed, even by a planner whose clock runs an hour ahead', async () => {
    const project = newProject('lease-live');
    const clock = new FakeClock(T0 + HOUR);
    const { deps, settings } = planner(project, clock);
    await seedSchedules(project.firestore, [
      {
        id: 'race',
        spec: intervalSpec('1m'),
        lane: 'high',
        nextDueAt: T0 + MINUTE,
        state: {
          lease: leaseData({
            id: 'running',
            kind: 'planned',
            until: T0 + MINUTE,
            attempt: 1,
            dispatchedAt: T0 - 5_000,
            startedAt: T0 - 4_000,
            running: true,
            attemptId: 'alive',
            dueAt: T0 - 5_000,
            owedSince: T0 - 5_000,
          }),
        },
      },
    ]);
    const summary = await runSubTick(deps, settings, 0);
    expect(summary).toMatchObject({ claimed: 0, conflicts: 0 });
    const [after] = await states(project);
    expect(after?.state.lease?.id).toBe('running');
  });

  it('a second tick while the lease is held returns at once and says so', async () => {
    const project = newProject('busy');
    const clock = new FakeClock(T0);
    const first = planner(project, clock);
    const second = planner(project, clock);
    await project.firestore.doc('pacer/planner').set({
      leaseId: 'someone-else',
      holder: 'planner-elsewhere',
      until: new Date(T0 + 30_000),
    });
    await expect(runTick(second.deps)).resolves.toEqual({
      outcome: 'busy',
      holder: 'planner-elsewhere',
      until: new Date(T0 + 30_000).toISOString(),
    });
    expect(events(second.lines, 'tick.busy')).toHaveLength(1);
    expect(first.lines).toHaveLength(0);
  });
});

describe('after a 2-hour outage', () => {
  it('the first ticks drain the backlog high lane first, within caps, with alerts in the log', async () => {
    const project = newProject('outage');
    const clock = new FakeClock(T0);
    const overrides = {
      inFlightBudget: { high: 1_000, medium: 1_000, low: 1_000 },
      alerts: { highDeferred: 10, backlog: 300 },
    };
    const { deps, lines, topics } = planner(project, clock, overrides);
    const collector = await laneTopicsWithCollector(project.pubsub, topics);
    // Everything fell due during the outage, spread over its two hours.
    const spread = (lane: Lane, count: number, every: string): Seed[] =>
      Array.from({ length: count }, (_, i) => ({
        id: `${lane}-${String(i).padStart(4, '0')}`,
        spec: intervalSpec(every),
        lane,
        nextDueAt: T0 - 2 * HOUR + Math.floor((i * 2 * HOUR) / count),
      }));
    await seedSchedules(project.firestore, [
      ...spread('high', 160, '1m'),
      ...spread('medium', 100, '5m'),
      ...spread('low', 100, '1h'),
    ]);

    // The planner is back.
    const result = await runTick(deps);
    if (result.outcome !== 'completed') throw new Error('tick did not run');
    const perSubTick = result.subTicks.map((s) => ({
      high: s.lanes.high.dispatched,
      medium: s.lanes.medium.dispatched,
      low: s.lanes.low.dispatched,
    }));
    // Caps 50/20/10 with unused cap flowing down; high is drained first.
    expect(perSubTick).toEqual([
      { high: 50, medium: 20, low: 10 },
      { high: 50, medium: 20, low: 10 },
      { high: 50, medium: 20, low: 10 },
      { high: 10, medium: 40, low: 30 }, // 40 cap left by high flows to medium, then low
      { high: 0, medium: 0, low: 40 },
      { high: 0, medium: 0, low: 0 }, // the sixth sub-tick, at :50, finds nothing left
    ]);
    const received = await collector.settle(160 + 100 + 100);
    // Each schedule went out once, serving the latest point it owed when dispatched: the
    // points it missed during the outage coalesce into that one run.
    expect(new Set(received.map((r) => r.message.scheduleId)).size).toBe(360);
    const high = (await states(project)).filter(({ id }) => id.startsWith('high-'));
    for (const { state } of high) {
      const dispatchedAt = state.lease?.dispatchedAt ?? 0;
      expect(state.lease?.dueAt).toBeLessThanOrEqual(dispatchedAt);
      expect(state.lease?.dueAt).toBeGreaterThan(dispatchedAt - MINUTE);
    }
    // High-lane schedules went out most overdue first: every one dispatched in an earlier
    // sub-tick had been waiting since no later than any dispatched in a later one.
    const seeded = new Map(spread('high', 160, '1m').map((seed) => [seed.id, seed.nextDueAt ?? 0]));
    const bySubTick = new Map<number, number[]>();
    for (const { id, state } of high) {
      const at = state.lease?.dispatchedAt ?? 0;
      bySubTick.set(at, [...(bySubTick.get(at) ?? []), seeded.get(id) ?? 0]);
    }
    const groups = [...bySubTick.entries()].sort(([a], [b]) => a - b).map(([, dues]) => dues);
    expect(groups.map((dues) => dues.length)).toEqual([50, 50, 50, 10]);
    for (let i = 1; i < groups.length; i++) {
      expect(Math.max(...(groups[i - 1] ?? []))).toBeLessThanOrEqual(
        Math.min(...(groups[i] ?? [])),
      );
    }

    expect(events(lines, 'alert.backlog')[0]).toMatchObject({ severity: 'WARNING', due: 360 });
    expect(events(lines, 'alert.high_deferred')[0]).toMatchObject({
      severity: 'ERROR',
      deferred: 110,
    });
    expect(events(lines, 'tick.summary')).toHaveLength(6);
    // The summaries are kept for `pacer status`.
    const stats = await project.firestore.doc(STATS_DOC).get();
    expect((stats.get('recent') as unknown[]).length).toBe(6);
    await collector.close();
  });
});

describe('escalation', () => {
  it('an event waiting in a medium backlog past its one-minute boundary goes out in the high lane at once', async () => {
    const project = newProject('escalation');
    // The one-minute tier (high lane) began five minutes ago.
    const startsAt = T0 + 4 * HOUR - 5 * MINUTE;
    const boundary = startsAt - 4 * HOUR;
    const clock = new FakeClock(T0);
    const { deps, topics, settings } = planner(project, clock, {
      caps: { high: 50, medium: 20, low: 10 },
    });
    const collector = await laneTopicsWithCollector(project.pubsub, topics);
    const race = {
      name: 'race',
      cadence: { kind: 'event', startsAt: new Date(startsAt).toISOString() },
      target: { type: 'http', url: 'https://target.example.com/race' },
    };
    await seedSchedules(project.firestore, [
      // Its last five-minute point, ten minutes ago, still waits: the medium lane is backed up.
      {
        id: 'race',
        spec: race,
        lane: 'medium',
        nextDueAt: boundary - 5 * MINUTE,
        state: { escalatesAt: new Date(boundary) },
      },
      // 100 medium schedules, all more overdue than the race.
      ...seeds('backlog', 'medium', 100, boundary - HOUR, '5m'),
    ]);

    const summary = await runSubTick(deps, settings, 0);

    expect(summary.escalated).toBe(1);
    expect(summary.lanes.high).toMatchObject({ due: 1, dispatched: 1 });
    // The race in the high lane, and the medium backlog up to its in-flight budget (50).
    const received = await collector.settle(1 + 50);
    expect(received.find((r) => r.message.scheduleId === 'race')?.lane).toBe('high');
    await collector.close();
  });
});

describe('bad input never stops a tick', () => {
  it('an invalid schedule is skipped, marked invalid with the reason and logged once', async () => {
    const project = newProject('invalid');
    const clock = new FakeClock(T0);
    const { deps, lines, topics, settings } = planner(project, clock);
    const collector = await laneTopicsWithCollector(project.pubsub, topics);
    await seedSchedules(project.firestore, [
      ...seeds('good', 'high', 3, T0),
      {
        id: 'bad',
        spec: { ...intervalSpec('5 min'), colour: 'red' },
        lane: 'high',
        nextDueAt: T0 - HOUR, // the most overdue
      },
    ]);

    const first = await runSubTick(deps, settings, 0);
    clock.advance(10_000);
    await runSubTick(deps, settings, 1);

    expect(first).toMatchObject({ invalid: 1, claimed: 3, published: 3 });
    await collector.settle(3);
    const bad = await existingState(project.firestore, 'bad');
    expect(bad).toMatchObject({
      status: 'invalid',
      nextDueAt: null,
      error:
        'cadence.every: "5 min" is not a duration (use 90s, 5m, 4h, 1d); colour: unknown field',
    });
    expect(events(lines, 'schedule.invalid')).toHaveLength(1);
    await collector.close();
  });

  it('a cron run missed by more than its catch-up window is skipped to its next occurrence', async () => {
    const project = newProject('cron-skip');
    const clock = new FakeClock(T0);
    const { deps, lines, topics, settings } = planner(project, clock);
    const collector = await laneTopicsWithCollector(project.pubsub, topics);
    // A daily run three hours ago (on the minute).
    const dueAt = Math.floor((T0 - 3 * HOUR) / MINUTE) * MINUTE;
    const at = new Date(dueAt);
    const cron = (catchUpWithin: string) => ({
      name: 'nightly',
      cadence: {
        kind: 'cron',
        expression: `${at.getUTCMinutes()} ${at.getUTCHours()} * * *`,
        timezone: 'UTC',
        catchUpWithin,
      },
      target: { type: 'http', url: 'https://target.example.com/nightly' },
    });
    await seedSchedules(project.firestore, [
      { id: 'within', spec: cron('4h'), lane: 'low', nextDueAt: dueAt },
      { id: 'too-old', spec: cron('2h'), lane: 'low', nextDueAt: dueAt },
    ]);

    const summary = await runSubTick(deps, settings, 0);

    expect(summary).toMatchObject({ skipped: 1, published: 1 });
    const [received] = await collector.settle(1);
    expect(received?.message.scheduleId).toBe('within');
    const skipped = await existingState(project.firestore, 'too-old');
    expect(skipped.nextDueAt).toBe(dueAt + 24 * HOUR);
    expect(skipped.lastSkippedDueAt).toBe(dueAt);
    const [logged] = events(lines, 'schedule.skipped');
    expect(logged?.missedByMs).toBeGreaterThanOrEqual(3 * HOUR - MINUTE);
    expect(logged?.missedByMs).toBeLessThan(3 * HOUR + 2 * MINUTE);
    await collector.close();
  });

  it('an hourly cron back from a 3-hour outage runs once, for the latest hour, not skipped', async () => {
    const project = newProject('cron-outage');
    const clock = new FakeClock(T0);
    const { deps, lines, topics, settings } = planner(project, clock);
    const collector = await laneTopicsWithCollector(project.pubsub, topics);
    // The latest hour is judged by the store's clock (the wall clock here): a run that crossed an
    // hour boundary between this line and the planner's read expected the hour before. Keep clear.
    const toBoundary = HOUR - (Date.now() % HOUR);
    if (toBoundary < 30_000) await sleep(toBoundary + 1_000);
    const lastHour = Math.floor(Date.now() / HOUR) * HOUR;
    await seedSchedules(project.firestore, [
      {
        id: 'hourly',
        // The default catch-up window, one hour: three hours ago is too old, the last hour not.
        spec: {
          name: 'hourly',
          cadence: { kind: 'cron', expression: '0 * * * *' },
          target: { type: 'http', url: 'https://target.example.com/hourly' },
        },
        lane: 'low',
        nextDueAt: lastHour - 3 * HOUR,
      },
    ]);

    const summary = await runSubTick(deps, settings, 0);

    expect(summary).toMatchObject({ skipped: 0, published: 1 });
    const [received] = await collector.settle(1);
    expect(received?.message).toMatchObject({
      scheduleId: 'hourly',
      dueAt: new Date(lastHour).toISOString(),
    });
    expect(events(lines, 'schedule.skipped')).toHaveLength(0);
    await collector.close();
  });

  it('a sub-tick that fails does not cost the rest of the tick', async () => {
    const project = newProject('subtick-fails');
    const clock = new FakeClock(T0);
    const { deps, lines, topics } = planner(project, clock, {
      subTickSeconds: 10,
      tickBudgetSeconds: 20,
    });
    const collector = await laneTopicsWithCollector(project.pubsub, topics);
    await seedSchedules(project.firestore, seeds('steady', 'high', 3, T0));
    // The first lease id is the planner's; the second, the first claim's: that one fails.
    let ids = 0;
    const newId = deps.newId;
    deps.newId = () => {
      if (++ids === 2) throw new Error('no entropy today');
      return newId();
    };

    const result = await runTick(deps);

    if (result.outcome !== 'completed') throw new Error('tick did not run');
    expect(result.failedSubTicks).toBe(1);
    expect(result.subTicks.map((s) => [s.subTick, s.published])).toEqual([[1, 3]]);
    expect(events(lines, 'tick.subtick_failed')[0]).toMatchObject({
      severity: 'ERROR',
      subTick: 0,
    });
    expect(await collector.settle(3)).toHaveLength(3);
    await collector.close();
  });

  it('live settings from pacer/config apply; an invalid edit is logged and the last good ones stay', async () => {
    const project = newProject('live-config');
    const clock = new FakeClock(T0);
    const tick = { subTickSeconds: 10, tickBudgetSeconds: 10 };
    const { deps, lines, topics } = planner(project, clock, tick);
    const collector = await laneTopicsWithCollector(project.pubsub, topics);
    await seedSchedules(project.firestore, seeds('race', 'high', 20, T0));

    await project.firestore.doc(CONFIG_DOC).set({ caps: { high: 2 } });
    const applied = await runTick(deps);
    await project.firestore.doc(CONFIG_DOC).set({ caps: { high: 'lots' } });
    clock.advance(MINUTE);
    const kept = await runTick(deps);

    const dispatched = (result: typeof applied) =>
      result.outcome === 'completed' ? result.subTicks.map((s) => s.lanes.high.dispatched) : [];
    expect(dispatched(applied)).toEqual([2]);
    expect(dispatched(kept)).toEqual([2]);
    expect(events(lines, 'config.invalid')[0]).toMatchObject({
      severity: 'ERROR',
      problems: ['caps.high: expected a whole number from 0 to 10000, got "lots"'],
    });
    await collector.close();
  });
});
