/**
 * pacer's real code on a virtual clock: the planner's `runTick`, the workers' `handleDelivery`
 * and the dead-letter function's `recordDeadLetter`, unchanged, on the in-memory store and bus.
 * The simulator (./strategies/pacer.ts) and the protocol checker (../check/) build on it; neither
 * decides a lease, an attempt or a completion itself.
 *
 * Every invocation runs in a {@link SimProcess} of its own, which can crash: from then on
 * nothing it waits for answers, its timers never fire, a call of the target it made ends, and
 * the push it was answering fails (Pub/Sub redelivers). Each process has its own clock, which
 * may run ahead or behind; the store keeps the one true time, as Firestore does.
 */
import { pino } from 'pino';
import {
  MemoryDeadLetterBus,
  MemoryDispatchBus,
  MemoryPubSub,
  type BusLink,
  type PushEvent,
} from '../../functions/bus/memory.js';
import type { Clock } from '../../functions/clock.js';
import type { PerLane, Settings } from '../../functions/config.js';
import { recordDeadLetter } from '../../functions/deadletter/record.js';
import { PacerError } from '../../functions/errors.js';
import type { Logger } from '../../functions/log.js';
import { perLane } from '../../functions/planner/plan.js';
import { runTick, type SubTickSummary, type TickResult } from '../../functions/planner/tick.js';
import { LANES, type Lane } from '../../functions/schedule/lane.js';
import { LiveConfig } from '../../functions/store/live-config.js';
import { MemoryStore, type StoreLink } from '../../functions/store/memory.js';
import { WHOLE, type Shard } from '../../functions/schedule/shard.js';
import type { Topology } from '../../functions/topology.js';
import type { SyncContext } from '../../functions/worker/context.js';
import {
  handleDelivery,
  runJobAttempt,
  type DeliveryOutcome,
  type WorkerDeps,
} from '../../functions/worker/deliver.js';
import type { JobAttempt } from '../../functions/job/launcher.js';
import type { ValidationContext } from '../../functions/schedule/spec.js';
import { SIMULATED, SIMULATED_TARGET } from './population.js';
import { VirtualClock } from './clock.js';
import { MemoryRateLimits } from '../../functions/ratelimit/store.js';
import type { ProviderLimiter } from './target.js';

/** How a call of the target goes (drawn by the scenario or scripted by the checker). */
export interface TargetBehaviour {
  durationMs: number;
  /**
   * `crash`: the worker running the call dies `durationMs` into it; `rate_limited`: a 429 with
   * `Retry-After` (seconds in `retryAfterSeconds`, 20 by default) after `durationMs`.
   */
  outcome: 'success' | 'retryable' | 'permanent' | 'crash' | 'rate_limited';
  retryAfterSeconds?: number;
}

export type CallOutcome =
  | 'success'
  | 'retryable'
  | 'permanent'
  | 'crash'
  /** Ran past the schedule's run time. */
  | 'timeout'
  /** Stopped by the worker: its lease was lost or about to lapse. */
  | 'aborted'
  /** Refused at once: the provider's shared limit was full (a 429). */
  | 'rejected'
  /** Refused for the provider's rate limit: a 429 with `Retry-After`. */
  | 'rate_limited';

/** One call of a schedule's target. */
export interface CallRecord {
  scheduleId: string;
  leaseId: string;
  attempt: number;
  dueAt: number;
  start: number;
  /** When the call ended for its caller; `null` while it runs. */
  end: number | null;
  outcome: CallOutcome | null;
  process: number;
}

export interface WorldOptions {
  begin: number;
  settings: Settings;
  topology: Topology;
  /** Pushes each lane's workers take at once. */
  workers: PerLane<number>;
  deliveryLatencyMs: number;
  /** How `process` (or the world itself, `null`) reaches the store: latency, faults. */
  storeLink: (process: SimProcess | null) => StoreLink;
  busLink?: BusLink;
  /** Called when a process starts (the checker schedules its crashes here). */
  onSpawn?: (process: SimProcess) => void;
  /** Called when a call of the target starts (before anything else) and when it ends. */
  onCall?: (call: CallRecord, phase: 'start' | 'end') => void;
  /** How the target answers a call. */
  target: (call: CallRecord) => TargetBehaviour;
  /** The provider's limit on calls in flight across all schedules. */
  sharedLimit: number | null;
  /** The provider's limit on calls per minute and hour: beyond it, 429 with `Retry-After`. */
  providerLimit?: ProviderLimiter;
  /** A new process's clock offset from true time (ms). */
  skew?: () => number;
  /** What schedules are validated against; the simulator's handlers by default. */
  validation?: ValidationContext;
  /** Where the functions log; nowhere by default (a simulation is measured, not read). */
  logger?: Logger;
  /** How long a job execution takes to start after it is accepted (10 s by default). */
  jobStartMs?: number;
  /**
   * How Cloud Run answers a request for a job execution: `accepted`; `refused` (nothing is
   * started); `lost-answer` (the execution is started, but the caller hears an error).
   */
  launchAnswer?: () => 'accepted' | 'refused' | 'lost-answer';
}

/** A count per delivery outcome, all zero ('failed': threw or crashed). */
function outcomeCounts(): Record<DeliveryOutcome | 'failed', number> {
  return {
    completed: 0,
    missing: 0,
    stale: 0,
    duplicate: 0,
    invalid: 0,
    paused: 0,
    lost: 0,
    dead_lettered: 0,
    handed_off: 0,
    retrying: 0,
    rate_limited: 0,
    failed: 0,
  };
}

/** A planner invocation, a worker's push, a dead-letter recording, an operator's command. */
export class SimProcess {
  alive = true;
  readonly clock: Clock;
  private readonly onKill: (() => void)[] = [];

  constructor(
    readonly id: number,
    readonly kind: string,
    private readonly world: World,
    readonly skewMs: number,
  ) {
    const virtual = world.clock;
    const gate = (fn: () => void) => () => {
      if (this.alive) fn();
    };
    this.clock = {
      now: () => virtual.now() + skewMs,
      // A constant skew: the virtual clock never steps.
      monotonic: () => virtual.now(),
      sleep: (ms) =>
        new Promise((resolve) => {
          virtual.after(ms, gate(resolve));
        }),
      after: (ms, fn) => virtual.after(ms, gate(fn)),
      every: (ms, fn) => {
        let cancel: () => void = () => undefined;
        const beat = () => {
          cancel = virtual.after(ms, gate(beat));
          fn();
        };
        cancel = virtual.after(ms, gate(beat));
        return () => {
          cancel();
        };
      },
      timeout: (ms) => {
        const controller = new AbortController();
        virtual.after(
          ms,
          gate(() => {
            controller.abort(new DOMException('the run time is up', 'TimeoutError'));
          }),
        );
        return controller.signal;
      },
    };
  }

  /** The process dies: nothing it waits for answers any more. */
  kill(): void {
    if (!this.alive) return;
    this.alive = false;
    this.world.processes.delete(this);
    for (const hook of this.onKill.splice(0)) hook();
  }

  whenKilled(hook: () => void): void {
    if (this.alive) this.onKill.push(hook);
    else hook();
  }

  /** `base`, as this process reaches it: nothing sent once dead, no answer heard once dead. */
  link(base: StoreLink): StoreLink {
    return {
      send: (operation, id, apply) =>
        this.alive ? this.guard(base.send(operation, id, apply)) : NEVER,
    };
  }

  /** A promise that never settles once the process is dead. */
  guard<T>(promise: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      promise.then(
        (value) => {
          if (this.alive) resolve(value);
        },
        (error: unknown) => {
          if (this.alive) reject(error instanceof Error ? error : new Error(String(error)));
        },
      );
    });
  }

  /** Runs `work`; the result fails at once if the process dies first (its push fails). */
  run<T>(work: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.whenKilled(() => {
        reject(new Error(`process ${this.id} (${this.kind}) crashed`));
      });
      work().then(
        (value) => {
          if (this.alive) resolve(value);
        },
        (error: unknown) => {
          if (this.alive) reject(error instanceof Error ? error : new Error(String(error)));
        },
      );
    });
  }
}

const NEVER = new Promise<never>(() => undefined);

/** A logger that writes nothing (the simulation is measured, not read). */
const SILENT: Logger = pino({ level: 'silent' });

export class World {
  readonly clock: VirtualClock;
  readonly store: MemoryStore;
  /** Provider keys' buckets and blocks (`rateLimits/{key}`), beside the store. */
  readonly rateLimits: MemoryRateLimits;
  readonly pubsub: MemoryPubSub;
  readonly calls: CallRecord[] = [];
  /** Every sub-tick summary a planner wrote, in order. */
  readonly summaries: SubTickSummary[] = [];
  /** The refill sub-ticks of the ticks that completed (not kept in pacer/stats). */
  readonly refills: SubTickSummary[] = [];
  readonly deliveries = outcomeCounts();
  /** Job executions of `runner: "job"` syncs, by outcome ('failed': threw or crashed). */
  readonly jobs = outcomeCounts();
  /** Planner invocations, worker pushes, dead-letter pushes and reconciler triggers. */
  invocations = 0;
  ticks = 0;
  readonly processes = new Set<SimProcess>();
  private nextProcess = 1;
  private nextId = 1;
  private callsInFlight = 0;
  private readonly config: LiveConfig;
  private readonly logger: Logger;

  constructor(readonly options: WorldOptions) {
    this.logger = options.logger ?? SILENT;
    this.clock = new VirtualClock(options.begin);
    this.store = new MemoryStore(
      { now: () => this.clock.now(), validation: options.validation ?? SIMULATED },
      options.storeLink(null),
    );
    this.rateLimits = new MemoryRateLimits(this.store);
    this.pubsub = new MemoryPubSub(
      { now: () => this.clock.now(), after: (ms, action) => void this.clock.after(ms, action) },
      options.busLink,
    );
    this.config = new LiveConfig(options.settings);
    const { topology } = options;
    for (const lane of LANES) {
      this.pubsub.subscribe(
        topology.lanes[lane].topic,
        {
          name: topology.lanes[lane].subscription,
          concurrency: options.workers[lane],
          retry: topology.lanes[lane].retry,
          ackDeadlineMs: topology.ackDeadlineSeconds * 1_000,
          deliveryLatencyMs: options.deliveryLatencyMs,
          deadLetter: {
            topic: topology.deadLetter.topic,
            maxDeliveryAttempts: topology.maxDeliveryAttempts,
          },
        },
        (event) => this.work(lane, event),
      );
    }
    this.pubsub.subscribe(
      topology.deadLetter.topic,
      {
        name: topology.deadLetter.subscription,
        concurrency: 10,
        retry: topology.deadLetter.retry,
        ackDeadlineMs: topology.deadLetter.ackDeadlineSeconds * 1_000,
        deliveryLatencyMs: options.deliveryLatencyMs,
        deadLetter: null,
      },
      (event) => this.recordDeadLetter(event),
    );
  }

  /** A new process, with a clock of its own. */
  spawn(kind: string): SimProcess {
    const process = new SimProcess(this.nextProcess++, kind, this, this.options.skew?.() ?? 0);
    this.processes.add(process);
    this.options.onSpawn?.(process);
    return process;
  }

  /** The store as `process` reaches it. */
  storeFor(process: SimProcess): MemoryStore {
    return this.store.withLink(process.link(this.options.storeLink(process)));
  }

  newId(prefix: string): string {
    return `${prefix}${this.nextId++}`;
  }

  /** Cloud Scheduler calls the planner: one invocation of `runTick`, in a process of its own. */
  tick(
    holder = 'planner',
    shard: Shard = WHOLE,
  ): { process: SimProcess; done: Promise<TickResult | null> } {
    const process = this.spawn('planner');
    this.invocations++;
    this.ticks++;
    const store = this.storeFor(process).withShard(shard);
    // The summaries each sub-tick writes to pacer/stats, seen as they are written.
    const planned = Object.create(store) as MemoryStore;
    planned.writeRecentSummaries = async (summaries: readonly object[]) => {
      await store.writeRecentSummaries(summaries);
      const latest = summaries.at(-1);
      if (latest !== undefined) this.summaries.push(latest as SubTickSummary);
    };
    const done = process
      .run(() =>
        runTick({
          store: planned,
          bus: new MemoryDispatchBus(this.guardedBus(process), this.topics()),
          config: this.config,
          logger: this.logger,
          clock: process.clock,
          newId: () => this.newId('lease-'),
          holder: `${holder}:${process.id}`,
          rateLimits: this.rateLimits,
          shard,
        }),
      )
      .then((result) => {
        if (result.outcome === 'completed') {
          this.refills.push(...result.subTicks.filter((summary) => summary.refill === true));
        }
        return result;
      })
      .catch(() => null)
      .finally(() => {
        process.kill();
      });
    return { process, done };
  }

  /** Runs the world until `limit`, calling `afterStep` after every step. */
  run(limit: number, afterStep?: () => void): Promise<void> {
    return this.clock.run(limit, afterStep);
  }

  /** Calls in flight now. */
  inFlight(): CallRecord[] {
    return this.calls.filter((call) => call.end === null);
  }

  private topics(): PerLane<string> {
    return perLane((lane) => this.options.topology.lanes[lane].topic);
  }

  /** The bus as a process reaches it: a dead process publishes nothing and hears nothing. */
  private guardedBus(process: SimProcess): MemoryPubSub {
    const pubsub = this.pubsub;
    const guarded = Object.create(pubsub) as MemoryPubSub;
    guarded.publish = (topic, message) =>
      process.alive ? process.guard(pubsub.publish(topic, message)) : NEVER;
    return guarded;
  }

  /** A lane's push: `handleDelivery` in a worker process of its own. */
  private work(lane: Lane, event: PushEvent): Promise<DeliveryOutcome> {
    const process = this.spawn(`worker:${lane}`);
    this.invocations++;
    const outcome = process.run(() => handleDelivery(this.workerDeps(process), lane, event));
    outcome.then(
      (answered) => {
        this.deliveries[answered]++;
        process.kill();
      },
      () => {
        this.deliveries.failed++;
        process.kill();
      },
    );
    return outcome;
  }

  /** What pacer's worker code gets in `process`: the store, bus and clock as it reaches them. */
  private workerDeps(process: SimProcess): WorkerDeps {
    const { settings, topology } = this.options;
    return {
      store: this.storeFor(process),
      rateLimits: this.rateLimits,
      deadLetters: new MemoryDeadLetterBus(this.guardedBus(process), topology.deadLetter.topic),
      settings,
      topology,
      logger: this.logger,
      clock: process.clock,
      newId: () => this.newId('attempt-'),
      syncer: {
        allowNetworks: [],
        env: {},
        handlers: {
          [SIMULATED_TARGET.name]: (context: SyncContext) => this.call(context, process),
        },
      },
      jobs: {
        // Cloud Run accepts the execution after an API round trip; its process starts later.
        launch: (attempt, options) =>
          new Promise((resolve, reject) => {
            this.clock.after(this.options.deliveryLatencyMs, () => {
              if (!process.alive) return;
              const answer = this.options.launchAnswer?.() ?? 'accepted';
              if (answer === 'refused') {
                reject(new Error('14 UNAVAILABLE: the Cloud Run Admin API did not answer'));
                return;
              }
              const execution = this.execute(attempt, options.timeoutSeconds);
              if (answer === 'lost-answer') {
                // The client's own deadline (60 s for runJob) passes while the execution runs.
                this.clock.after(60_000, () => {
                  if (process.alive) reject(new Error('4 DEADLINE_EXCEEDED: the answer was lost'));
                });
                return;
              }
              resolve({ execution });
            });
          }),
      },
    };
  }

  /** A job execution: `runJobAttempt` in a process of its own, stopped at its timeout. */
  private execute(attempt: JobAttempt, timeoutSeconds: number): string {
    const id = this.newId('execution-');
    this.clock.after(this.options.jobStartMs ?? 10_000, () => {
      const process = this.spawn('job');
      this.invocations++;
      const cancel = this.clock.after(timeoutSeconds * 1_000, () => {
        process.kill();
      });
      process
        .run(() => runJobAttempt(this.workerDeps(process), attempt))
        .then(
          (outcome) => {
            this.jobs[outcome]++;
            cancel();
            process.kill();
          },
          () => {
            this.jobs.failed++;
            cancel();
            process.kill();
          },
        );
    });
    return id;
  }

  /** The dead-letter topic's push: `recordDeadLetter` in a process of its own. */
  private recordDeadLetter(event: PushEvent): Promise<unknown> {
    const process = this.spawn('dead-letter');
    this.invocations++;
    const done = process.run(() =>
      recordDeadLetter(
        {
          store: this.storeFor(process),
          settings: this.options.settings,
          logger: this.logger,
          clock: process.clock,
        },
        event,
      ),
    );
    done.then(
      () => {
        process.kill();
      },
      () => {
        process.kill();
      },
    );
    return done;
  }

  /** A call of the target, made by `process`'s worker. */
  private call(context: SyncContext, process: SimProcess): Promise<Record<string, unknown>> {
    const now = this.clock.now();
    const record: CallRecord = {
      scheduleId: context.scheduleId,
      leaseId: context.leaseId,
      attempt: context.attempt,
      dueAt: context.dueAt,
      start: now,
      end: null,
      outcome: null,
      process: process.id,
    };
    this.calls.push(record);
    this.options.onCall?.(record, 'start');
    const limit = this.options.sharedLimit;
    if (limit !== null && this.callsInFlight >= limit) {
      record.end = now;
      record.outcome = 'rejected';
      this.options.onCall?.(record, 'end');
      return Promise.reject(
        new PacerError('target_unavailable', 'the provider answered 429: too many calls'),
      );
    }
    const limited = this.options.providerLimit?.admit(now);
    if (limited !== undefined && !limited.ok) {
      record.end = now;
      record.outcome = 'rate_limited';
      this.options.onCall?.(record, 'end');
      return Promise.reject(
        new PacerError(
          'target_rate_limited',
          `the provider answered 429: over its rate limit (Retry-After: ${limited.retryAfterSeconds})`,
          { status: 429, retryAfter: String(limited.retryAfterSeconds) },
        ),
      );
    }
    this.callsInFlight++;
    const behaviour = this.options.target(record);
    return new Promise((resolve, reject) => {
      let cancelTimer: () => void = () => undefined;
      const finish = (outcome: CallOutcome, error?: Error) => {
        if (record.end !== null) return;
        record.end = this.clock.now();
        record.outcome = outcome;
        this.callsInFlight--;
        cancelTimer();
        this.options.onCall?.(record, 'end');
        if (error === undefined) resolve({});
        else reject(error);
      };
      cancelTimer = this.clock.after(behaviour.durationMs, () => {
        switch (behaviour.outcome) {
          case 'success':
            finish('success');
            return;
          case 'retryable':
            finish('retryable', new PacerError('target_unavailable', 'the target answered 503'));
            return;
          case 'permanent':
            finish('permanent', new PacerError('target_rejected', 'the target answered 400'));
            return;
          case 'crash':
            finish('crash', new Error('the worker crashed'));
            process.kill();
            return;
          case 'rate_limited': {
            const seconds = behaviour.retryAfterSeconds ?? 20;
            finish(
              'rate_limited',
              new PacerError(
                'target_rate_limited',
                `the target answered 429 (Retry-After: ${seconds})`,
                {
                  status: 429,
                  retryAfter: String(seconds),
                },
              ),
            );
            return;
          }
        }
      });
      const { signal } = context;
      const onAbort = () => {
        const reason: unknown = signal.reason;
        const timedOut = reason instanceof DOMException && reason.name === 'TimeoutError';
        finish(
          timedOut ? 'timeout' : 'aborted',
          reason instanceof Error ? reason : new Error('aborted'),
        );
      };
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
      process.whenKilled(() => {
        finish('crash', new Error('the worker crashed'));
      });
    });
  }
}
