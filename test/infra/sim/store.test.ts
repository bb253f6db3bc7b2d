import { describe, expect, it } from 'vitest';
import { defaultSettings } from '../../../functions/config.js';
import { ScheduleStore, smallest } from '../../../infra/sim/store.js';
import { at, scenarioOf } from './helpers.js';

const thresholds = defaultSettings().laneThresholds;

/** Three schedules created at 10:00: every minute (high), every 5 minutes (medium), hourly (low). */
function store() {
  const { schedules } = scenarioOf({
    schedules: [
      { id: 'minutely', name: 'm', cadence: { kind: 'interval', every: '1m' } },
      { id: 'five', name: 'f', cadence: { kind: 'interval', every: '5m' } },
      { id: 'hourly', name: 'h', cadence: { kind: 'interval', every: '1h' } },
    ],
  });
  return new ScheduleStore(schedules, thresholds);
}

const lease = (id: string, until: number) => ({
  id,
  until,
  attempt: 0,
  dispatchedAt: 0,
  startedAt: null,
  running: false,
});

describe('the in-memory schedule store', () => {
  it('refuses a claim whose precondition is stale, and leaves the document as it was', () => {
    const db = store();
    const read = db.read('minutely')!;
    // Someone else (a worker, another planner) writes in between.
    expect(db.write('minutely', read.version, { runCount: 1 })).toBe('written');

    const claim = db.write('minutely', read.version, {
      lease: lease('late-claim', at('2026-06-20T10:07:00Z')),
      nextDueAt: at('2026-06-20T10:07:00Z'),
    });

    expect(claim).toBe('conflict');
    const now = db.read('minutely')!;
    expect(now.state.lease).toBeNull();
    expect(now.state.runCount).toBe(1);
    expect(now.version).toBe(read.version + 1);
  });

  it('applies a claim whose precondition is current and moves the version on', () => {
    const db = store();
    const read = db.read('minutely')!;
    expect(db.write('minutely', read.version, { lease: lease('L1', 5) })).toBe('written');
    expect(db.read('minutely')!.state.lease?.id).toBe('L1');
    expect(db.write('minutely', read.version, { lease: lease('L2', 5) })).toBe('conflict');
  });

  it('hands out copies: changing a snapshot does not change the document', () => {
    const db = store();
    const read = db.read('five')!;
    read.state.runCount = 99;
    expect(db.read('five')!.state.runCount).toBe(0);
  });

  it('counts due and in-flight schedules per lane like the planner queries, and bills them', () => {
    const db = store();
    const now = at('2026-06-20T10:00:00Z');
    const read = db.read('five')!;
    db.write('five', read.version, { lease: lease('L', now + 60_000), nextDueAt: now + 60_000 });
    db.reads = 0;

    const scan = db.scanDue(now);

    expect(scan.due).toEqual({ high: 1, medium: 0, low: 1 });
    expect(scan.inFlight).toEqual({ high: 0, medium: 1, low: 0 });
    expect(db.reads).toBe(6); // six count() queries, one read each under 1,000 entries
  });

  it('reads due schedules most overdue first, up to the limit, one read per document', () => {
    const db = store();
    const now = at('2026-06-20T10:30:00Z');
    for (const [id, due] of [
      ['minutely', '10:20'],
      ['hourly', '10:05'],
    ] as const) {
      const read = db.read(id)!;
      db.write(id, read.version, { lane: 'low', nextDueAt: at(`2026-06-20T${due}:00Z`) });
    }
    db.scanDue(now);
    db.reads = 0;
    expect(db.readDue('low', 1).map((snapshot) => snapshot.id)).toEqual(['hourly']);
    expect(db.readDue('low', 5).map((snapshot) => snapshot.id)).toEqual(['hourly', 'minutely']);
    expect(db.reads).toBe(3);
  });

  it('runs a transaction as one read and one conditional write', () => {
    const db = store();
    db.reads = 0;
    const result = db.transaction('hourly', (current) => ({
      changes: { runCount: (current?.state.runCount ?? 0) + 1 },
      result: 'done',
    }));
    expect(result).toBe('done');
    expect(db.read('hourly')!.state.runCount).toBe(1);
    expect(db.reads).toBe(2);
    expect(db.writes).toBe(1);
  });
});

describe('smallest', () => {
  it('returns the k smallest in order, whatever the input order', () => {
    const numbers = Array.from({ length: 500 }, (_, i) => (i * 7_919) % 500);
    expect(smallest(numbers, 5, (a, b) => a - b)).toEqual([0, 1, 2, 3, 4]);
    expect(smallest([3, 1, 2], 10, (a, b) => a - b)).toEqual([1, 2, 3]);
    expect(smallest([3, 1, 2], 0, (a, b) => a - b)).toEqual([]);
  });
});
