/**
 * One push delivery to a lane's worker, by the worker protocol:
 *
 * 1. A malformed message is dead-lettered with its reason and acked.
 * 2. Under the message's lease (one transaction, `start`): a deleted schedule is acked; another
 *    lease's message is `stale` (or `duplicate` if this lease already ended) and acked; an
 *    attempt of this lease still running under a live lease is never taken over (acked as a
 *    duplicate); a paused or invalid schedule calls nothing; otherwise the attempt is counted
 *    and the lease extended. Past the attempt limit: dead letter, release, ack.
 * 3. The syncer runs with an AbortSignal (run time, lease loss); the lease is renewed every third
 *    of its length, and the call is stopped a margin before its confirmed end if renewals do not
 *    get through (./heartbeat.ts).
 * 4. Success completes the run in one transaction fenced on the attempt; the next due time
 *    comes from the due point served.
 * 5. A retryable failure is recorded, the lease held past Pub/Sub's retry backoff, and the error
 *    rethrown: Pub/Sub redelivers. On the last attempt it is dead-lettered instead.
 * 6. A permanent failure is dead-lettered at once, the lease released (the schedule goes on with
 *    its cadence, marked failing), and the message acked.
 *
 * Resolving acks the message; throwing makes Pub/Sub redeliver it with backoff. Every state
 * change is a decision of functions/protocol/decisions.ts at the store's time.
 */
import type { DeadLetterReason } from '../bus/dead-letter.js';
import { decodeMessage, type DispatchMessage } from '../bus/message.js';
import type { DeadLetterBus } from '../bus/port.js';
import { pushedOrRaw, type PushedMessage } from '../bus/push.js';
import type { Clock } from '../clock.js';
import type { Settings } from '../config.js';
import { errorCode, errorMessage, isRetryable, PacerError } from '../errors.js';
import { traceFields, type Logger } from '../log.js';
import { logPausedByFailures } from '../deadletter/paused.js';
import { executionTimeoutSeconds, type JobAttempt, type JobLauncher } from '../job/launcher.js';
import {
  complete,
  type CompleteOutcome,
  holdForRetry,
  release,
  renew,
  resume,
  start,
  type ResumeOutcome,
  type StartOutcome,
} from '../protocol/decisions.js';
import type { Lane } from '../schedule/lane.js';
import { iso } from '../schedule/time.js';
import { decideOptimistically, type Written } from '../store/optimistic.js';
import type { ScheduleStore } from '../store/port.js';
import type { Topology } from '../topology.js';
import { holdLease } from './heartbeat.js';
import type { RateLimitStore } from '../ratelimit/store.js';
import { holdRateLimited } from './rate-limited.js';
import { redactSecrets } from './secrets.js';
import { runSyncer, type SyncerOptions } from './syncer.js';

export interface WorkerDeps {
  store: ScheduleStore;
  deadLetters: DeadLetterBus;
  settings: Settings;
  topology: Topology;
  logger: Logger;
  clock: Clock;
  /** Ids for attempts (a random UUID in production). */
  newId: () => string;
  syncer: SyncerOptions;
  /** Starts the job executions of `runner: "job"` syncs. */
  jobs: JobLauncher;
  /** Where a target's `Retry-After` blocks its provider key; without it, only the schedule waits. */
  rateLimits?: RateLimitStore;
}

export type DeliveryOutcome =
  | 'completed'
  | 'missing'
  | 'stale'
  | 'duplicate'
  | 'invalid'
  | 'paused'
  | 'lost'
  | 'dead_lettered'
  /** A `runner: "job"` sync handed to a job execution, which now holds its lease. */
  | 'handed_off'
  /** A job execution's attempt failed and is held; the execution retries it after a backoff. */
  | 'retrying'
  /** The target refused for its rate limit: held until its `Retry-After`, the attempt not counted. */
  | 'rate_limited';

/** One delivery being handled: what every step needs. */
interface Delivery {
  deps: WorkerDeps;
  lane: Lane;
  pushed: PushedMessage;
  message: DispatchMessage;
  log: Logger;
  /** This delivery's own attempt token. */
  attemptId: string;
  /** In the push request (a worker), or in a job execution (a long sync). */
  runner: 'request' | 'job';
  /**
   * A job execution's run time as launched (its task timeout follows it): a call never runs
   * longer, even if the schedule was edited to allow more since.
   */
  maxRunSeconds?: number;
  /**
   * The schedule as this delivery last wrote it (its start, a renewal), and this process's
   * monotonic clock then: the completion is written on that version without a read; `null` if
   * another write may have come since.
   */
  own?: { written: Written; at: number } | null;
}

interface FailureRecord {
  code: string;
  message: string;
}

/** Handles one delivery. Resolves to ack; throws to have Pub/Sub redeliver. */
export async function handleDelivery(
  deps: WorkerDeps,
  lane: Lane,
  event: { id?: string; data?: unknown },
): Promise<DeliveryOutcome> {
  const pushed = pushedOrRaw(event);
  const base = deps.logger.child({
    lane,
    messageId: pushed.messageId,
    ...traceFields(pushed.attributes.traceparent, deps.settings.projectId),
  });
  const decoded = decodeMessage(pushed.data);
  if (!decoded.ok) return deadLetterMalformed(deps, lane, pushed, decoded.reason, base);

  const { scheduleId, leaseId } = decoded.message;
  const delivery: Delivery = {
    deps,
    lane,
    pushed,
    message: decoded.message,
    log: base.child({ scheduleId, leaseId }),
    attemptId: deps.newId(),
    runner: 'request',
  };
  const { started, sentAt } = await startAtDuePoint(delivery);
  if (started.kind !== 'started') return answerUnstarted(delivery, started);
  if (started.spec.runner === 'job') return handOff(delivery, started);
  return runAttempt(delivery, started, sentAt);
}

/**
 * The longest a worker waits for the point of a message claimed ahead (the planner claims at
 * most `dispatchAheadSeconds`, at most 30, ahead; the rest is for clocks that disagree). The
 * worker's timeout keeps a minute beyond the longest sync for this wait and the completion.
 */
export const MAX_AHEAD_WAIT_MS = 40_000;

/** How often a worker asks again when the store's clock says the point has not come yet. */
const EARLY_STARTS = 3;

/**
 * Starts the attempt at the message's due point: a point claimed ahead waits here, on this
 * process's clock, then the store (whose time decides) is asked; should its clock still be
 * behind, the worker waits what it says, a few times at most. `sentAt`: when the start that
 * answered was sent (the lease holds from then).
 */
async function startAtDuePoint(
  delivery: Delivery,
): Promise<{ started: StartOutcome; sentAt: number }> {
  const { clock } = delivery.deps;
  const waitUntil = Date.parse(delivery.message.dueAt);
  let wait = Math.min(waitUntil - clock.now(), MAX_AHEAD_WAIT_MS);
  for (let asked = 0; ; asked++) {
    if (wait > 0) await clock.sleep(wait);
    const sentAt = clock.now();
    const started = await startAttempt(delivery);
    if (started.kind !== 'early' || asked + 1 >= EARLY_STARTS) return { started, sentAt };
    wait = Math.min(Math.max(started.inMs, 10), MAX_AHEAD_WAIT_MS);
  }
}

/**
 * A `runner: "job"` sync: the attempt, started under a lease long enough for an execution to
 * start (`jobs.startSeconds`), goes to a job execution, and the message is acked once the
 * execution is accepted. If it cannot be started, the attempt is recorded as failed and held,
 * and Pub/Sub redelivers (a new attempt, counted toward dead-lettering).
 */
async function handOff(
  delivery: Delivery,
  started: Extract<StartOutcome, { kind: 'started' }>,
): Promise<DeliveryOutcome> {
  const { deps, message, attemptId, pushed } = delivery;
  const { settings } = deps;
  const run = delivery.log.child({ attempt: started.attempt });
  const maxRunSeconds = started.spec.maxRunSeconds ?? settings.defaultMaxRunSeconds;
  const attempt: JobAttempt = {
    message,
    messageId: pushed.messageId,
    ...(pushed.attributes.traceparent ? { traceparent: pushed.attributes.traceparent } : {}),
    attemptId,
    attempt: started.attempt,
    maxRunSeconds,
  };
  let execution: string;
  try {
    ({ execution } = await deps.jobs.launch(attempt, {
      timeoutSeconds: executionTimeoutSeconds({
        maxRunSeconds,
        startSeconds: settings.jobs.startSeconds,
        attemptsLeft: settings.maxAttempts - started.attempt + 1,
        maxBackoffSeconds: deps.topology.lanes[delivery.lane].retry.maximumBackoffSeconds,
      }),
    }));
  } catch (error) {
    return failAttempt(
      delivery,
      started.attempt,
      error instanceof PacerError
        ? error
        : new PacerError('job_launch_failed', `could not start the job: ${errorMessage(error)}`),
      run,
    );
  }
  run.info(
    {
      event: 'sync.handed_off',
      execution,
      dueAt: iso(started.dueAt),
      until: iso(started.until),
      maxRunSeconds,
    },
    `handed ${message.scheduleId} to job execution ${execution} (attempt ${started.attempt}); it holds the lease from here`,
  );
  return 'handed_off';
}

/**
 * A job execution's work (functions/job/main.ts): takes up the attempt a worker handed it, if it
 * still holds its lease, making the attempt its own (a token of its own: see `resume`), and runs
 * it as a worker would, renewing the lease while the call runs. Nothing redelivers a job's
 * attempt, so a failure to retry is retried here, as Pub/Sub would: held (past the backoff, so
 * the planner leaves it alone), then, after the backoff, started again under the same lease —
 * until it succeeds, gives up (a dead letter at the attempt limit) or loses the lease. If the
 * execution dies meanwhile, the hold lapses and the planner dispatches again (attempts carry
 * over).
 */
export async function runJobAttempt(
  deps: WorkerDeps,
  handed: JobAttempt,
): Promise<DeliveryOutcome> {
  const { message } = handed;
  const pushed: PushedMessage = {
    data: Buffer.from(JSON.stringify(message)),
    attributes: handed.traceparent ? { traceparent: handed.traceparent } : {},
    messageId: handed.messageId,
  };
  const base = deps.logger.child({
    lane: message.lane,
    messageId: handed.messageId,
    scheduleId: message.scheduleId,
    leaseId: message.leaseId,
    runner: 'job',
    ...traceFields(handed.traceparent, deps.settings.projectId),
  });
  let delivery: Delivery = {
    deps,
    lane: message.lane,
    pushed,
    message,
    log: base,
    attemptId: deps.newId(),
    runner: 'job',
    maxRunSeconds: handed.maxRunSeconds,
  };
  let sentAt = deps.clock.now();
  const leaseMs = deps.settings.leaseSeconds * 1_000;
  const resumed = await deps.store.transact(message.scheduleId, (subject, now) =>
    resume(
      subject,
      {
        leaseId: message.leaseId,
        handedAttemptId: handed.attemptId,
        attemptId: delivery.attemptId,
        leaseMs,
        thresholds: deps.settings.laneThresholds,
      },
      now,
    ),
  );
  if (resumed.kind !== 'started') return answerUnresumed(delivery, resumed);
  let started: Extract<StartOutcome, { kind: 'started' }> = resumed;
  const retry = deps.topology.lanes[message.lane].retry;
  for (;;) {
    const outcome = await runAttempt(delivery, started, sentAt);
    if (outcome !== 'retrying') return outcome;
    await deps.clock.sleep(jobRetryBackoffMs(retry, started.attempt));
    delivery = { ...delivery, attemptId: deps.newId() };
    sentAt = deps.clock.now();
    const next = await startAttempt(delivery);
    if (next.kind !== 'started') return answerUnstarted(delivery, next);
    started = next;
  }
}

/** An execution that finds its attempt gone calls nothing. */
function answerUnresumed(
  delivery: Delivery,
  resumed: Exclude<ResumeOutcome, { kind: 'started' }>,
): Promise<DeliveryOutcome> | DeliveryOutcome {
  if (resumed.kind === 'lost') {
    delivery.log.warn(
      { event: 'lease.lost' },
      `the attempt handed to this job no longer holds ${delivery.message.scheduleId} (its lease lapsed or was taken); nothing called`,
    );
    return 'lost';
  }
  return answerUnstarted(delivery, resumed);
}

async function deadLetterMalformed(
  deps: WorkerDeps,
  lane: Lane,
  pushed: PushedMessage,
  reason: string,
  log: Logger,
): Promise<DeliveryOutcome> {
  await deps.deadLetters.publish(pushed, {
    reason: 'malformed',
    errorCode: 'invalid_message',
    errorMessage: reason,
    attempts: null,
    sourceSubscription: deps.topology.lanes[lane].subscription,
    sourceMessageId: pushed.messageId,
  });
  log.warn({ event: 'sync.malformed', reason }, `malformed message dead-lettered: ${reason}`);
  return 'dead_lettered';
}

/** The start decision under the message's lease (a read and a conditional write). */
async function startAttempt(delivery: Delivery): Promise<StartOutcome> {
  const { deps, message, attemptId } = delivery;
  const { settings } = deps;
  const decided = await decideOptimistically(deps.store, message.scheduleId, (subject, now) =>
    start(
      subject,
      {
        leaseId: message.leaseId,
        attemptId,
        leaseMs: settings.leaseSeconds * 1_000,
        // A worker hands a long sync's attempt off: its lease covers an execution's start. An
        // execution retrying in itself is already running: the running lease.
        handOffMs:
          (delivery.runner === 'job' ? settings.leaseSeconds : settings.jobs.startSeconds) * 1_000,
        maxAttempts: settings.maxAttempts,
        expireAt: now + settings.runHistoryDays * 86_400_000,
        thresholds: settings.laneThresholds,
      },
      now,
    ),
  );
  remember(delivery, decided.written);
  return decided.outcome;
}

/** Keeps what this delivery wrote, for a completion without a read. */
function remember(delivery: Delivery, written: Written | null): void {
  delivery.own = written === null ? null : { written, at: delivery.deps.clock.monotonic() };
}

/** Answers a delivery that starts nothing: acked, except what gives up (dead letter). */
async function answerUnstarted(
  delivery: Delivery,
  started: Exclude<StartOutcome, { kind: 'started' }>,
): Promise<DeliveryOutcome> {
  const { log, message } = delivery;
  const { scheduleId, leaseId } = message;
  switch (started.kind) {
    case 'missing':
      log.info({ event: 'sync.missing' }, `schedule ${scheduleId} no longer exists; message acked`);
      return 'missing';
    case 'stale':
      log.info(
        { event: 'sync.stale', currentLeaseId: started.currentLeaseId },
        `lease ${leaseId} no longer holds ${scheduleId}; message acked`,
      );
      return 'stale';
    case 'duplicate':
      log.info(
        { event: 'sync.duplicate' },
        `lease ${leaseId} already finished ${scheduleId}; message acked`,
      );
      return 'duplicate';
    case 'running':
      // A live attempt of this lease runs (at-least-once delivery). If its worker died, the
      // lease lapses at its end and the planner dispatches again; it is never taken over live.
      log.info(
        { event: 'sync.duplicate', inProgress: true, until: iso(started.until) },
        `another delivery of lease ${leaseId} is syncing ${scheduleId}; message acked`,
      );
      return 'duplicate';
    case 'invalid':
      log.warn(
        { event: 'schedule.invalid', problems: started.problems },
        `schedule ${scheduleId} is invalid: ${started.problems.join('; ')}`,
      );
      return 'invalid';
    case 'paused':
      log.info(
        { event: 'sync.paused' },
        `schedule ${scheduleId} is paused; nothing called, message acked`,
      );
      return 'paused';
    case 'early':
      // The store's clock still says the point is to come: Pub/Sub redelivers after its backoff
      // (the lease holds `dispatchGraceSeconds` past the point).
      log.warn(
        { event: 'sync.early', dueAt: iso(started.dueAt), inMs: started.inMs },
        `lease ${leaseId} of ${scheduleId} serves ${iso(started.dueAt)}, ${started.inMs} ms from now by the store's clock; redelivered later`,
      );
      throw new Error(
        `not started: its point ${iso(started.dueAt)} is ${started.inMs} ms ahead of the store's clock`,
      );
    case 'exhausted': {
      const last = started.lastError;
      return giveUp(
        delivery,
        'attempts_exhausted',
        started.attempts,
        last && { code: last.code, message: last.message },
      );
    }
  }
}

/** Runs a started attempt: the call under a held lease, then its outcome. */
async function runAttempt(
  delivery: Delivery,
  started: Extract<StartOutcome, { kind: 'started' }>,
  sentAt: number,
): Promise<DeliveryOutcome> {
  const { deps, lane, message, attemptId } = delivery;
  const { settings, clock } = deps;
  const { spec, attempt, dueAt } = started;
  const run = delivery.log.child({ attempt, runKind: started.leaseKind });
  run.info(
    { event: 'sync.started', dueAt: iso(dueAt), lateMs: started.startedAt - dueAt },
    `syncing ${message.scheduleId} (attempt ${attempt}, due ${iso(dueAt)})`,
  );
  if (started.leaseKind === 'manual' || started.leaseKind === 'backfill') {
    run.info(
      { event: 'sync.operator_run', dueAt: iso(dueAt) },
      `${started.leaseKind} run of ${message.scheduleId} asked for by an operator`,
    );
  }

  const leaseMs = settings.leaseSeconds * 1_000;
  const hold = holdLease({
    clock,
    leaseMs,
    confirmedFrom: sentAt,
    renew: async () => {
      const renewed = await decideOptimistically(deps.store, message.scheduleId, (subject, now) =>
        renew(
          subject,
          { leaseId: message.leaseId, attemptId, leaseMs, thresholds: settings.laneThresholds },
          now,
        ),
      );
      remember(delivery, renewed.written);
      return renewed.outcome.kind;
    },
    onRenewFailed: (error) => {
      // The store did not answer: the lease still has time; the next renewal tries again.
      run.warn(
        { event: 'lease.renew_failed', err: error },
        `could not renew lease: ${errorMessage(error)}`,
      );
    },
  });
  const specRunSeconds = spec.maxRunSeconds ?? settings.defaultMaxRunSeconds;
  const maxRunMs = Math.min(specRunSeconds, delivery.maxRunSeconds ?? specRunSeconds) * 1_000;
  const callStarted = clock.now();
  let result: Record<string, unknown>;
  try {
    result = await runSyncer(
      spec.target,
      {
        scheduleId: message.scheduleId,
        leaseId: message.leaseId,
        dueAt,
        kind: started.leaseKind,
        lane,
        attempt,
        payload: spec.payload ?? {},
        signal: AbortSignal.any([hold.signal, clock.timeout(maxRunMs)]),
        logger: run,
      },
      deps.syncer,
    );
  } catch (error) {
    await hold.stop();
    if (hold.signal.aborted) {
      run.warn(
        { event: 'lease.lost' },
        `lost the lease on ${message.scheduleId}; sync stopped, not completed`,
      );
      return 'lost';
    }
    const limited = await holdRateLimited(deps, message, attemptId, spec, error, run);
    if (limited !== null) return limited;
    return failAttempt(delivery, attempt, error, run);
  }
  await hold.stop();
  return completeAttempt(delivery, started, result, clock.now() - callStarted, run);
}

/** Success: the run completes, fenced on the attempt. */
async function completeAttempt(
  delivery: Delivery,
  started: Extract<StartOutcome, { kind: 'started' }>,
  result: Record<string, unknown>,
  durationMs: number,
  run: Logger,
): Promise<DeliveryOutcome> {
  const { deps, message, attemptId } = delivery;
  const request = {
    leaseId: message.leaseId,
    attemptId,
    startedAt: started.startedAt,
    thresholds: deps.settings.laneThresholds,
    detail: result,
  };
  const done =
    (await completeOnOwnWrite(delivery, request)) ??
    (await deps.store.transact(message.scheduleId, (subject, now) =>
      complete(subject, request, now),
    ));
  if (done.kind === 'lost') {
    run.warn(
      { event: 'lease.lost' },
      `the sync of ${message.scheduleId} finished after its lease was taken; not recorded`,
    );
    return 'lost';
  }
  run.info(
    {
      event: 'sync.completed',
      durationMs,
      lateMs: started.startedAt - started.dueAt,
      nextDueAt: done.nextDueAt === null ? null : iso(done.nextDueAt),
      status: done.status,
      detail: result,
    },
    `synced ${message.scheduleId} in ${durationMs} ms; next ${done.nextDueAt === null ? done.status : iso(done.nextDueAt)}`,
  );
  return 'completed';
}

/**
 * Completes on the version this delivery's own start (or last renewal) wrote, without a read:
 * if nothing was written since, the schedule is exactly as this process wrote it, and the
 * decision is the one a transaction would make; the store's time is that write's plus the time
 * this process measured since. `null` — decide again in a transaction — when anything was
 * written in between (an edit, a pause, a lapsed lease claimed again) or the write failed.
 */
async function completeOnOwnWrite(
  delivery: Delivery,
  request: Parameters<typeof complete>[1],
): Promise<CompleteOutcome | null> {
  const own = delivery.own;
  if (own === undefined || own === null) return null;
  delivery.own = null;
  const now = own.written.decidedAt + Math.max(0, delivery.deps.clock.monotonic() - own.at);
  // A clock that jumped could carry the estimate past the lease's end: decide in a transaction.
  const held = own.written.subject.state.lease;
  if (held === null || now >= held.until) return null;
  const { outcome, patch } = complete(own.written.subject, request, now);
  if (patch === null) return null;
  const written = await delivery.deps.store.commitIfUnchanged(
    delivery.message.scheduleId,
    own.written.version,
    patch,
    now,
  );
  return written.kind === 'written' ? outcome : null;
}

/** A failed attempt: retried by Pub/Sub while attempts are left, else given up. */
async function failAttempt(
  delivery: Delivery,
  attempt: number,
  error: unknown,
  run: Logger,
): Promise<DeliveryOutcome> {
  const { deps, lane, message, attemptId } = delivery;
  const { settings } = deps;
  // Whatever the target said back (it may echo the request) never carries a secret onwards.
  const failure = {
    code: errorCode(error),
    message: redactSecrets(errorMessage(error), deps.syncer.env),
  };
  if (!isRetryable(error))
    return giveUp(delivery, 'permanent_failure', attempt, failure, attemptId);
  if (attempt >= settings.maxAttempts) {
    return giveUp(delivery, 'attempts_exhausted', attempt, failure, attemptId);
  }
  const retry = deps.topology.lanes[lane].retry;
  const holdMs =
    delivery.runner === 'job'
      ? // The execution retries after this attempt's backoff (runJobAttempt); past it, so the
        // planner leaves the schedule alone unless the execution dies meanwhile.
        jobRetryBackoffMs(retry, attempt) + settings.leaseSeconds * 1_000
      : // Past the longest backoff, so the planner leaves the schedule to Pub/Sub's retries.
        (retry.maximumBackoffSeconds + settings.leaseSeconds) * 1_000;
  const held = await deps.store.transact(message.scheduleId, (subject, now) =>
    holdForRetry(
      subject,
      {
        leaseId: message.leaseId,
        attemptId,
        holdMs,
        error: failure,
        thresholds: settings.laneThresholds,
        expireAt: now + settings.runHistoryDays * 86_400_000,
      },
      now,
    ),
  );
  if (held === 'lost') {
    run.warn(
      { event: 'lease.lost' },
      `lost the lease on ${message.scheduleId} while recording a failure`,
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
    `sync of ${message.scheduleId} failed (attempt ${attempt} of ${settings.maxAttempts}), will be retried: ${failure.message}`,
  );
  if (delivery.runner === 'job') return 'retrying';
  // Pub/Sub redelivers; the error goes to the function's own log, redacted too.
  throw new Error(`${failure.code}: ${failure.message}`);
}

/** A job's retry waits as Pub/Sub's exponential backoff would for this attempt. */
export function jobRetryBackoffMs(
  retry: { minimumBackoffSeconds: number; maximumBackoffSeconds: number },
  attempt: number,
): number {
  const seconds = Math.min(
    retry.maximumBackoffSeconds,
    retry.minimumBackoffSeconds * 2 ** Math.max(0, attempt - 1),
  );
  return seconds * 1_000;
}

/**
 * Dead-letters the message and releases its lease; the schedule goes on with its cadence. The
 * dead letter is published first: if the worker dies before the release, the dead-letter
 * function still records it and releases the lease.
 */
async function giveUp(
  delivery: Delivery,
  reason: DeadLetterReason,
  attempts: number,
  failure: FailureRecord | null,
  /** The attempt that failed, when one ran: the release is fenced on it. */
  attemptId?: string,
): Promise<DeliveryOutcome> {
  const { deps, lane, message, pushed, log } = delivery;
  await deps.deadLetters.publish(pushed, {
    reason,
    errorCode: failure?.code ?? null,
    errorMessage: failure?.message ?? null,
    attempts,
    sourceSubscription: deps.topology.lanes[lane].subscription,
    sourceMessageId: pushed.messageId,
    attemptId: attemptId ?? null,
  });
  const released = await deps.store.transact(message.scheduleId, (subject, now) =>
    release(
      subject,
      {
        leaseId: message.leaseId,
        attemptId,
        reason,
        error: failure,
        thresholds: deps.settings.laneThresholds,
        expireAt: now + deps.settings.runHistoryDays * 86_400_000,
      },
      now,
    ),
  );
  if (released === 'not_held' && attemptId !== undefined) {
    // A redelivery took this attempt over; its own attempt decides the schedule's fate.
    log.warn(
      { event: 'lease.lost', reason, attempts },
      `gave up on ${message.scheduleId} (${reason}), but another attempt runs the lease now; left to it`,
    );
    return 'lost';
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
    `gave up on ${message.scheduleId} after ${attempts} attempt(s) (${reason}): ${failure?.message ?? 'no error recorded'}`,
  );
  if (released === 'paused_by_failures') logPausedByFailures(log, message.scheduleId);
  return 'dead_lettered';
}
