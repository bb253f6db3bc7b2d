/**
 * What operators reach for (issue 16, items 3, 4 and 7), run as the built `pacer` binary against
 * the emulators: a pause with a reason that list, show, explain and status show and resume
 * clears; the upcoming runs of show and explain; a schedule without a name; and
 * `dead-letters replay --all`, which replays each open letter once however often it is run.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ReplayAllResult } from '../../../functions/cli/dead-letters.js';
import type { ExplainResult } from '../../../functions/cli/explain.js';
import type {
  AddResult,
  ListResult,
  ScheduleRow,
  ShowResult,
} from '../../../functions/cli/schedules.js';
import type { StatusResult } from '../../../functions/cli/status.js';
import { defaultSettings } from '../../../functions/config.js';
import { perLane } from '../../../functions/planner/plan.js';
import { spreadPhase } from '../../../functions/schedule/spread.js';
import { FirestoreStore } from '../../../functions/store/firestore.js';
import type { DeadLetterRecord } from '../../../functions/store/port.js';
import { DEAD_LETTERS, millis } from '../../../functions/store/state.js';
import { existingState } from '../../support/schedule-docs.js';
import { describeTopology } from '../../../functions/topology.js';
import { pacerJson, runPacer } from '../../support/cli.js';
import { useTestProject } from '../../support/emulators.js';
import { intervalSpec, seedSchedules } from '../../support/fixtures.js';
import { laneTopicsWithCollector } from '../../support/pubsub.js';

const project = useTestProject('cli-operate');
const { env, firestore: db } = project;
const dir = mkdtempSync(join(tmpdir(), 'pacer-operate-'));
const MIN = 60_000;

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe('pause with a reason, against the emulators', () => {
  it('records who, when and why; list, show, explain and status show it; resume clears it', async () => {
    await pacerJson<AddResult>(
      [
        'schedules',
        'add',
        '--file',
        file(
          'race.yaml',
          `id: race-1
cadence: { kind: interval, every: 15m }
target: { type: http, url: "https://registration.example.com/1", method: PUT }
`,
        ),
      ],
      env,
    );
    const before = Date.now();
    const paused = await pacerJson<ScheduleRow>(
      ['schedules', 'pause', 'race-1', '--reason', 'provider maintenance', '--by', 'alice'],
      env,
    );
    expect(paused).toMatchObject({
      status: 'paused',
      enabled: false,
      pause: { cause: 'operator', by: 'alice', reason: 'provider maintenance' },
    });
    expect(Date.parse(paused.pause?.at ?? '')).toBeGreaterThanOrEqual(before - 1_000);

    const list = await pacerJson<ListResult>(['schedules', 'list'], env);
    expect(list.schedules.find((row) => row.id === 'race-1')?.pause).toEqual(paused.pause);
    const table = await runPacer(['schedules', 'list'], env);
    expect(table.stdout).toMatch(/PAUSED/);
    expect(table.stdout).toMatch(/by alice at .*: provider maintenance/);
    // Without a name, the id stands in for it.
    expect(table.stdout).toMatch(/^race-1 +race-1 +paused/m);

    const show = await pacerJson<ShowResult>(['schedules', 'show', 'race-1'], env);
    expect(show.pause).toEqual(paused.pause);
    expect(show.upcoming).toEqual([]);
    const explain = await pacerJson<ExplainResult>(['explain', 'race-1'], env);
    expect(explain).toMatchObject({ name: null, pause: paused.pause, upcoming: [] });
    const explainText = await runPacer(['explain', 'race-1'], env);
    expect(explainText.stdout).toMatch(/^name: +race-1$/m);
    expect(explainText.stdout).toMatch(/^paused: +by alice at .*: provider maintenance$/m);
    const status = await pacerJson<StatusResult>(['status'], env);
    expect(status.paused).toMatchObject({
      count: 1,
      byFailures: 0,
      examples: [{ id: 'race-1', pause: paused.pause }],
    });
    expect((await runPacer(['status'], env)).stdout).toMatch(
      /race-1: +by alice at .*: provider maintenance/,
    );

    const resumed = await pacerJson<ScheduleRow>(['schedules', 'resume', 'race-1'], env);
    expect(resumed).toMatchObject({ status: 'active', enabled: true, pause: null });
    const stored = await existingState(db, 'race-1');
    expect(stored.pause).toBeNull();

    // The operator's name comes from PACER_OPERATOR without --by; a blank reason is refused.
    const byEnv = await pacerJson<ScheduleRow>(['schedules', 'pause', 'race-1'], {
      ...env,
      PACER_OPERATOR: 'bob',
    });
    expect(byEnv.pause).toMatchObject({ by: 'bob', reason: null });
    const blank = await runPacer(['schedules', 'pause', 'race-1', '--reason', '  '], env);
    expect(blank.code).toBe(2);
    expect(blank.stderr).toMatch(/--reason must be 1 to 500 characters/);
  });

  it('refuses an http method pacer does not call with, naming the field', async () => {
    const run = await runPacer(
      [
        'schedules',
        'add',
        '--file',
        file(
          'get.yaml',
          `id: get-1
cadence: { kind: interval, every: 15m }
target: { type: http, url: "https://registration.example.com/1", method: GET }
`,
        ),
      ],
      env,
    );
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(
      /target\.method: "GET" is not a method pacer calls a target with \(use POST, PUT, PATCH\)/,
    );
  });
});

describe('upcoming runs, against the emulators', () => {
  it('show and explain list the next due points with the lane and tier in force at each', async () => {
    // A race two hours away: 1-minute tier (high) now, default tiers.
    const startsAt = new Date(Date.now() + 2 * 3_600_000 + 30_000).toISOString();
    await pacerJson<AddResult>(
      [
        'schedules',
        'add',
        '--id',
        'race-2',
        '--event-starts-at',
        startsAt,
        '--handler',
        'example.echo',
      ],
      env,
    );
    const show = await pacerJson<ShowResult>(
      ['schedules', 'show', 'race-2', '--upcoming', '3'],
      env,
    );
    expect(show.upcoming).toHaveLength(3);
    for (const run of show.upcoming) {
      expect(run).toMatchObject({
        lane: 'high',
        interval: '1m',
        rule: 'tier: from 4h before the start',
      });
    }
    const times = show.upcoming.map((run) => Date.parse(run.dueAt));
    // Due at once when created, then on its spread points: the 1-minute tier's boundary (4h
    // before the start) plus the id's offset, one minute apart.
    expect(times[1]! - times[0]!).toBeLessThanOrEqual(MIN);
    expect(times[2]! - times[1]!).toBe(MIN);
    const boundary = Date.parse(startsAt) - 4 * 3_600_000;
    const offset = Math.floor(spreadPhase('race-2') * MIN);
    expect((times[1]! - boundary) % MIN).toBe(offset);

    const explain = await pacerJson<ExplainResult>(['explain', 'race-2'], env);
    expect(explain.upcoming).toHaveLength(5);
    expect(explain.upcoming.slice(0, 3)).toEqual(show.upcoming);
    const text = await runPacer(['explain', 'race-2', '--upcoming', '2'], env);
    expect(text.stdout).toMatch(/^next 2 due points:$/m);
    expect(text.stdout).toMatch(/^DUE +LANE +EVERY +RULE$/m);
    const none = await pacerJson<ShowResult>(
      ['schedules', 'show', 'race-2', '--upcoming', '0'],
      env,
    );
    expect(none.upcoming).toEqual([]);
  });
});

function letter(fields: Partial<DeadLetterRecord> & { recordedAt: number }): DeadLetterRecord {
  return {
    reason: 'attempts_exhausted',
    scheduleId: 'bulk-a',
    leaseId: null,
    lane: 'medium',
    dueAt: fields.recordedAt - 5 * MIN,
    attempts: 5,
    lastError: { code: 'target_unavailable', message: 'HTTP 503' },
    sourceSubscription: 'pacer-medium-push',
    message: { data: '{}', attributes: {} },
    ...fields,
  };
}

describe('dead-letters replay --all, against the emulators', () => {
  it('replays the open letters that match, at the rate given, and running it again adds nothing', async () => {
    const now = Date.now();
    const topics = perLane((lane) => describeTopology(defaultSettings()).lanes[lane].topic);
    const collector = await laneTopicsWithCollector(project.pubsub, topics);
    await seedSchedules(db, [
      { id: 'bulk-a', spec: intervalSpec('5m'), lane: 'medium', nextDueAt: now + 2 * MIN },
      { id: 'bulk-b', spec: intervalSpec('5m'), lane: 'medium', nextDueAt: now + 2 * MIN },
      { id: 'bulk-c', spec: intervalSpec('5m'), lane: 'medium', nextDueAt: now + 2 * MIN },
    ]);
    const store = new FirestoreStore(db);
    await store.createDeadLetter('a-old', letter({ recordedAt: now - 3 * 3_600_000 }));
    await store.createDeadLetter('a-new', letter({ recordedAt: now - 30 * MIN }));
    await store.createDeadLetter(
      'b-new',
      letter({ scheduleId: 'bulk-b', recordedAt: now - 20 * MIN }),
    );
    await store.createDeadLetter(
      'c-new',
      letter({ scheduleId: 'bulk-c', recordedAt: now - 10 * MIN }),
    );

    const bad = await runPacer(['dead-letters', 'replay', 'a-new', '--all'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/give a dead letter id or --all \(not both\)/);
    const badSince = await runPacer(
      ['dead-letters', 'replay', '--all', '--since', 'yesterday'],
      env,
    );
    expect(badSince.code).toBe(2);

    // One schedule's letters since an hour ago: only a-new (a-old is older, b-new is another's).
    const since = new Date(now - 3_600_000).toISOString();
    const one = await pacerJson<ReplayAllResult>(
      ['dead-letters', 'replay', '--all', '--schedule', 'bulk-a', '--since', since],
      env,
    );
    expect(one).toMatchObject({ matched: 1, skipped: [], more: false });
    expect(one.replayed.map((row) => row.id)).toEqual(['a-new']);

    // The rest, two a second: b-new and c-new replayed, a-old skipped (bulk-a is in flight now).
    const started = Date.now();
    const run = await runPacer(['--json', 'dead-letters', 'replay', '--all', '--rate', '2'], env);
    const elapsed = Date.now() - started;
    expect(run.code).toBe(0);
    const rest = JSON.parse(run.stdout) as ReplayAllResult;
    expect(rest.matched).toBe(3);
    expect(rest.replayed.map((row) => row.id).sort()).toEqual(['b-new', 'c-new']);
    expect(rest.skipped).toMatchObject([
      { id: 'a-old', scheduleId: 'bulk-a', reason: expect.stringMatching(/in flight/) as string },
    ]);
    expect(run.stderr).toMatch(/3 of 3 dead letters: 2 replayed, 1 skipped/);
    // Three replays at two a second are spaced by at least 2 × 500 ms.
    expect(elapsed).toBeGreaterThanOrEqual(1_000);

    // Idempotent: what was replayed is not replayed again.
    const again = await pacerJson<ReplayAllResult>(['dead-letters', 'replay', '--all'], env);
    expect(again.matched).toBe(1);
    expect(again.replayed).toEqual([]);
    expect(again.skipped.map((row) => row.id)).toEqual(['a-old']);

    const messages = await collector.settle(3);
    expect(messages.map((m) => m.message.scheduleId).sort()).toEqual([
      'bulk-a',
      'bulk-b',
      'bulk-c',
    ]);
    for (const id of ['a-new', 'b-new', 'c-new']) {
      const stored = await db.collection(DEAD_LETTERS).doc(id).get();
      expect(millis(stored.get('replayedAt'))).not.toBeNull();
    }
    expect(
      millis((await db.collection(DEAD_LETTERS).doc('a-old').get()).get('replayedAt')),
    ).toBeNull();
    await collector.close();
  });
});
