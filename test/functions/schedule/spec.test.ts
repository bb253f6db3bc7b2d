import { Timestamp } from '@google-cloud/firestore';
import { describe, expect, it } from 'vitest';
import { validateSchedule } from '../../../functions/schedule/spec.js';

const TIME_HINT =
  'use an ISO-8601 time with an offset such as 2026-05-01T08:30:00Z, or a Firestore timestamp';

/** A valid race schedule; each case below breaks one thing in it. */
function race(): Record<string, unknown> {
  return {
    name: 'Race 974559 participants',
    cadence: { kind: 'event', startsAt: '2026-06-20T08:30:00Z' },
    target: { type: 'http', url: 'https://registration.example.com/sync' },
  };
}

/** A loosely typed document, as an operator might write it. */
interface Doc {
  [field: string]: unknown;
  cadence: Record<string, unknown>;
  target: Record<string, unknown>;
}

function withChange(change: (doc: Doc) => void): Record<string, unknown> {
  const doc = race() as Doc;
  change(doc);
  return doc;
}

describe('a valid schedule', () => {
  it('fills in the event defaults, closest tier first, times in ms', () => {
    const result = validateSchedule(race());
    expect(result).toEqual({
      ok: true,
      spec: {
        name: 'Race 974559 participants',
        enabled: true,
        cadence: {
          kind: 'event',
          startsAt: Date.parse('2026-06-20T08:30:00Z'),
          tiers: [
            { before: 4 * 3_600_000, every: 60_000 },
            { before: 24 * 3_600_000, every: 300_000 },
          ],
          otherwise: 3_600_000,
          after: 3_600_000,
        },
        target: { type: 'http', url: 'https://registration.example.com/sync' },
      },
    });
  });

  it('accepts a Firestore Timestamp, a Date and an offset other than Z for the same moment', () => {
    const moment = Date.parse('2026-06-20T08:30:00Z');
    for (const startsAt of [
      Timestamp.fromMillis(moment),
      new Date(moment),
      '2026-06-20T10:30:00+02:00',
    ]) {
      const result = validateSchedule(withChange((doc) => (doc.cadence.startsAt = startsAt)));
      expect(
        result.ok && result.spec.cadence.kind === 'event' && result.spec.cadence.startsAt,
      ).toBe(moment);
    }
  });

  it('needs no name (the id stands in), takes PUT or PATCH for an http target and a pauseAfterFailures', () => {
    const result = validateSchedule({
      cadence: { kind: 'interval', every: '5m' },
      target: { type: 'http', url: 'https://api.example.com/sync', method: 'PUT' },
      pauseAfterFailures: 3,
    });
    expect(result).toMatchObject({
      ok: true,
      spec: { target: { method: 'PUT' }, pauseAfterFailures: 3 },
    });
    expect(result.ok && result.spec.name).toBeUndefined();
    const patch = validateSchedule(
      withChange(
        (doc) => (doc.target = { type: 'http', url: 'https://x.example.com', method: 'PATCH' }),
      ),
    );
    expect(patch.ok).toBe(true);
  });

  it("ignores pacer's own state map", () => {
    const result = validateSchedule(withChange((doc) => (doc.state = { status: 'active' })));
    expect(result.ok).toBe(true);
  });

  it('accepts an interval, a cron with catch-up, headers from secret variables and a handler', () => {
    const documents = [
      {
        name: 'Every quarter hour',
        cadence: { kind: 'interval', every: '15m', startAt: '2026-01-01T00:00:00Z' },
        target: {
          type: 'http',
          url: 'https://api.example.com/sync',
          headers: { Authorization: { secretEnv: 'PACER_SECRET_API_TOKEN' }, 'X-Source': 'pacer' },
        },
        lane: 'medium',
        maxRunSeconds: 120,
        payload: { raceId: 974559 },
        labels: { team: 'timing' },
      },
      {
        name: 'Nightly export',
        enabled: false,
        cadence: {
          kind: 'cron',
          expression: '0 2 * * *',
          timezone: 'Europe/Berlin',
          catchUpWithin: '2h',
        },
        target: { type: 'handler', name: 'example.echo' },
      },
    ];
    for (const document of documents)
      expect(validateSchedule(document)).toMatchObject({ ok: true });
  });
});

describe('a bad schedule is rejected with the field path and what was wrong', () => {
  const cases: [string, unknown, string[]][] = [
    [
      'a duration in words',
      withChange(
        (doc) =>
          (doc.cadence.tiers = [
            { before: '4h', every: '1m' },
            { before: '24h', every: '5 min' },
          ]),
      ),
      ['cadence.tiers[1].every: "5 min" is not a duration (use 90s, 5m, 4h, 1d)'],
    ],
    [
      'a negative duration',
      withChange((doc) => (doc.cadence.otherwise = '-5m')),
      ['cadence.otherwise: "-5m" is negative; durations are positive (use 90s, 5m, 4h, 1d)'],
    ],
    [
      'an interval shorter than the planner can serve',
      { ...race(), cadence: { kind: 'interval', every: '5s' } },
      ['cadence.every: "5s" is too short (at least 10s)'],
    ],
    [
      'a missing startsAt',
      withChange((doc) => delete doc.cadence.startsAt),
      ['cadence.startsAt: is required'],
    ],
    [
      'a time without an offset',
      withChange((doc) => (doc.cadence.startsAt = '2026-06-20T08:30')),
      [`cadence.startsAt: "2026-06-20T08:30" has no UTC offset (${TIME_HINT})`],
    ],
    [
      'a time in words',
      withChange((doc) => (doc.cadence.startsAt = 'next tuesday')),
      [`cadence.startsAt: "next tuesday" is not a time (${TIME_HINT})`],
    ],
    [
      'a time as a number',
      withChange((doc) => (doc.cadence.startsAt = 1781944200)),
      [`cadence.startsAt: expected a time, got 1781944200 (${TIME_HINT})`],
    ],
    [
      'a cron field out of range',
      { ...race(), cadence: { kind: 'cron', expression: '61 * * * *' } },
      [
        'cadence.expression: "61 * * * *" is not a cron expression (Constraint error, got value 61 expected range 0-59)',
      ],
    ],
    [
      'a cron expression with seconds',
      { ...race(), cadence: { kind: 'cron', expression: '*/5 * * * * *' } },
      [
        'cadence.expression: "*/5 * * * * *" is not a cron expression: it needs 5 fields (minute hour day-of-month month day-of-week), got 6',
      ],
    ],
    [
      'a cron expression that never fires',
      { ...race(), cadence: { kind: 'cron', expression: '0 0 30 2 *' } },
      [
        'cadence.expression: "0 0 30 2 *" is not a cron expression (Invalid explicit day of month definition)',
      ],
    ],
    [
      'a catch-up window shorter than a run can be late',
      { ...race(), cadence: { kind: 'cron', expression: '0 2 * * *', catchUpWithin: '0s' } },
      ['cadence.catchUpWithin: "0s" is too short (at least 1m)'],
    ],
    [
      'an unknown time zone',
      { ...race(), cadence: { kind: 'cron', expression: '0 2 * * *', timezone: 'Mars/Base' } },
      [
        'cadence.timezone: "Mars/Base" is not an IANA time zone (e.g. UTC, Europe/Berlin, America/New_York)',
      ],
    ],
    [
      'an unknown lane',
      withChange((doc) => (doc.lane = 'urgent')),
      ['lane: "urgent" is not a lane (use high, medium, low)'],
    ],
    [
      'an unknown cadence kind',
      withChange((doc) => (doc.cadence = { kind: 'weekly' })),
      ['cadence.kind: "weekly" is not a cadence kind (use event, interval, cron)'],
    ],
    [
      'a cadence without a kind',
      withChange((doc) => (doc.cadence = { every: '5m' })),
      ['cadence.kind: is required (one of event, interval, cron)'],
    ],
    [
      'an unknown target type',
      withChange((doc) => (doc.target = { type: 'grpc', url: 'https://x.example.com' })),
      ['target.type: "grpc" is not a target type (use http, handler)'],
    ],
    [
      'unknown fields, at the top and inside the cadence',
      withChange((doc) => {
        doc.colour = 'red';
        doc.cadence.startAt = '2026-06-20T08:30:00Z';
      }),
      ['cadence.startAt: unknown field', 'colour: unknown field'],
    ],
    [
      'wrong types',
      withChange((doc) => {
        doc.enabled = 'yes';
        doc.name = 42;
        doc.labels = { team: 5 };
      }),
      [
        'enabled: expected true or false, got "yes"',
        'labels.team: expected a string, got 5',
        'name: expected a string, got 42',
      ],
    ],
    [
      'an http method pacer does not call with',
      withChange(
        (doc) => (doc.target = { type: 'http', url: 'https://x.example.com', method: 'GET' }),
      ),
      ['target.method: "GET" is not a method pacer calls a target with (use POST, PUT, PATCH)'],
    ],
    [
      'a pauseAfterFailures of zero',
      withChange((doc) => (doc.pauseAfterFailures = 0)),
      ['pauseAfterFailures: 0 is too small (at least 1)'],
    ],
    [
      'a pauseAfterFailures beyond its bound',
      withChange((doc) => (doc.pauseAfterFailures = 1_001)),
      ['pauseAfterFailures: 1001 is too large (at most 1000)'],
    ],
    [
      'a pauseAfterFailures that is not a whole number',
      withChange((doc) => (doc.pauseAfterFailures = 2.5)),
      ['pauseAfterFailures: expected a whole number, got 2.5'],
    ],
    ['an empty name', withChange((doc) => (doc.name = '  ')), ['name: must not be empty']],
    [
      'a run time beyond what a function may run',
      withChange((doc) => (doc.maxRunSeconds = 900)),
      [
        'maxRunSeconds: 900 is too big for a sync inside the push request (at most 540); set runner: "job" to run it in a Cloud Run job (up to 86400)',
      ],
    ],
    [
      'a run time beyond what a job may run',
      withChange((doc) => {
        doc.runner = 'job';
        doc.maxRunSeconds = 86_401;
      }),
      ['maxRunSeconds: 86401 is too large (at most 86400)'],
    ],
    [
      'a runner pacer does not know',
      withChange((doc) => (doc.runner = 'lambda')),
      ['runner: "lambda" is not allowed (use request, job)'],
    ],
    [
      'a fractional run time',
      withChange((doc) => (doc.maxRunSeconds = 1.5)),
      ['maxRunSeconds: expected a whole number, got 1.5'],
    ],
    [
      'a 2 MB payload',
      withChange((doc) => (doc.payload = { blob: 'x'.repeat(2_000_000) })),
      ['payload: is 2,000,011 bytes as JSON; the limit is 102,400'],
    ],
    [
      'a target URL that is not http',
      withChange((doc) => (doc.target.url = 'ftp://files.example.com/x')),
      ['target.url: "ftp://files.example.com/x" is not an http or https URL'],
    ],
    [
      'a secret header from an arbitrary variable',
      withChange((doc) => (doc.target.headers = { Authorization: { secretEnv: 'HOME' } })),
      [
        'target.headers.Authorization.secretEnv: "HOME" is not a secret variable name (it must start with PACER_SECRET_, e.g. PACER_SECRET_API_TOKEN)',
      ],
    ],
    [
      'a header pacer sets itself',
      withChange((doc) => (doc.target.headers = { 'Content-Type': 'text/plain' })),
      ['target.headers["Content-Type"]: is set by pacer itself'],
    ],
    [
      'an interval that ends before it starts',
      {
        ...race(),
        cadence: {
          kind: 'interval',
          every: '15m',
          startAt: '2026-06-20T10:00:00Z',
          endAt: '2026-06-20T09:00:00Z',
        },
      },
      ['cadence.endAt: must be after cadence.startAt'],
    ],
    [
      'two tiers with the same window',
      withChange(
        (doc) =>
          (doc.cadence.tiers = [
            { before: '4h', every: '1m' },
            { before: '4h', every: '5m' },
          ]),
      ),
      ['cadence.tiers[1].before: "4h" repeats tiers[0].before'],
    ],
    [
      'a document that is not a map',
      'hello',
      ['(document): expected a map of fields, got "hello"'],
    ],
  ];

  it.each(cases)('%s', (_name, document, problems) => {
    expect(validateSchedule(document)).toEqual({ ok: false, problems });
  });

  it('reports every problem at once, sorted by field path', () => {
    const result = validateSchedule({
      name: '',
      cadence: { kind: 'interval', every: '5 min' },
      target: { type: 'http', url: 'not a url' },
      lane: 'urgent',
    });
    expect(result).toEqual({
      ok: false,
      problems: [
        'cadence.every: "5 min" is not a duration (use 90s, 5m, 4h, 1d)',
        'lane: "urgent" is not a lane (use high, medium, low)',
        'name: must not be empty',
        'target.url: "not a url" is not a URL',
      ],
    });
  });
});
