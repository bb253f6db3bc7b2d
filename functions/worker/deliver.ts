/**
 * One push delivery to a lane's worker, by the worker protocol:
 *
 * 1. A malformed message is dead-lettered with its reason and acked.
 * 2. Under the message's lease (one transaction): a deleted schedule is acked; another lease's
 *    message is `stale` (or `duplicate` if this lease already completed) and acked; otherwise
 *    the attempt is counted in Firestore and the lease extended. Too many attempts: dead letter,
 *    release, ack.
 * 3. The syncer runs with an AbortSignal (run time, and lease loss); the lease is renewed every
 *    third of its length; a renewal that finds the lease gone aborts the sync (`lease.lost`).
 * 4. Success completes the run in one transaction conditional on the lease; the next due time
 *    comes from the due point served.
 * 5. A retryable failure is recorded, the lease kept past Pub/Sub's retry backoff, and the
 *    error rethrown: Pub/Sub redelivers. On the last attempt it is dead-lettered instead.
 * 6. A permanent failure is dead-lettered at once, the lease released (the schedule goes on
 *    with its cadence, marked failing), and the message acked.
 *
 * Resolving acks the message; throwing makes Pub/Sub redeliver it with backoff.
 */
import { randomUUID } from 'node:crypto';
import type { Firestore } from '@google-cloud/firestore';
import type { DeadLetterPublisher, DeadLetterReason } from '../bus/dead-letter.js';
import { decodeMessage } from '../bus/message.js';
import { pushedMessage, type PushedMessage } from '../bus/push.js';
import type { Settings } from '../config.js';
import { errorCode, errorMessage, isRetryable, PacerError } from '../errors.js';
import { traceFields, type Logger } from '../log.js';
import type { Lane } from '../schedule/lane.js';
import { iso } from '../schedule/time.js';
import {
  completeRun,
  recordRetryableFailure,
  releaseAfterDeadLetter,
  renewLease,
  runExpiry,
  startAttempt,
  type FailureRecord,
} from '../store/runs.js';
import type { Topology } from '../topology.js';
import { startHeartbeat } from './heartbeat.js';
import { runSyncer, type SyncerOptions } from './syncer.js';

export interface WorkerDeps {
  db: Firestore;
  deadLetters: DeadLetterPublisher;
  settings: Settings;
  topology: Topology;
  logger: Logger;
  clock: () => number;
  sleep: (ms: number) => Promise<void>;
  syncer: SyncerOptions;
}

export type DeliveryOutcome =
  'completed' | 'missing' | 'stale' | 'duplicate' | 'invalid' | 'lost' | 'dead_lettered';

/** Handles one delivery. Resolves to ack; throws to have Pub/Sub redeliver. */
export async function handleDelivery(
  deps: WorkerDeps,
  lane: Lane,
  event: { id?: string; data?: unknown },
): Promise<DeliveryOutcome> {
  const { db, settings } = deps;
  const subscription = deps.topology.lanes[lane].subscription;
  const pushed: PushedMessage = pushedMessage(event) ?? {
    data: Buffer.from(JSON.stringify(event.data ?? null)),
    attributes: {},
    messageId: event.id ?? 'unknown',
  };
  const base = deps.logger.child({
    lane,
    messageId: pushed.messageId,
    ...traceFields(pushed.attributes.traceparent, settings.projectId),
  });

  const decoded = decodeMessage(pushed.data);
  if (!decoded.ok) {
    await deps.deadLetters.publish(pushed, {
      reason: 'malformed',
      errorCode: 'invalid_message',
      errorMessage: decoded.reason,
      attempts: null,
      sourceSubscription: subscription,
      sourceMessageId: pushed.messageId,
    });
    base.warn(
      { event: 'sync.malformed', reason: decoded.reason },
      `malformed message dead-lettered: ${decoded.reason}`,
    );
    return 'dead_lettered';
  }

  const { scheduleId, leaseId } = decoded.message;
  const log = base.child({ scheduleId, leaseId });
  const leaseMs = settings.leaseSeconds * 1_000;

  /** Dead-letters this message and releases its lease; the schedule goes on with its cadence. */
  const giveUp = async (
    reason: DeadLetterReason,
    attempts: number,
    failure: FailureRecord | null,
    /** The attempt that failed, when one ran: the release is fenced on it. */
    attemptId?: string,
  ) => {
    // Published before the release: if the worker dies in between, the dead-letter function
    // still records it and releases the lease.
    await deps.deadLetters.publish(pushed, {
      reason,
      errorCode: failure?.code ?? null,
      errorMessage: failure?.message ?? null,
      attempts,
      sourceSubscription: subscription,
      sourceMessageId: pushed.messageId,
      attemptId: attemptId ?? null,
    });
    const released = await releaseAfterDeadLetter(db, {
      scheduleId,
      leaseId,
      ...(attemptId === undefined ? {} : { attemptId }),
      now: deps.clock(),
      reason,
      error: failure,
      thresholds: settings.laneThresholds,
    });
    if (released === 'not_held' && attemptId !== undefined) {
      // A redelivery took this attempt over; its own attempt decides the schedule's fate.
      log.warn(
        { event: 'lease.lost', reason, attempts },
        `gave up on ${scheduleId} (${reason}), but another attempt runs the lease now; left to it`,
      );
      return 'lost' as const;
    }
    log.error(
      {
        event: 'sync.failed',
        final: true,
        reason,
        attempts,
        code: failure?.code,
        error: failure?.message,
      },
      `gave up on ${scheduleId} after ${attempts} attempt(s) (${reason}): ${failure?.message ?? 'no error recorded'}`,
    );
    return 'dead_lettered' as const;
  };

  const heartbeatMs = Math.max(1_000, Math.floor(leaseMs / 3));
  // This delivery's own token: if it takes over an attempt, the other worker stops.
  const attemptId = randomUUID();
  const thresholds = settings.laneThresholds;
  let startedAt = deps.clock();
  const tryStart = (takeOverUntil?: number) => {
    startedAt = deps.clock();
    return startAttempt(db, {
      scheduleId,
      leaseId,
      attemptId,
      now: startedAt,
      leaseMs,
      maxAttempts: settings.maxAttempts,
      expireAt: runExpiry(startedAt, settings.runHistoryDays),
      thresholds,
      ...(takeOverUntil === undefined ? {} : { takeOverUntil }),
    });
  };
  let start = await tryStart();
  if (start.kind === 'running') {
    // Another delivery of this message is running (at-least-once delivery), or its worker died
    // before the lease lapsed. Its heartbeat tells which: a running copy renews the lease within
    // a renewal period; if the lease has not moved after one and a half, take over.
    await deps.sleep(heartbeatMs * 1.5);
    start = await tryStart(start.until);
  }
  switch (start.kind) {
    case 'missing':
      log.info({ event: 'sync.missing' }, `schedule ${scheduleId} no longer exists; message acked`);
      return 'missing';
    case 'stale':
      log.info(
        { event: 'sync.stale', currentLeaseId: start.currentLeaseId },
        `lease ${leaseId} no longer holds ${scheduleId}; message acked`,
      );
      return 'stale';
    case 'duplicate':
      log.info(
        { event: 'sync.duplicate' },
        `lease ${leaseId} already finished ${scheduleId}; message acked`,
      );
      return 'duplicate';
    case 'invalid':
      log.warn(
        { event: 'schedule.invalid', problems: start.problems },
        `schedule ${scheduleId} is invalid: ${start.problems.join('; ')}`,
      );
      return 'invalid';
    case 'exhausted': {
      const last = start.state.lastError;
      return giveUp(
        'attempts_exhausted',
        start.attempts,
        last && { code: last.code, message: last.message },
      );
    }
    case 'running':
      log.info(
        { event: 'sync.duplicate', inProgress: true },
        `another delivery of lease ${leaseId} is syncing ${scheduleId}; message acked`,
      );
      return 'duplicate';
    case 'started':
      break;
  }

  const { spec, attempt, dueAt } = start;
  const run = log.child({ attempt });
  run.info(
    { event: 'sync.started', dueAt: iso(dueAt), lateMs: startedAt - dueAt },
    `syncing ${scheduleId} (attempt ${attempt}, due ${iso(dueAt)})`,
  );

  const leaseLost = new AbortController();
  const maxRunMs = (spec.maxRunSeconds ?? settings.defaultMaxRunSeconds) * 1_000;
  // The lease's end as last confirmed by Firestore: past it, someone else may hold the lease.
  let confirmedUntil = startedAt + leaseMs;
  const heartbeat = startHeartbeat(
    heartbeatMs,
    async () => {
      const renewed = await renewLease(db, {
        scheduleId,
        leaseId,
        attemptId,
        now: deps.clock(),
        leaseMs,
        thresholds,
      });
      if (renewed.kind === 'lost') {
        leaseLost.abort(
          new PacerError('lease_lost', `lease ${leaseId} was taken while the sync ran`),
        );
      } else {
        confirmedUntil = renewed.until;
      }
    },
    (error) => {
      // A renewal that could not reach Firestore: the lease still has time; try again next beat.
      run.warn(
        { event: 'lease.renew_failed', err: error },
        `could not renew lease: ${errorMessage(error)}`,
      );
    },
    () => {
      if (deps.clock() >= confirmedUntil && !leaseLost.signal.aborted) {
        leaseLost.abort(
          new PacerError('lease_lost', `could not renew lease ${leaseId} before it lapsed`),
        );
      }
    },
  );

  let result: Record<string, unknown>;
  try {
    result = await runSyncer(
      spec.target,
      {
        scheduleId,
        leaseId,
        dueAt,
        lane,
        attempt,
        payload: spec.payload ?? {},
        signal: AbortSignal.any([leaseLost.signal, AbortSignal.timeout(maxRunMs)]),
        logger: run,
      },
      deps.syncer,
    );
  } catch (error) {
    await heartbeat.stop();
    if (leaseLost.signal.aborted) {
      run.warn(
        { event: 'lease.lost' },
        `lost the lease on ${scheduleId}; sync aborted, not completed`,
      );
      return 'lost';
    }
    const failure = { code: errorCode(error), message: errorMessage(error) };
    if (!isRetryable(error)) return giveUp('permanent_failure', attempt, failure, attemptId);
    if (attempt >= settings.maxAttempts) {
      return giveUp('attempts_exhausted', attempt, failure, attemptId);
    }

    const retry = deps.topology.lanes[lane].retry;
    const recorded = await recordRetryableFailure(db, {
      scheduleId,
      leaseId,
      attemptId,
      thresholds,
      now: deps.clock(),
      // Past the longest backoff, so the planner leaves the schedule to Pub/Sub's retries.
      keepUntil: deps.clock() + (retry.maximumBackoffSeconds + settings.leaseSeconds) * 1_000,
      attempt,
      error: failure,
    });
    if (recorded === 'lost') {
      run.warn(
        { event: 'lease.lost' },
        `lost the lease on ${scheduleId} while recording a failure`,
      );
      return 'lost';
    }
    run.warn(
      {
        event: 'sync.failed',
        final: false,
        code: failure.code,
        error: failure.message,
        maxAttempts: settings.maxAttempts,
      },
      `sync of ${scheduleId} failed (attempt ${attempt} of ${settings.maxAttempts}), will be retried: ${failure.message}`,
    );
    throw error;
  }
  await heartbeat.stop();

  const finishedAt = deps.clock();
  const done = await completeRun(db, {
    scheduleId,
    leaseId,
    attemptId,
    now: finishedAt,
    dueAt,
    startedAt,
    attempt,
    thresholds: settings.laneThresholds,
    detail: result,
  });
  if (done.kind === 'lost') {
    run.warn(
      { event: 'lease.lost' },
      `the sync of ${scheduleId} finished after its lease was taken; not recorded`,
    );
    return 'lost';
  }
  run.info(
    {
      event: 'sync.completed',
      durationMs: finishedAt - startedAt,
      lateMs: startedAt - dueAt,
      nextDueAt: done.nextDueAt === null ? null : iso(done.nextDueAt),
      status: done.status,
      detail: result,
    },
    `synced ${scheduleId} in ${finishedAt - startedAt} ms; next ${done.nextDueAt === null ? done.status : iso(done.nextDueAt)}`,
  );
  return 'completed';
}
