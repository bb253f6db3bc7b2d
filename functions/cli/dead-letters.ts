/**
 * `pacer dead-letters list|replay`: what pacer gave up on, and sending it again. Replaying goes
 * through `replayDeadLetter`, which claims the schedule with a fresh lease, publishes to its
 * lane's topic and marks the dead letter replayed.
 */
import { randomUUID } from 'node:crypto';
import type { DocumentData } from '@google-cloud/firestore';
import { PubSubBus } from '../bus/publisher.js';
import { replayDeadLetter, type ReplayOutcome } from '../deadletter/replay.js';
import { perLane } from '../planner/plan.js';
import { deadLettersQuery, openDeadLettersByRecencyQuery } from '../store/queries.js';
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

export function renderReplayed(result: ReplayResult): string {
  return `replayed ${result.id}: schedule ${result.scheduleId} dispatched to the ${result.lane} lane (lease ${result.leaseId})`;
}

function stringOrNull(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}
