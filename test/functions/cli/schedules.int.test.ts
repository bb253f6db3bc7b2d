/**
 * `pacer schedules …` and `pacer explain`, run as the built binary against the emulators: the
 * life of a schedule from a file to its deletion, with the JSON output parsed and checked
 * against Firestore, and the ways an operator can get it wrong.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ExplainResult } from '../../../functions/cli/explain.js';
import type { AddResult, ListResult, ScheduleRow } from '../../../functions/cli/schedules.js';
import { RUNS, SCHEDULES, timestamp } from '../../../functions/store/state.js';
import { existingState, stateRef } from '../../support/schedule-docs.js';
import { pacerJson, runPacer } from '../../support/cli.js';
import { useTestProject } from '../../support/emulators.js';

const project = useTestProject('cli-schedules');
const { env, firestore: db } = project;
const dir = mkdtempSync(join(tmpdir(), 'pacer-cli-'));
const MIN = 60_000;

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const schedulesYaml = `
- id: every-minute
  name: race 974559 participants
  cadence: { kind: interval, every: 1m, spread: false }
  target: { type: http, url: "https://registration.example.com/974559" }
- id: nightly
  name: nightly export
  cadence: { kind: cron, expression: "0 2 * * *", timezone: Europe/Berlin }
  target: { type: handler, name: example.echo }
`;

async function exists(id: string): Promise<boolean> {
  return (await db.collection(SCHEDULES).doc(id).get()).exists;
}

describe('pacer schedules, against the emulators', () => {
  it('adds from a file, lists, explains, pauses, resumes and deletes a schedule', async () => {
    const before = Date.now();
    const added = await pacerJson<AddResult>(
      ['schedules', 'add', '--file', file('schedules.yaml', schedulesYaml)],
      env,
    );
    expect(
      added.schedules.map(({ id, action, status, lane }) => ({ id, action, status, lane })),
    ).toEqual([
      { id: 'every-minute', action: 'created', status: 'active', lane: 'high' },
      { id: 'nightly', action: 'created', status: 'active', lane: 'low' },
    ]);
    // A new interval schedule is due at once; a cron one at its next occurrence.
    const firstDue = Date.parse(added.schedules[0]?.nextDueAt ?? '');
    expect(firstDue).toBeGreaterThanOrEqual(before);
    expect(firstDue).toBeLessThanOrEqual(Date.now());
    expect(Date.parse(added.schedules[1]?.nextDueAt ?? '')).toBeGreaterThan(Date.now());
    // What the operator wrote is stored as written; pacer's state in a document of its own.
    const stored = await db.collection(SCHEDULES).doc('every-minute').get();
    expect(stored.get('cadence')).toEqual({ kind: 'interval', every: '1m', spread: false });
    expect(stored.get('id')).toBeUndefined();
    expect(stored.get('state')).toBeUndefined();
    expect((await existingState(db, 'every-minute')).nextDueAt).toBe(firstDue);

    const listed = await pacerJson<ListResult>(['schedules', 'list'], env);
    expect(listed.more).toBe(false);
    expect(listed.schedules.map((row) => [row.id, row.status, row.lane, row.health])).toEqual([
      ['every-minute', 'active', 'high', 'ok'],
      ['nightly', 'active', 'low', 'ok'],
    ]);
    const highOnly = await pacerJson<ListResult>(['schedules', 'list', '--lane', 'high'], env);
    expect(highOnly.schedules.map((row) => row.id)).toEqual(['every-minute']);
    const table = await runPacer(['schedules', 'list', '--limit', '1'], env);
    expect(table.code).toBe(0);
    expect(table.stdout.split('\n')[0]).toMatch(
      /^ID +NAME +STATUS +LANE +NEXT DUE +LAST SUCCESS +HEALTH$/,
    );
    expect(table.stdout).toContain('every-minute');
    expect(table.stdout).not.toContain('nightly');
    expect(table.stderr).toContain('more schedules match; showing the first 1');

    // Run history with one missed due point, 2 minutes before the point owed now.
    const runs = db.collection(SCHEDULES).doc('every-minute').collection(RUNS);
    for (const minutesBefore of [5, 4, 3, 1]) {
      const dueAt = firstDue - minutesBefore * MIN;
      await runs.doc(`lease-${minutesBefore}`).set({
        leaseId: `lease-${minutesBefore}`,
        dueAt: timestamp(dueAt),
        status: 'succeeded',
        attempt: 1,
        firstStartedAt: timestamp(dueAt + 2_000),
        finishedAt: timestamp(dueAt + 2_500),
        durationMs: 500,
        lateMs: 2_000,
      });
    }
    const explained = await pacerJson<ExplainResult>(['explain', 'every-minute'], env);
    expect(explained).toMatchObject({
      id: 'every-minute',
      status: 'active',
      valid: true,
      // On the exact grid (spread: false): the runs below are written on it.
      cadence: {
        description: 'every 1m',
        written: { kind: 'interval', every: '1m', spread: false },
      },
      target: 'POST https://registration.example.com/974559',
      inForce: { interval: '1m', lane: 'high', laneSource: 'interval' },
      planned: { lane: 'high', nextDueAt: new Date(firstDue).toISOString(), lease: null },
    });
    expect(
      explained.runs.timeline.map((entry) => [entry.kind, 'mark' in entry ? entry.mark : '']),
    ).toEqual([
      ['run', 'covered'],
      ['run', 'covered'],
      ['run', 'covered'],
      ['gap', ''],
      ['run', 'covered'],
      ['due', ''],
    ]);
    expect(explained.runs.timeline[3]).toEqual({
      kind: 'gap',
      from: new Date(firstDue - 2 * MIN).toISOString(),
      to: new Date(firstDue - 2 * MIN).toISOString(),
      missed: 1,
      exact: true,
    });
    expect(explained.runs).toMatchObject({ shown: 4, covered: 4, missed: 1, gaps: 1 });
    const explainedText = await runPacer(['explain', 'every-minute', '--runs', '3'], env);
    expect(explainedText.code).toBe(0);
    expect(explainedText.stdout).toMatch(
      /^in force now: +every 1m, lane high \(follows the interval\)$/m,
    );
    expect(explainedText.stdout).toContain('last 3 runs against the cadence, oldest first:');
    expect(explainedText.stdout).toMatch(/MISSED .*gap: 1 due point/);

    const paused = await pacerJson<ScheduleRow>(['schedules', 'pause', 'every-minute'], env);
    expect(paused).toMatchObject({
      id: 'every-minute',
      enabled: false,
      status: 'paused',
      nextDueAt: null,
    });
    const pausedList = await pacerJson<ListResult>(
      ['schedules', 'list', '--status', 'paused'],
      env,
    );
    expect(pausedList.schedules.map((row) => row.id)).toEqual(['every-minute']);

    const resumed = await pacerJson<ScheduleRow>(['schedules', 'resume', 'every-minute'], env);
    expect(resumed).toMatchObject({
      id: 'every-minute',
      enabled: true,
      status: 'active',
      lane: 'high',
    });
    expect(resumed.nextDueAt).not.toBeNull();

    const unconfirmed = await runPacer(['schedules', 'delete', 'every-minute'], env);
    expect(unconfirmed.code).toBe(2);
    expect(unconfirmed.stderr).toContain('add --yes to confirm');
    expect(await exists('every-minute')).toBe(true);

    const deleted = await pacerJson<{ id: string; deleted: boolean }>(
      ['schedules', 'delete', 'every-minute', '--yes'],
      env,
    );
    expect(deleted).toMatchObject({ id: 'every-minute', deleted: true });
    expect(await exists('every-minute')).toBe(false);
    expect((await runs.get()).size).toBe(0);
    const after = await pacerJson<ListResult>(['schedules', 'list'], env);
    expect(after.schedules.map((row) => row.id)).toEqual(['nightly']);
  });

  it('prints every problem of an invalid file with its field path, writes nothing and exits 2', async () => {
    const path = file(
      'invalid.yaml',
      `
- id: fine
  name: a valid schedule in a file that is not
  cadence: { kind: interval, every: 15m }
  target: { type: handler, name: example.echo }
- id: broken
  name: ""
  cadence: { kind: event, startsAt: 2026-06-20T08:30:00, tiers: [{ before: 4h, every: 5 min }] }
  target: { type: http, url: "https://user:secret@example.com/" }
  colour: red
`,
    );
    const run = await runPacer(['schedules', 'add', '--file', path], env);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr.split('\n')).toEqual([
      `pacer: ${path}: 5 problems; nothing was written`,
      '  [1].cadence.startsAt: "2026-06-20T08:30:00" has no UTC offset (use an ISO-8601 time with an offset such as 2026-05-01T08:30:00Z, or a Firestore timestamp)',
      '  [1].cadence.tiers[0].every: "5 min" is not a duration (use 90s, 5m, 4h, 1d)',
      '  [1].colour: unknown field',
      '  [1].name: must not be empty',
      '  [1].target.url: must not carry credentials; put them in a header with secretEnv',
      '',
    ]);
    expect(await exists('fine')).toBe(false);
    expect(await exists('broken')).toBe(false);
  });

  it('refuses bad usage with exit 2 and a message, never a stack trace', async () => {
    for (const args of [
      ['schedules', 'pause'],
      ['schedules', 'add', '--id', 'x', '--every', '5m', '--cron', '0 2 * * *'],
      ['explain', 'nightly', '--runs', 'many'],
    ]) {
      const run = await runPacer(args, env);
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.stderr).toMatch(/^pacer: \S/);
      expect(run.stderr).not.toMatch(/^\s+at /m);
      expect(run.stdout).toBe('');
    }
  });

  it('fails with exit 1 and a message when the schedule does not exist', async () => {
    for (const args of [
      ['schedules', 'show', 'no-such-schedule'],
      ['schedules', 'pause', 'no-such-schedule'],
      ['schedules', 'delete', 'no-such-schedule', '--yes'],
      ['explain', 'no-such-schedule'],
    ]) {
      const run = await runPacer(args, env);
      expect(run.code, args.join(' ')).toBe(1);
      expect(run.stderr).toBe('pacer: no schedule "no-such-schedule"\n');
    }
  });

  it('adds a schedule from flags, refuses its id a second time, and replaces its fields keeping its state with --replace', async () => {
    const flags = [
      '--id',
      'from-flags',
      '--name',
      'every 5 minutes',
      '--every',
      '5m',
      '--url',
      'https://t.example.com/a',
    ];
    const added = await pacerJson<AddResult>(
      ['schedules', 'add', ...flags, '--label', 'team=ops'],
      env,
    );
    expect(added.schedules[0]).toMatchObject({
      id: 'from-flags',
      status: 'active',
      lane: 'medium',
    });
    const ref = db.collection(SCHEDULES).doc('from-flags');
    expect((await ref.get()).get('labels')).toEqual({ team: 'ops' });
    // As if it had run: pacer's own fields that a replace must keep.
    await stateRef(db, 'from-flags').update({
      'state.runCount': 7,
      'state.lastSuccessAt': timestamp(Date.now() - MIN),
    });

    const again = await runPacer(['schedules', 'add', ...flags], env);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('pacer: 1 schedule already exists; nothing was written');
    expect((await ref.get()).get('labels')).toEqual({ team: 'ops' });

    const replaced = await pacerJson<AddResult>(
      [
        'schedules',
        'add',
        '--id',
        'from-flags',
        '--name',
        'hourly now',
        '--every',
        '1h',
        '--handler',
        'example.echo',
        '--replace',
      ],
      env,
    );
    expect(replaced.schedules[0]).toMatchObject({
      id: 'from-flags',
      action: 'replaced',
      lane: 'low',
    });
    const after = await ref.get();
    expect(after.get('name')).toBe('hourly now');
    expect(after.get('labels')).toBeUndefined();
    expect(after.get('target')).toEqual({ type: 'handler', name: 'example.echo' });
    expect((await existingState(db, 'from-flags')).runCount).toBe(7);
  });

  it('reads a schedule from stdin and shows it as stored', async () => {
    const stdin = JSON.stringify({
      id: 'from-stdin',
      name: 'from stdin',
      cadence: { kind: 'event', startsAt: '2030-01-01T09:00:00Z' },
      target: { type: 'handler', name: 'example.echo' },
    });
    const run = await runPacer(['schedules', 'add', '--file', '-'], env, { stdin });
    expect(run.code, run.stderr).toBe(0);
    const shown = await pacerJson<{
      fields: Record<string, unknown>;
      state: Record<string, unknown>;
      valid: boolean;
      cadence: string;
    }>(['schedules', 'show', 'from-stdin'], env);
    expect(shown.valid).toBe(true);
    expect(shown.fields.cadence).toEqual({ kind: 'event', startsAt: '2030-01-01T09:00:00Z' });
    expect(shown.state).toMatchObject({ status: 'active', lane: 'low' });
    expect(shown.cadence).toMatch(/^event at 2030-01-01 09:00:00Z: every 1h;/);
  });
});

describe('pacer schedules list --failing', () => {
  it('lists the schedules paused by failures with the failing ones, and says which are paused', async () => {
    const ids = ['fails-a', 'fails-paused-b', 'fails-ok-c'];
    await pacerJson<AddResult>(
      [
        'schedules',
        'add',
        '--file',
        file(
          'failing.yaml',
          ids
            .map(
              (id) => `
- id: ${id}
  cadence: { kind: interval, every: 5m }
  target: { type: handler, name: example.echo }`,
            )
            .join(''),
        ),
      ],
      env,
    );
    await stateRef(db, 'fails-a').update({ 'state.health': 'failing' });
    // As the release of its third dead letter in a row leaves it (functions/protocol/decisions.ts).
    await stateRef(db, 'fails-paused-b').update({
      'state.health': 'paused_by_failures',
      'state.status': 'paused',
      'state.nextDueAt': null,
      'state.pause': {
        cause: 'failures',
        by: 'pacer',
        at: timestamp(Date.now() - 5 * MIN),
        reason: '3 consecutive dead letters (pauseAfterFailures: 3)',
      },
    });

    try {
      const failing = await pacerJson<ListResult>(['schedules', 'list', '--failing'], env);
      expect(failing.schedules.map((row) => [row.id, row.status, row.health])).toEqual([
        ['fails-a', 'active', 'failing'],
        ['fails-paused-b', 'paused', 'paused_by_failures'],
      ]);

      const text = await runPacer(['schedules', 'list', '--failing'], env);
      expect(text.code).toBe(0);
      const lines = text.stdout.trim().split('\n');
      expect(lines[0]).toMatch(/ HEALTH +PAUSED$/);
      expect(lines[2]).toMatch(
        /^fails-paused-b .* paused +.* paused_by_failures +by pacer after failures at .*: 3 consecutive dead letters/,
      );

      // Filters still combine: an active failing schedule only.
      const active = await pacerJson<ListResult>(
        ['schedules', 'list', '--failing', '--status', 'active'],
        env,
      );
      expect(active.schedules.map((row) => row.id)).toEqual(['fails-a']);
    } finally {
      for (const id of ids) await runPacer(['schedules', 'delete', id, '--yes'], env);
    }
  });
});
