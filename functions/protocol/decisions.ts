/**
 * The lease protocol as pure decisions. Every change of a schedule's `state` — by the planner,
 * a worker, the dead-letter function, the reconciler, the CLI, the simulator — is one of these:
 * `(subject, request, now) → { outcome, patch }`. No clock (`now` is the store's time, read in
 * the same transaction or with the documents a conditional write is based on), no I/O: one store
 * adapter applies the patch as one transaction or one conditional write. docs/architecture.md
 * draws the transitions; ./invariants.ts states what they must keep true.
 *
 * The shape of a schedule's life:
 *
 *   reconcile → active, nextDueAt ─(due)─ claim → lease (dispatched) ─ start → lease (running)
 *        renew ↺ running;  complete → active at the next point;  retry hold → lease (held)
 *        release (dead letter) → active at the next point, failing;  lapse → due again at the
 *        lease's end, still owing the lease's point;  unclaim (publish failed) → as before the claim
 *   pause / invalid / delete end it; a running attempt may finish, nothing new starts.
 */
import { createHash } from 'node:crypto';
import {
  catchUp,
  escalatesAt,
  firstDueAt,
  laneAt,
  nextDueAt,
  owedDueAt,
} from '../schedule/cadence.js';
import type { Lane, LaneThresholds } from '../schedule/lane.js';
import { STATE_FIELD, type ScheduleSpec, type Validation } from '../schedule/spec.js';
import { isTimestampLike } from '../schedule/time.js';
import type { Decision, Patch, RunFields, RunPatch } from './patch.js';
import {
  liveLease,
  owedSince,
  pausedByFailures,
  plannedLane,
  type LastError,
  type Lease,
  type RunHistory,
  type ScheduleState,
  type ScheduleStatus,
} from './state.js';

/** A schedule as a decision sees it: its document as read, its state, its validation. */
export interface Subject {
  id: string;
  /** The document's fields as written (operator fields and the raw `state`). */
  data: Readonly<Record<string, unknown>>;
  state: ScheduleState;
  validation: Validation;
}

const decision = <T>(outcome: T, patch: Patch | null = null): Decision<T> => ({ outcome, patch });

/**
 * The validation the protocol plans with: a schedule pacer paused after failures
 * (`pauseAfterFailures`) counts as disabled, whatever its `enabled` says, until it is resumed.
 */
export function plannedValidation(subject: Subject): Validation {
  const { validation, state } = subject;
  return validation.ok && pausedByFailures(state)
    ? { ok: true, spec: { ...validation.spec, enabled: false } }
    : validation;
}

// ---------------------------------------------------------------------------------------------
// Where a schedule goes next.

/** Where a valid schedule goes once nothing holds it. */
export type Ahead =
  | { status: 'paused' | 'finished'; nextDueAt: null }
  | { status: 'active'; nextDueAt: number; lane: Lane; escalatesAt: number | null };

/**
 * Where a valid schedule goes from the point last served (the next point, missed ones
 * coalesced) or, never served, from scratch; paused if disabled, finished when its cadence is
 * over. Never before `notBefore`.
 */
export function ahead(
  spec: ScheduleSpec,
  lastServed: number | null,
  now: number,
  thresholds: LaneThresholds,
  notBefore: number | null = null,
): Ahead {
  if (!spec.enabled) return { status: 'paused', nextDueAt: null };
  const following =
    lastServed === null ? firstDueAt(spec.cadence, now) : nextDueAt(spec.cadence, lastServed, now);
  if (following === null) return { status: 'finished', nextDueAt: null };
  const next = notBefore !== null && notBefore > following ? notBefore : following;
  return { status: 'active', ...plannedAt(spec, next, thresholds) };
}

/** Due at `at`: with the lane in force then and when it would escalate. */
export function plannedAt(
  spec: ScheduleSpec,
  at: number,
  thresholds: LaneThresholds,
): { nextDueAt: number; lane: Lane; escalatesAt: number | null } {
  const lane = laneAt(spec.cadence, spec.lane, at, thresholds);
  return {
    nextDueAt: at,
    lane,
    escalatesAt: escalatesAt(spec.cadence, spec.lane, at, lane, thresholds),
  };
}

/** The state fields for {@link ahead}'s answer. */
function aheadFields(next: Ahead): Partial<ScheduleState> {
  if (next.status !== 'active') {
    return { status: next.status, nextDueAt: null, escalatesAt: null };
  }
  return {
    status: 'active',
    nextDueAt: next.nextDueAt,
    lane: next.lane,
    escalatesAt: next.escalatesAt,
  };
}

/**
 * When a schedule held in `lane` until `until` should move to a more urgent lane if it is still
 * waiting then: the first tier boundary after `now`, not before `until` (while held it does not
 * wait). `null` when it never does, or the spec is unknown.
 */
export function escalationWhileHeld(
  spec: ScheduleSpec | null,
  lane: Lane,
  until: number,
  now: number,
  thresholds: LaneThresholds,
): number | null {
  if (spec === null) return null;
  const boundary = escalatesAt(spec.cadence, spec.lane, now, lane, thresholds);
  return boundary === null ? null : Math.max(boundary, until);
}

/** Held by `lease` until its end: due again then unless it ends first. */
export function heldFields(
  state: ScheduleState,
  spec: ScheduleSpec | null,
  lease: Lease,
  now: number,
  thresholds: LaneThresholds,
): Partial<ScheduleState> {
  const lane = state.lane ?? (spec ? laneAt(spec.cadence, spec.lane, now, thresholds) : null);
  return {
    lease,
    nextDueAt: lease.until,
    escalatesAt:
      lane === null ? null : escalationWhileHeld(spec, lane, lease.until, now, thresholds),
    ...(state.lane === null && lane !== null ? { lane } : {}),
  };
}

/** Out of planning as invalid, with the problems as the reason. */
function invalidFields(problems: readonly string[]): Partial<ScheduleState> {
  return { status: 'invalid', error: problemText(problems), nextDueAt: null, escalatesAt: null };
}

/** The most problems `state.error` lists, and the most characters it holds. */
const ERROR_PROBLEMS = 20;
const ERROR_CHARS = 4_000;

/**
 * Problems as one line for `state.error`, capped: a document with thousands of problems (or one
 * huge value quoted in them) must not make the state write itself too large.
 */
export function problemText(problems: readonly string[]): string {
  const shown = problems.slice(0, ERROR_PROBLEMS).map((problem) => problem.slice(0, 300));
  const more = problems.length - shown.length;
  const text = `${shown.join('; ')}${more > 0 ? `; and ${more} more problems` : ''}`;
  return text.length > ERROR_CHARS ? `${text.slice(0, ERROR_CHARS - 3)}...` : text;
}

/**
 * The state after a lease ends without anyone holding the schedule: `outcome` is what happened
 * to the lease's point. A planned lease moves the schedule on from the point it served (or gave
 * up on); a replay, a manual run or a backfill returns it to where its own cadence stood. Paused, invalid and finished
 * schedules leave planning.
 */
function afterLease(
  subject: Subject,
  lease: Lease,
  now: number,
  thresholds: LaneThresholds,
): { fields: Partial<ScheduleState>; status: ScheduleStatus; nextDueAt: number | null } {
  const { state } = subject;
  const validation = plannedValidation(subject);
  if (!validation.ok) {
    return {
      fields: { ...invalidFields(validation.problems), lease: null },
      status: 'invalid',
      nextDueAt: null,
    };
  }
  const spec = validation.spec;
  const lastServed = lease.kind === 'planned' ? lease.dueAt : state.dueAt;
  const next =
    lease.kind !== 'planned' && spec.enabled
      ? { status: 'active' as const, ...plannedAt(spec, lease.owedSince, thresholds) }
      : ahead(spec, lastServed, now, thresholds);
  return {
    fields: {
      ...aheadFields(next),
      lease: null,
      ...(lease.kind === 'planned' ? { dueAt: lease.dueAt } : {}),
      ...(state.status === 'invalid' ? { error: null } : {}),
    },
    status: next.status,
    nextDueAt: next.nextDueAt,
  };
}

// ---------------------------------------------------------------------------------------------
// The planner: screen a due schedule, claim it, give the claim back.

export type Screening =
  /** Due and dispatchable: queued by `waitingSince`, serving `serves`. */
  | { kind: 'candidate'; waitingSince: number; serves: number; lane: Lane; spec: ScheduleSpec }
  /** Not due (any more) at `now`, or held by a live lease: left alone. */
  | { kind: 'not_due' }
  | { kind: 'held' }
  /** Taken out of planning or moved, without a dispatch: the patch says how. */
  | { kind: 'invalid'; problems: string[] }
  | { kind: 'paused' }
  | { kind: 'settled'; status: ScheduleStatus | null }
  /** A replay's lease lapsed while the schedule's own next point lies ahead: back to it. */
  | { kind: 'resumed'; nextDueAt: number }
  /** A cron point missed by more than its catch-up window: skipped to the next occurrence. */
  | { kind: 'skipped'; dueAt: number; missedByMs: number; nextDueAt: number };

/**
 * What the planner does with a schedule its due query returned, at the store's `now`. A document
 * that no longer validates is marked invalid, a disabled one paused, a cron point too old to
 * catch up skipped; each is a patch that takes it out of the due index or moves it, so it never
 * comes back every sub-tick. The rest are candidates for the plan.
 */
export function screen(
  subject: Subject,
  now: number,
  thresholds: LaneThresholds,
  aheadMs = 0,
): Decision<Screening> {
  const { state } = subject;
  const validation = plannedValidation(subject);
  // Dispatched ahead: a point due by `now + aheadMs` (before the next sub-tick) is a candidate
  // now; its worker waits for the point before it starts (see `start`).
  const horizon = now + aheadMs;
  if (liveLease(state, now) !== null) return decision({ kind: 'held' });
  if (state.nextDueAt === null || state.nextDueAt > horizon) return decision({ kind: 'not_due' });
  if (!validation.ok) {
    return decision(
      { kind: 'invalid', problems: validation.problems },
      { state: { ...invalidFields(validation.problems), lease: null } },
    );
  }
  const spec = validation.spec;
  if (!spec.enabled) {
    return decision(
      { kind: 'paused' },
      { state: { status: 'paused', nextDueAt: null, escalatesAt: null, lease: null } },
    );
  }
  if (state.status !== 'active') {
    // Due although not active: a lease that outlived a pause, an invalid spell or the end of
    // its cadence. Settle it as reconciling would.
    const settled = reconcile(subject, now, thresholds, { force: true });
    return decision({ kind: 'settled', status: settled.outcome.status }, settled.patch);
  }
  const waitingSince = owedSince(state) ?? now;
  // A replay's, manual run's or backfill's lease that lapsed with the schedule's own point still
  // to come goes back to its own cadence first (its lane too: a backfill ran in the low lane),
  // even when that point is near enough to be claimed ahead: the next sub-tick claims it there.
  const otherRun = state.lease !== null && state.lease.kind !== 'planned';
  if (waitingSince > horizon || (otherRun && waitingSince > now)) {
    const next = plannedAt(spec, waitingSince, thresholds);
    return decision(
      { kind: 'resumed', nextDueAt: waitingSince },
      { state: { ...next, lease: null } },
    );
  }
  // The point this dispatch serves: the latest one owed by now (missed ones coalesce into it),
  // and the one a cron's catch-up window is judged against. The queue order stays by the oldest
  // point owed, so a schedule that has waited longest still goes first.
  const serves = owedDueAt(spec.cadence, waitingSince, Math.max(now, waitingSince));
  const late = catchUp(spec.cadence, serves, now);
  if (!late.run) {
    return decision(
      { kind: 'skipped', dueAt: serves, missedByMs: late.missedByMs, nextDueAt: late.nextDueAt },
      {
        state: {
          ...plannedAt(spec, late.nextDueAt, thresholds),
          lease: null,
          dueAt: serves,
          lastSkippedDueAt: serves,
          skippedCount: state.skippedCount + 1,
        },
      },
    );
  }
  return decision({
    kind: 'candidate',
    waitingSince,
    serves,
    // After another run's lapsed lease, the lane of the schedule's own cadence, not the one that
    // run was dispatched in (a backfill's low lane must not hold the schedule's own points).
    lane: otherRun
      ? laneAt(spec.cadence, spec.lane, now, thresholds)
      : plannedLane(state, spec, now, thresholds),
    spec,
  });
}

export interface ClaimRequest {
  leaseId: string;
  /** How long the message may wait for a worker, from its due point, before it is due again. */
  graceMs: number;
  thresholds: LaneThresholds;
  /** Claim points due up to this far ahead of `now` (dispatch ahead); 0 claims only due ones. */
  aheadMs?: number;
  /** Which runs get a record (`all` if not given): see {@link recordsRun}. */
  history?: RunHistory;
}

export type ClaimOutcome =
  | { kind: 'claimed'; lease: Lease; lane: Lane; previous: ClaimUndo }
  | { kind: 'not_claimed'; screening: Screening };

/** What a claim replaced, to give it back if its message cannot be published. */
export type ClaimUndo = Pick<ScheduleState, 'lease' | 'nextDueAt' | 'escalatesAt' | 'lane'>;

/**
 * The planner's claim of a due schedule: a new lease until `grace` after its point (or after
 * `now`, for a point already due), `nextDueAt` at its end, serving the latest point owed. A point
 * due within `aheadMs` is claimed ahead: its worker starts it at the point, never before. A
 * lapsed lease's attempts carry over (same point owed). Applied as a conditional write on the
 * version the due query read.
 */
export function claim(
  subject: Subject,
  request: ClaimRequest,
  now: number,
): Decision<ClaimOutcome> {
  const screened = screen(subject, now, request.thresholds, request.aheadMs ?? 0);
  const screening = screened.outcome;
  if (screening.kind !== 'candidate') return decision({ kind: 'not_claimed', screening });
  const { state } = subject;
  const lease = freshLease({
    id: request.leaseId,
    kind: 'planned',
    // A point claimed ahead: the message may wait for a worker `grace` past the point.
    until: Math.max(now, screening.serves) + request.graceMs,
    attempt: state.lease?.kind === 'planned' ? state.lease.attempt : 0,
    dueAt: screening.serves,
    owedSince: screening.waitingSince,
    now,
    history: request.history ?? 'all',
  });
  return decision(
    { kind: 'claimed', lease, lane: screening.lane, previous: claimUndo(state) },
    // The lane it is dispatched in is the lane it is planned in (after a backfill's lapsed lease,
    // its own again), and its escalation point that lane's (none in the high lane).
    {
      state: {
        ...heldFields(
          { ...state, lane: screening.lane },
          screening.spec,
          lease,
          now,
          request.thresholds,
        ),
        lane: screening.lane,
      },
    },
  );
}

/**
 * A lease just taken at `now`, nothing started under it yet. `history: "failures"` (a planned
 * claim's): its run gets no record unless something goes wrong (see {@link recordsRun}).
 */
export function freshLease(
  fields: Pick<Lease, 'id' | 'kind' | 'until' | 'attempt' | 'dueAt' | 'owedSince'> & {
    now: number;
    history?: RunHistory;
  },
): Lease {
  const { now, history, ...rest } = fields;
  return {
    ...rest,
    dispatchedAt: now,
    startedAt: null,
    running: false,
    attemptId: null,
    ...(history === 'failures' ? { recorded: false } : {}),
  };
}

/** What a claim replaces, to give it back with {@link unclaim}. */
export function claimUndo(state: ScheduleState): ClaimUndo {
  return {
    lease: state.lease,
    nextDueAt: state.nextDueAt,
    escalatesAt: state.escalatesAt,
    lane: state.lane,
  };
}

/**
 * Gives a claim back (its message could not be published): the schedule as it was before the
 * claim, its lapsed lease and attempts included. Applied conditionally on the claim's own write,
 * so a worker that did receive the message is never undone.
 */
export function unclaim(previous: ClaimUndo): Patch {
  return { state: { ...previous } };
}

// ---------------------------------------------------------------------------------------------
// The worker: start, renew, complete, hold for a retry, release after a dead letter.

export interface AttemptRef {
  leaseId: string;
  /** The attempt's own token (see `Lease.attemptId`). */
  attemptId: string;
}

export type StartOutcome =
  | {
      kind: 'started';
      spec: ScheduleSpec;
      attempt: number;
      dueAt: number;
      lane: Lane;
      leaseKind: Lease['kind'];
      /** The lease's end as written, and the store time it was written at. */
      until: number;
      startedAt: number;
    }
  | { kind: 'missing' }
  /** Another lease holds the schedule (a newer dispatch, or nobody). */
  | { kind: 'stale'; currentLeaseId: string | null }
  /** This lease already ended (completed or dead-lettered): a redelivery. */
  | { kind: 'duplicate' }
  /** Another attempt of this lease runs and its lease has not lapsed: never taken over. */
  | { kind: 'running'; until: number }
  /** The attempt limit is reached: dead-letter and release. */
  | { kind: 'exhausted'; attempts: number; lastError: LastError | null }
  /** The document no longer validates: marked invalid, the lease ended. */
  | { kind: 'invalid'; problems: string[] }
  /** The schedule is disabled: paused, the lease ended, nothing called. */
  | { kind: 'paused' }
  /** Claimed ahead and its point is still to come: nothing starts before it. */
  | { kind: 'early'; dueAt: number; inMs: number };

/**
 * Starts an attempt under the message's lease: counts it, extends the lease to `now + leaseMs`,
 * marks it running with the attempt's token and opens the run record. A live running attempt is
 * never taken over (its worker may be alive though a renewal failed); a lapsed one is.
 */
export function start(
  subject: Subject | null,
  request: AttemptRef & {
    leaseMs: number;
    /**
     * The lease for a `runner: "job"` sync, which the worker hands to a job execution: long
     * enough for the execution to start and renew it (`leaseMs` if not given).
     */
    handOffMs?: number;
    maxAttempts: number;
    expireAt: number;
    thresholds: LaneThresholds;
  },
  now: number,
): Decision<StartOutcome> {
  if (subject === null) return decision({ kind: 'missing' });
  const { state } = subject;
  const held = heldBy(state, request.leaseId);
  if (held.kind !== 'ours') return decision(held);
  const lease = held.lease;
  if (lease.running && lease.until > now && lease.attemptId === request.attemptId) {
    // This very attempt's start landed, but its answer was lost (a write retried after it
    // landed finds its precondition failed): it is started, nothing more to write.
    const validation = plannedValidation(subject);
    if (validation.ok) {
      const { spec } = validation;
      return decision({
        kind: 'started',
        spec,
        attempt: lease.attempt,
        dueAt: lease.dueAt,
        lane: plannedLane(state, spec, now, request.thresholds),
        leaseKind: lease.kind,
        until: lease.until,
        startedAt: lease.renewedAt ?? now,
      });
    }
  }
  if (lease.running && lease.until > now) return decision({ kind: 'running', until: lease.until });
  const runnable = runnableUnder(plannedValidation(subject), lease, now);
  if ('ended' in runnable) return runnable.ended;
  // A point claimed ahead starts at the point, by the store's time, never before.
  if (lease.kind === 'planned' && now < lease.dueAt) {
    return decision({ kind: 'early', dueAt: lease.dueAt, inMs: lease.dueAt - now });
  }
  const { spec } = runnable;
  const attempt = lease.attempt + 1;
  if (attempt > request.maxAttempts) {
    return decision({ kind: 'exhausted', attempts: lease.attempt, lastError: state.lastError });
  }
  const startedAt = lease.startedAt ?? now;
  const records = recordsRun(lease, attempt, spec);
  const running: Lease = {
    ...lease,
    attempt,
    running: true,
    attemptId: request.attemptId,
    startedAt,
    until: now + (spec.runner === 'job' ? (request.handOffMs ?? request.leaseMs) : request.leaseMs),
    renewedAt: now,
    recorded: records,
  };
  const lane = plannedLane(state, spec, now, request.thresholds);
  return decision(
    {
      kind: 'started',
      spec,
      attempt,
      dueAt: lease.dueAt,
      lane,
      leaseKind: lease.kind,
      until: running.until,
      startedAt: now,
    },
    {
      state: heldFields(state, spec, running, now, request.thresholds),
      ...(records
        ? {
            run: {
              leaseId: lease.id,
              fields: {
                ...runBase(subject, running, lane, request.expireAt),
                status: 'running' as const,
                lastStartedAt: now,
              },
            },
          }
        : {}),
    },
  );
}

/**
 * Whether an attempt's run gets a record: always, unless the planner claimed the lease under
 * `runHistory: "failures"` and this is its first attempt, run in the request (a sync that then
 * fails gets its record whole when it fails: {@link failedRun}; a job's run is always recorded).
 */
export function recordsRun(lease: Lease, attempt: number, spec: ScheduleSpec): boolean {
  return (
    lease.recorded !== false ||
    lease.kind !== 'planned' ||
    attempt > 1 ||
    lease.startedAt !== null ||
    spec.runner === 'job'
  );
}

/** The fields that open a run record (merged again, unchanged, by a later write). */
function runBase(subject: Subject, lease: Lease, lane: Lane | null, expireAt?: number): RunFields {
  return {
    scheduleId: subject.id,
    leaseId: lease.id,
    kind: lease.kind,
    lane,
    dueAt: lease.dueAt,
    attempt: lease.attempt,
    ...(lease.startedAt === null ? {} : { firstStartedAt: lease.startedAt }),
    ...(expireAt === undefined ? {} : { expireAt }),
  };
}

/**
 * A failure's run record: its own fields, and the record's opening fields if the run had none
 * yet (a first attempt under `runHistory: "failures"`).
 */
function failedRun(
  subject: Subject,
  lease: Lease,
  fields: RunFields,
  expireAt: number | undefined,
): RunFields {
  return lease.recorded === false
    ? { ...runBase(subject, lease, subject.state.lane, expireAt), ...fields }
    : fields;
}

export type ResumeOutcome =
  | Extract<StartOutcome, { kind: 'started' }>
  | { kind: 'missing' }
  /** The attempt no longer holds its lease, or the lease lapsed: nothing may be called. */
  | { kind: 'lost' }
  | { kind: 'invalid'; problems: string[] }
  | { kind: 'paused' };

/**
 * A job execution takes up the attempt a worker handed to it (`runner: "job"`): if the attempt
 * (`handedAttemptId`) still holds its lease and the lease has not lapsed, the execution makes it
 * its own — the attempt's token becomes `attemptId`, the lease runs to `now + leaseMs` — and it
 * gets what the call needs, as `start` gave. The token changes hands so that exactly one process
 * holds the attempt: the worker (whose launch call may have failed although the execution
 * started) can no longer hold it for a retry or release it, and a second execution of the same
 * hand-off (a task retry) finds it gone. A lapsed lease may already be claimed again, so it is
 * never taken up. A schedule paused or made invalid since the hand-off ends the lease as `start`
 * would, and nothing is called.
 */
export function resume(
  subject: Subject | null,
  request: AttemptRef & { handedAttemptId: string; leaseMs: number; thresholds: LaneThresholds },
  now: number,
): Decision<ResumeOutcome> {
  if (subject === null) return decision({ kind: 'missing' });
  const lease = runsAttempt(subject.state, {
    leaseId: request.leaseId,
    attemptId: request.handedAttemptId,
  });
  if (lease === null || lease.until <= now) return decision({ kind: 'lost' });
  const { state } = subject;
  const runnable = runnableUnder(plannedValidation(subject), lease, now);
  if ('ended' in runnable) return runnable.ended;
  const { spec } = runnable;
  const running: Lease = {
    ...lease,
    attemptId: request.attemptId,
    until: now + request.leaseMs,
    renewedAt: now,
  };
  const lane = plannedLane(state, spec, now, request.thresholds);
  return decision(
    {
      kind: 'started',
      spec,
      attempt: lease.attempt,
      dueAt: lease.dueAt,
      lane,
      leaseKind: lease.kind,
      until: running.until,
      startedAt: now,
    },
    {
      state: heldFields(state, spec, running, now, request.thresholds),
      run: { leaseId: lease.id, fields: { lastStartedAt: now } },
    },
  );
}

/**
 * Extends a running attempt's lease to `now + leaseMs` (and `nextDueAt` with it), if the lease
 * and the attempt are still its own and the lease has not lapsed: a lapsed lease may already be
 * claimed again, so it is never extended.
 */
export function renew(
  subject: Subject | null,
  request: AttemptRef & { leaseMs: number; thresholds: LaneThresholds },
  now: number,
): Decision<{ kind: 'renewed'; until: number } | { kind: 'lost' }> {
  const lease = subject === null ? null : runsAttempt(subject.state, request);
  if (subject === null || lease === null || lease.until <= now) return decision({ kind: 'lost' });
  const renewed: Lease = { ...lease, until: now + request.leaseMs, renewedAt: now };
  const spec = subject.validation.ok ? subject.validation.spec : null;
  return decision(
    { kind: 'renewed', until: renewed.until },
    { state: heldFields(subject.state, spec, renewed, now, request.thresholds) },
  );
}

export type CompleteOutcome =
  { kind: 'completed'; nextDueAt: number | null; status: ScheduleStatus } | { kind: 'lost' };

/**
 * Completes a successful run, if the attempt still holds its lease: records it, ends the lease
 * and plans the next point from the point served (not from now, so nothing drifts) under the
 * schedule's current spec.
 */
export function complete(
  subject: Subject | null,
  request: AttemptRef & {
    startedAt: number;
    thresholds: LaneThresholds;
    detail?: Record<string, unknown>;
  },
  now: number,
): Decision<CompleteOutcome> {
  const lease = subject === null ? null : runsAttempt(subject.state, request);
  if (subject !== null && lease === null && completedBy(subject.state, request)) {
    // This completion landed already (its answer was lost): nothing more to write.
    const { state } = subject;
    return decision({
      kind: 'completed',
      nextDueAt: state.nextDueAt,
      status: state.status ?? 'active',
    });
  }
  if (subject === null || lease === null) return decision({ kind: 'lost' });
  const { state } = subject;
  const after = afterLease(subject, lease, now, request.thresholds);
  const run: RunPatch = {
    leaseId: lease.id,
    fields: {
      status: 'succeeded',
      attempt: lease.attempt,
      finishedAt: now,
      durationMs: now - request.startedAt,
      lateMs: request.startedAt - lease.dueAt,
      ...(request.detail ? { detail: request.detail } : {}),
    },
  };
  return decision(
    { kind: 'completed', nextDueAt: after.nextDueAt, status: after.status },
    {
      state: {
        ...after.fields,
        lastLeaseId: lease.id,
        lastRunAt: request.startedAt,
        lastSuccessAt: now,
        lastDurationMs: now - request.startedAt,
        lastError: null,
        consecutiveFailures: 0,
        consecutiveDeadLetters: 0,
        runCount: state.runCount + 1,
        health: 'ok',
        // A run without a record (`runHistory: "failures"`) succeeded at once: none is written,
        // and the schedule remembers between which points its history has gaps (for backfills
        // and `explain`; after the last, with `runHistory` back to `all`, every run has one).
        ...(lease.recorded === false
          ? {
              unrecordedFrom: Math.min(state.unrecordedFrom ?? lease.dueAt, lease.dueAt),
              unrecordedUntil: Math.max(state.unrecordedUntil ?? lease.dueAt, lease.dueAt),
            }
          : {}),
      },
      ...(lease.recorded === false ? {} : { run }),
    },
  );
}

/** Whether the state is what completing this attempt's run wrote (and nothing since ended it). */
function completedBy(
  state: ScheduleState,
  request: { leaseId: string; startedAt: number },
): boolean {
  return (
    state.lastLeaseId === request.leaseId &&
    state.lastRunAt === request.startedAt &&
    state.lease?.id !== request.leaseId
  );
}

/**
 * Records a failed attempt that Pub/Sub will retry and holds the lease until `now + holdMs`
 * (past the longest retry backoff), so the planner leaves the schedule to the redelivery. If the
 * redelivery comes later than that, the planner claims again and the attempts carry over.
 */
export function holdForRetry(
  subject: Subject | null,
  request: AttemptRef & {
    holdMs: number;
    error: { code: string; message: string };
    thresholds: LaneThresholds;
    expireAt?: number;
  },
  now: number,
): Decision<'held' | 'lost'> {
  return holdAttempt(subject, request, now, (lease, lastError, state) => ({
    lease: { ...lease, until: now + request.holdMs, running: false },
    state: { consecutiveFailures: state.consecutiveFailures + 1 },
    run: { status: 'retrying', attempt: lease.attempt, lastError },
  }));
}

/**
 * A target refused the attempt for its rate limit (429 or 503 with `Retry-After`): the attempt
 * is given back (it does not count toward dead-lettering), and the schedule is held, not
 * running, until `until`, when the planner dispatches it again (its attempts carried over, the
 * point owed kept). The hold takes a lease of its own (`holdLeaseId`), so a late redelivery of
 * the refused message is stale and calls nothing before then.
 */
export function holdForRateLimit(
  subject: Subject | null,
  request: AttemptRef & {
    holdLeaseId: string;
    until: number;
    error: { code: string; message: string };
    thresholds: LaneThresholds;
    expireAt?: number;
  },
  now: number,
): Decision<'held' | 'lost'> {
  return holdAttempt(subject, request, now, (lease, lastError) => ({
    lease: {
      ...lease,
      id: request.holdLeaseId,
      attempt: Math.max(0, lease.attempt - 1),
      until: Math.max(now, request.until),
      running: false,
      attemptId: null,
    },
    state: {},
    run: { status: 'rate_limited', attempt: lease.attempt, lastError, finishedAt: now },
  }));
}

/**
 * Holds the schedule after its running attempt failed, if the attempt still runs under its
 * lease (else `lost`): `hold` says the lease to hold it with, what else of the state changes,
 * and the run record's fields; the error is kept as `lastError` and appended to the run's.
 */
function holdAttempt(
  subject: Subject | null,
  request: AttemptRef & {
    error: { code: string; message: string };
    thresholds: LaneThresholds;
    /** When a run record opened by this failure expires. */
    expireAt?: number;
  },
  now: number,
  hold: (
    lease: Lease,
    lastError: LastError,
    state: ScheduleState,
  ) => { lease: Lease; state: Partial<ScheduleState>; run: RunFields },
): Decision<'held' | 'lost'> {
  const lease = subject === null ? null : runsAttempt(subject.state, request);
  if (subject === null || lease === null) return decision('lost');
  const lastError = { ...request.error, at: now };
  const held = hold(lease, lastError, subject.state);
  const spec = subject.validation.ok ? subject.validation.spec : null;
  return decision('held', {
    state: {
      ...heldFields(
        subject.state,
        spec,
        { ...held.lease, recorded: true },
        now,
        request.thresholds,
      ),
      lastError,
      ...held.state,
    },
    run: {
      leaseId: lease.id,
      fields: failedRun(subject, lease, held.run, request.expireAt),
      appendError: { attempt: lease.attempt, ...lastError },
    },
  });
}

/**
 * `paused_by_failures`: released, and the dead letter was the schedule's `pauseAfterFailures`-th
 * in a row, so it is paused (`health: paused_by_failures`) until an operator resumes it.
 */
export type ReleaseOutcome = 'released' | 'paused_by_failures' | 'not_held' | 'running' | 'missing';

/**
 * Ends a lease whose message was dead-lettered, if it is still that lease: the schedule goes on
 * with its cadence after the point given up on, marked failing; redeliveries of the message are
 * then duplicates. With `attemptId`, only if that attempt still holds the lease. Without it (a
 * message dead-lettered with no attempt running: attempts exhausted at start, Pub/Sub's delivery
 * limit), never while an attempt of the lease runs and its lease holds: cutting it short would
 * let the planner dispatch beside a running call.
 */
export function release(
  subject: Subject | null,
  request: {
    leaseId: string;
    attemptId?: string | undefined;
    reason: string;
    error: { code: string; message: string } | null;
    thresholds: LaneThresholds;
    /** When a run record opened by this release expires. */
    expireAt?: number;
  },
  now: number,
): Decision<ReleaseOutcome> {
  if (subject === null) return decision('missing');
  const { state } = subject;
  const lease = state.lease;
  if (lease?.id !== request.leaseId) return decision('not_held');
  if (request.attemptId !== undefined && lease.attemptId !== request.attemptId) {
    return decision('not_held');
  }
  if (request.attemptId === undefined && lease.running && lease.until > now) {
    return decision('running');
  }
  const after = afterLease(subject, lease, now, request.thresholds);
  const deadLetters = state.consecutiveDeadLetters + 1;
  const limit = subject.validation.ok ? subject.validation.spec.pauseAfterFailures : undefined;
  // `pauseAfterFailures` dead letters in a row: out of planning until an operator resumes it.
  const pauses = limit !== undefined && deadLetters >= limit && after.status === 'active';
  return decision(pauses ? 'paused_by_failures' : 'released', {
    state: {
      ...after.fields,
      ...(pauses
        ? {
            status: 'paused' as const,
            nextDueAt: null,
            escalatesAt: null,
            pause: {
              cause: 'failures' as const,
              by: 'pacer',
              at: now,
              reason: `${deadLetters} consecutive dead letters (pauseAfterFailures: ${limit})`,
            },
          }
        : {}),
      lastLeaseId: lease.id,
      health: pauses ? 'paused_by_failures' : 'failing',
      consecutiveDeadLetters: deadLetters,
      consecutiveFailures: state.consecutiveFailures + 1,
      ...(request.error ? { lastError: { ...request.error, at: now } } : {}),
    },
    run: {
      leaseId: lease.id,
      fields: failedRun(
        subject,
        lease,
        {
          status: 'dead_lettered',
          reason: request.reason,
          finishedAt: now,
          ...(request.error ? { lastError: request.error } : {}),
        },
        request.expireAt,
      ),
    },
  });
}

// ---------------------------------------------------------------------------------------------
// Replays of dead letters.

/** What a replay needs of a dead letter. */
export interface LetterView {
  scheduleId: string | null;
  dueAt: number | null;
  lane: Lane | null;
}

export type ReplayClaimOutcome =
  | { kind: 'claimed'; scheduleId: string; lane: Lane; dueAt: number; previous: ClaimUndo }
  | { kind: 'not_found' }
  | { kind: 'not_replayable'; reason: string }
  | { kind: 'schedule_missing'; scheduleId: string }
  | { kind: 'in_flight'; leaseId: string };

/**
 * Claims a dead letter's schedule to serve the letter's point again: a replay lease (unless a
 * live lease holds the schedule), remembering where the schedule's own cadence stands, so that
 * the replay's end neither rewinds it nor repeats points served since.
 */
export function claimReplay(
  letter: LetterView | null,
  subject: Subject | null,
  request: { leaseId: string; graceMs: number; thresholds: LaneThresholds },
  now: number,
): Decision<ReplayClaimOutcome> {
  if (letter === null) return decision({ kind: 'not_found' });
  if (letter.scheduleId === null) {
    return decision({
      kind: 'not_replayable',
      reason: 'it names no schedule (the message was malformed)',
    });
  }
  if (subject === null)
    return decision({ kind: 'schedule_missing', scheduleId: letter.scheduleId });
  const { state, validation } = subject;
  const live = liveLease(state, now);
  if (live !== null) return decision({ kind: 'in_flight', leaseId: live.id });
  const own = owedSince(state);
  if (!validation.ok || state.status !== 'active' || own === null) {
    const status = validation.ok ? (state.status ?? 'not planned yet') : 'invalid';
    return decision({
      kind: 'not_replayable',
      reason: `schedule ${letter.scheduleId} is ${status}`,
    });
  }
  const spec = validation.spec;
  const lane =
    state.lane ?? letter.lane ?? laneAt(spec.cadence, spec.lane, now, request.thresholds);
  const dueAt = letter.dueAt ?? own;
  const lease = freshLease({
    id: request.leaseId,
    kind: 'replay',
    until: now + request.graceMs,
    attempt: 0,
    dueAt,
    owedSince: own,
    now,
  });
  return decision(
    {
      kind: 'claimed',
      scheduleId: letter.scheduleId,
      lane,
      dueAt,
      previous: claimUndo(state),
    },
    { state: { ...heldFields(state, spec, lease, now, request.thresholds), lane } },
  );
}

/**
 * Gives a replay claim back (its message could not be published), unless an attempt has started
 * under it: then the message did go out after all.
 */
export function unclaimReplay(
  subject: Subject | null,
  request: { leaseId: string; previous: ClaimUndo },
): Decision<'reverted' | 'started' | 'gone'> {
  const lease = subject?.state.lease ?? null;
  if (lease?.id !== request.leaseId) return decision('gone');
  if (lease.attempt > 0 || lease.running) return decision('started');
  return decision('reverted', unclaim(request.previous));
}

// ---------------------------------------------------------------------------------------------
// The reconciler: from what the operator wrote to the state pacer plans with.

export type ReconcileOutcome =
  | { kind: 'missing'; status: null }
  | { kind: 'unchanged'; status: ScheduleStatus | null }
  | { kind: 'invalid'; status: 'invalid'; problems: string[] }
  | { kind: 'paused'; status: 'paused' }
  | { kind: 'finished'; status: 'finished' }
  | { kind: 'scheduled'; status: 'active'; nextDueAt: number; lane: Lane }
  /** The spec changed while a lease holds: the attempt goes on, planning follows at its end. */
  | { kind: 'in_flight'; status: ScheduleStatus; leaseId: string };

/**
 * Reconciles a schedule document at the store's `now`:
 * - invalid → `status: invalid` with every problem; paused when `enabled: false`;
 * - a live lease is never touched: the status follows the document, `nextDueAt` stays the
 *   lease's end (so nothing is stuck if it is resumed before the lease ends), and the attempt's
 *   end plans under the new spec;
 * - otherwise planned from the last point served under the (new) spec — and a point owed stays
 *   owed: an edit never moves a schedule that is due past now;
 * - unchanged and consistent → nothing written (the reconciler's trigger fires on its own
 *   writes too; this is what stops the loop).
 */
export function reconcile(
  subject: Subject | null,
  now: number,
  thresholds: LaneThresholds,
  options: { force?: boolean } = {},
): Decision<ReconcileOutcome> {
  if (subject === null) return decision({ kind: 'missing', status: null });
  const { state } = subject;
  const validation = plannedValidation(subject);
  const hash = specHash(subject.data);
  const changed = options.force === true || state.specHash !== hash;
  const live = liveLease(state, now);

  if (!validation.ok) {
    const error = problemText(validation.problems);
    const settled = live === null ? state.nextDueAt === null : state.nextDueAt === live.until;
    if (!changed && state.status === 'invalid' && state.error === error && settled) {
      return decision({ kind: 'unchanged', status: 'invalid' });
    }
    return decision(
      { kind: 'invalid', status: 'invalid', problems: validation.problems },
      {
        state: {
          ...invalidFields(validation.problems),
          specHash: hash,
          ...(live === null ? { lease: null } : { nextDueAt: live.until }),
        },
      },
    );
  }

  const spec = validation.spec;
  const wanted: ScheduleStatus = spec.enabled ? 'active' : 'paused';
  // An operator's pause note lasts while the schedule is disabled: enabled again, it goes.
  const staleNote = spec.enabled && state.pause?.cause === 'operator';
  const noteFields: Partial<ScheduleState> = staleNote ? { pause: null } : {};
  if (live !== null) {
    const status = state.status === 'finished' ? 'finished' : wanted;
    if (!changed && !staleNote && state.status === status && state.nextDueAt === live.until) {
      return decision({ kind: 'unchanged', status: state.status });
    }
    return decision(
      { kind: 'in_flight', status, leaseId: live.id },
      { state: { status, error: null, specHash: hash, nextDueAt: live.until, ...noteFields } },
    );
  }
  if (!changed && !staleNote && consistent(state, spec.enabled)) {
    return decision({ kind: 'unchanged', status: state.status });
  }

  const next = ahead(spec, state.dueAt, now, thresholds);
  // A point owed stays owed across an edit: the schedule is due since then, and its next run
  // serves the latest point of the new cadence (or that point, if the new one has none since).
  const owed = state.status === 'active' ? owedSince(state) : null;
  const keepsOwed = next.status === 'active' && owed !== null && owed <= now;
  const planned: Ahead = keepsOwed
    ? { status: 'active', ...plannedAt(spec, Math.min(owed, next.nextDueAt), thresholds) }
    : next;
  const common: Partial<ScheduleState> = {
    ...aheadFields(planned),
    error: null,
    specHash: hash,
    ...noteFields,
    // A lapsed lease stays while its point is owed (its attempts carry over); otherwise it goes.
    ...(keepsOwed ? {} : { lease: null }),
  };
  switch (planned.status) {
    case 'paused':
      return decision({ kind: 'paused', status: 'paused' }, { state: common });
    case 'finished':
      return decision({ kind: 'finished', status: 'finished' }, { state: common });
    case 'active':
      return decision(
        {
          kind: 'scheduled',
          status: 'active',
          nextDueAt: planned.nextDueAt,
          lane: planned.lane,
        },
        { state: { ...common, ...(state.health === null ? { health: 'ok' } : {}) } },
      );
  }
}

/** Whether the state already says what the spec means (no live lease). */
function consistent(state: ScheduleState, enabled: boolean): boolean {
  if (!enabled) return state.status === 'paused' && state.nextDueAt === null;
  // Planned means findable: a due time and a lane (the due query's index).
  if (state.status === 'active') return state.nextDueAt !== null && state.lane !== null;
  return state.status === 'finished' && state.nextDueAt === null;
}

// ---------------------------------------------------------------------------------------------
// Escalation: a waiting schedule that became more urgent moves to the lane in force.

export type EscalateOutcome =
  | { kind: 'escalated'; from: Lane | null; to: Lane }
  | { kind: 'not_due' }
  | { kind: 'invalid'; problems: string[] };

/**
 * Moves a schedule still waiting past its escalation point into the lane in force now, with its
 * next escalation point. One that no longer validates leaves the escalation query as invalid.
 */
export function escalate(
  subject: Subject,
  now: number,
  thresholds: LaneThresholds,
): Decision<EscalateOutcome> {
  const { state, validation } = subject;
  if (state.escalatesAt === null || state.escalatesAt > now || liveLease(state, now) !== null) {
    return decision({ kind: 'not_due' });
  }
  if (!validation.ok) {
    return decision(
      { kind: 'invalid', problems: validation.problems },
      { state: { ...invalidFields(validation.problems), lease: null } },
    );
  }
  const { cadence, lane: explicit } = validation.spec;
  const to = laneAt(cadence, explicit, now, thresholds);
  return decision(
    { kind: 'escalated', from: state.lane, to },
    { state: { lane: to, escalatesAt: escalatesAt(cadence, explicit, now, to, thresholds) } },
  );
}

// ---------------------------------------------------------------------------------------------
// Helpers.

/** Whether `leaseId` holds the schedule (`ours`, with the lease), and if not, why not. */
function heldBy(
  state: ScheduleState,
  leaseId: string,
):
  | { kind: 'ours'; lease: Lease }
  | { kind: 'duplicate' }
  | { kind: 'stale'; currentLeaseId: string | null } {
  if (state.lease?.id === leaseId) return { kind: 'ours', lease: state.lease };
  if (state.lastLeaseId === leaseId) return { kind: 'duplicate' };
  return { kind: 'stale', currentLeaseId: state.lease?.id ?? null };
}

/** The lease, if the attempt still runs under it (nobody took it over or claimed again). */
function runsAttempt(state: ScheduleState, attempt: AttemptRef): Lease | null {
  const lease = state.lease;
  return lease?.id === attempt.leaseId && lease.attemptId === attempt.attemptId && lease.running
    ? lease
    : null;
}

/**
 * Whether an attempt may run under `lease` (`start`, `resume`): the schedule's spec, or the
 * decision that ends the lease because the schedule no longer validates or is paused — nothing
 * is called, and a paused schedule has no due time until it is resumed.
 */
function runnableUnder(
  validation: Subject['validation'],
  lease: Lease,
  now: number,
):
  | { spec: ScheduleSpec }
  | { ended: Decision<{ kind: 'invalid'; problems: string[] } | { kind: 'paused' }> } {
  if (!validation.ok) {
    return {
      ended: decision(
        { kind: 'invalid', problems: validation.problems },
        {
          state: { ...invalidFields(validation.problems), lease: null, lastLeaseId: lease.id },
          ...abandoned(lease, now, 'invalid'),
        },
      ),
    };
  }
  if (!validation.spec.enabled) {
    return {
      ended: decision(
        { kind: 'paused' },
        {
          state: {
            status: 'paused',
            nextDueAt: null,
            escalatesAt: null,
            lease: null,
            lastLeaseId: lease.id,
          },
          ...abandoned(lease, now, 'paused'),
        },
      ),
    };
  }
  return { spec: validation.spec };
}

/**
 * The run record of a lease that ended without an attempt (paused, invalid), if it has one (a
 * planned lease never started under `runHistory: "failures"` has none, and gets none).
 */
function abandoned(lease: Lease, now: number, reason: string): Pick<Patch, 'run'> {
  if (lease.recorded === false) return {};
  const fields: RunFields = { status: 'abandoned', reason, finishedAt: now };
  return { run: { leaseId: lease.id, fields } };
}

const hashes = new WeakMap<object, string>();

/**
 * What the cadence engine means by a document's fields, hashed with them: a release that changes
 * it (`spread-1`: spread due points) changes every schedule's hash, so the reconciler re-plans
 * each one (`pacer schedules reconcile --all`, or the next write) instead of calling it unchanged.
 */
export const CADENCE_SEMANTICS = 'spread-1';

/**
 * A hash of the operator-written fields (everything but `state`), independent of key order and
 * of how a time was written (Timestamp or Date), and of {@link CADENCE_SEMANTICS}. Remembered
 * per document object.
 */
export function specHash(data: Readonly<Record<string, unknown>>): string {
  const known = hashes.get(data);
  if (known !== undefined) return known;
  const operatorFields = Object.fromEntries(
    Object.entries(data).filter(([key]) => key !== STATE_FIELD),
  );
  const hash = createHash('sha256')
    .update(`${CADENCE_SEMANTICS}\n`)
    .update(canonicalJson(operatorFields))
    .digest('hex')
    .slice(0, 32);
  hashes.set(data, hash);
  return hash;
}

/**
 * JSON of a document's value that does not depend on key order or on how a time was written, and
 * that never recurses into what Firestore's own types hold (a reference carries its client).
 */
function canonicalJson(value: unknown, depth = 0): string {
  if (depth > 40) return '"$deep"';
  if (isTimestampLike(value)) return JSON.stringify({ $time: value.toMillis() });
  if (value instanceof Date) return JSON.stringify({ $time: value.getTime() });
  if (value instanceof Uint8Array) {
    return JSON.stringify({ $bytes: Buffer.from(value).toString('base64') });
  }
  if (Array.isArray(value))
    return `[${value.map((item) => canonicalJson(item, depth + 1)).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const prototype = Object.getPrototypeOf(value) as unknown;
    if (prototype !== Object.prototype && prototype !== null) return firestoreValueJson(value);
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v, depth + 1)}`).join(',')}}`;
  }
  if (typeof value === 'number' && !Number.isFinite(value))
    return JSON.stringify({ $number: String(value) });
  // undefined for values JSON cannot hold (functions): those hash as null
  const text = JSON.stringify(value) as string | undefined;
  return text ?? 'null';
}

/** A Firestore value that is not a map: a reference, a geo point, a vector, or another class. */
function firestoreValueJson(value: object): string {
  const fields = value as Record<string, unknown>;
  if (typeof fields.path === 'string' && 'firestore' in fields) {
    return JSON.stringify({ $ref: fields.path });
  }
  if (typeof fields.latitude === 'number' && typeof fields.longitude === 'number') {
    return JSON.stringify({ $geo: [fields.latitude, fields.longitude] });
  }
  if (typeof fields.toArray === 'function') {
    const array = (fields.toArray as () => unknown)();
    return JSON.stringify({ $vector: Array.isArray(array) ? array : null });
  }
  return JSON.stringify({ $type: value.constructor.name });
}
