/**
 * pacer as built, on the virtual clock: the planner (`functions/planner/tick.ts`) ticks every
 * minute and runs sub-ticks for its tick budget; each sub-tick counts due and in-flight
 * schedules per lane, reads what it may dispatch, plans with the real `plan()`, claims each
 * schedule with a conditional write (a new lease, `nextDueAt = lease.until`) and publishes it
 * to its lane. Workers (as DESIGN.md describes them) take deliveries from their lane's
 * subscription up to the lane's concurrency, count the attempt in the lease, call the target
 * within the provider's shared limit, and complete with the real cadence engine's next due
 * point; retryable failures are redelivered with the lane's backoff and dead-lettered after
 * `maxAttempts`; permanent failures are dead-lettered at once and the schedule goes on.
 */
import type { PerLane, Settings } from '../../../functions/config.js';
import { allocate, perLane, plan, type Candidate } from '../../../functions/planner/plan.js';
import {
  catchUp,
  escalatesAt,
  laneAt,
  nextDueAt,
  owedDueAt,
} from '../../../functions/schedule/cadence.js';
import { LANES } from '../../../functions/schedule/lane.js';
import { escalationWhileHeld } from '../../../functions/store/transitions.js';
import { describeTopology } from '../../../functions/topology.js';
import { LaneSubscription, type Delivery, type PushAnswer } from '../bus.js';
import { VirtualClock } from '../clock.js';
import type { SimSchedule } from '../population.js';
import { stream, type Rng } from '../random.js';
import type {
  DeadLetterReason,
  DeadLetterRecord,
  LanePlannerCounts,
  PlannerCounts,
  RunRecord,
  SyncAttempt,
  UsageCounts,
} from '../record.js';
import type { Outage, Scenario } from '../scenario.js';
import { ScheduleStore, type SimState, type Snapshot } from '../store.js';
import { drawCall } from '../target.js';

/** How long the simulation goes on after the window, so that syncs started in it can finish. */
export const DRAIN_MS = 15 * 60_000;

/** Runs pacer through the scenario and records what happened. */
export function runPacer(scenario: Scenario, schedules: readonly SimSchedule[]): RunRecord {
  return new PacerSimulation(scenario, schedules).run();
}

/** The oldest due point a schedule owes: a lapsed lease still owes the point it was serving. */
export function servedDueAt(state: SimState): number | null {
  if (state.lease !== null && state.dueAt !== null) return state.dueAt;
  return state.nextDueAt;
}

class PacerSimulation {
  private readonly settings: Settings;
  private readonly clock: VirtualClock;
  private readonly rng: Rng;
  private readonly store: ScheduleStore;
  private readonly subscriptions: PerLane<LaneSubscription>;
  private readonly attempts: SyncAttempt[] = [];
  private readonly deadLetters: DeadLetterRecord[] = [];
  private readonly counts: PlannerCounts;
  private readonly usage: UsageCounts = {
    firestoreReads: 0,
    firestoreWrites: 0,
    messagesPublished: 0,
    deliveries: 0,
    invocations: 0,
  };
  private tickRunning = false;
  /** Leases whose attempt is running right now on a live worker (it renews them). */
  private readonly liveLeases = new Set<string>();
  private providerInUse = 0;
  private nextLeaseNumber = 1;
  private readonly begin: number;

  constructor(
    private readonly scenario: Scenario,
    schedules: readonly SimSchedule[],
  ) {
    this.settings = scenario.pacer.settings;
    this.begin = scenario.start - scenario.warmUpMs;
    this.clock = new VirtualClock(this.begin);
    this.rng = stream(scenario.seed, 'pacer');
    this.store = new ScheduleStore(schedules, this.settings.laneThresholds);
    const topology = describeTopology(this.settings);
    this.subscriptions = perLane(
      (lane) =>
        new LaneSubscription(
          this.clock,
          this.rng,
          {
            lane,
            concurrency: scenario.workers[lane],
            retry: topology.lanes[lane].retry,
            deliveryLatencyMs: scenario.pacer.deliveryLatencyMs,
            duplicateRate: scenario.failures.duplicateDelivery,
          },
          (delivery, answer) => {
            this.work(delivery, answer);
          },
        ),
    );
    this.counts = {
      ticks: 0,
      subTicks: 0,
      conflicts: 0,
      staleAcks: 0,
      duplicateAcks: 0,
      skippedCronRuns: 0,
      escalated: 0,
      lanes: perLane((): LanePlannerCounts => ({
        demandSubTicks: 0,
        deferred: 0,
        deferringSubTicks: 0,
        maxDeferred: 0,
        belowReserve: 0,
      })),
    };
  }

  run(): RunRecord {
    // Cloud Scheduler: one tick per minute, a little late by a random amount.
    const firstMinute = Math.ceil(this.begin / 60_000) * 60_000;
    for (let minute = firstMinute; minute < this.scenario.end; minute += 60_000) {
      const at = minute + Math.floor(this.rng() * this.scenario.pacer.tickJitterMs);
      this.clock.at(at, () => {
        this.tick();
      });
    }
    this.clock.runUntil(this.scenario.end + DRAIN_MS);
    this.usage.firestoreReads = this.store.reads;
    this.usage.firestoreWrites = this.store.writes;
    this.usage.deliveries = LANES.reduce(
      (sum, lane) => sum + this.subscriptions[lane].deliveries,
      0,
    );
    return {
      strategy: 'pacer',
      attempts: this.attempts,
      deadLetters: this.deadLetters,
      planner: this.counts,
      usage: this.usage,
    };
  }

  // -------------------------------------------------------------------------------------------
  // The planner.

  private tick(): void {
    const started = this.clock.now();
    if (this.inOutage(started) || started >= this.scenario.end) return;
    this.usage.invocations += 1;
    // The planner lease (a transaction: one read, one write), pacer/config, pacer/stats.
    this.store.reads += 3;
    if (this.tickRunning) return; // busy: another tick holds the planner lease
    this.store.writes += 1;
    this.tickRunning = true;
    this.counts.ticks += 1;
    this.subTick(started, 0);
  }

  private subTick(tickStarted: number, index: number): void {
    const now = this.clock.now();
    if (this.inOutage(now)) {
      this.tickRunning = false; // the planner died with its tick; its lease lapses
      return;
    }
    const { settings } = this;
    this.counts.subTicks += 1;
    // Schedules that became more urgent while they waited move to the lane in force first.
    this.counts.escalated += this.store.escalateDue(now, settings.laneThresholds);
    const scan = this.store.scanDue(now);
    const allowance = allocate(scan.due, scan.inFlight, settings);
    const candidates = perLane((): Candidate[] => []);
    const read = new Map<string, Snapshot>();
    for (const lane of LANES) {
      if (scan.due[lane] === 0) continue;
      for (const snapshot of this.store.readDue(lane, Math.max(1, allowance[lane]))) {
        const candidate = this.screen(snapshot, now);
        if (candidate === null) continue;
        candidates[candidate.lane].push(candidate);
        read.set(snapshot.id, snapshot);
      }
    }
    const decided = plan({ due: scan.due, candidates, inFlight: scan.inFlight, now }, settings);
    this.store.writes += 1; // the sub-tick's summary in pacer/stats

    // The claims land after the planner's own I/O; workers may write in between.
    this.clock.after(this.scenario.pacer.plannerLatencyMs, () => {
      const dispatched = this.claim(decided.dispatch, read, now);
      for (const lane of LANES) {
        const counts = this.counts.lanes[lane];
        const due = decided.lanes[lane].due;
        if (due === 0) continue;
        const deferred = due - dispatched[lane];
        counts.demandSubTicks += 1;
        counts.deferred += deferred;
        if (deferred > 0) counts.deferringSubTicks += 1;
        counts.maxDeferred = Math.max(counts.maxDeferred, deferred);
        const held = scan.inFlight[lane] + dispatched[lane];
        if (held < Math.min(settings.reserved[lane], scan.inFlight[lane] + due)) {
          counts.belowReserve += 1;
        }
      }
      const periodMs = settings.subTickSeconds * 1_000;
      const nextStart = (index + 1) * periodMs;
      if (nextStart >= settings.tickBudgetSeconds * 1_000) {
        this.store.reads += 1; // releasing the planner lease: a transaction
        this.store.writes += 1;
        this.tickRunning = false;
        return;
      }
      this.clock.at(tickStarted + nextStart, () => {
        this.subTick(tickStarted, index + 1);
      });
    });
  }

  /**
   * A due schedule becomes a candidate, queued by the oldest point it owes, unless the point it
   * would serve (the latest owed, missed ones coalesced) is a cron run too old to catch up.
   */
  private screen(snapshot: Snapshot, now: number): Candidate | null {
    const { cadence, lane } = snapshot.schedule.spec;
    const waitingSince = servedDueAt(snapshot.state) ?? now;
    const decision = catchUp(cadence, owedDueAt(cadence, waitingSince, now), now);
    if (decision.run) return { id: snapshot.id, dueAt: waitingSince, lane: snapshot.state.lane };
    const thresholds = this.settings.laneThresholds;
    const nextLane = laneAt(cadence, lane, decision.nextDueAt, thresholds);
    const outcome = this.store.write(snapshot.id, snapshot.version, {
      nextDueAt: decision.nextDueAt,
      lane: nextLane,
      lease: null,
      escalatesAt: escalatesAt(cadence, lane, decision.nextDueAt, nextLane, thresholds),
    });
    if (outcome === 'written') this.counts.skippedCronRuns += 1;
    return null;
  }

  /** Claims each planned schedule with a conditional write, then publishes it. */
  private claim(
    dispatch: readonly Candidate[],
    read: ReadonlyMap<string, Snapshot>,
    subTickAt: number,
  ): PerLane<number> {
    const dispatched = perLane(() => 0);
    const now = this.clock.now();
    if (this.inOutage(now)) return dispatched;
    for (const candidate of dispatch) {
      const snapshot = read.get(candidate.id);
      if (snapshot === undefined) throw new Error(`planned ${candidate.id}, which was not read`);
      // Long enough for a worker to take the message; the worker then holds the lease by
      // heartbeat.
      const until = subTickAt + this.settings.dispatchGraceSeconds * 1_000;
      const leaseId = `lease-${this.nextLeaseNumber++}`;
      const { spec } = snapshot.schedule;
      // The point it serves: the latest one owed when screened, not the oldest it waited for.
      const serves = owedDueAt(spec.cadence, candidate.dueAt, subTickAt);
      const outcome = this.store.write(candidate.id, snapshot.version, {
        lease: {
          id: leaseId,
          until,
          attempt: 0,
          dispatchedAt: subTickAt,
          startedAt: null,
          running: false,
        },
        nextDueAt: until,
        dueAt: serves,
        escalatesAt: escalationWhileHeld(
          spec,
          candidate.lane,
          until,
          subTickAt,
          this.settings.laneThresholds,
        ),
      });
      if (outcome !== 'written') {
        this.counts.conflicts += 1;
        continue;
      }
      dispatched[candidate.lane] += 1;
      this.usage.messagesPublished += 1;
      this.subscriptions[candidate.lane].publish({
        v: 1,
        scheduleId: candidate.id,
        leaseId,
        dueAt: serves,
        lane: candidate.lane,
      });
    }
    return dispatched;
  }

  // -------------------------------------------------------------------------------------------
  // The worker.

  private work(delivery: Delivery, answer: (answer: PushAnswer) => void, takeOver = false): void {
    if (!takeOver) this.usage.invocations += 1;
    const { message } = delivery;
    const started = this.clock.now();
    const { maxAttempts } = this.settings;
    const leaseMs = this.settings.leaseSeconds * 1_000;
    const heartbeatMs = Math.max(1_000, Math.floor(leaseMs / 3));

    // One transaction: is the lease still this message's? Count the attempt, extend the lease.
    type Step =
      | { kind: 'missing' | 'stale' | 'duplicate' | 'running' }
      | { kind: 'exhausted'; schedule: SimSchedule }
      | { kind: 'run'; schedule: SimSchedule; attempt: number; runMs: number };
    const step = this.store.transaction<Step>(message.scheduleId, (current) => {
      if (current === null) return { changes: null, result: { kind: 'missing' } };
      const lease = current.state.lease;
      if (lease?.id !== message.leaseId) {
        const kind = current.state.lastLeaseId === message.leaseId ? 'duplicate' : 'stale';
        return { changes: null, result: { kind } };
      }
      // Another delivery of this message is running, or its worker died (see below).
      if (lease.running && lease.until > started && !takeOver) {
        return { changes: null, result: { kind: 'running' } };
      }
      const attempt = lease.attempt + 1;
      if (attempt > maxAttempts) {
        return {
          changes: this.release(current, message.leaseId, started, false),
          result: { kind: 'exhausted', schedule: current.schedule },
        };
      }
      const runMs =
        (current.schedule.spec.maxRunSeconds ?? this.settings.defaultMaxRunSeconds) * 1_000;
      // The worker renews the lease every third of its length while the sync runs, so it
      // lapses a lease length after the run ends at the latest (the end of a crashed run).
      const until = started + runMs + leaseMs;
      return {
        changes: {
          lease: { ...lease, attempt, startedAt: started, until, running: true },
          nextDueAt: until,
        },
        result: { kind: 'run', schedule: current.schedule, attempt, runMs },
      };
    });

    switch (step.kind) {
      case 'missing':
        answer('ack');
        return;
      case 'stale':
        this.counts.staleAcks += 1;
        answer('ack');
        return;
      case 'duplicate':
        this.counts.duplicateAcks += 1;
        answer('ack');
        return;
      case 'running':
        // Wait one and a half renewal periods: a live copy renews (this one is a duplicate,
        // acked); a dead one does not (this one takes over), as functions/worker/deliver.ts.
        this.clock.after(heartbeatMs * 1.5, () => {
          if (this.liveLeases.has(message.leaseId)) {
            this.counts.duplicateAcks += 1;
            answer('ack');
          } else {
            this.work(delivery, answer, true);
          }
        });
        return;
      case 'exhausted':
        this.deadLetter(message.scheduleId, message.dueAt, 'attempts');
        answer('ack');
        return;
      case 'run':
        break;
    }

    const record = (outcome: SyncAttempt['outcome'], end: number) => {
      this.attempts.push({
        scheduleId: message.scheduleId,
        dueAt: message.dueAt,
        start: started,
        end,
        outcome,
        attempt: step.attempt,
      });
    };

    // The provider's shared limit: a call over it is refused at once (429), a retryable failure.
    const limit = this.scenario.sharedLimit;
    if (limit !== null && this.providerInUse >= limit) {
      record('rejected', started);
      this.keepLeaseForRetry(message.scheduleId, message.leaseId, message.lane);
      answer('nack');
      return;
    }
    this.providerInUse += 1;
    this.liveLeases.add(message.leaseId);
    const call = drawCall(this.rng, this.scenario.syncDuration, this.scenario.failures);
    // A sync that runs past its run time is aborted by the worker's timeout.
    const timedOut = call.durationMs > step.runMs;
    const ranMs = timedOut ? step.runMs : call.durationMs;

    this.clock.after(ranMs, () => {
      const end = this.clock.now();
      this.providerInUse -= 1;
      // The attempt is over (or its worker died): nothing renews the lease any more.
      this.liveLeases.delete(message.leaseId);
      // Renewals every third of the lease while the sync ran: a transaction each.
      const renewals = Math.floor(ranMs / heartbeatMs);
      this.store.reads += renewals;
      this.store.writes += renewals;
      const outcome = timedOut ? 'timeout' : call.outcome;
      record(outcome, end);
      switch (outcome) {
        case 'success':
          this.complete(message.scheduleId, message.leaseId, end);
          answer('ack');
          return;
        case 'retryable':
        case 'timeout':
          this.keepLeaseForRetry(message.scheduleId, message.leaseId, message.lane);
          answer('nack');
          return;
        case 'permanent':
          this.store.transaction(message.scheduleId, (current) => ({
            changes:
              current?.state.lease?.id === message.leaseId
                ? this.release(current, message.leaseId, end, false)
                : null,
            result: null,
          }));
          this.deadLetter(message.scheduleId, message.dueAt, 'permanent');
          answer('ack');
          return;
        case 'crash':
          // The instance died: nothing is written, the push fails, Pub/Sub redelivers.
          answer('nack');
          return;
      }
    });
  }

  /** Success: one transaction, conditional on the lease: next due point, lease cleared. */
  private complete(scheduleId: string, leaseId: string, now: number): void {
    this.store.writes += 1; // the run record, schedules/{id}/runs/{leaseId}
    this.store.transaction(scheduleId, (current) => ({
      changes:
        current?.state.lease?.id === leaseId ? this.release(current, leaseId, now, true) : null,
      result: null,
    }));
  }

  /**
   * The changes that end a lease: the next due point after the one served (from the served
   * point, so no drift; missed points coalesced), the lane in force then, or `finished`.
   */
  private release(current: Snapshot, leaseId: string, now: number, succeeded: boolean) {
    const { cadence, lane } = current.schedule.spec;
    const served = current.state.dueAt ?? now;
    const next = nextDueAt(cadence, served, now);
    const thresholds = this.settings.laneThresholds;
    const nextLane = laneAt(cadence, lane, next ?? now, thresholds);
    const changes: Partial<SimState> = {
      lease: null,
      lastLeaseId: leaseId,
      nextDueAt: next,
      status: next === null ? 'finished' : 'active',
      lane: nextLane,
      escalatesAt: next === null ? null : escalatesAt(cadence, lane, next, nextLane, thresholds),
      runCount: current.state.runCount + (succeeded ? 1 : 0),
      consecutiveFailures: succeeded ? 0 : current.state.consecutiveFailures + 1,
    };
    return changes;
  }

  /** A retryable failure keeps the lease long enough for Pub/Sub's redelivery. */
  private keepLeaseForRetry(scheduleId: string, leaseId: string, lane: keyof PerLane<number>) {
    const now = this.clock.now();
    const retry = describeTopology(this.settings).lanes[lane].retry;
    const until = now + (retry.maximumBackoffSeconds + this.settings.leaseSeconds) * 1_000;
    this.store.transaction(scheduleId, (current) => {
      const lease = current?.state.lease;
      if (current === null || lease?.id !== leaseId) return { changes: null, result: null };
      return {
        changes: {
          lease: { ...lease, until, running: false },
          nextDueAt: until,
          consecutiveFailures: current.state.consecutiveFailures + 1,
        },
        result: null,
      };
    });
  }

  /** The dead-letter path: a message to the dead-letter topic, recorded by its function. */
  private deadLetter(scheduleId: string, dueAt: number, reason: DeadLetterReason): void {
    this.deadLetters.push({ scheduleId, dueAt, at: this.clock.now(), reason });
    this.usage.messagesPublished += 1;
    this.usage.invocations += 1;
    // deadLetters/{id} recorded idempotently and the schedule marked failing: a transaction.
    this.store.reads += 1;
    this.store.writes += 2;
  }

  private inOutage(at: number): boolean {
    return isInOutage(this.scenario.outages, at);
  }
}

/** Whether `at` falls in one of the outages. */
export function isInOutage(outages: readonly Outage[], at: number): boolean {
  return outages.some((outage) => at >= outage.from && at < outage.to);
}
