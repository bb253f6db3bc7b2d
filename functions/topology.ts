/**
 * The one description of pacer's messaging and functions: topics, push subscriptions, the
 * dead-letter path, and the functions that serve them. The tests, the local stack and
 * `infra/deploy.sh` all create resources from it, so they cannot drift apart.
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
  /** Worker function timeout: the longest sync plus time to record its outcome. */
  workerTimeoutSeconds: number;
  /** Push ack deadline: at least the worker timeout, or a running sync would be redelivered. */
  ackDeadlineSeconds: number;
  /** Pub/Sub's own dead-letter policy: a backstop above pacer's attempt limit. */
  maxDeliveryAttempts: number;
  lanes: PerLane<LaneResources>;
  deadLetter: {
    topic: string;
    subscription: string;
    functionName: string;
    ackDeadlineSeconds: number;
    retry: RetryPolicy;
  };
  planner: { functionName: string; timeoutSeconds: number };
  reconciler: { functionName: string };
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
      ackDeadlineSeconds: 60,
      retry: { minimumBackoffSeconds: 10, maximumBackoffSeconds: 600 },
    },
    planner: { functionName: PLANNER_FUNCTION, timeoutSeconds: settings.tickBudgetSeconds + 30 },
    reconciler: { functionName: RECONCILER_FUNCTION },
  };
}
