/**
 * `pacer dead-letters list|replay`: what pacer gave up on, and sending it again. Replaying goes
 * through `replayDeadLetter`, which claims the schedule with a fresh lease, publishes to its
 * lane's topic and marks the dead letter replayed.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { DocumentData, DocumentSnapshot, QuerySnapshot } from '@google-cloud/firestore';
import { PubSubBus } from '../bus/publisher.js';
import { replayDeadLetter, type ReplayOutcome } from '../deadletter/replay.js';
import { perLane } from '../planner/plan.js';
import {
  deadLettersQuery,
  openDeadLettersByRecencyQuery,
  openDeadLettersSinceQuery,
} from '../store/queries.js';
import { millis } from '../store/state.js';
import { describeTopology } from '../topology.js';
import type { CliContext } from './context.js';
import { OperationError } from './errors.js';
import { NONE, formatTime, renderTable } from './output.js';
import { isoOrNull } from './plain.js';

export interface DeadLetterRow {
  id: string;
  recordedAt: string | null;
  reason: string | null;
  scheduleId: string | null;
  lane: string | null;
  dueAt: string | null;
  attempts: number | null;
  lastError: string | null;
  replayedAt: string | null;
  replayCount: number;
}

export interface DeadLetterList {
  deadLetters: DeadLetterRow[];
  /** Whether more match than `--limit` let through. */
  more: boolean;
}

/** Dead letters, newest first; `open` keeps only those not replayed. */
export async function listDeadLetters(
  context: CliContext,
  options: { open: boolean; limit: number },
): Promise<DeadLetterList> {
  const query = options.open
    ? openDeadLettersByRecencyQuery(context.db)
    : deadLettersQuery(context.db);
  const snapshot = await query.limit(options.limit + 1).get();
  return {
    deadLetters: snapshot.docs
      .slice(0, options.limit)
      .map((doc) => deadLetterRow(doc.id, doc.data())),
    more: snapshot.size > options.limit,
  };
}

export function deadLetterRow(id: string, data: DocumentData): DeadLetterRow {
  const lastError = data.lastError as { code?: unknown; message?: unknown } | null | undefined;
  return {
    id,
    recordedAt: isoOrNull(millis(data.recordedAt)),
    reason: stringOrNull(data.reason),
    scheduleId: stringOrNull(data.scheduleId),
    lane: stringOrNull(data.lane),
    dueAt: isoOrNull(millis(data.dueAt)),
    attempts: typeof data.attempts === 'number' ? data.attempts : null,
    lastError:
      lastError === null || lastError === undefined
        ? null
        : [stringOrNull(lastError.code), stringOrNull(lastError.message)]
            .filter((part) => part !== null)
            .join(': ') || null,
    replayedAt: isoOrNull(millis(data.replayedAt)),
    replayCount: typeof data.replayCount === 'number' ? data.replayCount : 0,
  };
}

export function renderDeadLetters(result: DeadLetterList): string {
  if (result.deadLetters.length === 0) return 'no dead letters';
  return renderTable(
    [
      { header: 'ID', value: (row: DeadLetterRow) => row.id },
      { header: 'RECORDED', value: (row) => formatTime(row.recordedAt) },
      { header: 'REASON', value: (row) => row.reason ?? NONE },
      { header: 'SCHEDULE', value: (row) => row.scheduleId ?? NONE },
      {
        header: 'ATTEMPTS',
        value: (row) => (row.attempts === null ? NONE : String(row.attempts)),
        align: 'right',
      },
      { header: 'LAST ERROR', value: (row) => row.lastError ?? NONE, maxWidth: 60 },
      { header: 'REPLAYED', value: (row) => formatTime(row.replayedAt) },
    ],
    result.deadLetters,
  );
}

export type ReplayResult = Extract<ReplayOutcome, { kind: 'replayed' }> & { id: string };

/**
 * Replays one dead letter. Every outcome but `replayed` is an operation failure with the reason
 * in words (the dead letter is left as it was).
 */
export async function replay(context: CliContext, id: string): Promise<ReplayResult> {
  const topology = describeTopology(context.settings);
  const bus = new PubSubBus(context.pubsub, {
    topics: perLane((lane) => topology.lanes[lane].topic),
    timeoutMs: context.settings.publishTimeoutSeconds * 1_000,
  });
  try {
    const outcome = await replayDeadLetter(
      {
        store: context.store,
        bus,
        newId: randomUUID,
        dispatchGraceMs: context.settings.dispatchGraceSeconds * 1_000,
        thresholds: context.settings.laneThresholds,
      },
      id,
    );
    if (outcome.kind === 'replayed') return { id, ...outcome };
    throw new OperationError(`cannot replay dead letter "${id}": ${whyNot(outcome)}`);
  } finally {
    await bus.close();
  }
}

function whyNot(outcome: Exclude<ReplayOutcome, { kind: 'replayed' }>): string {
  switch (outcome.kind) {
    case 'not_found':
      return 'there is no such dead letter';
    case 'not_replayable':
      return outcome.reason;
    case 'schedule_missing':
      return `its schedule "${outcome.scheduleId}" no longer exists`;
    case 'in_flight':
      return `its schedule is in flight (lease ${outcome.leaseId}); try again when that run has finished`;
    case 'publish_failed':
      return `publishing failed (${outcome.error}); the schedule and the dead letter are as they were`;
  }
}

/** Replays `replay --all` starts per second by default, and at most. */
export const DEFAULT_REPLAY_RATE = 5;
export const MAX_REPLAY_RATE = 50;
/** Dead letters `replay --all` replays at most in one run by default. */
export const DEFAULT_REPLAY_LIMIT = 1_000;

export interface ReplayAllOptions {
  /** Only this schedule's dead letters. */
  scheduleId?: string;
  /** Only dead letters recorded at or after this time (ms). */
  since?: number;
  /** Replays started per second. */
  rate: number;
  /** The most dead letters replayed in this run. */
  limit: number;
}

export interface ReplayAllResult {
  /** Open (never replayed) dead letters that matched. */
  matched: number;
  replayed: ReplayResult[];
  /** Not replayed, with why: their letters stay open for a later run. */
  skipped: { id: string; scheduleId: string | null; reason: string }[];
  /** More matched than `limit`: run it again for the rest. */
  more: boolean;
}

/**
 * Replays every open dead letter (never replayed; optionally of one schedule, recorded since a
 * time), newest first, at most `rate` per second so that a bulk replay does not flood the lanes
 * or the targets. Idempotent: a replayed letter is no longer open, so running it again skips it.
 * A letter whose schedule is in flight (possibly by an earlier replay of this run), paused or
 * gone is skipped and stays open. Progress goes to stderr.
 */
export async function replayAll(
  context: CliContext,
  options: ReplayAllOptions,
  sleep: (ms: number) => Promise<void> = (ms) => delay(ms),
): Promise<ReplayAllResult> {
  const query =
    options.since === undefined
      ? openDeadLettersByRecencyQuery(context.db)
      : openDeadLettersSinceQuery(context.db, options.since);
  const letters: { id: string; scheduleId: string | null }[] = [];
  let more = false;
  let after: DocumentSnapshot | null = null;
  // Paged by the index on (replayedAt, recordedAt); the schedule is matched here, not in the query.
  for (;;) {
    const page: QuerySnapshot = await (after === null ? query : query.startAfter(after))
      .limit(REPLAY_PAGE_SIZE)
      .get();
    for (const doc of page.docs) {
      const scheduleId = stringOrNull(doc.get('scheduleId'));
      if (options.scheduleId !== undefined && scheduleId !== options.scheduleId) continue;
      if (letters.length === options.limit) {
        more = true;
        break;
      }
      letters.push({ id: doc.id, scheduleId });
    }
    if (more || page.size < REPLAY_PAGE_SIZE) break;
    after = page.docs.at(-1) ?? null;
  }

  const topology = describeTopology(context.settings);
  const bus = new PubSubBus(context.pubsub, {
    topics: perLane((lane) => topology.lanes[lane].topic),
    timeoutMs: context.settings.publishTimeoutSeconds * 1_000,
  });
  const result: ReplayAllResult = { matched: letters.length, replayed: [], skipped: [], more };
  const spacingMs = 1_000 / options.rate;
  try {
    for (const [index, letter] of letters.entries()) {
      if (index > 0) await sleep(spacingMs);
      const outcome = await replayDeadLetter(
        {
          store: context.store,
          bus,
          newId: randomUUID,
          dispatchGraceMs: context.settings.dispatchGraceSeconds * 1_000,
          thresholds: context.settings.laneThresholds,
        },
        letter.id,
      );
      if (outcome.kind === 'replayed') result.replayed.push({ id: letter.id, ...outcome });
      else result.skipped.push({ ...letter, reason: whyNot(outcome) });
      const done = index + 1;
      if (done % PROGRESS_EVERY === 0 || done === letters.length) {
        context.out.note(
          `${done} of ${letters.length} dead letters: ${result.replayed.length} replayed, ${result.skipped.length} skipped`,
        );
      }
    }
  } finally {
    await bus.close();
  }
  return result;
}

/** Dead letters read per page, and replays between progress lines. */
const REPLAY_PAGE_SIZE = 200;
const PROGRESS_EVERY = 10;

export function renderReplayedAll(result: ReplayAllResult): string {
  if (result.matched === 0) return 'no open dead letters match; nothing to replay';
  const lines = [
    `replayed ${result.replayed.length} of ${result.matched} open dead letters${result.more ? ' (more match: run it again for the rest)' : ''}`,
  ];
  if (result.replayed.length > 0) {
    lines.push(
      renderTable(
        [
          { header: 'DEAD LETTER', value: (row: ReplayResult) => row.id },
          { header: 'SCHEDULE', value: (row) => row.scheduleId },
          { header: 'LANE', value: (row) => row.lane },
          { header: 'LEASE', value: (row) => row.leaseId },
        ],
        result.replayed,
      ),
    );
  }
  if (result.skipped.length > 0) {
    lines.push(
      '',
      'skipped (left open):',
      ...result.skipped.map(
        (row) => `  ${row.id} (schedule ${row.scheduleId ?? NONE}): ${row.reason}`,
      ),
    );
  }
  return lines.join('\n');
}

export function renderReplayed(result: ReplayResult): string {
  return `replayed ${result.id}: schedule ${result.scheduleId} dispatched to the ${result.lane} lane (lease ${result.leaseId})`;
}

function stringOrNull(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}
