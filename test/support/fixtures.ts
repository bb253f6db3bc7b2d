/**
 * Test fixtures: a clock the test moves, logs it can read back, and schedules seeded straight
 * into Firestore with the state the planner expects.
 */
import { Writable } from 'node:stream';
import type { Firestore } from '@google-cloud/firestore';
import { systemClock, type Clock } from '../../functions/clock.js';
import { createLogger, type Logger } from '../../functions/log.js';
import type { Lane } from '../../functions/schedule/lane.js';
import { SCHEDULE_STATES, SCHEDULES, SPEC_FIELD, timestamp } from '../../functions/store/state.js';

/** A clock that only moves when told to; `sleep` moves it. */
export class FakeClock {
  constructor(public now: number) {}
  readonly clock = (): number => this.now;
  readonly sleep = (ms: number): Promise<void> => {
    this.now += ms;
    return Promise.resolve();
  };
  advance(ms: number): void {
    this.now += ms;
  }
  /** As a {@link Clock}: sleeping moves it; timers are not kept (nothing here needs them). */
  asClock(): Clock {
    return {
      ...systemClock,
      now: this.clock,
      // It never steps: its own time measures too.
      monotonic: this.clock,
      sleep: this.sleep,
    };
  }
}

export interface LogLine {
  severity: string;
  message: string;
  event?: string;
  [field: string]: unknown;
}

/** A logger whose JSON lines the test can read. */
export function capturingLogger(service = 'test'): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) {
        if (line) lines.push(JSON.parse(line) as LogLine);
      }
      done();
    },
  });
  return { logger: createLogger({ level: 'debug', pretty: false, service, destination }), lines };
}

export function events(lines: readonly LogLine[], event: string): LogLine[] {
  return lines.filter((line) => line.event === event);
}

/** A schedule document as an operator writes it (plain JSON), syncing every `every`. */
export function intervalSpec(every = '15m', extra: Record<string, unknown> = {}) {
  return {
    name: `every ${every}`,
    cadence: { kind: 'interval', every },
    target: { type: 'http', url: 'https://target.example.com/sync' },
    ...extra,
  };
}

export interface Seed {
  id: string;
  spec: Record<string, unknown>;
  lane: Lane;
  /** When it is due; `null` for not planned (paused, invalid). */
  nextDueAt: number | null;
  state?: Record<string, unknown>;
}

/** Writes schedules with an active state, fast (BulkWriter without throttling). */
export async function seedSchedules(db: Firestore, seeds: readonly Seed[]): Promise<void> {
  const writer = db.bulkWriter({ throttling: false });
  for (const seed of seeds) {
    // The operator's document, and pacer's as reconciling would leave it.
    void writer.set(db.collection(SCHEDULES).doc(seed.id), seed.spec);
    void writer.set(db.collection(SCHEDULE_STATES).doc(seed.id), {
      [SPEC_FIELD]: seed.spec,
      state: {
        status: 'active',
        lane: seed.lane,
        nextDueAt: timestamp(seed.nextDueAt),
        lease: null,
        health: 'ok',
        ...seed.state,
      },
    });
  }
  await writer.close();
}
