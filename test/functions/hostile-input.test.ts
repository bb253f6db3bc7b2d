/**
 * Hostile input, one row per finding of issue 13's "Why": each input gets its exact error, and
 * nothing else is harmed — the real planner, workers and dead-letter recorder (on the in-memory
 * store and bus, ../support/world.ts) keep syncing a healthy one-minute schedule exactly as they
 * do without the hostile input beside it.
 */
import { Firestore, GeoPoint, Timestamp } from '@google-cloud/firestore';
import { afterAll, describe, expect, it } from 'vitest';
import { DeadLetterPublisher } from '../../functions/bus/dead-letter.js';
import { EMULATOR_CREDENTIALS } from '../../functions/clients.js';
import { defaultSettings } from '../../functions/config.js';
import { recordDeadLetter } from '../../functions/deadletter/record.js';
import { problemText, reconcile, specHash } from '../../functions/protocol/decisions.js';
import { EMPTY_STATE, type ScheduleState } from '../../functions/protocol/state.js';
import { reconcileSchedule } from '../../functions/reconciler/reconcile.js';
import { validateSchedule, type ValidationContext } from '../../functions/schedule/spec.js';
import { MemoryStore } from '../../functions/store/memory.js';
import { SIMULATED, SIMULATED_TARGET } from '../../infra/sim/population.js';
import { capturingLogger, events } from '../support/fixtures.js';
import { testWorld, WORLD_BEGIN } from '../support/world.js';

// Never used to reach anything: only to make real reference values (the loopback guard would
// refuse a connection anyway).
const db = new Firestore({
  projectId: 'hostile-input',
  host: '127.0.0.1',
  port: 1,
  ssl: false,
  credentials: { ...EMULATOR_CREDENTIALS },
});
afterAll(() => db.terminate());

const THRESHOLDS = defaultSettings().laneThresholds;
const MINUTES = 4;
const at = (offsetMs: number) => WORLD_BEGIN + offsetMs;

/** Secrets in this deployment: PACER_SECRET_CRM may only go to api.crm.example. */
const BOUND: ValidationContext = {
  ...SIMULATED,
  secretHosts: new Map([['PACER_SECRET_CRM', ['api.crm.example']]]),
};

const HEALTHY = {
  name: 'healthy',
  cadence: { kind: 'interval', every: '1m' },
  target: SIMULATED_TARGET,
};

const interval = (extra: Record<string, unknown> = {}) => ({
  name: 'hostile',
  cadence: { kind: 'interval', every: '1m' },
  target: SIMULATED_TARGET,
  ...extra,
});
const race = (startsAt: unknown) => ({
  name: 'hostile race',
  cadence: { kind: 'event', startsAt },
  target: SIMULATED_TARGET,
});
const http = (url: string, headers: Record<string, unknown>) =>
  interval({ target: { type: 'http', url, headers } });

const HEADER_CHARACTER =
  'holds a character a header cannot carry (a line break, NUL, another control character, or one above U+00FF)';
const HOP_BY_HOP = 'is a framing or hop-by-hop header, which a schedule may not set';

/** A state pacer never wrote: as the planner would find the schedule before any reconcile. */
type Hostile =
  /** Waiting in the medium lane, its escalation due now (the first incident's path). */
  | 'escalating'
  /** Due now in the high lane (an edit the reconciler has not seen yet). */
  | 'due';

function hostileState(kind: Hostile, data: Record<string, unknown>): ScheduleState {
  const base = { ...EMPTY_STATE, status: 'active' as const, specHash: specHash(data) };
  return kind === 'escalating'
    ? { ...base, lane: 'medium', nextDueAt: at(3_600_000), escalatesAt: at(-60_000) }
    : { ...base, lane: 'high', nextDueAt: at(-60_000) };
}

const manyUnknownFields = Object.fromEntries(
  Array.from({ length: 30_000 }, (_, i) => [`unknown_field_${i}_${'x'.repeat(30)}`, i]),
);

interface DocumentRow {
  why: string;
  document: Record<string, unknown>;
  state: Hostile;
  context?: ValidationContext;
  /** Every problem, exactly; or the first ones and how many there are. */
  problems: string[] | { first: string; count: number };
}

const DOCUMENTS: DocumentRow[] = [
  {
    why: '1: an event starting in the year 100000, its escalation due',
    document: race('+100000-01-01T00:00:00Z'),
    state: 'escalating',
    problems: [
      'cadence.startsAt: "+100000-01-01T00:00:00Z" is outside the years pacer plans for (2000 to 2099)',
    ],
  },
  {
    why: "1: a waiting race's startsAt edited to the year 100000",
    document: race('+100000-01-01T00:00:00Z'),
    state: 'due',
    problems: [
      'cadence.startsAt: "+100000-01-01T00:00:00Z" is outside the years pacer plans for (2000 to 2099)',
    ],
  },
  {
    why: '2: a reference value in the payload',
    document: interval({ payload: { owner: db.doc('teams/ops') } }),
    state: 'due',
    problems: ['payload.owner: a document reference cannot be sent as JSON'],
  },
  {
    why: '2: a reference value as a field of its own',
    document: interval({ owner: db.doc('teams/ops') }),
    state: 'escalating',
    problems: ['owner: unknown field'],
  },
  {
    why: '2: a reference value where a time belongs',
    document: race(db.doc('races/r1')),
    state: 'escalating',
    problems: [
      'cadence.startsAt: expected a time, got a document reference (use an ISO-8601 time with an offset such as 2026-05-01T08:30:00Z, or a Firestore timestamp)',
    ],
  },
  {
    why: '2: an extended-year timestamp',
    document: race(Timestamp.fromMillis(Date.parse('9999-12-31T23:59:59Z'))),
    state: 'escalating',
    problems: [
      'cadence.startsAt: 9999-12-31T23:59:59.000Z is outside the years pacer plans for (2000 to 2099)',
    ],
  },
  {
    why: '2: a geo point in the payload',
    document: interval({ payload: { where: new GeoPoint(47.1, 8.5) } }),
    state: 'due',
    problems: ['payload.where: a geo point cannot be sent as JSON'],
  },
  {
    why: '2: bytes deep in the payload',
    document: interval({ payload: { files: [{ body: Buffer.from('x') }] } }),
    state: 'due',
    problems: ['payload.files[0].body: bytes cannot be sent as JSON'],
  },
  {
    why: '2: a timestamp in the payload',
    document: interval({ payload: { at: Timestamp.fromMillis(at(0)) } }),
    state: 'escalating',
    problems: ['payload.at: a timestamp cannot be sent as JSON'],
  },
  {
    why: '2: an invalid document whose problems would exceed 1 MiB',
    document: interval(manyUnknownFields),
    state: 'due',
    problems: {
      first: 'unknown_field_0_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx: unknown field',
      count: 30_000,
    },
  },
  {
    why: '3: every 9999999d',
    document: interval({ cadence: { kind: 'interval', every: '9999999d' } }),
    state: 'due',
    problems: ['cadence.every: "9999999d" is too long (at most 366d)'],
  },
  {
    why: '5: a header value with CR/LF',
    document: http('https://api.crm.example/sync', { 'x-note': 'a\r\nx-injected: 1' }),
    state: 'due',
    problems: [`target.headers["x-note"]: ${HEADER_CHARACTER}`],
  },
  {
    why: '5: a header value with NUL',
    document: http('https://api.crm.example/sync', { 'x-note': 'a\u0000b' }),
    state: 'due',
    problems: [`target.headers["x-note"]: ${HEADER_CHARACTER}`],
  },
  {
    why: '5: a header value beyond Latin-1',
    document: http('https://api.crm.example/sync', { 'x-note': 'ok €' }),
    state: 'due',
    problems: [`target.headers["x-note"]: ${HEADER_CHARACTER}`],
  },
  {
    why: '5: framing and hop-by-hop headers',
    document: http('https://api.crm.example/sync', {
      'Transfer-Encoding': 'chunked',
      TE: 'trailers',
      Expect: '100-continue',
      Upgrade: 'h2c',
      Trailer: 'x-a',
    }),
    state: 'due',
    problems: [
      `target.headers.Expect: ${HOP_BY_HOP}`,
      `target.headers.TE: ${HOP_BY_HOP}`,
      `target.headers.Trailer: ${HOP_BY_HOP}`,
      `target.headers.Upgrade: ${HOP_BY_HOP}`,
      `target.headers["Transfer-Encoding"]: ${HOP_BY_HOP}`,
    ],
  },
  {
    why: '6: a bound secret sent to another host',
    document: http('https://collector.attacker.example/', {
      authorization: { secretEnv: 'PACER_SECRET_CRM' },
    }),
    state: 'due',
    context: BOUND,
    problems: [
      'target.headers.authorization: PACER_SECRET_CRM may only be sent to api.crm.example (PACER_SECRET_HOSTS), not collector.attacker.example',
    ],
  },
  {
    why: '9: an unknown handler name',
    document: interval({ target: { type: 'handler', name: 'exampel.echo' } }),
    state: 'due',
    problems: [
      'target.name: "exampel.echo" is not a registered handler (known: example.echo, simulated)',
    ],
  },
];

function expectProblems(problems: readonly string[], expected: DocumentRow['problems']): void {
  if (Array.isArray(expected)) {
    expect(problems).toEqual(expected);
  } else {
    expect(problems[0]).toBe(expected.first);
    expect(problems).toHaveLength(expected.count);
  }
}

/** What the healthy schedule gets in a world of its own: the baseline nothing may change. */
async function healthyAlone(context: ValidationContext): Promise<number[]> {
  const alone = testWorld({ validation: context });
  alone.world.store.put('healthy', HEALTHY);
  await reconcileSchedule(alone.world.store, 'healthy', {
    thresholds: alone.settings.laneThresholds,
  });
  await alone.runMinutes(MINUTES);
  return alone.callsOf('healthy').map((call) => call.dueAt);
}

describe('hostile documents', () => {
  it.each(DOCUMENTS.map((row) => [row.why, row]))(
    '%s: validation says exactly what',
    (_why, row) => {
      const validation = validateSchedule(row.document, row.context ?? SIMULATED);
      expect(validation.ok).toBe(false);
      if (validation.ok) return;
      expectProblems(validation.problems, row.problems);
    },
  );

  it.each(DOCUMENTS.map((row) => [row.why, row]))(
    '%s: the reconciler marks it invalid, with a state that fits, and never throws',
    async (_why, row) => {
      const store = new MemoryStore({ now: () => at(0), validation: row.context ?? SIMULATED });
      store.put('hostile', row.document, hostileState(row.state, row.document));
      const outcome = await reconcileSchedule(store, 'hostile', { thresholds: THRESHOLDS });
      expect(outcome.kind).toBe('invalid');
      if (outcome.kind !== 'invalid') return;
      expectProblems(outcome.problems, row.problems);
      const state = store.peek('hostile')?.state;
      expect(state).toMatchObject({ status: 'invalid', nextDueAt: null, escalatesAt: null });
      expect(state?.error).toBe(problemText(outcome.problems));
      expect(state?.error?.length).toBeLessThanOrEqual(4_000);
      // The same document, decided again: the same answer.
      const subject = store.peek('hostile');
      expect(subject && reconcile(subject, at(0), THRESHOLDS).outcome.kind).toBe('unchanged');
    },
  );

  it.each(DOCUMENTS.map((row) => [row.why, row]))(
    '%s: the planner marks it invalid while a healthy schedule keeps every sync',
    async (_why, row) => {
      const context = row.context ?? SIMULATED;
      const baseline = await healthyAlone(context);
      const { world, lines, runMinutes, callsOf } = testWorld({ validation: context });
      world.store.put('healthy', HEALTHY);
      await reconcileSchedule(world.store, 'healthy', { thresholds: THRESHOLDS });
      // As the planner finds it: never reconciled (an edit the trigger has not reached yet).
      world.store.put('hostile', row.document, hostileState(row.state, row.document));

      await runMinutes(MINUTES);

      expect(callsOf('healthy').map((call) => call.dueAt)).toEqual(baseline);
      expect(baseline.length).toBeGreaterThanOrEqual(MINUTES - 1);
      expect(callsOf('hostile')).toEqual([]);
      const state = world.store.peek('hostile')?.state;
      expect(state?.status).toBe('invalid');
      expect(state?.error).toBe(
        problemText(
          Array.isArray(row.problems)
            ? row.problems
            : (validateSchedule(row.document, context) as { problems: string[] }).problems,
        ),
      );
      expect(events(lines, 'tick.subtick_failed')).toEqual([]);
      expect(events(lines, 'schedule.error')).toEqual([]);
      expect(world.summaries.every((summary) => summary.errors === 0)).toBe(true);
    },
  );
});

const NOT_DOCUMENT_ID = 'is not a document id (no "/", not "." or "..", not __…__)';

/** Messages on a lane topic that are not what the planner publishes. */
const MESSAGES: { why: string; body: unknown; reason: string }[] = [
  {
    why: '4: a scheduleId with a slash',
    body: { v: 1, scheduleId: 'a/b', leaseId: 'l1', dueAt: '2026-06-20T08:00:00Z', lane: 'high' },
    reason: `not a pacer dispatch message (scheduleId: ${NOT_DOCUMENT_ID})`,
  },
  {
    why: '4: a leaseId with slashes (a nested dead letter)',
    body: {
      v: 1,
      scheduleId: 'healthy',
      leaseId: 'x/y/z',
      dueAt: '2026-06-20T08:00:00Z',
      lane: 'high',
    },
    reason: `not a pacer dispatch message (leaseId: ${NOT_DOCUMENT_ID})`,
  },
  {
    why: '4: a reserved document id',
    body: {
      v: 1,
      scheduleId: '__healthy__',
      leaseId: '..',
      dueAt: '2026-06-20T08:00:00Z',
      lane: 'high',
    },
    reason: `not a pacer dispatch message (scheduleId: ${NOT_DOCUMENT_ID}; leaseId: ${NOT_DOCUMENT_ID})`,
  },
  {
    why: '4: not JSON at all',
    body: 'not json {',
    reason: 'body is not JSON: "not json {"',
  },
];

describe('hostile messages', () => {
  it.each(MESSAGES.map((row) => [row.why, row]))(
    '%s: dead-lettered once, recorded once under a safe id, never redelivered',
    async (_why, row) => {
      const baseline = await healthyAlone(SIMULATED);
      const alone = testWorld();
      alone.world.store.put('healthy', HEALTHY);
      await reconcileSchedule(alone.world.store, 'healthy', { thresholds: THRESHOLDS });
      await alone.runMinutes(MINUTES);
      // What the healthy schedule alone has pushed (a claim published ahead of its point may
      // not have started by the end).
      const laneHealthyPushes = alone.world.pubsub.pushes(alone.topology.lanes.high.subscription);
      const { world, topology, runMinutes, callsOf } = testWorld();
      world.store.put('healthy', HEALTHY);
      await reconcileSchedule(world.store, 'healthy', { thresholds: THRESHOLDS });
      const data = Buffer.from(typeof row.body === 'string' ? row.body : JSON.stringify(row.body));
      world.clock.at(WORLD_BEGIN + 5_000, () => {
        void world.pubsub.publish(topology.lanes.high.topic, { data, attributes: {} });
      });

      await runMinutes(MINUTES);

      expect(callsOf('healthy').map((call) => call.dueAt)).toEqual(baseline);
      // The lane's subscription pushed the poison message once, and it was acked.
      expect(world.pubsub.pushes(topology.lanes.high.subscription)).toBe(laneHealthyPushes + 1);
      expect(world.deliveries.failed).toBe(0);
      expect(world.deliveries.dead_lettered).toBe(1);
      // The dead-letter subscription pushed it once: recorded, acked.
      expect(world.pubsub.pushes(topology.deadLetter.subscription)).toBe(1);
      const letters = world.store.deadLetters();
      expect(letters).toHaveLength(1);
      const letter = letters[0];
      expect(letter?.id).toMatch(/^message-[A-Za-z0-9_-]+$/);
      expect(letter?.record).toMatchObject({
        reason: 'malformed',
        scheduleId: null,
        leaseId: null,
        lastError: { code: 'invalid_message', message: row.reason },
      });
      expect(letter?.record.message.data).toBe(data.toString('utf8'));
    },
  );

  it('4: a poison message Pub/Sub forwarded itself is recorded once under a safe id, then acked as a duplicate', async () => {
    const store = new MemoryStore({ now: () => at(0), validation: SIMULATED });
    const { logger, lines } = capturingLogger('recordDeadLetter');
    const deps = {
      store,
      settings: defaultSettings(),
      logger,
      clock: { ...(await import('../../functions/clock.js')).systemClock, now: () => at(0) },
    };
    // As Pub/Sub's dead-letter policy forwards a message the worker kept failing on: no pacer
    // note, the original's attributes, a message id with characters no document id may hold.
    const original = {
      data: Buffer.from(
        JSON.stringify({ v: 1, scheduleId: 'a/b', leaseId: 'x/y', dueAt: 'soon', lane: 'high' }),
      ),
      attributes: { 'x-big': 'v'.repeat(5_000) },
    };
    const event = {
      id: 'projects/p/messages/42',
      data: {
        message: {
          data: original.data.toString('base64'),
          attributes: {
            ...original.attributes,
            CloudPubSubDeadLetterSourceSubscription: 'pacer-high-push',
          },
          messageId: 'projects/p/messages/42',
        },
      },
    };
    expect(await recordDeadLetter(deps, event)).toBe('recorded');
    expect(await recordDeadLetter(deps, event)).toBe('already_recorded');
    const letters = store.deadLetters();
    expect(letters).toHaveLength(1);
    expect(letters[0]?.id).toMatch(/^message-[0-9a-f]{40}$/);
    expect(letters[0]?.record.message.attributes['x-big']).toHaveLength(1_024);
    expect(events(lines, 'deadletter.recorded')).toHaveLength(1);
    expect(events(lines, 'deadletter.duplicate')).toHaveLength(1);
    // A message the worker itself dead-lettered carries pacer's note and is recorded the same way.
    const published = DeadLetterPublisher.messageFor(original, {
      reason: 'malformed',
      errorCode: 'invalid_message',
      errorMessage: 'scheduleId: is not a document id',
      attempts: null,
      sourceSubscription: 'pacer-high-push',
      sourceMessageId: 'm/with/slashes',
    });
    expect(
      await recordDeadLetter(deps, {
        id: 'e2',
        data: {
          message: {
            data: published.data.toString('base64'),
            attributes: published.attributes,
            messageId: 'e2',
          },
        },
      }),
    ).toBe('recorded');
    expect(store.deadLetters().map((letter) => letter.id)).toHaveLength(2);
    expect(store.deadLetters().every((letter) => !letter.id.includes('/'))).toBe(true);
  });
});
