/**
 * One seeded random history of the lease protocol: a small population (every cadence kind, short
 * leases) served by the real planner, workers, dead-letter function and reconciler on the
 * in-memory store and bus (../sim/world.ts), while faults are injected at random points — worker
 * and planner crashes, lost answers, failed and slow store operations, transaction conflicts,
 * failed, duplicate and late deliveries, two planners, clock skew between processes — and an
 * operator edits, pauses, resumes, breaks, fixes, deletes and replays, triggers runs and backfills
 * ranges (./operator-runs.ts). After every step the
 * protocol's invariants (functions/protocol/invariants.ts) are checked; the first violation ends
 * the history.
 *
 * The same seed and options always give the same history.
 */
import {
  ContentionError,
  withoutField,
  type StoreLink,
  type StoreOperation,
} from '../../functions/store/memory.js';
import type { BusLink } from '../../functions/bus/memory.js';
import { MemoryDispatchBus } from '../../functions/bus/memory.js';
import { loadSettings, type Settings } from '../../functions/config.js';
import { replayDeadLetter } from '../../functions/deadletter/replay.js';
import { perLane } from '../../functions/planner/plan.js';
import {
  completedRun,
  ProtocolMonitor,
  type Violation,
} from '../../functions/protocol/invariants.js';
import { RateLimitMonitor } from '../../functions/ratelimit/invariants.js';
import type { ScheduleState } from '../../functions/protocol/state.js';
import { resumeSchedule } from '../../functions/protocol/pause.js';
import { reconcileSchedule } from '../../functions/reconciler/reconcile.js';
import { iso } from '../../functions/schedule/time.js';
import type { ScheduleWrite } from '../../functions/store/memory.js';
import { describeTopology, type Topology } from '../../functions/topology.js';
import { SIMULATED, SIMULATED_TARGET } from '../sim/population.js';
import { stream, uniform, type Rng } from '../sim/random.js';
import { World, type CallRecord, type SimProcess, type TargetBehaviour } from '../sim/world.js';
import { scheduleOperatorRuns } from './operator-runs.js';

/** The kinds of fault a history may inject; shrinking a failing history turns them off. */
export const FAULT_KINDS = [
  'worker-crash',
  'planner-crash',
  'lost-answer',
  'store-failure',
  'slow-store',
  'contention',
  'publish-failure',
  'duplicate-delivery',
  'late-delivery',
  'two-planners',
  'clock-skew',
  'operator',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/**
 * `standard`: 20 minutes of faults and a 6-minute drain. `long`: the standard population plus a
 * long sync (`runner: "job"`, calls of 5 to 45 minutes under 30-second leases, renewed by its job
 * execution), 3 hours of faults and a 90-minute drain. Every seed ending in 5 is a long history.
 */
export type HistoryProfile = 'standard' | 'long';

export function profileOf(seed: number): HistoryProfile {
  return Math.abs(seed) % 10 === 5 ? 'long' : 'standard';
}

/**
 * Planner shards in a history (`PACER_SHARDS`): 2 for every seed ending in 3, one planner per
 * shard ticking every minute, each with its half of the in-flight budgets; 1 otherwise.
 */
export function shardsOf(seed: number): number {
  return Math.abs(seed) % 10 === 3 ? 2 : 1;
}

interface ProfileTimes {
  activeMs: number;
  drainMs: number;
}

const PROFILES: Record<HistoryProfile, ProfileTimes> = {
  standard: { activeMs: 20 * 60_000, drainMs: 6 * 60_000 },
  long: { activeMs: 3 * 3_600_000, drainMs: 90 * 60_000 },
};

export interface HistoryOptions {
  seed: number;
  /** By the seed ({@link profileOf}) unless given. */
  profile?: HistoryProfile;
  /** The fault kinds on; all by default. */
  faults?: ReadonlySet<FaultKind>;
  /** Only these schedules; all by default. */
  schedules?: ReadonlySet<string>;
  /** Keep a trace of what happened (for a report). */
  trace?: boolean;
}

export interface TraceLine {
  at: number;
  scheduleId: string | null;
  text: string;
}

export interface HistoryResult {
  seed: number;
  steps: number;
  violation: Violation | null;
  trace: TraceLine[];
  /** What the history did, for the summary: calls, dead letters, operator actions, faults. */
  counts: Record<string, number>;
}

const BEGIN = Date.parse('2026-06-20T10:00:00Z');
const MAX_ATTEMPTS = 3;

/** Short leases and sub-ticks, so that a few minutes hold many of each. */
export function checkSettings(): Settings {
  return loadSettings({
    PACER_LEASE_SECONDS: '30',
    PACER_DISPATCH_GRACE_SECONDS: '10',
    PACER_MAX_ATTEMPTS: String(MAX_ATTEMPTS),
    PACER_SUBTICK_SECONDS: '10',
    // One high-lane slot for its half-dozen 1-minute schedules: due points wait for room, so
    // the planner's refill sub-ticks take part in the histories.
    PACER_INFLIGHT_HIGH: '1',
    PACER_TICK_BUDGET_SECONDS: '55',
    PACER_DEFAULT_MAX_RUN_SECONDS: '20',
    PACER_PUBLISH_TIMEOUT_SECONDS: '10',
    // The metered schedules share one provider key, tighter than their demand.
    PACER_RATE_LIMITS: `${METERED_KEY}:perMinute=2,burst=1`,
  });
}

/** The provider key of the metered schedules. */
export const METERED_KEY = 'provider';

/** The most a process's clock strays from true time in a history (`clock-skew`). */
const MAX_SKEW_MS = 5_000;

export function checkTopology(settings: Settings): Topology {
  const topology = describeTopology(settings);
  // Retries back off seconds, not minutes, as in the local stack.
  for (const lane of ['high', 'medium', 'low'] as const) {
    topology.lanes[lane].retry = { minimumBackoffSeconds: 2, maximumBackoffSeconds: 10 };
  }
  topology.deadLetter.retry = { minimumBackoffSeconds: 2, maximumBackoffSeconds: 10 };
  return topology;
}

/**
 * The population: every cadence kind, a target that always fails and one that often does, one
 * that always fails and pauses after 2 dead letters in a row; in a long history, a long sync too.
 */
export function population(
  profile: HistoryProfile = 'standard',
): { id: string; document: Record<string, unknown> }[] {
  const at = (ms: number) => new Date(BEGIN + ms).toISOString();
  const doc = (cadence: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
    name: 'checked',
    cadence,
    target: SIMULATED_TARGET,
    ...extra,
  });
  return [
    { id: 'minutely', document: doc({ kind: 'interval', every: '1m' }) },
    { id: 'grid', document: doc({ kind: 'interval', every: '2m', startAt: at(30_000) }) },
    { id: 'slow', document: doc({ kind: 'interval', every: '10m' }, { maxRunSeconds: 25 }) },
    {
      id: 'race',
      document: doc({
        kind: 'event',
        startsAt: at(14 * 60_000),
        tiers: [
          { before: '8m', every: '1m' },
          { before: '1h', every: '4m' },
        ],
        otherwise: '15m',
        after: '8m',
      }),
    },
    {
      id: 'cron',
      document: doc({ kind: 'cron', expression: '*/3 * * * *', catchUpWithin: '1m' }),
    },
    { id: 'failing', document: doc({ kind: 'interval', every: '1m' }) },
    {
      id: 'fragile',
      document: doc({ kind: 'interval', every: '1m' }, { pauseAfterFailures: 2 }),
    },
    { id: 'flaky', document: doc({ kind: 'interval', every: '1m' }, { lane: 'medium' }) },
    // Three schedules of one provider key whose budget binds whenever they fall due together
    // (it refills 1 a minute; they ask for 0.75); while faults happen, the target now and then
    // refuses one with 429 and Retry-After.
    ...['metered-a', 'metered-b', 'metered-c'].map((id) => ({
      id,
      document: doc({ kind: 'interval', every: '4m' }, { rateLimitKey: METERED_KEY }),
    })),
    ...(profile === 'long'
      ? [
          {
            id: 'long',
            document: doc(
              { kind: 'interval', every: '1h' },
              { runner: 'job', maxRunSeconds: 2 * 3_600 },
            ),
          },
        ]
      : []),
  ];
}

/** How the target answers a schedule's call. */
function targetFor(rng: Rng, activeUntil: number): (call: CallRecord) => TargetBehaviour {
  return (call) => {
    if (call.scheduleId === 'long') {
      // Minutes to most of an hour while faults happen; shorter in the drain, so all can heal.
      const active = call.start < activeUntil;
      const minutes = active ? uniform(rng, 5, 45) : uniform(rng, 2, 10);
      const roll = rng();
      return {
        durationMs: Math.round(minutes * 60_000),
        outcome: active && roll < 0.1 ? 'retryable' : active && roll < 0.15 ? 'crash' : 'success',
      };
    }
    const long = rng() < 0.05;
    const durationMs = Math.round(long ? uniform(rng, 15_000, 30_000) : uniform(rng, 300, 8_000));
    const roll = rng();
    switch (call.scheduleId) {
      case 'failing':
      case 'fragile':
        return { durationMs, outcome: 'retryable' };
      case 'flaky':
        return {
          durationMs,
          outcome: roll < 0.3 ? 'retryable' : roll < 0.4 ? 'permanent' : 'success',
        };
      case 'metered-a':
      case 'metered-b':
      case 'metered-c':
        return roll < 0.1 && call.start < activeUntil
          ? {
              durationMs: Math.min(durationMs, 500),
              outcome: 'rate_limited',
              retryAfterSeconds: 40,
            }
          : { durationMs, outcome: 'success' };
      default:
        return { durationMs, outcome: roll < 0.03 ? 'retryable' : 'success' };
    }
  };
}

/** Runs one history. */
export async function runHistory(options: HistoryOptions): Promise<HistoryResult> {
  const faults = options.faults ?? new Set(FAULT_KINDS);
  const on = (kind: FaultKind) => faults.has(kind);
  const rngs = {
    target: stream(options.seed, 'target'),
    store: stream(options.seed, 'store'),
    faults: stream(options.seed, 'faults'),
    bus: stream(options.seed, 'bus'),
    skew: stream(options.seed, 'skew'),
    operator: stream(options.seed, 'operator'),
    ticks: stream(options.seed, 'ticks'),
  };
  const profile = options.profile ?? profileOf(options.seed);
  const { activeMs, drainMs } = PROFILES[profile];
  const shards = shardsOf(options.seed);
  const base: Settings = {
    ...checkSettings(),
    // Half the histories (odd seeds) run with `runHistory: "failures"`: runs without records.
    ...(options.seed % 2 === 1 ? { runHistory: 'failures' as const } : {}),
  };
  const settings: Settings =
    shards === 1
      ? base
      : // A high-lane slot for each shard: one shard with none would never run its schedules.
        { ...base, shards, inFlightBudget: { ...base.inFlightBudget, high: 2 } };
  const topology = checkTopology(settings);
  const trace: TraceLine[] = [];
  const counts: Record<string, number> = {};
  const count = (what: string) => {
    counts[what] = (counts[what] ?? 0) + 1;
  };
  const note = (scheduleId: string | null, text: string) => {
    if (options.trace === true) trace.push({ at: world.clock.now(), scheduleId, text });
  };
  const faulty = () => world.clock.now() < BEGIN + activeMs;

  const monitor = new ProtocolMonitor(settings.maxAttempts, SIMULATED);
  // Set from callbacks (writes, calls, steps): kept in an object the closures share.
  const found: { violation: Violation | null } = { violation: null };
  const report = (violations: readonly Violation[]) => {
    if (found.violation === null && violations[0] !== undefined) found.violation = violations[0];
  };

  const storeLink = (process: SimProcess | null): StoreLink => ({
    send<T>(operation: StoreOperation, id: string | null, apply: () => T): Promise<T> {
      const rng = rngs.store;
      let latency = uniform(rng, 2, 40);
      const active = faulty() && process !== null;
      if (active && on('slow-store') && rng() < 0.02) {
        latency += uniform(rng, 2_000, 45_000);
        note(
          id,
          `store: ${operation} by process ${process.id} (${process.kind}) is slow: ${Math.round(latency)} ms`,
        );
      }
      const fail = active && on('store-failure') && rng() < 0.015;
      const conflict = active && on('contention') && operation === 'commit' && rng() < 0.03;
      const lose = active && on('lost-answer') && rng() < 0.01;
      return new Promise<T>((resolve, reject) => {
        world.clock.after(latency, () => {
          if (fail) {
            note(id, `store: ${operation} by process ${String(process.id)} failed before landing`);
            reject(Object.assign(new Error('the store is unavailable'), { code: 14 }));
            return;
          }
          if (conflict) {
            note(id, `store: commit by process ${String(process.id)} met a concurrent write`);
            reject(new ContentionError(id ?? 'a document'));
            return;
          }
          let result: T;
          try {
            result = apply();
          } catch (error) {
            reject(error instanceof Error ? error : new Error(String(error)));
            return;
          }
          if (lose) {
            note(
              id,
              `process ${process.id} (${process.kind}) crashed right after its ${operation} landed`,
            );
            count('crashes');
            process.kill();
          }
          resolve(result);
        });
      });
    },
  });

  const busLink: BusLink = {
    send(topic, deliver) {
      const rng = rngs.bus;
      const active = faulty();
      const roll = rng();
      if (active && on('publish-failure') && roll < 0.04) {
        note(null, `publish to ${topic} failed`);
        return Promise.reject(new Error('publish failed'));
      }
      if (active && on('publish-failure') && roll < 0.06) {
        note(null, `publish to ${topic} landed, but the publisher heard a failure`);
        deliver();
        return Promise.reject(new Error('publish timed out'));
      }
      if (active && on('late-delivery') && rng() < 0.05) {
        const delay = uniform(rng, 10_000, 150_000);
        note(null, `a message to ${topic} arrives ${Math.round(delay / 1_000)} s late`);
        world.clock.after(delay, deliver);
      } else {
        deliver();
      }
      if (active && on('duplicate-delivery') && rng() < 0.06) {
        world.clock.after(uniform(rng, 0, 40_000), deliver);
      }
      return Promise.resolve();
    },
  };

  const world: World = new World({
    begin: BEGIN - 60_000,
    settings,
    topology,
    workers: { high: 10, medium: 10, low: 10 },
    deliveryLatencyMs: 30,
    storeLink,
    busLink,
    target: targetFor(rngs.target, BEGIN + activeMs),
    sharedLimit: null,
    skew: () => (on('clock-skew') ? Math.round(uniform(rngs.skew, -5_000, 5_000)) : 0),
    launchAnswer: () => {
      if (!faulty() || !on('publish-failure')) return 'accepted';
      const roll = rngs.bus();
      if (roll < 0.05) {
        note('long', 'Cloud Run refused a job execution');
        return 'refused';
      }
      if (roll < 0.1) {
        note('long', 'Cloud Run started a job execution, but its answer was lost');
        return 'lost-answer';
      }
      return 'accepted';
    },
    onSpawn: (process) => {
      const rng = rngs.faults;
      const kill = (kind: FaultKind, chance: number, withinMs: number) => {
        if (!faulty() || !on(kind) || rng() >= chance) return;
        world.clock.after(uniform(rng, 0, withinMs), () => {
          if (!process.alive) return;
          note(null, `process ${process.id} (${process.kind}) crashed`);
          count('crashes');
          process.kill();
        });
      };
      if (process.kind.startsWith('worker')) kill('worker-crash', 0.08, 30_000);
      // A job execution runs for minutes: it may die at any point of its call.
      if (process.kind === 'job') kill('worker-crash', 0.15, 45 * 60_000);
      if (process.kind === 'planner') kill('planner-crash', 0.15, 60_000);
    },
    onCall: (call, phase) => {
      if (phase === 'start') {
        count('calls');
        note(
          call.scheduleId,
          `call starts: lease ${call.leaseId}, attempt ${call.attempt}, due ${iso(call.dueAt)}`,
        );
        report(monitor.callStarted(call));
      } else {
        note(
          call.scheduleId,
          `call ends: ${call.outcome ?? '?'} (lease ${call.leaseId}, attempt ${call.attempt})`,
        );
        report(monitor.callEnded(call));
      }
    },
  });

  // Provider keys: every block a worker records, every dispatch the planner makes of a keyed
  // schedule (its claim). The planner judges time by its own clock: the slack covers the skew
  // between two processes.
  const rateMonitor = new RateLimitMonitor(settings.rateLimits, 2 * MAX_SKEW_MS);
  const claimedLeases = new Set<string>();
  world.rateLimits.onBlock((key, until) => {
    note(null, `key ${key} blocked until ${iso(until)}`);
    count('key blocks');
    rateMonitor.blocked(key, until, world.clock.now());
  });

  // Every write is observed. An operator's write is reconciled a moment later, as Firestore's
  // trigger on `schedules/{id}` does; pacer's own writes (to `scheduleStates/{id}`) fire no
  // trigger, but 20% of them are reconciled anyway, as a fault: reconciling must be idempotent.
  world.store.onWrite((write: ScheduleWrite) => {
    note(write.id, describeWrite(write));
    report(monitor.write(write));
    const lease = write.after?.lease ?? null;
    if (lease !== null && lease.id !== write.before?.lease?.id && lease.dueAt > write.decidedAt) {
      count('claimed ahead');
    }
    const claimed = plannerClaim(write, claimedLeases);
    if (claimed !== null) {
      count('keyed dispatches');
      report(rateMonitor.dispatched(claimed.key, write.id, claimed.at, write.at));
    }
    if (write.cause === 'operator' || (write.after !== null && rngs.faults() < 0.2)) {
      triggerReconcile(write.id);
    }
  });
  const triggerReconcile = (id: string, delay = uniform(rngs.faults, 200, 3_000)) => {
    world.clock.after(delay, () => {
      const process = world.spawn('reconciler');
      void process
        .run(() =>
          reconcileSchedule(world.storeFor(process), id, {
            thresholds: settings.laneThresholds,
            shards: settings.shards,
          }),
        )
        .then(
          () => {
            process.kill();
          },
          () => {
            // Eventarc retries a failed invocation.
            const exists = world.store.peek(id) !== null || world.store.peekOperator(id) !== null;
            if (exists) triggerReconcile(id, 5_000);
          },
        );
    });
  };

  // The population, written by the operator at the start.
  const wanted = population(profile).filter(
    (schedule) => options.schedules === undefined || options.schedules.has(schedule.id),
  );
  const documents = new Map(wanted.map((s) => [s.id, s.document]));
  world.clock.at(BEGIN - 60_000, () => {
    for (const { id, document } of wanted) world.store.put(id, document);
  });

  // Cloud Scheduler: every minute, a little late; sometimes twice.
  for (let minute = BEGIN; minute < BEGIN + activeMs + drainMs; minute += 60_000) {
    world.clock.at(minute + uniform(rngs.ticks, 0, 2_000), () => {
      note(null, 'tick');
      // One Cloud Scheduler job per shard.
      for (let index = 0; index < shards; index++) {
        void world.tick('planner', { index, count: shards });
      }
      if (faulty() && on('two-planners') && rngs.ticks() < 0.3) {
        const shard = {
          index: shards === 1 ? 0 : Math.floor(rngs.ticks() * shards),
          count: shards,
        };
        world.clock.after(uniform(rngs.ticks, 0, 30_000), () => {
          note(null, 'a second planner ticks');
          void world.tick('second', shard);
        });
      }
    });
  }

  if (on('operator'))
    scheduleOperator(
      world,
      rngs.operator,
      documents,
      { settings, topology, profile, activeMs },
      note,
      count,
    );

  if (on('operator'))
    scheduleOperatorRuns(world, stream(options.seed, 'operator-runs'), {
      settings,
      topology,
      from: BEGIN,
      until: BEGIN + activeMs,
      ids: wanted.map((schedule) => schedule.id),
      budgeted: new Set(
        wanted
          .filter((schedule) => schedule.document.rateLimitKey === METERED_KEY)
          .map((schedule) => schedule.id),
      ),
      note,
      count,
    });

  let steps = 0;
  const end = BEGIN + activeMs + drainMs;
  await world.run(end, () => {
    steps++;
    if (found.violation !== null) return;
    const now = world.clock.now();
    report(monitor.step(now, states(world)));
  });
  const violation = found.violation ?? finalCheck(world, end, drainMs);
  counts['dead letters'] = world.store.deadLetters().length;
  counts['failed calls'] = world.calls.filter((call) => call.outcome !== 'success').length;
  counts.refilled = world.refills.reduce((sum, summary) => sum + summary.published, 0);
  return { seed: options.seed, steps, violation, trace, counts };
}

/**
 * A keyed schedule the planner just claimed: a planned lease not seen before, not started (a
 * claim given back restores a lease already seen), with its key and its dispatch time (the
 * claim's decision time); `null` for any other write.
 */
function plannerClaim(write: ScheduleWrite, seen: Set<string>): { key: string; at: number } | null {
  const lease = write.after?.lease ?? null;
  // Planned dispatches and the operator's (trigger, backfill) spend the same budget.
  const dispatching =
    lease?.kind === 'planned' || lease?.kind === 'manual' || lease?.kind === 'backfill';
  if (lease == null || !dispatching || lease.running || lease.startedAt !== null) return null;
  if (seen.has(lease.id)) return null;
  seen.add(lease.id);
  const key = write.data?.rateLimitKey;
  return typeof key === 'string' ? { key, at: lease.dispatchedAt } : null;
}

/** Every schedule's state now. */
function* states(world: World): Iterable<{ id: string; state: ScheduleState }> {
  for (const id of world.store.ids()) {
    const stored = world.store.peek(id);
    if (stored !== null) yield { id, state: stored.state };
  }
}

/**
 * After the quiet drain, all must have healed: every active schedule has been served up to the
 * middle of the drain (nothing owed from before then), and every lease released by a dead letter
 * has its dead letter recorded.
 */
function finalCheck(world: World, end: number, drainMs: number): Violation | null {
  const healedBy = end - drainMs / 2;
  for (const { id, state } of states(world)) {
    if (state.status !== 'active') continue;
    const owed = state.lease === null ? state.nextDueAt : state.lease.owedSince;
    if (owed !== null && owed < healedBy) {
      return {
        invariant: 'stuck',
        scheduleId: id,
        at: end,
        message: `still owes the point of ${iso(owed)} after a quiet drain of ${drainMs / 60_000} minutes`,
      };
    }
  }
  const recorded = new Set(world.store.deadLetters().map((letter) => letter.id));
  for (const id of world.store.ids()) {
    for (const run of world.store.runRecords(id)) {
      // A dead letter released in the last minute may still be on its way to the recorder
      // (the dead-letter topic's push, then its write): judged only when it had time to land.
      const recent = typeof run.finishedAt === 'number' && run.finishedAt > end - 60_000;
      if (run.status === 'dead_lettered' && !recent && !recorded.has(String(run.leaseId))) {
        return {
          invariant: 'owed',
          scheduleId: id,
          at: end,
          message: `lease ${String(run.leaseId)} was released for a dead letter that was never recorded`,
        };
      }
    }
  }
  return null;
}

/** The operator: edits, pauses, resumes, breaks, fixes, deletes and replays, now and then. */
function scheduleOperator(
  world: World,
  rng: Rng,
  documents: Map<string, Record<string, unknown>>,
  context: { settings: Settings; topology: Topology; profile: HistoryProfile; activeMs: number },
  note: (scheduleId: string | null, text: string) => void,
  count: (what: string) => void,
): void {
  const { settings, topology, profile, activeMs } = context;
  // The metered schedules keep their cadence: an edit to a faster one would ask more of their
  // key than its budget gives, and the high lane would take it all (as it should), leaving a
  // lower lane's metered schedule owing past the drain.
  const ids = [...documents.keys()].filter((id) => !id.startsWith('metered-'));
  let at = BEGIN;
  for (;;) {
    at += uniform(rng, 20_000, 150_000);
    if (at >= BEGIN + activeMs) break;
    const id = ids[Math.floor(rng() * ids.length)];
    const roll = rng();
    const shift = Math.round(uniform(rng, 1, 5));
    world.clock.at(at, () => {
      if (id === undefined) return;
      const current = documents.get(id);
      const write = (next: Record<string, unknown>, what: string) => {
        count('operator');
        note(id, `operator: ${what}`);
        documents.set(id, next);
        world.store.put(id, next);
      };
      if (roll < 0.1) {
        const letters = world.store
          .deadLetters()
          .filter((letter) => letter.record.scheduleId === id);
        const letter = letters[letters.length - 1];
        if (letter === undefined) return;
        count('operator');
        note(id, `operator: replays dead letter ${letter.id}`);
        const process = world.spawn('operator');
        void process
          .run(() =>
            replayDeadLetter(
              {
                store: world.storeFor(process),
                bus: new MemoryDispatchBus(
                  world.pubsub,
                  perLane((lane) => topology.lanes[lane].topic),
                ),
                newId: () => world.newId('replay-'),
                dispatchGraceMs: settings.dispatchGraceSeconds * 1_000,
                thresholds: settings.laneThresholds,
              },
              letter.id,
            ),
          )
          .then(
            (outcome) => {
              note(id, `operator: replay ${outcome.kind}`);
            },
            () => undefined,
          );
        return;
      }
      if (current === undefined) {
        // Deleted earlier: written again.
        const original = population(profile).find((schedule) => schedule.id === id);
        if (original !== undefined) write(original.document, 'creates it again');
        return;
      }
      if (roll < 0.15) {
        count('operator');
        note(id, 'operator: deletes it');
        documents.delete(id);
        world.store.delete(id);
        return;
      }
      if (roll < 0.35 && world.store.peek(id)?.state.pause?.cause === 'failures') {
        count('operator');
        note(id, 'operator: resumes it after its failures');
        const process = world.spawn('operator');
        void process
          .run(() =>
            world
              .storeFor(process)
              .transact(id, (subject, now) =>
                resumeSchedule(subject, now, settings.laneThresholds),
              ),
          )
          .then(
            (outcome) => {
              note(id, `operator: resume ${outcome.kind}`);
            },
            () => undefined,
          );
        return;
      }
      if (roll < 0.35) {
        const enabled = current.enabled !== false;
        write({ ...current, enabled: !enabled }, enabled ? 'pauses it' : 'resumes it');
        return;
      }
      if (roll < 0.45) {
        const broken = current.colour !== undefined;
        const fixed = withoutField(current, 'colour');
        write(broken ? fixed : { ...current, colour: 'red' }, broken ? 'fixes it' : 'breaks it');
        return;
      }
      write(editCadence(current, shift), 'edits its cadence');
    });
  }
}

/** Another cadence of the same kind: a different interval, grid, expression or start. */
function editCadence(document: Record<string, unknown>, shift: number): Record<string, unknown> {
  const cadence = document.cadence as Record<string, unknown>;
  switch (cadence.kind) {
    case 'interval':
      return {
        ...document,
        cadence: {
          ...cadence,
          every: `${shift}m`,
          ...(cadence.startAt === undefined
            ? {}
            : { startAt: new Date(BEGIN + shift * 17_000).toISOString() }),
        },
      };
    case 'cron':
      return { ...document, cadence: { ...cadence, expression: `*/${shift + 1} * * * *` } };
    case 'event': {
      const startsAt = Date.parse(String(cadence.startsAt)) + (shift - 3) * 60_000;
      return { ...document, cadence: { ...cadence, startsAt: new Date(startsAt).toISOString() } };
    }
    default:
      return document;
  }
}

/** A write in a line: what changed in the state. */
function describeWrite(write: ScheduleWrite): string {
  const { before, after } = write;
  if (after === null) return 'deleted';
  const parts: string[] = [];
  const time = (ms: number | null) => (ms === null ? '-' : iso(ms).slice(11, 23));
  if (before?.status !== after.status) parts.push(`status ${after.status ?? '-'}`);
  if (before?.nextDueAt !== after.nextDueAt) parts.push(`nextDueAt ${time(after.nextDueAt)}`);
  if (before?.dueAt !== after.dueAt) parts.push(`dueAt ${time(after.dueAt)}`);
  const lease = after.lease;
  if (JSON.stringify(before?.lease ?? null) !== JSON.stringify(lease)) {
    parts.push(
      lease === null
        ? 'lease none'
        : `lease ${lease.id} (${lease.kind}, due ${time(lease.dueAt)}, owed ${time(lease.owedSince)}, until ${time(lease.until)}, attempt ${lease.attempt}${lease.running ? `, running ${lease.attemptId ?? ''}` : ''})`,
    );
  }
  if (before?.lastSkippedDueAt !== after.lastSkippedDueAt)
    parts.push(`skipped ${time(after.lastSkippedDueAt)}`);
  const run =
    write.patch?.run?.fields.status ?? (completedRun(write) ? 'succeeded, no record' : undefined);
  return `${write.cause} write${run ? ` [run ${run}]` : ''}: ${parts.join(', ') || 'no state change'}`;
}
