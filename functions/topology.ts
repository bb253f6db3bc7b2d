/**
 * The one description of pacer's messaging and functions: topics, push subscriptions, the
 * dead-letter path, the functions that serve them (with their sizes), the identities they run
 * as and the Cloud Scheduler job that ticks the planner. The tests, the local stack,
 * `infra/deploy.sh` and `pacer tick-job` all create resources from it, so they cannot drift
 * apart.
 */
import type { PerLane, Settings } from './config.js';
import { LANES, type Lane } from './schedule/lane.js';
import { MAX_RUN_SECONDS } from './schedule/spec.js';

/** Function names, fixed: entry points register under them and schedules never refer to them. */
export const WORKER_FUNCTIONS: PerLane<string> = {
  high: 'syncHigh',
  medium: 'syncMedium',
  low: 'syncLow',
};
export const PLANNER_FUNCTION = 'planTick';
export const DEAD_LETTER_FUNCTION = 'recordDeadLetter';
export const RECONCILER_FUNCTION = 'reconcileSchedule';

/** Messages are kept 7 days: a worker outage of days loses nothing. */
export const RETENTION_SECONDS = 7 * 24 * 60 * 60;
/** Pub/Sub push waits at most this long for an answer (its maximum ack deadline). */
export const MAX_ACK_DEADLINE_SECONDS = 600;

/**
 * Service account ids (the email is `<id>@<project>.iam.gserviceaccount.com`), one per role so
 * that each holds only what its role needs (docs/operations.md has the IAM table).
 */
export const SERVICE_ACCOUNTS = {
  /** planTick: Firestore, publish to the lane topics. */
  planner: 'pacer-planner',
  /** syncHigh/syncMedium/syncLow: Firestore, publish dead letters, read target secrets. */
  worker: 'pacer-worker',
  /** recordDeadLetter: Firestore. */
  deadLetter: 'pacer-dead-letter',
  /** reconcileSchedule: Firestore. */
  reconciler: 'pacer-reconciler',
  /** The OIDC identity of the push subscriptions: may invoke the push-fed functions only. */
  push: 'pacer-push',
  /** The OIDC identity of the Cloud Scheduler tick: may invoke the planner only. */
  tick: 'pacer-tick',
  /** The identity of the reconciler's Eventarc trigger: may invoke the reconciler only. */
  events: 'pacer-events',
  /** The long-sync job (`runner: "job"`): Firestore, publish dead letters, read target secrets. */
  job: 'pacer-long-sync',
} as const;
export type ServiceAccountRole = keyof typeof SERVICE_ACCOUNTS;

/** The email of one of pacer's service accounts in `projectId`. */
export function serviceAccountEmail(role: ServiceAccountRole, projectId: string): string {
  return `${SERVICE_ACCOUNTS[role]}@${projectId}.iam.gserviceaccount.com`;
}

/** Cloud Scheduler's tick job: calls the planner every minute. */
export const TICK_JOB = {
  name: 'pacer-tick',
  /** Cloud Scheduler runs at most once a minute; the planner's sub-ticks fill the minute. */
  schedule: '* * * * *',
  timeZone: 'Etc/UTC',
} as const;

/** Cloud Scheduler accepts attempt deadlines from 15 s to 30 min for HTTP targets. */
const MAX_ATTEMPT_DEADLINE_SECONDS = 1_800;

/** Memory and CPU of every function instance; concurrency above 1 needs a whole CPU. */
export const INSTANCE = { memory: '512Mi', cpu: '1' } as const;

/** How one deployed function is sized. */
export interface FunctionSizing {
  timeoutSeconds: number;
  /** Requests one instance serves at once. */
  concurrency: number;
  maxInstances: number;
}

export interface RetryPolicy {
  minimumBackoffSeconds: number;
  maximumBackoffSeconds: number;
}

export interface LaneResources {
  lane: Lane;
  topic: string;
  /** Push subscription that feeds the lane's worker. */
  subscription: string;
  /** Function name and entry point. */
  functionName: string;
  retry: RetryPolicy;
  /** Requests one worker instance serves at once. */
  concurrency: number;
  /** Worker instances; with `concurrency`, the lane's capacity (its in-flight budget). */
  maxInstances: number;
}

export interface Topology {
  retentionSeconds: number;
  /** Memory and CPU per instance, the same for every function. */
  instance: { memory: string; cpu: string };
  /** Worker function timeout: the longest sync plus time to record its outcome. */
  workerTimeoutSeconds: number;
  /** Push ack deadline: at least the worker timeout, or a running sync would be redelivered. */
  ackDeadlineSeconds: number;
  /** Pub/Sub's own dead-letter policy: a backstop above pacer's attempt limit. */
  maxDeliveryAttempts: number;
  lanes: PerLane<LaneResources>;
  deadLetter: FunctionSizing & {
    topic: string;
    subscription: string;
    functionName: string;
    ackDeadlineSeconds: number;
    retry: RetryPolicy;
  };
  planner: FunctionSizing & { functionName: string };
  reconciler: FunctionSizing & { functionName: string };
  /** The Cloud Scheduler job that calls the planner. */
  tickJob: {
    name: string;
    schedule: string;
    timeZone: string;
    /** How long Cloud Scheduler waits for the planner: longer than the planner may run. */
    attemptDeadlineSeconds: number;
    /**
     * One quick retry of a failed call, before the next minute's call: due-ness lives in
     * Firestore, so a tick that never ran is healed by the next one anyway, and a retry that
     * meets a tick still running gets `busy` from the planner lease.
     */
    retry: { retryCount: number; minBackoffSeconds: number; maxBackoffSeconds: number };
  };
}

const RETRY: PerLane<RetryPolicy> = {
  // An urgent lane retries soon; a low lane can wait and spare the target.
  high: { minimumBackoffSeconds: 10, maximumBackoffSeconds: 60 },
  medium: { minimumBackoffSeconds: 10, maximumBackoffSeconds: 300 },
  low: { minimumBackoffSeconds: 30, maximumBackoffSeconds: 600 },
};

/** Requests per worker instance: syncs wait on their targets, so one instance serves many. */
const CONCURRENCY = 10;

/** pacer's topology for `settings`. Pure. */
export function describeTopology(settings: Settings): Topology {
  const workerTimeoutSeconds = MAX_RUN_SECONDS + 60;
  const plannerTimeoutSeconds = settings.tickBudgetSeconds + 30;
  const deadLetterAckDeadlineSeconds = 60;
  const lanes = Object.fromEntries(
    LANES.map((lane) => {
      const resources: LaneResources = {
        lane,
        topic: `pacer-${lane}`,
        subscription: `pacer-${lane}-push`,
        functionName: WORKER_FUNCTIONS[lane],
        retry: RETRY[lane],
        concurrency: CONCURRENCY,
        maxInstances: Math.max(1, Math.ceil(settings.inFlightBudget[lane] / CONCURRENCY)),
      };
      return [lane, resources];
    }),
  ) as PerLane<LaneResources>;
  return {
    retentionSeconds: RETENTION_SECONDS,
    instance: { ...INSTANCE },
    workerTimeoutSeconds,
    ackDeadlineSeconds: Math.min(MAX_ACK_DEADLINE_SECONDS, workerTimeoutSeconds),
    // Pub/Sub accepts 5 to 100. pacer dead-letters itself at maxAttempts; this backstop catches
    // a message that never gets an answer (it crashes the worker), with room for deliveries that
    // fail while instances restart.
    maxDeliveryAttempts: Math.min(100, Math.max(10, settings.maxAttempts + 5)),
    lanes,
    deadLetter: {
      topic: 'pacer-dead-letter',
      subscription: 'pacer-dead-letter-push',
      functionName: DEAD_LETTER_FUNCTION,
      ackDeadlineSeconds: deadLetterAckDeadlineSeconds,
      retry: { minimumBackoffSeconds: 10, maximumBackoffSeconds: 600 },
      // Recording a dead letter is a few writes; it must answer within the ack deadline.
      timeoutSeconds: deadLetterAckDeadlineSeconds,
      concurrency: CONCURRENCY,
      maxInstances: 2,
    },
    planner: {
      functionName: PLANNER_FUNCTION,
      timeoutSeconds: plannerTimeoutSeconds,
      // One tick per instance. A second instance lets a call that meets a tick still running
      // answer `busy` (planner lease) instead of waiting in Cloud Run's queue and failing; with
      // shards, one instance per shard's tick plus that one.
      concurrency: 1,
      maxInstances: settings.shards + 1,
    },
    reconciler: {
      functionName: RECONCILER_FUNCTION,
      timeoutSeconds: 60,
      // Every state write triggers it (one read each): sized for a full sub-tick of claims.
      concurrency: CONCURRENCY,
      maxInstances: 10,
    },
    tickJob: {
      ...TICK_JOB,
      attemptDeadlineSeconds: Math.min(MAX_ATTEMPT_DEADLINE_SECONDS, plannerTimeoutSeconds + 15),
      retry: { retryCount: 1, minBackoffSeconds: 10, maxBackoffSeconds: 10 },
    },
  };
}
