import { describe, expect, it } from 'vitest';
import { upcomingRuns } from '../../../functions/cli/upcoming.js';
import { EMPTY_STATE, type ScheduleState } from '../../../functions/protocol/state.js';
import { duration as d } from '../../../functions/schedule/duration.js';
import { validateSchedule, type ScheduleSpec } from '../../../functions/schedule/spec.js';

const t = (iso: string) => Date.parse(iso);
const iso = (ms: number) => new Date(ms).toISOString();
const thresholds = { highMaxIntervalMs: d('1m'), mediumMaxIntervalMs: d('5m') };
const target = { type: 'handler', name: 'example.echo' };

function spec(fields: Record<string, unknown>): ScheduleSpec {
  const validation = validateSchedule({ target, ...fields });
  if (!validation.ok) throw new Error(validation.problems.join('; '));
  return validation.spec;
}

const active = (nextDueAt: number, extra: Partial<ScheduleState> = {}): ScheduleState => ({
  ...EMPTY_STATE,
  status: 'active',
  nextDueAt,
  ...extra,
});

/** A race at 08:30 with the default tiers: 24h → 5m, 4h → 1m, else 60m; on for 1h after. */
const race = spec({ cadence: { kind: 'event', startsAt: '2026-06-20T08:30:00Z' } });

interface Row {
  name: string;
  spec: ScheduleSpec;
  state: ScheduleState;
  now: string;
  count?: number;
  /** `dueAt lane rule` per run. */
  expected: string[];
}

const rows: Row[] = [
  {
    name: 'an interval: five points a step apart, in the lane its interval gives',
    spec: spec({ cadence: { kind: 'interval', every: '15m' } }),
    state: active(t('2026-06-20T10:15:00Z')),
    now: '2026-06-20T10:05:00Z',
    expected: [
      '2026-06-20T10:15:00.000Z low',
      '2026-06-20T10:30:00.000Z low',
      '2026-06-20T10:45:00.000Z low',
      '2026-06-20T11:00:00.000Z low',
      '2026-06-20T11:15:00.000Z low',
    ],
  },
  {
    name: 'an event across its tier boundary 4h before: 5m (medium) then 1m (high)',
    spec: race,
    state: active(t('2026-06-20T04:20:00Z')),
    now: '2026-06-20T04:19:00Z',
    count: 4,
    expected: [
      '2026-06-20T04:20:00.000Z medium tier: from 1d before the start',
      '2026-06-20T04:25:00.000Z medium tier: from 1d before the start',
      '2026-06-20T04:30:00.000Z high tier: from 4h before the start',
      '2026-06-20T04:31:00.000Z high tier: from 4h before the start',
    ],
  },
  {
    name: 'an event that ends: fewer points than asked for',
    spec: race,
    state: active(t('2026-06-20T09:27:00Z')),
    now: '2026-06-20T09:26:30Z',
    expected: [
      '2026-06-20T09:27:00.000Z high after the start (the closest tier)',
      '2026-06-20T09:28:00.000Z high after the start (the closest tier)',
      '2026-06-20T09:29:00.000Z high after the start (the closest tier)',
    ],
  },
  {
    name: 'a cron schedule across the spring DST change in Berlin: 02:30 on 29 March does not exist and runs at 03:30 CEST, then 02:30 CEST',
    spec: spec({
      cadence: { kind: 'cron', expression: '30 2 * * *', timezone: 'Europe/Berlin' },
    }),
    state: active(t('2026-03-28T01:30:00Z')),
    now: '2026-03-28T01:00:00Z',
    count: 3,
    expected: [
      '2026-03-28T01:30:00.000Z low',
      '2026-03-29T01:30:00.000Z low',
      '2026-03-30T00:30:00.000Z low',
    ],
  },
  {
    name: 'a cron schedule across the autumn DST change in Berlin: 02:30 happens twice on 25 October and runs once',
    spec: spec({
      cadence: { kind: 'cron', expression: '30 2 * * *', timezone: 'Europe/Berlin' },
    }),
    state: active(t('2026-10-24T00:30:00Z')),
    now: '2026-10-24T00:00:00Z',
    count: 3,
    expected: [
      '2026-10-24T00:30:00.000Z low',
      '2026-10-25T00:30:00.000Z low',
      '2026-10-26T01:30:00.000Z low',
    ],
  },
  {
    name: 'a point owed already comes first; the missed ones after it are coalesced',
    spec: spec({ cadence: { kind: 'interval', every: '10m', startAt: '2026-06-20T00:00:00Z' } }),
    state: active(t('2026-06-20T10:00:00Z')),
    now: '2026-06-20T10:25:00Z',
    count: 3,
    expected: [
      '2026-06-20T10:00:00.000Z low',
      '2026-06-20T10:20:00.000Z low',
      '2026-06-20T10:30:00.000Z low',
    ],
  },
  {
    name: 'a paused schedule: none',
    spec: race,
    state: { ...EMPTY_STATE, status: 'paused' },
    now: '2026-06-20T04:19:00Z',
    expected: [],
  },
  {
    name: 'a disabled schedule whose state was not reconciled yet: none',
    spec: { ...race, enabled: false },
    state: active(t('2026-06-20T04:20:00Z')),
    now: '2026-06-20T04:19:00Z',
    expected: [],
  },
  {
    name: 'an event that has ended (finished): none',
    spec: race,
    state: { ...EMPTY_STATE, status: 'finished' },
    now: '2026-06-20T10:00:00Z',
    expected: [],
  },
];

describe('upcoming runs', () => {
  it.each(rows)('$name', (row) => {
    const runs = upcomingRuns(row.spec, row.state, t(row.now), thresholds, row.count);
    expect(
      runs.map((run) => `${iso(run.dueAt)} ${run.lane}${run.rule ? ` ${run.rule}` : ''}`),
    ).toEqual(row.expected);
  });
});
