import { Timestamp } from '@google-cloud/firestore';
import { describe, expect, it } from 'vitest';
import { decide, specHash } from '../../../functions/reconciler/reconcile.js';

const NOW = Date.parse('2026-06-19T10:30:00Z');
const options = {
  now: NOW,
  thresholds: { highMaxIntervalMs: 60_000, mediumMaxIntervalMs: 300_000 },
};
const ts = (iso: string) => Timestamp.fromMillis(Date.parse(iso));

const race = {
  name: 'Race 974559',
  cadence: { kind: 'event', startsAt: '2026-06-27T08:30:00Z' },
  target: { type: 'http', url: 'https://registration.example.com/sync' },
};

/** A document with `state` as the reconciler left it (so its hash matches). */
function reconciled(fields: Record<string, unknown>, state: Record<string, unknown>) {
  return { ...fields, state: { specHash: specHash(fields), ...state } };
}

describe('reconciling', () => {
  it('a new schedule is due at once, in the lane in force now', () => {
    const { outcome, changes } = decide(race, options);
    expect(outcome).toEqual({ kind: 'scheduled', nextDueAt: NOW, lane: 'low' });
    expect(changes).toMatchObject({
      'state.status': 'active',
      'state.nextDueAt': Timestamp.fromMillis(NOW),
      'state.lane': 'low',
      'state.specHash': specHash(race),
      'state.health': 'ok',
      // Low until the 5-minute tier begins, 24 hours before the start.
      'state.escalatesAt': Timestamp.fromMillis(Date.parse('2026-06-26T08:30:00Z')),
    });
  });

  it('its own state write changes nothing the second time (no loop)', () => {
    const { changes } = decide(race, options);
    const written = {
      ...race,
      state: {
        nextDueAt: changes?.['state.nextDueAt'] as unknown,
        status: 'active',
        lane: 'low',
        specHash: changes?.['state.specHash'] as unknown,
      },
    };
    expect(decide(written, options)).toEqual({
      outcome: { kind: 'unchanged', status: 'active' },
      changes: null,
    });
  });

  it('an event edited to start 30 minutes from now moves to the high lane and is due at once', () => {
    const moved = { ...race, cadence: { kind: 'event', startsAt: '2026-06-19T11:00:00Z' } };
    const before = reconciled(race, {
      status: 'active',
      lane: 'low',
      nextDueAt: ts('2026-06-19T11:00:00Z'),
      dueAt: ts('2026-06-19T10:00:00Z'),
      runCount: 5,
    });
    const { outcome } = decide({ ...moved, state: before.state }, options);
    expect(outcome).toMatchObject({ kind: 'scheduled', lane: 'high' });
    expect(outcome.kind === 'scheduled' && outcome.nextDueAt).toBeLessThanOrEqual(NOW);
  });

  it('a changed cadence continues from the last due point served', () => {
    const interval = { ...race, cadence: { kind: 'interval', every: '1h' } };
    const edited = { ...interval, cadence: { kind: 'interval', every: '15m' } };
    const state = reconciled(interval, {
      status: 'active',
      lane: 'low',
      nextDueAt: ts('2026-06-19T11:00:00Z'),
      dueAt: ts('2026-06-19T10:00:00Z'),
      runCount: 3,
    }).state;
    // 10:00 served; every 15 minutes from there: 10:15 was missed, so due at once (10:30).
    expect(decide({ ...edited, state }, options).outcome).toEqual({
      kind: 'scheduled',
      nextDueAt: Date.parse('2026-06-19T10:30:00Z'),
      lane: 'low', // 15 minutes is above the 5-minute medium threshold
    });
  });

  it('a changed cadence after a lapsed replay continues from the schedule’s own last point, not the replayed one', () => {
    const interval = { ...race, cadence: { kind: 'interval', every: '1h' } };
    const edited = { ...interval, cadence: { kind: 'interval', every: '45m' } };
    const state = reconciled(interval, {
      status: 'active',
      lane: 'low',
      nextDueAt: ts('2026-06-19T10:22:00Z'),
      // A replay of 07:00 whose message never reached a worker; the schedule had served 10:00.
      dueAt: ts('2026-06-19T07:00:00Z'),
      runCount: 3,
      lease: {
        id: 'replay',
        until: ts('2026-06-19T10:22:00Z'),
        attempt: 0,
        resumeAt: ts('2026-06-19T11:00:00Z'),
        resumeDueAt: ts('2026-06-19T10:00:00Z'),
      },
    }).state;
    // From 10:00 every 45 minutes: 10:45 (from 07:00 it would be 10:00, at once: a repeat).
    expect(decide({ ...edited, state }, options).outcome).toEqual({
      kind: 'scheduled',
      nextDueAt: Date.parse('2026-06-19T10:45:00Z'),
      lane: 'low',
    });
  });

  it('a changed spec leaves a live lease and its nextDueAt alone', () => {
    const state = reconciled(race, {
      status: 'active',
      lane: 'low',
      nextDueAt: ts('2026-06-19T10:31:00Z'),
      lease: { id: 'running', until: ts('2026-06-19T10:31:00Z'), attempt: 1 },
    }).state;
    const edited = { ...race, payload: { extra: true }, state };
    const { outcome, changes } = decide(edited, options);
    expect(outcome).toEqual({ kind: 'in_flight', leaseId: 'running' });
    expect(changes).toEqual({
      'state.status': 'active',
      'state.error': null,
      'state.specHash': specHash(edited),
    });
  });

  it('enabled: false pauses it, and resuming plans it again', () => {
    const paused = { ...race, enabled: false };
    expect(decide(paused, options)).toMatchObject({
      outcome: { kind: 'paused' },
      changes: { 'state.status': 'paused', 'state.nextDueAt': null },
    });
    const pausedState = reconciled(paused, { status: 'paused', nextDueAt: null }).state;
    expect(decide({ ...paused, state: pausedState }, options).changes).toBeNull();
    expect(decide({ ...race, state: pausedState }, options).outcome).toMatchObject({
      kind: 'scheduled',
    });
  });

  it('an invalid document is marked invalid with the exact reason, and fixing it makes it active', () => {
    const broken = { ...race, lane: 'urgent' };
    const { outcome, changes } = decide(broken, options);
    expect(outcome).toEqual({
      kind: 'invalid',
      problems: ['lane: "urgent" is not a lane (use high, medium, low)'],
    });
    expect(changes).toEqual({
      'state.status': 'invalid',
      'state.error': 'lane: "urgent" is not a lane (use high, medium, low)',
      'state.nextDueAt': null,
      'state.escalatesAt': null,
      'state.specHash': specHash(broken),
    });
    const invalidState = {
      status: 'invalid',
      error: changes?.['state.error'] as unknown,
      nextDueAt: null,
      specHash: specHash(broken),
    };
    expect(decide({ ...broken, state: invalidState }, options).changes).toBeNull();
    expect(decide({ ...race, state: invalidState }, options).outcome).toMatchObject({
      kind: 'scheduled',
    });
  });

  it('an event already over is finished', () => {
    const over = { ...race, cadence: { kind: 'event', startsAt: '2026-06-01T08:30:00Z' } };
    expect(decide(over, options)).toMatchObject({
      outcome: { kind: 'finished' },
      changes: { 'state.status': 'finished', 'state.nextDueAt': null },
    });
  });

  it('repairs an active schedule that lost its nextDueAt (a bulk import without state)', () => {
    const broken = reconciled(race, { status: 'active', nextDueAt: null });
    expect(decide(broken, options).outcome).toMatchObject({ kind: 'scheduled' });
  });

  it('the hash ignores key order, the state map, and whether a time is a Timestamp or a Date', () => {
    const a = { name: 'x', cadence: { kind: 'event', startsAt: Timestamp.fromMillis(NOW) } };
    const b = {
      cadence: { startsAt: new Date(NOW), kind: 'event' },
      name: 'x',
      state: { status: 'active' },
    };
    expect(specHash(a)).toBe(specHash(b));
    expect(specHash(a)).not.toBe(specHash({ ...a, name: 'y' }));
  });
});

describe('reconciling what reconciling wrote', () => {
  /** A deep copy that keeps Timestamps as they are (structuredClone would flatten them). */
  function copyOf(value: unknown): unknown {
    if (value instanceof Timestamp || typeof value !== 'object' || value === null) return value;
    if (Array.isArray(value)) return value.map(copyOf);
    return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, copyOf(inner)]));
  }

  /** Applies dotted-path field changes, as Firestore's update() does. */
  function applyChanges(document: Record<string, unknown>, changes: Record<string, unknown>) {
    const copy = copyOf(document) as Record<string, unknown>;
    for (const [path, value] of Object.entries(changes)) {
      const keys = path.split('.');
      const last = keys.pop() ?? path;
      let at = copy;
      for (const key of keys) {
        at[key] ??= {};
        at = at[key] as Record<string, unknown>;
      }
      at[last] = value;
    }
    return copy;
  }

  it.each([
    ['a new schedule (scheduled)', race],
    ['an invalid one', { ...race, lane: 'urgent' }],
    ['a paused one', { ...race, enabled: false }],
    ['a finished one', { ...race, cadence: { kind: 'event', startsAt: '2026-06-01T08:30:00Z' } }],
    [
      'one edited while in flight',
      {
        ...race,
        payload: { edited: true },
        state: {
          status: 'active',
          lane: 'low',
          nextDueAt: ts('2026-06-19T10:31:00Z'),
          lease: { id: 'running', until: ts('2026-06-19T10:31:00Z'), attempt: 1 },
        },
      },
    ],
  ])('%s: a second pass over its own write changes nothing', (_name, document) => {
    const first = decide(document, options);
    expect(first.changes).not.toBeNull();
    const written = applyChanges(document, first.changes ?? {});
    const second = decide(written, options);
    expect(second.outcome.kind).toBe('unchanged');
    expect(second.changes).toBeNull();
  });
});
