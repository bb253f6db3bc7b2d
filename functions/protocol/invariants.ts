/**
 * What the lease protocol promises, as code. The protocol checker (infra/check/) feeds a
 * {@link ProtocolMonitor} every write to a schedule, every call of a target and every step of a
 * random history, and stops at the first violation:
 *
 * 1. `overlap` — never two calls of one schedule's target in flight at once (a call counts until
 *    its caller could know it ended; an aborted call until its abort, a crashed one until the
 *    crash);
 * 2. `owed` — every owed due point is served, coalesced into a later served point, skipped by a
 *    catch-up rule or dead-lettered with a record: never silently gone;
 * 3. `stuck` — an active schedule always has a due time (while a lease holds it, the lease's end);
 * 4. `inactive` — a paused, invalid or deleted schedule starts no new call, and no call is made
 *    without an attempt started for it. Judged against the spec the decision saw (pacer's copy
 *    of the operator's fields): an operator's pause or deletion counts once it is reconciled;
 * 5. `lease` — while a lease holds, `nextDueAt` is not before its end;
 * 6. `attempts` — a target that keeps failing reaches a dead letter: never more failed calls in a
 *    row than the attempt limit within one series of leases (planned leases that replace each
 *    other as they lapse; a replay is a series of its own), however its messages are delivered;
 * 7. `paused` — a schedule with `pauseAfterFailures: N` is paused by its N-th dead letter in a
 *    row, and a schedule pacer paused after failures is never claimed (dispatched) nor started
 *    again until it is resumed.
 * 8. `operator` — a run an operator asks for (`manual`, `backfill`) is dispatched only to an
 *    active, valid, enabled schedule, and a backfill never dispatches a point that already has a
 *    successful run.
 * 9. `early` — an attempt of a planned lease starts at its due point or later, by the store's
 *    time: a point claimed ahead (dispatch ahead) waits for its point.
 * 10. `escalation` — a schedule in the high lane has no escalation point: only the medium and
 *    low lanes escalate, and the planner looks for escalations in those two lanes alone.
 *
 * Pure: the monitor keeps what it has seen and answers with violations; it never reads a clock.
 */
import { iso } from '../schedule/time.js';
import { DEPLOYED, validateSchedule, type ValidationContext } from '../schedule/spec.js';
import type { Patch } from './patch.js';
import { liveLease, owedSince, pausedByFailures, type ScheduleState } from './state.js';

export type InvariantName =
  | 'overlap'
  | 'owed'
  | 'stuck'
  | 'inactive'
  | 'lease'
  | 'attempts'
  | 'paused'
  | 'operator'
  | 'early'
  | 'escalation'
  /** Provider rate limits (functions/ratelimit/invariants.ts). */
  | 'rate'
  | 'blocked';

export interface Violation {
  invariant: InvariantName;
  scheduleId: string;
  at: number;
  message: string;
}

/** A write to a schedule, with the states around it (`after: null`: deleted). */
export interface ObservedWrite {
  id: string;
  before: ScheduleState | null;
  after: ScheduleState | null;
  /** The operator's fields the write was decided with (a protocol write: pacer's spec copy). */
  data: Readonly<Record<string, unknown>> | null;
  patch: Patch | null;
  at: number;
  /** When the write was decided (a transaction's read time); what was owed is judged then. */
  decidedAt: number;
}

/** A call of a schedule's target. */
export interface ObservedCall {
  scheduleId: string;
  leaseId: string;
  attempt: number;
  start: number;
  /** `null` while in flight. */
  end: number | null;
  outcome: string | null;
}

export class ProtocolMonitor {
  /** Calls in flight, by schedule. */
  private readonly inFlight = new Map<string, ObservedCall[]>();
  /** Attempts started (`scheduleId/leaseId/attempt`), with whether the schedule was active. */
  private readonly started = new Map<string, boolean>();
  /** Failed calls in a row in the schedule's current series of leases, and when it began. */
  private readonly failedInARow = new Map<string, { count: number; since: number }>();

  /**
   * @param maxAttempts the attempt limit the workers apply
   * @param validation what schedules are judged against (the handlers that exist)
   */
  constructor(
    private readonly maxAttempts: number,
    private readonly validation: ValidationContext = DEPLOYED,
  ) {}

  /** Due points with a successful run, by schedule. */
  private readonly served = new Map<string, Set<number>>();

  /** A write landed. */
  write(write: ObservedWrite): Violation[] {
    const violations: Violation[] = [...this.operatorRun(write)];
    const owed = owedPointDropped(write);
    if (owed !== null) violations.push(owed);
    violations.push(...this.pausedByFailures(write));
    const { before, after } = write;
    // An attempt started: the schedule must be active, valid and enabled right then.
    const lease = after?.lease ?? null;
    if (
      lease !== null &&
      lease.running &&
      lease.attemptId !== null &&
      lease.attemptId !== before?.lease?.attemptId
    ) {
      const validation = write.data === null ? null : validateSchedule(write.data, this.validation);
      const active = validation?.ok === true && validation.spec.enabled;
      this.started.set(attemptKey(write.id, lease.id, lease.attempt), active);
      if (lease.kind === 'planned' && write.decidedAt < lease.dueAt) {
        violations.push({
          invariant: 'early',
          scheduleId: write.id,
          at: write.at,
          message: `attempt ${lease.attempt} of lease ${lease.id} started ${lease.dueAt - write.decidedAt} ms before its point ${iso(lease.dueAt)}`,
        });
      }
      if (!active) {
        violations.push({
          invariant: 'inactive',
          scheduleId: write.id,
          at: write.at,
          message: `attempt ${lease.attempt} of lease ${lease.id} started on a ${validation === null ? 'deleted' : validation.ok ? 'paused' : 'invalid'} schedule`,
        });
      }
    }
    // The lease ended (completed, released, or taken away by a change), or another series of
    // leases begins (a replay serves a dead letter's point; after it, the schedule's own points
    // again): the run of failures starts again. Only a planned lease that replaces a lapsed
    // planned lease carries its failures on.
    const from = before?.lease ?? null;
    const to = after?.lease ?? null;
    const carried =
      from !== null &&
      to !== null &&
      (to.id === from.id || (to.kind === 'planned' && from.kind === 'planned'));
    if (from !== null && !carried) this.failedInARow.set(write.id, { count: 0, since: write.at });
    return violations;
  }

  /** The `paused` invariant on one write. */
  private pausedByFailures(write: ObservedWrite): Violation[] {
    const { before, after } = write;
    const violations: Violation[] = [];
    const lease = after?.lease ?? null;
    if (before !== null && pausedByFailures(before) && lease !== null) {
      const claimed = lease.id !== before.lease?.id;
      const started = lease.running && lease.attemptId !== before.lease?.attemptId;
      if (claimed || started) {
        violations.push({
          invariant: 'paused',
          scheduleId: write.id,
          at: write.at,
          message: `lease ${lease.id} was ${claimed ? 'claimed' : 'started'} while the schedule was paused after failures (${before.pause?.reason ?? 'no reason'})`,
        });
      }
    }
    if (after !== null && write.patch?.run?.fields.status === 'dead_lettered' && write.data) {
      const validation = validateSchedule(write.data, this.validation);
      const limit = validation.ok ? validation.spec.pauseAfterFailures : undefined;
      if (
        limit !== undefined &&
        after.consecutiveDeadLetters >= limit &&
        after.status === 'active'
      ) {
        violations.push({
          invariant: 'paused',
          scheduleId: write.id,
          at: write.at,
          message: `${after.consecutiveDeadLetters} dead letters in a row (pauseAfterFailures: ${limit}) and the schedule is still active`,
        });
      }
    }
    return violations;
  }

  /**
   * The `operator` invariant on one write: a `manual` or `backfill` lease is claimed only on an
   * active, valid, enabled schedule, and a backfill lease never serves a point already served.
   */
  private operatorRun(write: ObservedWrite): Violation[] {
    const { before, after } = write;
    // A deleted schedule's run history goes with it: a schedule of the same id starts afresh.
    if (after === null) this.served.delete(write.id);
    const ended = before?.lease ?? null;
    if (ended !== null && completedRun(write)) {
      const points = this.served.get(write.id) ?? new Set<number>();
      points.add(ended.dueAt);
      this.served.set(write.id, points);
    }
    const lease = after?.lease ?? null;
    if (lease === null || lease.id === ended?.id) return [];
    if (lease.kind !== 'manual' && lease.kind !== 'backfill') return [];
    const validation = write.data === null ? null : validateSchedule(write.data, this.validation);
    const violations: Violation[] = [];
    if (before?.status !== 'active' || validation?.ok !== true || !validation.spec.enabled) {
      const disabled = validation?.ok === true && !validation.spec.enabled;
      violations.push({
        invariant: 'operator',
        scheduleId: write.id,
        at: write.at,
        message: `a ${lease.kind} run (lease ${lease.id}) was dispatched to a schedule that is ${before?.status ?? 'new'}${disabled ? ' and disabled' : ''}`,
      });
    }
    if (lease.kind === 'backfill' && this.served.get(write.id)?.has(lease.dueAt) === true) {
      violations.push({
        invariant: 'operator',
        scheduleId: write.id,
        at: write.at,
        message: `a backfill (lease ${lease.id}) dispatched the point ${iso(lease.dueAt)}, which was served already`,
      });
    }
    return violations;
  }

  /** A call of a target starts. */
  callStarted(call: ObservedCall): Violation[] {
    const violations: Violation[] = [];
    const running = (this.inFlight.get(call.scheduleId) ?? []).filter((c) => c.end === null);
    for (const other of running) {
      violations.push({
        invariant: 'overlap',
        scheduleId: call.scheduleId,
        at: call.start,
        message: `a call (lease ${call.leaseId}, attempt ${call.attempt}) started while another (lease ${other.leaseId}, attempt ${other.attempt}, since ${iso(other.start)}) was in flight`,
      });
    }
    this.inFlight.set(call.scheduleId, [...running, call]);
    const key = attemptKey(call.scheduleId, call.leaseId, call.attempt);
    if (!this.started.has(key)) {
      violations.push({
        invariant: 'inactive',
        scheduleId: call.scheduleId,
        at: call.start,
        message: `a call (lease ${call.leaseId}, attempt ${call.attempt}) without an attempt started for it`,
      });
    }
    return violations;
  }

  /** A call of a target ended (or was aborted, or its worker crashed). */
  callEnded(call: ObservedCall): Violation[] {
    // A refusal for the provider's rate limit (429 with Retry-After) is not a failure of the
    // sync: its attempt is given back, and it counts toward no dead letter.
    if (call.outcome === 'rate_limited') return [];
    const series = this.failedInARow.get(call.scheduleId) ?? { count: 0, since: -Infinity };
    // A call started before its series ended (say, the schedule was deleted under it) counts for
    // nothing that follows.
    if (call.start < series.since) return [];
    if (call.outcome === 'success') {
      this.failedInARow.set(call.scheduleId, { count: 0, since: series.since });
      return [];
    }
    const failed = series.count + 1;
    this.failedInARow.set(call.scheduleId, { count: failed, since: series.since });
    if (failed <= this.maxAttempts) return [];
    return [
      {
        invariant: 'attempts',
        scheduleId: call.scheduleId,
        at: call.end ?? call.start,
        message: `${failed} failed calls in a row without a dead letter (the limit is ${this.maxAttempts})`,
      },
    ];
  }

  /** After a step: the state of every schedule at the store's `now`. */
  step(now: number, schedules: Iterable<{ id: string; state: ScheduleState }>): Violation[] {
    const violations: Violation[] = [];
    for (const { id, state } of schedules) {
      if (state.status === 'active' && state.nextDueAt === null) {
        violations.push({
          invariant: 'stuck',
          scheduleId: id,
          at: now,
          message: 'active, with no due time and no lease that lapses',
        });
      }
      const lease = liveLease(state, now);
      if (lease !== null && (state.nextDueAt === null || state.nextDueAt < lease.until)) {
        violations.push({
          invariant: 'lease',
          scheduleId: id,
          at: now,
          message: `lease ${lease.id} holds until ${iso(lease.until)} but nextDueAt is ${state.nextDueAt === null ? 'none' : iso(state.nextDueAt)}`,
        });
      }
      if (state.lane === 'high' && state.escalatesAt !== null) {
        violations.push({
          invariant: 'escalation',
          scheduleId: id,
          at: now,
          message: `in the high lane with an escalation point (${iso(state.escalatesAt)})`,
        });
      }
    }
    return violations;
  }
}

function attemptKey(scheduleId: string, leaseId: string, attempt: number): string {
  return `${scheduleId}/${leaseId}/${attempt}`;
}

/**
 * The `owed` invariant on one write: a schedule that owed a point (`owedSince` at or before the
 * write) still owes it afterwards, or the write says where it went — served (a completion),
 * dead-lettered (a release after a dead letter) or skipped (a cron catch-up rule) — or the
 * schedule stopped being active (paused, invalid, finished, deleted: nothing is owed then).
 */
/**
 * Whether a write completed a run: its run record says so, or — a run with no record
 * (`runHistory: "failures"`) — it ended the lease as the schedule's last, with a new success.
 */
export function completedRun(write: ObservedWrite): boolean {
  if (write.patch?.run?.fields.status === 'succeeded') return true;
  const ended = write.before?.lease ?? null;
  const after = write.after;
  return (
    ended !== null &&
    ended.recorded === false &&
    after !== null &&
    after.lease === null &&
    after.lastLeaseId === ended.id &&
    after.lastSuccessAt !== null &&
    after.runCount === (write.before?.runCount ?? 0) + 1
  );
}

export function owedPointDropped(write: ObservedWrite): Violation | null {
  const { before, after, at } = write;
  if (before?.status !== 'active') return null;
  const owed = owedSince(before);
  if (owed === null || owed > write.decidedAt) return null;
  if (after?.status !== 'active') return null;
  const still = owedSince(after);
  if (still !== null && still <= owed) return null;
  const ended = before.lease;
  const status = write.patch?.run?.fields.status;
  if (ended !== null && (completedRun(write) || status === 'dead_lettered')) {
    if (ended.kind === 'planned' ? ended.dueAt >= owed : false) return null;
  }
  const skipped = after.lastSkippedDueAt;
  if (skipped !== null && skipped !== before.lastSkippedDueAt && skipped >= owed) return null;
  return {
    invariant: 'owed',
    scheduleId: write.id,
    at,
    message: `the point owed since ${iso(owed)} was dropped: owed ${still === null ? 'nothing' : `since ${iso(still)}`} after the write, with no run, dead letter or skip for it`,
  };
}
