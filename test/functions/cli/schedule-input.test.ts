import { describe, expect, it } from 'vitest';
import { spreadPhase } from '../../../functions/schedule/spread.js';
import { UsageError } from '../../../functions/cli/errors.js';
import {
  checkId,
  formatOf,
  parseScheduleText,
  scheduleFromFlags,
  schedulesFromValue,
  type ScheduleFlags,
} from '../../../functions/cli/schedule-input.js';

const nightly = {
  id: 'nightly',
  name: 'nightly export',
  cadence: { kind: 'cron', expression: '0 2 * * *', timezone: 'Europe/Berlin' },
  target: { type: 'handler', name: 'example.echo' },
};

function problemsOf(result: ReturnType<typeof schedulesFromValue>): string[] {
  if (result.ok) throw new Error('expected problems, the input was valid');
  return result.problems;
}

describe('schedule files', () => {
  it('reads YAML with times left as the strings the operator wrote', () => {
    const value = parseScheduleText(
      [
        'id: race-974559',
        'name: race 974559 participants',
        'cadence:',
        '  kind: event',
        '  startsAt: 2026-06-20T08:30:00Z',
        'target: { type: http, url: "https://registration.example.com/974559" }',
      ].join('\n'),
      'yaml',
      'race.yaml',
    );
    const result = schedulesFromValue(value);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    const [schedule] = result.schedules;
    expect(schedule?.id).toBe('race-974559');
    // The id names the document; it is not written into it.
    expect(schedule?.document).not.toHaveProperty('id');
    expect(schedule?.document.cadence).toEqual({
      kind: 'event',
      startsAt: '2026-06-20T08:30:00Z',
    });
    expect(schedule?.spec.cadence).toMatchObject({ startsAt: Date.parse('2026-06-20T08:30:00Z') });
  });

  it('reads several YAML documents as a list', () => {
    const text = `id: a\n${yamlBody}\n---\nid: b\n${yamlBody}\n`;
    const result = schedulesFromValue(parseScheduleText(text, 'yaml', 'two.yaml'));
    expect(result.ok && result.schedules.map((s) => s.id)).toEqual(['a', 'b']);
  });

  it('names the position of a YAML or JSON syntax error and treats it as bad input', () => {
    expect(() => parseScheduleText('id: [unclosed', 'yaml', 'bad.yaml')).toThrow(UsageError);
    try {
      parseScheduleText('{"id": }', 'json', 'bad.json');
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(UsageError);
      expect((error as Error).message).toMatch(/^bad\.json is not valid JSON: /);
    }
  });

  it('decides the format by the file name: .json is JSON, anything else YAML', () => {
    expect(formatOf('races.JSON')).toBe('json');
    expect(formatOf('races.yml')).toBe('yaml');
    expect(formatOf('-')).toBe('yaml');
  });

  it('reports every problem of every schedule in a list, each with its index and field path', () => {
    const problems = problemsOf(
      schedulesFromValue([
        { ...nightly, id: 'a/b', cadence: { kind: 'interval', every: '5 min' }, state: {} },
        { ...nightly, id: undefined, colour: 'red' },
        'not a schedule',
        nightly,
        nightly,
      ]),
    );
    expect(problems).toEqual([
      '[0].id: "a/b" must not contain "/"',
      '[0].state: belongs to pacer and cannot be written; remove it',
      '[0].cadence.every: "5 min" is not a duration (use 90s, 5m, 4h, 1d)',
      '[1].id: is required (give --id, or an id in the file)',
      '[1].colour: unknown field',
      '[2]: expected a schedule (a map of fields)',
      '[4].id: "nightly" repeats [3].id',
    ]);
  });

  it('reports problems of a single schedule with plain field paths', () => {
    expect(
      problemsOf(schedulesFromValue({ ...nightly, target: { type: 'http', url: 'ftp://x' } })),
    ).toEqual(['target.url: "ftp://x" is not an http or https URL']);
  });

  it('takes the id from --id for one schedule, and refuses --id for a list or a different id', () => {
    const withoutId: Record<string, unknown> = { ...nightly };
    delete withoutId.id;
    const result = schedulesFromValue(withoutId, { id: 'from-flag' });
    expect(result.ok && result.schedules[0]?.id).toBe('from-flag');
    expect(problemsOf(schedulesFromValue([withoutId], { id: 'x' }))).toEqual([
      '--id: names one schedule, but the file holds a list',
    ]);
    expect(problemsOf(schedulesFromValue(nightly, { id: 'other' }))).toEqual([
      'id: the file says "nightly" but --id says "other"',
    ]);
  });

  it('refuses an empty file or an empty list', () => {
    expect(problemsOf(schedulesFromValue(null))).toEqual([
      '(document): the file holds no schedule',
    ]);
    expect(problemsOf(schedulesFromValue([]))).toEqual(['(document): the list is empty']);
  });
});

const yamlBody = [
  'name: x',
  'cadence: { kind: interval, every: 15m }',
  'target: { type: handler, name: example.echo }',
].join('\n');

describe('document ids', () => {
  it.each([
    ['a plain id is fine', 'race-974559', null],
    ['no id', undefined, 'is required (give --id, or an id in the file)'],
    ['a number', 974559, 'expected a string, got 974559 (quote it)'],
    ['an empty id', '', 'must not be empty'],
    ['a path', 'races/974559', '"races/974559" must not contain "/"'],
    ['..', '..', '".." is not allowed'],
    ['__pacer__', '__pacer__', '"__pacer__" is reserved (ids may not start and end with __)'],
    ['751 two-byte letters', 'é'.repeat(751), 'is longer than 1500 bytes'],
  ])('%s', (_label, id, problem) => {
    expect(checkId(id)).toBe(problem);
  });
});

describe('schedules from flags', () => {
  const base: ScheduleFlags = { id: 'every-15', name: 'every 15', url: 'https://t.example.com/' };

  it('builds an interval schedule with headers, secrets, labels, payload and run time', () => {
    const result = scheduleFromFlags({
      ...base,
      every: '15m',
      startAt: '2026-06-01T00:00:00Z',
      header: ['x-team=ops'],
      secretHeader: ['authorization=PACER_SECRET_TOKEN'],
      label: ['team=ops', 'tier=gold'],
      payload: '{"race": 974559}',
      maxRunSeconds: '120',
      lane: 'high',
      disabled: true,
    });
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.schedules[0]?.document).toEqual({
      name: 'every 15',
      enabled: false,
      cadence: { kind: 'interval', every: '15m', startAt: '2026-06-01T00:00:00Z' },
      target: {
        type: 'http',
        url: 'https://t.example.com/',
        headers: { 'x-team': 'ops', authorization: { secretEnv: 'PACER_SECRET_TOKEN' } },
      },
      lane: 'high',
      maxRunSeconds: 120,
      payload: { race: 974559 },
      labels: { team: 'ops', tier: 'gold' },
    });
  });

  it('builds a cron schedule with jitter, placed by its id; --jitter goes with --cron only', () => {
    const result = scheduleFromFlags({ ...base, cron: '0 2 * * *', jitter: '10m' });
    expect(result.ok && result.schedules[0]?.document.cadence).toEqual({
      kind: 'cron',
      expression: '0 2 * * *',
      jitter: '10m',
    });
    expect(result.ok && result.schedules[0]?.spec.cadence).toMatchObject({
      jitter: 600_000,
      phase: spreadPhase('every-15'),
    });
    expect(problemsOf(scheduleFromFlags({ ...base, every: '5m', jitter: '10m' }))).toEqual([
      '--jitter: only goes with --cron, not --every',
    ]);
  });

  it('builds a schedule without a name, with a method and pauseAfterFailures', () => {
    const result = scheduleFromFlags({
      ...base,
      name: undefined,
      every: '5m',
      method: 'PATCH',
      pauseAfterFailures: '3',
    });
    expect(result.ok && result.schedules[0]?.document).toEqual({
      cadence: { kind: 'interval', every: '5m' },
      target: { type: 'http', url: 'https://t.example.com/', method: 'PATCH' },
      pauseAfterFailures: 3,
    });
    expect(
      problemsOf(scheduleFromFlags({ ...base, every: '5m', pauseAfterFailures: 'often' })),
    ).toEqual(['pauseAfterFailures: expected a number, got "often"']);
    expect(
      problemsOf(
        scheduleFromFlags({
          ...base,
          url: undefined,
          handler: 'example.echo',
          every: '5m',
          method: 'PUT',
        }),
      ),
    ).toEqual(['--method: only goes with --url, not --handler']);
  });

  it('builds an event schedule with tiers and a cron schedule with a handler', () => {
    const event = scheduleFromFlags({
      ...base,
      eventStartsAt: '2026-06-20T08:30:00Z',
      tier: ['4h:1m', '24h:5m'],
      after: '2h',
    });
    expect(event.ok && event.schedules[0]?.document.cadence).toEqual({
      kind: 'event',
      startsAt: '2026-06-20T08:30:00Z',
      tiers: [
        { before: '4h', every: '1m' },
        { before: '24h', every: '5m' },
      ],
      after: '2h',
    });
    const cron = scheduleFromFlags({
      id: 'nightly',
      name: 'nightly',
      cron: '0 2 * * *',
      timezone: 'Europe/Berlin',
      handler: 'example.echo',
    });
    expect(cron.ok && cron.schedules[0]?.document).toEqual({
      name: 'nightly',
      cadence: { kind: 'cron', expression: '0 2 * * *', timezone: 'Europe/Berlin' },
      target: { type: 'handler', name: 'example.echo' },
    });
  });

  it('words a wrong choice of flags in flag terms', () => {
    expect(problemsOf(scheduleFromFlags({ ...base, url: undefined }))).toEqual([
      'cadence: give one of --every, --cron, --event-starts-at',
      'target: give one of --url, --handler',
    ]);
    expect(
      problemsOf(
        scheduleFromFlags({ ...base, every: '5m', cron: '0 2 * * *', handler: 'example.echo' }),
      ),
    ).toEqual([
      'cadence: --every and --cron cannot be combined',
      'target: --url and --handler cannot be combined',
    ]);
    expect(
      problemsOf(scheduleFromFlags({ ...base, every: '5m', timezone: 'UTC', tier: ['4h:1m'] })),
    ).toEqual([
      '--timezone: only goes with --cron, not --every',
      '--tier: only goes with --event-starts-at, not --every',
    ]);
  });

  it('reports malformed flag values and invalid fields together, every one', () => {
    expect(
      problemsOf(
        scheduleFromFlags({
          id: 'a/b',
          every: '5 min',
          url: 'https://t.example.com/',
          payload: '{race}',
          label: ['team'],
          maxRunSeconds: 'lots',
        }),
      ),
    ).toEqual([
      expect.stringMatching(/^--payload: not JSON \(/) as string,
      '--label: "team" is not NAME=VALUE',
      'id: "a/b" must not contain "/"',
      'cadence.every: "5 min" is not a duration (use 90s, 5m, 4h, 1d)',
      'maxRunSeconds: expected a number, got "lots"',
    ]);
  });

  it('requires an id', () => {
    expect(problemsOf(scheduleFromFlags({ ...base, id: undefined, every: '5m' }))).toEqual([
      'id: is required (give --id, or an id in the file)',
    ]);
  });
});
