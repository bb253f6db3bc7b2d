/**
 * Schedules edited in Firestore, end to end: documents written through the REST API as a
 * console edit would write them, the trigger (a Firestore listener standing in for Eventarc)
 * delivering CloudEvents to `reconcileSchedule` served by functions-framework.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FirestoreStore } from '../../../functions/store/firestore.js';
import { ReadMeter } from '../../../functions/store/queries.js';
import { SCHEDULES, timestamp } from '../../../functions/store/state.js';
import { existingState, stateRef, stateOf as storedState } from '../../support/schedule-docs.js';
import { EMPTY_STATE } from '../../../functions/protocol/state.js';
import { startFunctionServer, type FunctionServer } from '../../../infra/local/functions.js';
import {
  deliverScheduleEvent,
  emulateScheduleTrigger,
  type ScheduleTrigger,
} from '../../../infra/local/schedule-trigger.js';
import { useTestProject } from '../../support/emulators.js';
import { restCreate, restPatch, type RestTarget } from '../../support/firestore-rest.js';

const project = useTestProject('reconciler');
let server: FunctionServer;
let trigger: ScheduleTrigger;
const logs: Record<string, unknown>[] = [];
const rest: RestTarget = {
  host: project.env.FIRESTORE_EMULATOR_HOST ?? '',
  projectId: project.projectId,
  authorization: 'Bearer owner',
};

beforeAll(async () => {
  server = await startFunctionServer({
    target: 'reconcileSchedule',
    signatureType: 'cloudevent',
    env: { ...project.env, PACER_LOG_LEVEL: 'debug' },
    onLine: (line) => {
      try {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // functions-framework's own start-up lines are plain text
      }
    },
  });
  trigger = emulateScheduleTrigger({
    db: project.firestore,
    projectId: project.projectId,
    url: server.url,
    onError: (error, id) => {
      throw new Error(`trigger delivery for ${id} failed: ${String(error)}`);
    },
  });
});

afterAll(async () => {
  await trigger.stop();
  await server.process.stop();
});

const MINUTE = 60_000;
const iso = (ms: number) => new Date(ms).toISOString();
const target = { type: 'http', url: 'https://registration.example.com/sync' };

/** pacer's state of `id` (empty while pacer has no document for it). */
async function stateOf(id: string) {
  return (await storedState(project.firestore, id)) ?? EMPTY_STATE;
}

async function settled(id: string, done: (state: Awaited<ReturnType<typeof stateOf>>) => boolean) {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const state = await stateOf(id);
    if (done(state)) return state;
    if (Date.now() > deadline) throw new Error(`${id} did not settle: ${JSON.stringify(state)}`);
    await sleep(100);
  }
}

async function create(id: string, fields: Record<string, unknown>): Promise<void> {
  const response = await restCreate(rest, SCHEDULES, id, fields);
  expect(response.status, await response.clone().text()).toBe(200);
}

describe('a schedule written as a console edit', () => {
  it.each([
    ['startsAt as a string', 'console-string', iso(Date.now() + 7 * 24 * 60 * MINUTE)],
    [
      'startsAt as a timestamp',
      'console-timestamp',
      { $timestamp: iso(Date.now() + 7 * 24 * 60 * MINUTE) },
    ],
  ])('with %s is reconciled and becomes due', async (_name, id, startsAt) => {
    await create(id, {
      name: 'Race next week',
      cadence: { kind: 'event', startsAt, tiers: [{ before: '4h', every: '1m' }] },
      target,
      payload: { raceId: 974559, tags: ['10k', 'city'], fee: 12.5 },
    });
    const state = await settled(id, (s) => s.status === 'active');
    expect(state.lane).toBe('low');
    expect(state.nextDueAt).toBeLessThanOrEqual(Date.now());
    expect(state.specHash).toMatch(/^[0-9a-f]{32}$/);
    // Due now: the planner's query finds it.
    expect(
      await new FirestoreStore(project.firestore).countDue('low', Date.now(), new ReadMeter()),
    ).toBeGreaterThanOrEqual(1);
  });
});

describe('bad documents', () => {
  const event = (extra: Record<string, unknown>) => ({
    name: 'Race',
    cadence: { kind: 'event', startsAt: iso(Date.now() + 7 * 24 * 60 * MINUTE), ...extra },
    target,
  });
  const cases: [string, Record<string, unknown>, string][] = [
    ['wrong-type', { ...event({}), name: 42 }, 'name: expected a string, got 42'],
    [
      'missing-starts-at',
      { name: 'Race', cadence: { kind: 'event' }, target },
      'cadence.startsAt: is required',
    ],
    [
      'bad-duration',
      event({ otherwise: '5 min' }),
      'cadence.otherwise: "5 min" is not a duration (use 90s, 5m, 4h, 1d)',
    ],
    [
      'bad-cron',
      { name: 'Nightly', cadence: { kind: 'cron', expression: '61 2 * * *' }, target },
      'cadence.expression: "61 2 * * *" is not a cron expression (Constraint error, got value 61 expected range 0-59)',
    ],
    [
      'unknown-time-zone',
      {
        name: 'Nightly',
        cadence: { kind: 'cron', expression: '0 2 * * *', timezone: 'Europe/Atlantis' },
        target,
      },
      'cadence.timezone: "Europe/Atlantis" is not an IANA time zone (e.g. UTC, Europe/Berlin, America/New_York)',
    ],
    [
      'unknown-lane',
      { ...event({}), lane: 'urgent' },
      'lane: "urgent" is not a lane (use high, medium, low)',
    ],
    [
      'negative-duration',
      event({ after: '-1h' }),
      'cadence.after: "-1h" is negative; durations are positive (use 90s, 5m, 4h, 1d)',
    ],
    [
      'payload-too-large',
      { ...event({}), payload: { blob: 'x'.repeat(200_000) } },
      'payload: is 200,011 bytes as JSON; the limit is 102,400',
    ],
    [
      'unknown-target-type',
      { ...event({}), target: { type: 'ftp', url: 'ftp://x' } },
      'target.type: "ftp" is not a target type (use http, handler)',
    ],
    ['unknown-field', { ...event({}), colour: 'red' }, 'colour: unknown field'],
    [
      'time-without-offset',
      { ...event({}), cadence: { kind: 'event', startsAt: '2026-06-20T08:30' } },
      'cadence.startsAt: "2026-06-20T08:30" has no UTC offset (use an ISO-8601 time with an offset such as 2026-05-01T08:30:00Z, or a Firestore timestamp)',
    ],
  ];

  it('each end invalid with the exact reason, while other schedules keep being reconciled and planned', async () => {
    for (const [id, fields] of cases) await create(id, fields);
    await create('good-after-bad', {
      name: 'Fine',
      cadence: { kind: 'interval', every: '1m' },
      target,
    });

    for (const [id, , reason] of cases) {
      const state = await settled(id, (s) => s.status !== null);
      expect({ id, status: state.status, error: state.error, nextDueAt: state.nextDueAt }).toEqual({
        id,
        status: 'invalid',
        error: reason,
        nextDueAt: null,
      });
    }
    const good = await settled('good-after-bad', (s) => s.status === 'active');
    expect(good).toMatchObject({ lane: 'high' });
    expect(good.nextDueAt).toBeLessThanOrEqual(Date.now());
  });

  it('a 2 MB payload never reaches pacer: Firestore refuses the write itself', async () => {
    const response = await restCreate(rest, SCHEDULES, 'two-megabytes', {
      ...event({}),
      payload: { blob: 'x'.repeat(2_000_000) },
    });
    expect(response.status).toBe(400);
    expect((await project.firestore.collection(SCHEDULES).doc('two-megabytes').get()).exists).toBe(
      false,
    );
  });

  it('fixing an invalid document makes it active', async () => {
    await create('fixable', { ...event({}), lane: 'urgent' });
    await settled('fixable', (s) => s.status === 'invalid');
    const response = await restPatch(rest, `${SCHEDULES}/fixable`, { lane: 'high' });
    expect(response.status).toBe(200);
    const fixed = await settled('fixable', (s) => s.status === 'active');
    expect(fixed).toMatchObject({ lane: 'high', error: null });
    expect(fixed.nextDueAt).toBeLessThanOrEqual(Date.now());
  });
});

describe('edits', () => {
  it('editing startsAt of an event to 30 minutes from now moves it to the high lane, due at once', async () => {
    await create('moved', {
      name: 'Race',
      cadence: { kind: 'event', startsAt: iso(Date.now() + 14 * 24 * 60 * MINUTE) },
      target,
    });
    const before = await settled('moved', (s) => s.status === 'active');
    expect(before.lane).toBe('low');
    // As if it had been synced hourly, last 20 minutes ago: the next sync is 40 minutes away.
    await stateRef(project.firestore, 'moved').update({
      'state.nextDueAt': new Date(Date.now() + 40 * MINUTE),
      'state.dueAt': new Date(Date.now() - 20 * MINUTE),
      'state.runCount': 1,
    });

    const response = await restPatch(rest, `${SCHEDULES}/moved`, {
      cadence: { kind: 'event', startsAt: { $timestamp: iso(Date.now() + 30 * MINUTE) } },
    });
    expect(response.status).toBe(200);
    const after = await settled('moved', (s) => s.lane === 'high');
    expect(after.nextDueAt).toBeLessThanOrEqual(Date.now() + 1_000);
  });

  it('reconciling writes pacer’s own document once and never the operator’s: a redelivered event writes nothing', async () => {
    await create('counted', {
      name: 'Counted',
      cadence: { kind: 'interval', every: '15m' },
      target,
    });
    await settled('counted', (s) => s.status === 'active');
    const ref = project.firestore.doc(`${SCHEDULES}/counted`);
    const operator = await ref.get();
    // The operator's write only: pacer's writes go to its own document, firing no trigger.
    expect(operator.updateTime?.isEqual(operator.createTime!)).toBe(true);
    const first = await stateRef(project.firestore, 'counted').get();
    expect(first.updateTime?.isEqual(first.createTime!)).toBe(true);

    // Eventarc delivers the operator's event again (at least once): nothing is written again.
    const version = operator.updateTime?.toDate().toISOString() ?? '';
    await deliverScheduleEvent(server.url, project.projectId, 'counted', version);
    await deliverScheduleEvent(server.url, project.projectId, 'counted', version);
    await sleep(500);
    expect((await ref.get()).updateTime?.isEqual(operator.updateTime!)).toBe(true);
    const after = await stateRef(project.firestore, 'counted').get();
    expect(after.updateTime?.isEqual(first.updateTime!)).toBe(true);
    const outcomes = logs
      .filter((line) => line.scheduleId === 'counted' && line.event === 'schedule.reconciled')
      .map((line) => line.outcome);
    expect(outcomes.filter((outcome) => outcome === 'scheduled')).toHaveLength(1);
    expect(outcomes.filter((outcome) => outcome === 'unchanged').length).toBeGreaterThanOrEqual(2);
  });
});

describe('pacer’s document follows the operator’s', () => {
  it('deleting a schedule in the console deletes pacer’s document: nothing is left to plan', async () => {
    await create('removed', {
      name: 'Removed',
      cadence: { kind: 'interval', every: '1m' },
      target,
    });
    await settled('removed', (s) => s.status === 'active');
    await project.firestore.doc(`${SCHEDULES}/removed`).delete();
    const deadline = Date.now() + 20_000;
    while ((await storedState(project.firestore, 'removed')) !== null) {
      if (Date.now() > deadline) throw new Error('pacer’s document of removed is still there');
      await sleep(100);
    }
  });

  it('an operator’s document with the state an older version kept in it seeds pacer’s (upgrade)', async () => {
    const now = Date.now();
    const lease = {
      id: 'old-lease',
      kind: 'planned',
      until: timestamp(now + 10 * MINUTE),
      attempt: 1,
      dispatchedAt: timestamp(now - 1_000),
      startedAt: timestamp(now - 500),
      running: true,
      attemptId: 'a1',
      dueAt: timestamp(now - 2_000),
      owedSince: timestamp(now - 2_000),
    };
    const fields = { name: 'Old', cadence: { kind: 'interval', every: '1m' }, target };
    await project.firestore.doc(`${SCHEDULES}/upgraded`).set({
      ...fields,
      state: {
        status: 'active',
        lane: 'high',
        nextDueAt: timestamp(now + 10 * MINUTE),
        dueAt: timestamp(now - 2_000),
        lease,
        runCount: 12,
      },
    });
    await settled('upgraded', (s) => s.status === 'active');
    const state = await existingState(project.firestore, 'upgraded');
    // The lease in flight and the counts carry over; the due point stays at the lease's end.
    expect(state).toMatchObject({ runCount: 12, nextDueAt: now + 10 * MINUTE });
    expect(state.lease).toMatchObject({ id: 'old-lease', attempt: 1, running: true });
  });
});
